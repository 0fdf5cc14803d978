package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// TestBenchInProcess runs vhsm bench briefly against a 4-replica cluster it
// starts in process (small pools) and checks every operation's JSON object:
// its fields, that all requests succeeded, and that the statistics are
// consistent. With SoftHSM2 installed it adds --peer softhsm and checks the
// peer's objects and the keygen ratio.
func TestBenchInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	const requests, clients = 12, 3
	var stdout, stderr bytes.Buffer
	args := []string{"--json", "bench", "--replicas", "4", "--dir", t.TempDir(),
		"--op", "all", "--scheme", "bls", "--clients", "3", "--requests", "12", "--duration", "60s",
		"--key-batch", "16", "--key-low", "8"}
	_, noPeer := softhsmModule()
	if noPeer == nil {
		args = append(args, "--peer", "softhsm", "--peer-duration", "300ms")
	} else {
		t.Logf("without --peer softhsm: %v", noPeer)
	}
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "bench sign bls:") {
		t.Errorf("no progress line on stderr:\n%s", stderr.String())
	}
	dec := json.NewDecoder(&stdout)
	_, hasCPU := benchCPU()
	wantOps := []struct{ op, scheme string }{{"keygen", "bls"}, {"sign", "bls"}, {"sign-local", "bls"}, {"verify", "bls"}, {"encrypt", "symmetric"}, {"decrypt", "symmetric"}}
	for _, want := range wantOps {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("%s: no JSON object: %v", want.op, err)
		}
		fields := []string{"op", "scheme", "count", "errors", "ops_per_sec", "latency_ms", "clients", "n", "t"}
		if hasCPU {
			fields = append(fields, "cpu_ms_per_op")
		}
		wantFields(t, obj, fields...)
		wantN, wantT := 4.0, 1.0
		if want.op == benchSignLocal {
			wantN, wantT = 1, 0 // one party, no replica
		}
		if obj["op"] != want.op || obj["scheme"] != want.scheme || obj["clients"] != float64(clients) || obj["n"] != wantN || obj["t"] != wantT {
			t.Errorf("%s: %v", want.op, obj)
		}
		if cpu, _ := obj["cpu_ms_per_op"].(float64); hasCPU && (cpu <= 0 || cpu > 60_000) {
			t.Errorf("%s: cpu_ms_per_op %v", want.op, obj["cpu_ms_per_op"])
		}
		if obj["count"] != float64(requests) || obj["errors"] != 0.0 {
			t.Errorf("%s: count %v errors %v, want %d and 0", want.op, obj["count"], obj["errors"], requests)
		}
		if ops, _ := obj["ops_per_sec"].(float64); ops <= 0 || ops > 1e5 {
			t.Errorf("%s: ops_per_sec %v", want.op, obj["ops_per_sec"])
		}
		lat, _ := obj["latency_ms"].(map[string]any)
		wantFields(t, lat, "mean", "stddev", "p50", "p90", "p99")
		p50, p90, p99 := lat["p50"].(float64), lat["p90"].(float64), lat["p99"].(float64)
		mean, sd := lat["mean"].(float64), lat["stddev"].(float64)
		if !(0 < p50 && p50 <= p90 && p90 <= p99 && p99 < 60_000 && mean > 0 && mean <= p99 && sd >= 0) {
			t.Errorf("%s: latencies %v", want.op, lat)
		}
		// Bounded throughput: clients requests in flight at most.
		if ops := obj["ops_per_sec"].(float64); ops > clients*1000/p50*2+1000 {
			t.Errorf("%s: %v ops/s is impossible with p50 %v ms", want.op, ops, p50)
		}
	}
	if noPeer == nil {
		checkPeerJSON(t, dec, true)
	}
	if dec.More() {
		t.Error("more JSON than one object per operation")
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr.String())
	}
}

// TestBenchSignLocal runs the single-party baseline of each scheme: every
// signature verifies under the key, and a wrong one fails the check.
func TestBenchSignLocal(t *testing.T) {
	for _, scheme := range []string{"schnorr", "bls"} {
		msg := func(i int) []byte { return []byte(fmt.Sprintf("local %032d", i))[:benchMessageBytes] }
		w, err := newBenchSignLocal(scheme, msg)
		if err != nil {
			t.Fatal(err)
		}
		if !w.local || w.op != benchSignLocal || w.scheme != scheme {
			t.Errorf("%s: work %+v", scheme, w)
		}
		for i := range 3 {
			if err := w.do(context.Background(), i); err != nil {
				t.Fatalf("%s: sign %d: %v", scheme, i, err)
			}
		}
		if err := w.after(); err != nil {
			t.Errorf("%s: %v", scheme, err)
		}
	}
	if _, err := newBenchSignLocal("symmetric", nil); err == nil {
		t.Error("symmetric: no error")
	}
	// A signature on another message fails the check.
	sk, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	m := make([]byte, benchMessageBytes)
	sig, err := btcschnorr.Sign(sk, m)
	if err != nil {
		t.Fatal(err)
	}
	s := &benchSigs{pub: btcschnorr.SerializePubKey(sk.PubKey()), scheme: "schnorr"}
	s.add(m, sig.Serialize())
	if err := s.check(); err != nil {
		t.Fatalf("valid signature: %v", err)
	}
	s.add([]byte("another message, 32 bytes long.."), sig.Serialize())
	if err := s.check(); err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Errorf("wrong signature: %v", err)
	}
}

func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--op", "delete"},
		{"--scheme", "symmetric"},
		{"--clients", "0"},
		{"--clients", "5000"},
		{"--requests", "-1"},
		{"--duration", "2h"},
		{"--replicas", "5"},
		{"--dir", "x"},
		{"--peer", "thales"},
		{"--peer", "softhsm", "--peer-duration", "0s"},
		{"--peer", "softhsm", "--peer-duration", "1h"},
		{"--softhsm-module", "/x.so"},
		{"--peer", "softhsm", "--softhsm-module", "/nonexistent/libsofthsm2.so", "--replicas", "4"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"bench"}, args...), &stdout, &stderr)
		if err == nil || stdout.Len() != 0 {
			t.Errorf("bench %v: err %v, stdout %q", args, err, stdout.String())
		}
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	if got.P50 != 50 || got.P90 != 90 || got.P99 != 99 || got.Mean != 50.5 {
		t.Errorf("summarize 1..100 ms = %+v", got)
	}
	// Population standard deviation of 1..100: sqrt((100²−1)/12).
	if d := got.StdDev - 28.866070; d > 1e-5 || d < -1e-5 {
		t.Errorf("stddev %v", got.StdDev)
	}
	if one := summarize([]time.Duration{3 * time.Millisecond}); one.P50 != 3 || one.P99 != 3 || one.StdDev != 0 {
		t.Errorf("one sample: %+v", one)
	}
	if (summarize(nil) != benchLatency{}) {
		t.Error("no samples: non-zero summary")
	}
}
