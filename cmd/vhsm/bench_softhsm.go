//go:build !nosofthsm

package main

import (
	"context"
	"errors"
	"time"

	"github.com/vhsm/vhsm/cmd/vhsm/internal/softhsm"
)

// errNoSoftHSM is nil: this binary can drive SoftHSM2.
var errNoSoftHSM error

// measureSoftHSM opens a throw-away SoftHSM2 token and measures ECDSA
// signing with each of benchPeerSessions and persisted key generation,
// each for d.
func measureSoftHSM(ctx context.Context, module string, d time.Duration) (out []benchPeerResult, err error) {
	tok, err := softhsm.Open(module)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := tok.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	add := func(r softhsm.Result, mech string) {
		out = append(out, benchPeerResult{
			Peer: benchPeerSoftHSM, Op: r.Op, Mechanism: mech, Sessions: r.Sessions,
			Count: r.Count, Errors: r.Errors, OpsPerSec: r.OpsPerSec(),
			LatencyMS: summarize(r.Latencies), firstErr: r.FirstErr,
		})
	}
	for _, s := range benchPeerSessions {
		r, err := tok.BenchSign(ctx, s, d, benchPeerMaxSigns)
		if err != nil {
			return nil, err
		}
		add(r, benchPeerMechSign)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	r, err := tok.BenchKeygen(ctx, d, benchPeerMaxKeys)
	if err != nil {
		return nil, err
	}
	add(r, benchPeerMechKeygen)
	return out, ctx.Err()
}

// findSoftHSM reports whether SoftHSM2's library is in a standard place.
func findSoftHSM() error {
	_, err := softhsm.FindModule()
	return err
}
