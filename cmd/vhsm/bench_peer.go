package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// Peer measurement.
const (
	benchPeerSoftHSM    = "softhsm"
	benchPeerDefaultDur = 5 * time.Second
	benchPeerMaxSigns   = 10_000_000 // per measurement
	benchPeerMaxKeys    = 100_000    // per measurement (each is two token files)
	benchPeerMechSign   = "CKM_ECDSA secp256k1"
	benchPeerMechKeygen = "CKM_EC_KEY_PAIR_GEN secp256k1 CKA_TOKEN=true"
)

// benchPeerSessions are the session counts of the peer's sign measurement.
var benchPeerSessions = []int{1, 2}

// benchPeerResult is the JSON shape of one peer measurement.
type benchPeerResult struct {
	Peer      string       `json:"peer"`
	Op        string       `json:"op"`
	Mechanism string       `json:"mechanism"`
	Sessions  int          `json:"sessions"`
	Count     int          `json:"count"`
	Errors    int          `json:"errors"`
	OpsPerSec float64      `json:"ops_per_sec"`
	LatencyMS benchLatency `json:"latency_ms"`
	// firstErr is the first failure, reported on stderr only.
	firstErr error
}

// benchRatio is the JSON shape of one comparison: our ops/s divided by the
// peer's for a comparable operation.
type benchRatio struct {
	Ratio         string  `json:"ratio"` // the operation compared: sign or keygen
	Ours          string  `json:"ours"`
	Peer          string  `json:"peer"`
	OursOpsPerSec float64 `json:"ours_ops_per_sec"`
	PeerOpsPerSec float64 `json:"peer_ops_per_sec"`
	OursOverPeer  float64 `json:"ours_over_peer"`
}

// runBenchPeer measures the peer, prints each measurement, then the ratios
// of the comparable operations among ours.
func (c *cli) runBenchPeer(ctx context.Context, o benchOptions, ours []benchResult) error {
	fmt.Fprintf(c.stderr, "bench: measuring %s for %v per operation\n", o.peer, o.peerDuration)
	peer, err := measureSoftHSM(ctx, o.peerModule, o.peerDuration)
	if err != nil {
		return fmt.Errorf("bench --peer %s: %w", o.peer, err)
	}
	for _, p := range peer {
		if p.firstErr != nil {
			fmt.Fprintf(c.stderr, "bench %s %s: first error: %v\n", p.Peer, p.Op, p.firstErr)
		}
		human := fmt.Sprintf("%-8s %-9s %s sessions=%d count=%d errors=%d ops/s=%.1f latency ms: mean=%.2f stddev=%.2f p50=%.2f p90=%.2f p99=%.2f",
			p.Peer, p.Op, p.Mechanism, p.Sessions, p.Count, p.Errors, p.OpsPerSec,
			p.LatencyMS.Mean, p.LatencyMS.StdDev, p.LatencyMS.P50, p.LatencyMS.P90, p.LatencyMS.P99)
		if err := c.emit(p, human); err != nil {
			return err
		}
	}
	ratios := benchRatios(ours, peer)
	if len(ratios) == 0 {
		fmt.Fprintf(c.stderr, "bench: no ratio: %s is compared with our keygen and our schnorr sign (use --op all|keygen|sign --scheme schnorr)\n", o.peer)
	}
	for _, r := range ratios {
		human := fmt.Sprintf("ratio    %-9s ours (%s) %.1f ops/s ÷ %s %.1f ops/s = %.4g",
			r.Ratio, r.Ours, r.OursOpsPerSec, r.Peer, r.PeerOpsPerSec, r.OursOverPeer)
		if err := c.emit(r, human); err != nil {
			return err
		}
	}
	return nil
}

// benchRatios pairs our results with the peer's comparable ones: our
// Schnorr sign with every ECDSA sign measurement, our keygen (any scheme)
// with the persisted keygen. Pairs where the peer made no operation are
// left out.
func benchRatios(ours []benchResult, peer []benchPeerResult) []benchRatio {
	var out []benchRatio
	for _, u := range ours {
		if u.Op != "keygen" && (u.Op != "sign" || u.Scheme != wire.SchemeSchnorr) {
			continue
		}
		for _, p := range peer {
			if p.Op != u.Op || p.OpsPerSec <= 0 {
				continue
			}
			out = append(out, benchRatio{
				Ratio:         u.Op,
				Ours:          fmt.Sprintf("%s %s, n=%d t=%d, %d clients", u.Scheme, u.Op, u.N, u.T, u.Clients),
				Peer:          fmt.Sprintf("%s %s, %d sessions", p.Peer, p.Mechanism, p.Sessions),
				OursOpsPerSec: u.OpsPerSec,
				PeerOpsPerSec: p.OpsPerSec,
				OursOverPeer:  u.OpsPerSec / p.OpsPerSec,
			})
		}
	}
	return out
}
