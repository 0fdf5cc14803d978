package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLIErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.json")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"keys", "list"}, "no client configuration at " + missing},
		{[]string{"keys", "gen", "k1"}, "accepts 2 arg(s)"},
		{[]string{"sign", "k1", "zz", "--hex"}, "message is not valid hex"},
		{[]string{"verify", "k1", "m", "not-hex"}, "signature is not valid hex"},
		{[]string{"decrypt", "k1", "xyz"}, "ciphertext is not valid hex"},
		{[]string{"clients", "register", "bob", "abcd"}, "public key must be 32 bytes"},
		{[]string{"devnet", "--replicas", "5"}, "--replicas must be 4 or 7"},
		{[]string{"nosuch"}, "unknown command"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		args := append([]string{"--json", "--config", missing}, tc.args...)
		err := run(context.Background(), args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("vhsm %v: error %v, want %q", tc.args, err, tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("vhsm %v printed %q on stdout", tc.args, stdout.String())
		}
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env.json")
	t.Setenv("VHSM_CONFIG", path)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"keys", "list"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want the VHSM_CONFIG path", err)
	}
}
