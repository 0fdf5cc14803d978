package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// checkPeerJSON reads the peer's three JSON objects (sign with 1 and 2
// sessions, persisted keygen) and then the ratio objects: one keygen ratio
// when keygenRatio.
func checkPeerJSON(t *testing.T, dec *json.Decoder, keygenRatio bool) {
	t.Helper()
	for _, want := range []struct {
		op       string
		sessions float64
	}{{"sign", 1}, {"sign", 2}, {"keygen", 1}} {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("peer %s: no JSON object: %v", want.op, err)
		}
		wantFields(t, obj, "peer", "op", "mechanism", "sessions", "count", "errors", "ops_per_sec", "latency_ms")
		if obj["peer"] != "softhsm" || obj["op"] != want.op || obj["sessions"] != want.sessions || obj["errors"] != 0.0 {
			t.Errorf("peer %s: %v", want.op, obj)
		}
		if c, _ := obj["count"].(float64); c < 1 {
			t.Errorf("peer %s: count %v", want.op, obj["count"])
		}
		if !strings.Contains(obj["mechanism"].(string), "secp256k1") {
			t.Errorf("peer %s: mechanism %v", want.op, obj["mechanism"])
		}
	}
	if !keygenRatio {
		return
	}
	var r map[string]any
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("no ratio object: %v", err)
	}
	wantFields(t, r, "ratio", "ours", "peer", "ours_ops_per_sec", "peer_ops_per_sec", "ours_over_peer")
	ours, peer, ratio := r["ours_ops_per_sec"].(float64), r["peer_ops_per_sec"].(float64), r["ours_over_peer"].(float64)
	if r["ratio"] != "keygen" || ours <= 0 || peer <= 0 || math.Abs(ratio-ours/peer) > 1e-9*ratio {
		t.Errorf("ratio %v", r)
	}
}

func TestBenchRatios(t *testing.T) {
	ours := []benchResult{
		{Op: "keygen", Scheme: "schnorr", OpsPerSec: 100, Clients: 64, N: 4, T: 1},
		{Op: "sign", Scheme: "schnorr", OpsPerSec: 50, Clients: 64, N: 4, T: 1},
		{Op: "sign", Scheme: "bls", OpsPerSec: 10, Clients: 64, N: 4, T: 1}, // not comparable with ECDSA
		{Op: "encrypt", Scheme: "symmetric", OpsPerSec: 1000, Clients: 64, N: 4, T: 1},
	}
	peer := []benchPeerResult{
		{Peer: "softhsm", Op: "sign", Mechanism: benchPeerMechSign, Sessions: 1, OpsPerSec: 2000},
		{Peer: "softhsm", Op: "sign", Mechanism: benchPeerMechSign, Sessions: 2, OpsPerSec: 4000},
		{Peer: "softhsm", Op: "keygen", Mechanism: benchPeerMechKeygen, Sessions: 1, OpsPerSec: 0}, // none made: no ratio
	}
	got := benchRatios(ours, peer)
	if len(got) != 2 {
		t.Fatalf("%d ratios: %+v", len(got), got)
	}
	for i, want := range []float64{50.0 / 2000, 50.0 / 4000} {
		if got[i].Ratio != "sign" || got[i].OursOverPeer != want || !strings.Contains(got[i].Ours, "schnorr") ||
			!strings.Contains(got[i].Peer, []string{"1 sessions", "2 sessions"}[i]) {
			t.Errorf("ratio %d: %+v", i, got[i])
		}
	}
	peer[2].OpsPerSec = 50
	if got := benchRatios(ours, peer); len(got) != 3 || got[0].Ratio != "keygen" || got[0].OursOverPeer != 2 {
		t.Errorf("with keygen: %+v", got)
	}
	if got := benchRatios(nil, peer); len(got) != 0 {
		t.Errorf("no results of ours: %+v", got)
	}
}

// TestMeasureSoftHSM measures the real SoftHSM2 briefly: three
// measurements, all operations succeeded, each bounded by the duration.
func TestMeasureSoftHSM(t *testing.T) {
	if _, err := softhsmModule(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("SoftHSM2 not available under CI, where .ci/run installs it: %v", err)
		}
		t.Skipf("SoftHSM2 not available: %v", err)
	}
	start := time.Now()
	res, err := measureSoftHSM(context.Background(), "", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("three 300ms measurements took %v", el)
	}
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	for i, want := range []struct {
		op       string
		sessions int
	}{{"sign", 1}, {"sign", 2}, {"keygen", 1}} {
		r := res[i]
		if r.Op != want.op || r.Sessions != want.sessions || r.Count < 1 || r.Errors != 0 || r.OpsPerSec <= 0 || r.LatencyMS.P50 <= 0 {
			t.Errorf("result %d: %+v", i, r)
		}
	}
}
