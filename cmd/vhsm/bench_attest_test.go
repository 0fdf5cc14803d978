package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/app/slashing"
	"github.com/vhsm/vhsm/replica/eth2"
)

// TestAttestScheduleNotSlashable takes attestations from the schedule with
// concurrent takers, feeds each validator's attestations, in the order its
// requests were issued, to a slashing-protection history (the replicas'
// rules), and checks none is refused, the one-slot epoch included; the
// same history refuses a second attestation at a target already signed.
func TestAttestScheduleNotSlashable(t *testing.T) {
	const validators, takers, perTaker = 5, 4, 50
	first := benchCurrentEpoch()
	s := newAttestSchedule(validators, first)
	var mu sync.Mutex
	issued := make([][]uint64, validators) // target epochs, in issue order
	var wg sync.WaitGroup
	ctx := context.Background()
	for range takers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perTaker {
				v, e, err := s.take(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				issued[v] = append(issued[v], e)
				mu.Unlock()
				s.give(v)
			}
		}()
	}
	wg.Wait()
	slot := s.slotEpoch()
	hs := make([]slashing.History, validators)
	total := 0
	for v, es := range issued {
		for _, e := range append(es, slot) {
			r, err := eth2.Parse(attestationRequest(attestSlot(v, e), e))
			if err != nil {
				t.Fatalf("validator %d epoch %d: %v", v, e, err)
			}
			root, err := r.SigningRoot()
			if err != nil {
				t.Fatal(err)
			}
			sl := r.Slashable()
			if sl == nil || sl.Kind != eth2.KindAttestation || sl.TargetEpoch != e || sl.SourceEpoch != e-1 || sl.Slot/eth2.SlotsPerEpoch != e {
				t.Fatalf("validator %d epoch %d: slashable %+v", v, e, sl)
			}
			if err := hs[v].RecordAttestation(slashing.Complete(slashing.MaxKeep), sl.SourceEpoch, sl.TargetEpoch, slashing.Root(root)); err != nil {
				t.Fatalf("validator %d epoch %d refused: %v", v, e, err)
			}
			total++
		}
	}
	if total != takers*perTaker+validators {
		t.Errorf("%d attestations checked, want %d", total, takers*perTaker+validators)
	}
	if first < benchFuluEpoch {
		t.Errorf("first epoch %d before Fulu", first)
	}
	// The check can fail: the same target with another block root.
	e := s.next[0] - 1
	other := strings.Replace(string(attestationRequest(attestSlot(0, e), e)), benchRoot("block", attestSlot(0, e)), benchRoot("block", 1), 1)
	r, err := eth2.Parse([]byte(other))
	if err != nil {
		t.Fatal(err)
	}
	root, err := r.SigningRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := hs[0].CheckAttestation(e-1, e, slashing.Root(root)); !errors.Is(err, slashing.ErrSlashable) {
		t.Errorf("double vote accepted: %v", err)
	}
	// Every request's fork_info is mainnet's at Fulu.
	if r.ForkInfo.CurrentVersion != [4]byte{6, 0, 0, 0} || r.ForkInfo.PreviousVersion != [4]byte{5, 0, 0, 0} {
		t.Errorf("fork_info %+v", r.ForkInfo)
	}
	if n, ok := eth2.NetworkByGenesisValidatorsRoot(r.ForkInfo.GenesisValidatorsRoot); !ok || n.Name != "mainnet" || n.ForkVersions[eth2.Fulu] != r.ForkInfo.CurrentVersion {
		t.Errorf("genesis validators root is not mainnet's Fulu: %v %v", n.Name, ok)
	}
	// A cancelled take gives up.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	empty := &attestSchedule{next: []uint64{1}, free: make(chan int, 1)}
	if _, _, err := empty.take(cctx); err == nil {
		t.Error("take without a free validator and a cancelled context: no error")
	}
}

// TestAttestLocal runs the local baseline's measurement and slot on a few
// validators: every signature verifies under its validator's key over the
// request's signing root, and a wrong one fails the check.
func TestAttestLocal(t *testing.T) {
	const validators = 4
	signer, err := localSigner(validators)
	if err != nil {
		t.Fatal(err)
	}
	sched := newAttestSchedule(validators, benchCurrentEpoch())
	w := attestWork(signer, sched)
	if !w.local || w.op != benchAttestLocal {
		t.Errorf("work %+v", w)
	}
	for i := range 6 {
		if err := w.do(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.after(); err != nil {
		t.Fatal(err)
	}
	e := sched.slotEpoch()
	res, err := runAttestSlot(context.Background(), signer, e*eth2.SlotsPerEpoch+3, e, 2)
	if err != nil || res.Count != validators || res.Errors != 0 || res.Op != benchAttestSlotLocal || res.Concurrency != 2 || res.WallMS <= 0 {
		t.Errorf("slot: %+v, %v", res, err)
	}
	// A signature by validator 0 attributed to validator 1 does not verify.
	s := &attestSigs{pubs: signer.pubs}
	req := attestationRequest(attestSlot(0, e+1), e+1)
	sig, err := signer.sign(context.Background(), 0, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.add(0, req, sig); err != nil {
		t.Fatal(err)
	}
	if err := s.check(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := s.add(1, req, sig); err != nil {
		t.Fatal(err)
	}
	if err := s.check(); err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Errorf("wrong key: %v", err)
	}
}

func TestBenchAttestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--op", "attest", "--validators", "0"},
		{"--op", "attest", "--validators", "10001"},
		{"--op", "attest", "--validators", "4", "--clients", "5"},
		{"--op", "attest", "--slot-concurrency", "0"},
		{"--op", "attest", "--slot-concurrency", "2000"},
		{"--op", "sign", "--validators", "10"},
		{"--op", "all", "--slot-concurrency", "10"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"bench"}, args...), &stdout, &stderr)
		if err == nil || stdout.Len() != 0 {
			t.Errorf("bench %v: err %v, stdout %q", args, err, stdout.String())
		}
	}
}

