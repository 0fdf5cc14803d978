package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/replica/testnet"
	"github.com/vhsm/vhsm/replica/wire"
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

// TestConfigFlagOverridesEnvironment: --config wins over VHSM_CONFIG.
func TestConfigFlagOverridesEnvironment(t *testing.T) {
	env := filepath.Join(t.TempDir(), "env.json")
	flag := filepath.Join(t.TempDir(), "flag.json")
	t.Setenv("VHSM_CONFIG", env)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--config", flag, "keys", "list"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), flag) || strings.Contains(err.Error(), env) {
		t.Fatalf("got %v, want the --config path", err)
	}
}

// TestKeyCache checks the cache behind the local vhsm verify: what
// rememberKeys writes (0600) reads back, a cache of another cluster or a
// damaged one reads as empty, and an invalid entry is never written.
func TestKeyCache(t *testing.T) {
	dir := t.TempDir()
	cfg := &client.Config{Replicas: []client.ReplicaEndpoint{{Index: 1, URL: "https://127.0.0.1:1", TLSCert: []byte{1}}}}
	var stderr bytes.Buffer
	c := &cli{stderr: &stderr, cfg: cfg, cfgPath: filepath.Join(dir, "client.json")}
	pub := bytes.Repeat([]byte{2}, 32)
	c.rememberKeys(client.KeyInfo{KeyID: "k1", Scheme: wire.SchemeSchnorr, PublicKey: pub})
	path := filepath.Join(dir, "client.keys.json")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v %v", err, st)
	}
	if k, ok := c.localKey("k1"); !ok || k.Scheme != wire.SchemeSchnorr || !bytes.Equal(k.PublicKey, pub) {
		t.Fatalf("localKey = %+v %v", k, ok)
	}
	if _, ok := c.localKey("k2"); ok {
		t.Fatal("unknown key found")
	}
	// Another cluster in the same place does not see the keys.
	other := &cli{stderr: &stderr, cfg: &client.Config{Replicas: []client.ReplicaEndpoint{{Index: 1, URL: "https://127.0.0.1:1", TLSCert: []byte{3}}}}, cfgPath: c.cfgPath}
	if _, ok := other.localKey("k1"); ok {
		t.Fatal("a cache of another cluster was used")
	}
	// A wrong-length key is not written.
	c.rememberKeys(client.KeyInfo{KeyID: "bad", Scheme: wire.SchemeBLS, PublicKey: pub})
	if _, ok := c.localKey("bad"); ok || !strings.Contains(stderr.String(), "key cache") {
		t.Fatalf("invalid key cached (stderr %q)", stderr.String())
	}
	if _, ok := c.localKey("k1"); !ok {
		t.Fatal("a refused update lost the cache")
	}
	// A damaged file reads as empty and is replaced by the next update.
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.localKey("k1"); ok {
		t.Fatal("damaged cache used")
	}
	c.rememberKeys(client.KeyInfo{KeyID: "k3", Scheme: wire.SchemeBLS, PublicKey: bytes.Repeat([]byte{4}, 48)})
	if _, ok := c.localKey("k3"); !ok {
		t.Fatal("cache not rewritten")
	}
}

// FuzzKeyCache: parseKeyCache never panics, and what it accepts encodes and
// parses back to the same cache.
func FuzzKeyCache(f *testing.F) {
	f.Add([]byte(`{"cluster":"ab","keys":{"k1":{"scheme":"schnorr","public_key":"` + strings.Repeat("02", 32) + `"}}}`))
	f.Add([]byte(`{"cluster":"","keys":{"v":{"scheme":"bls","public_key":"` + strings.Repeat("aa", 48) + `"}}}`))
	f.Add([]byte(`{"cluster":"x","keys":{"a/b":{"scheme":"bls","public_key":""}}}`))
	f.Add([]byte(`{"cluster":"x","keys":null,"extra":1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kc, err := parseKeyCache(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(kc)
		if err != nil {
			t.Fatal(err)
		}
		kc2, err := parseKeyCache(again)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if kc2.Cluster != kc.Cluster || len(kc2.Keys) != len(kc.Keys) {
			t.Fatal("round trip changed the cache")
		}
		for id, k := range kc.Keys {
			if kc2.Keys[id] != k {
				t.Fatalf("round trip changed key %q", id)
			}
		}
	})
}

// TestReplicaSealingKeyFlags: vhsm replica unlocks its store with
// --key-file when given (a wrong key is refused as such, before anything
// starts), refuses --key-file with --passphrase-file, and checks the
// passphrase file.
func TestReplicaSealingKeyFlags(t *testing.T) {
	tn, err := testnet.Generate(t.TempDir(), 4, testnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	other := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(other, bytes.Repeat([]byte{9}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"replica", "--home", tn.Homes[0], "--key-file", other}, &stdout, &stderr)
	if !errors.Is(err, sealed.ErrWrongKey) {
		t.Fatalf("replica with another key file: %v", err)
	}
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"replica", "--home", tn.Homes[0], "--key-file", other, "--passphrase-file", pass}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "exclusive") {
		t.Fatalf("both flags: %v", err)
	}
	if b, err := readPassphrase(pass); err != nil || string(b) != "correct horse" {
		t.Fatalf("readPassphrase = %q, %v", b, err)
	}
	if err := os.Chmod(pass, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readPassphrase(pass); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable passphrase file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readPassphrase(empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty passphrase file: %v", err)
	}
	if stdout.Len() != 0 {
		t.Fatalf("replica printed %q on stdout", stdout.String())
	}
}
