package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vhsm/vhsm/api/remotesigner"
	"github.com/vhsm/vhsm/replica/testnet"
	"github.com/vhsm/vhsm/wallet"
)

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