// TestBenchAttestInProcess runs vhsm bench --op attest with 8 validators
// against a 4-replica cluster it starts in process, and checks every row:
// the set-up, attestations through the replicas and locally at 1 and 3
// clients, and the slot; no request failed (none was refused as
// slashable), and the figures are consistent.
func TestBenchAttestInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	const validators, requests, clients = 8, 12, 3
	var stdout, stderr bytes.Buffer
	args := []string{"--json", "bench", "--replicas", "4", "--dir", t.TempDir(), "--op", "attest",
		"--validators", "8", "--clients", "3", "--requests", "12", "--duration", "90s", "--slot-concurrency", "4",
		"--key-batch", "16", "--key-low", "8"}
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	}()
	if !strings.Contains(stderr.String(), "target p50 at 1 client") {
		t.Errorf("no targets on stderr")
	}
	dec := json.NewDecoder(&stdout)
	next := func(what string) map[string]any {
		t.Helper()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("%s: no JSON object: %v", what, err)
		}
		return obj
	}
	setup := next("set-up")
	if setup["op"] != benchAttestSetupOp || setup["validators"] != float64(validators) || setup["wall_ms"].(float64) <= 0 {
		t.Errorf("set-up row %v", setup)
	}
	for _, k := range []int{1, clients} {
		for _, op := range []string{benchAttest, benchAttestLocal} {
			obj := next(op)
			wantFields(t, obj, "op", "scheme", "count", "errors", "ops_per_sec", "latency_ms", "clients", "n", "t", "validators", "cpu_ms_per_op")
			if cpu, _ := obj["cpu_ms_per_op"].(float64); cpu <= 0 || cpu > 60_000 {
				t.Errorf("%s at %d clients: cpu_ms_per_op %v", op, k, obj["cpu_ms_per_op"])
			}
			wantN, wantT := 4.0, 1.0
			if op == benchAttestLocal {
				wantN, wantT = 1, 0
			}
			if obj["op"] != op || obj["scheme"] != benchAttestScheme || obj["clients"] != float64(k) || obj["n"] != wantN || obj["t"] != wantT || obj["validators"] != float64(validators) {
				t.Errorf("%s at %d clients: %v", op, k, obj)
			}
			if obj["count"] != float64(requests) || obj["errors"] != 0.0 {
				t.Errorf("%s at %d clients: count %v errors %v, want %d and 0", op, k, obj["count"], obj["errors"], requests)
			}
			lat, _ := obj["latency_ms"].(map[string]any)
			p50, _ := lat["p50"].(float64)
			p99, _ := lat["p99"].(float64)
			if !(0 < p50 && p50 <= p99 && p99 < 90_000) {
				t.Errorf("%s at %d clients: latencies %v", op, k, lat)
			}
			if ops, _ := obj["ops_per_sec"].(float64); ops <= 0 || ops > float64(k)*1000/p50*2+1000 {
				t.Errorf("%s at %d clients: %v ops/s with p50 %v ms", op, k, ops, p50)
			}
		}
	}
	for _, op := range []string{benchAttestSlot, benchAttestSlotLocal} {
		obj := next(op)
		wantFields(t, obj, "op", "scheme", "slot", "validators", "concurrency", "count", "errors", "wall_ms", "ops_per_sec", "latency_ms", "n", "t", "cpu_ms_per_op")
		if obj["op"] != op || obj["count"] != float64(validators) || obj["errors"] != 0.0 || obj["concurrency"] != 4.0 {
			t.Errorf("%s: %v", op, obj)
		}
		lat, _ := obj["latency_ms"].(map[string]any)
		if wall, _ := obj["wall_ms"].(float64); wall <= 0 || wall < lat["p99"].(float64) {
			t.Errorf("%s: wall %v ms, latencies %v", op, obj["wall_ms"], lat)
		}
	}
	if dec.More() {
		t.Error("more JSON than the attest rows")
	}
}
