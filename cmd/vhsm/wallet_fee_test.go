package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestWalletFeeFlags: out-of-range fee sanity flags are refused before
// anything starts.
func TestWalletFeeFlags(t *testing.T) {
	for _, args := range [][]string{
		{"wallet", "--high-fee-share", "0"},
		{"wallet", "--high-fee-share", "1.5"},
		{"wallet", "--high-fee-share", "-0.1"},
		{"wallet", "--high-fee-cap", "0"},
		{"wallet", "--high-fee-floor", "-5"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var stdout, stderr bytes.Buffer
		err := run(ctx, args, &stdout, &stderr)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "--high-fee-share must be in (0, 1]") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
