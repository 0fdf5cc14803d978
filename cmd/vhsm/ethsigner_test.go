package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vhsm/vhsm/api/remotesigner"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/testnet"
	"github.com/vhsm/vhsm/wallet"
)

func TestIsSlashingRefusal(t *testing.T) {
	sentinel := client.ErrSlashable
	other := errors.New("client: sign rejected by replicas [1 2]: slashable attestation: surrounds (source 1, target 9)")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{sentinel, true},
		{fmt.Errorf("sign eth2: %w", sentinel), true},
		{fmt.Errorf("sign eth2: %w: %w", sentinel, other), true},
		{errors.Join(errors.New("x"), fmt.Errorf("y: %w", sentinel)), true},
		{other, false},
		{fmt.Errorf("wrapped: %w", other), false},
		{errors.New("prefix " + client.ErrSlashable.Error()), false},
		{nil, false},
	} {
		if got := isSlashingRefusal(c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}

func TestWalletEthSignerStarting(t *testing.T) {
	var w walletEthSigner
	if _, err := w.PublicKeys(context.Background()); err == nil {
		t.Fatal("keys before the wallet is open")
	}
	if _, err := w.Sign(context.Background(), [48]byte{}, nil); err == nil || errors.Is(err, remotesigner.ErrUnknownKey) {
		t.Fatalf("sign before the wallet is open: %v", err)
	}
	_ = wallet.ErrSlashable
}

// TestWalletEthSignerRefusesPlainNonLoopback: vhsm wallet refuses to serve
// the remote signer on a non-loopback address without TLS client
// authentication, and TLS without client authentication, before anything
// else starts.
func TestWalletEthSignerRefusesPlainNonLoopback(t *testing.T) {
	dir := t.TempDir()
	tn, err := testnet.Generate(filepath.Join(dir, "net"), 4, testnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--eth-signer-listen", "0.0.0.0:0"}, "without TLS client authentication"},
		{[]string{"--eth-signer-listen", ":0"}, "without TLS client authentication"},
		{[]string{"--eth-signer-listen", "127.0.0.1:0", "--eth-signer-access", filepath.Join(dir, "none.json")}, "needs TLS"},
	} {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		err := run(ctx, append([]string{"--config", tn.ClientPath, "wallet", "--db", filepath.Join(dir, "w.db"), "--listen", "127.0.0.1:0"}, c.args...), &stdout, &stderr)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
