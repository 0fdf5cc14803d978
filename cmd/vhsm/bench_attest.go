package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/eth2"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
	"github.com/vhsm/vhsm/threshold/group"
)

// vhsm bench --op attest: Ethereum attestations signed by validator keys
// through the replicated slashing protection (client.SignEth2), beside the
// same attestations signed with local keys in this process.

// Operations and rows of --op attest.
const (
	benchAttest          = "attest"            // SignEth2 of ATTESTATION requests
	benchAttestLocal     = "attest-local"      // the same requests signed with local keys (herumi)
	benchAttestSlot      = "attest-slot"       // every validator's attestation for one slot, issued at once
	benchAttestSlotLocal = "attest-slot-local" // the same slot signed with local keys
	benchAttestSetupOp   = "attest-setup"      // the validator keys' creation (not measured)
	benchAttestScheme    = "eth2-attestation"  // the scheme column of the attest rows
)

// Bounds of --op attest.
const (
	benchDefaultValidators = 1000
	benchMaxValidators     = 10_000
	benchDefaultSlotConc   = 256
	benchAttestSetupConc   = 64               // concurrent validator-key creations
	benchAttestSetupMax    = 15 * time.Minute // all validator keys created
	benchAttestSlotMax     = 5 * time.Minute  // one slot's attestations all answered
)

// Targets of issue 15 (printed beside the measured figures).
const (
	benchTargetP50MS   = 30.0
	benchTargetRate    = 300.0
	benchTargetSlotSec = 4.0
)

// Mainnet fork_info at Fulu (consensus-specs configs/mainnet.yaml:
// ELECTRA_FORK_VERSION 0x05000000, FULU_FORK_VERSION 0x06000000,
// FULU_FORK_EPOCH 411392), and mainnet's genesis.
const (
	benchGenesisTime    = 1606824023 // mainnet MIN_GENESIS_TIME + GENESIS_DELAY
	benchSecondsPerSlot = 12
	benchFuluEpoch      = 411392
	benchForkInfo       = `{"fork":{"previous_version":"0x05000000","current_version":"0x06000000","epoch":"411392"},` +
		`"genesis_validators_root":"0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"}`
)

// benchAttestResult is an attest or attest-local row: benchResult and the
// number of validators the requests went to.
type benchAttestResult struct {
	benchResult
	Validators int `json:"validators"`
	// CPUMSPerOp is this process's CPU time (user and system) during the
	// measurement divided by the attestations signed: with --replicas the
	// whole cluster's cost of one attestation (4 or 7 replicas, consensus
	// and client), which, unlike the rates, hardly depends on what else
	// the machine runs. 0 when unknown.
	CPUMSPerOp float64 `json:"cpu_ms_per_op"`
}

// benchSlotResult is an attest-slot or attest-slot-local row: one
// attestation of every validator for one slot, all issued at once with at
// most Concurrency in flight; WallMS is from the first request sent to the
// last answer.
type benchSlotResult struct {
	Op          string       `json:"op"`
	Scheme      string       `json:"scheme"`
	Slot        uint64       `json:"slot"`
	Validators  int          `json:"validators"`
	Concurrency int          `json:"concurrency"`
	Count       int          `json:"count"`
	Errors      int          `json:"errors"`
	WallMS      float64      `json:"wall_ms"`
	OpsPerSec   float64      `json:"ops_per_sec"`
	LatencyMS   benchLatency `json:"latency_ms"`
	N           int          `json:"n"`
	T           int          `json:"t"`
	CPUMSPerOp  float64      `json:"cpu_ms_per_op"` // as in benchAttestResult
	// firstErr is the first failure, reported on stderr only.
	firstErr error
}

// benchSetupResult is the attest-setup row: the validator keys' creation,
// reported apart from the measurements.
type benchSetupResult struct {
	Op          string  `json:"op"`
	Validators  int     `json:"validators"`
	Concurrency int     `json:"concurrency"`
	Retries     int     `json:"retries"` // refusals for an empty key pool, retried
	WallMS      float64 `json:"wall_ms"`
	KeysPerSec  float64 `json:"keys_per_sec"`
}

// attestSchedule hands out (validator, epoch) pairs so that every
// validator's attestations are slashing-safe with respect to each other:
// validator v's k-th attestation has target epoch next[v]+k and source one
// below, with at most one request per validator in flight (a validator is
// taken from free and returned once answered), so they reach the log in
// increasing order. A pair is used up even when its request fails: the
// request may still have been ordered.
type attestSchedule struct {
	next []uint64
	free chan int
}

func newAttestSchedule(validators int, firstEpoch uint64) *attestSchedule {
	s := &attestSchedule{next: make([]uint64, validators), free: make(chan int, validators)}
	for v := range validators {
		s.next[v] = firstEpoch
		s.free <- v
	}
	return s
}

// clone returns a schedule in the same state (no request in flight).
func (s *attestSchedule) clone() *attestSchedule {
	c := &attestSchedule{next: slices.Clone(s.next), free: make(chan int, len(s.next))}
	for v := range s.next {
		c.free <- v
	}
	return c
}

// take returns a free validator and its next target epoch.
func (s *attestSchedule) take(ctx context.Context) (int, uint64, error) {
	select {
	case v := <-s.free:
		e := s.next[v]
		s.next[v]++
		return v, e, nil
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

func (s *attestSchedule) give(v int) { s.free <- v }

// slotEpoch moves every validator (none in flight) to one common epoch,
// above all their earlier ones, for a slot's attestations.
func (s *attestSchedule) slotEpoch() uint64 {
	e := slices.Max(s.next)
	for v := range s.next {
		s.next[v] = e + 1
	}
	return e
}

// benchCurrentEpoch is mainnet's epoch now (at least Fulu's), so that the
// requests carry what a validator client would send today.
func benchCurrentEpoch() uint64 {
	now := time.Now().Unix()
	e := uint64(0)
	if now > benchGenesisTime {
		e = uint64(now-benchGenesisTime) / benchSecondsPerSlot / eth2.SlotsPerEpoch
	}
	return max(e, benchFuluEpoch)
}

// benchRoot is a deterministic 32-byte root standing for a block or a
// checkpoint (the bench has no chain to take them from).
func benchRoot(kind string, n uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	h := sha256.Sum256(append([]byte("vhsm bench "+kind), b[:]...))
	return "0x" + hex.EncodeToString(h[:])
}

// attestationRequest is the remote-signing API v1.1.0 ATTESTATION body a
// validator client sends for an attestation at slot in target epoch epoch
// (source: the epoch before). From Electra on, AttestationData.index is 0
// (EIP-7549: the committee goes to committee_bits, outside the signed data).
func attestationRequest(slot, epoch uint64) []byte {
	return []byte(fmt.Sprintf(`{"type":"ATTESTATION","fork_info":%s,"attestation":{"slot":"%d","index":"0","beacon_block_root":"%s",`+
		`"source":{"epoch":"%d","root":"%s"},"target":{"epoch":"%d","root":"%s"}}}`,
		benchForkInfo, slot, benchRoot("block", slot), epoch-1, benchRoot("checkpoint", epoch-1), epoch, benchRoot("checkpoint", epoch)))
}

// attestSlot is validator v's slot in epoch (its duty: one slot per epoch).
func attestSlot(v int, epoch uint64) uint64 {
	return epoch*eth2.SlotsPerEpoch + uint64(v)%eth2.SlotsPerEpoch
}

// benchSigner signs request with validator v's key: through the replicas
// or with a local key.
type benchSigner struct {
	op, slotOp string
	local      bool
	pubs       [][]byte
	sign       func(ctx context.Context, v int, request []byte) ([]byte, error)
}

// thresholdSigner signs with the validator keys ids through SignEth2.
func thresholdSigner(cl *client.Client, ids []string, pubs [][]byte) *benchSigner {
	return &benchSigner{op: benchAttest, slotOp: benchAttestSlot, pubs: pubs,
		sign: func(ctx context.Context, v int, request []byte) ([]byte, error) {
			return cl.SignEth2(ctx, ids[v], request)
		}}
}

// localSigner signs as a single-process remote signer would: it parses the
// request, computes its signing root (replica/eth2, as the replicas do)
// and signs it with herumi (threshold/bls with the whole key), one fresh
// key per validator.
func localSigner(validators int) (*benchSigner, error) {
	g := group.BLS12381G1()
	sks := make([]group.Scalar, validators)
	pubs := make([][]byte, validators)
	for v := range sks {
		sk, err := g.RandomScalar(rand.Reader)
		if err != nil {
			return nil, err
		}
		sks[v], pubs[v] = sk, g.BaseMul(sk).Bytes()
	}
	return &benchSigner{op: benchAttestLocal, slotOp: benchAttestSlotLocal, local: true, pubs: pubs,
		sign: func(_ context.Context, v int, request []byte) ([]byte, error) {
			r, err := eth2.Parse(request)
			if err != nil {
				return nil, err
			}
			root, err := r.SigningRoot()
			if err != nil {
				return nil, err
			}
			return bls.PartialSign(sks[v], root[:])
		}}, nil
}

// attestSigs collects the signatures of a measurement with their signing
// roots and validators, all verified once it is over.
type attestSigs struct {
	pubs [][]byte

	mu    sync.Mutex
	vals  []int
	roots [][32]byte
	sigs  [][]byte
}

func (s *attestSigs) add(v int, request, sig []byte) error {
	r, err := eth2.Parse(request)
	if err != nil {
		return err
	}
	root, err := r.SigningRoot()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.vals = append(s.vals, v)
	s.roots = append(s.roots, root)
	s.sigs = append(s.sigs, sig)
	s.mu.Unlock()
	return nil
}

// check verifies every signature under its validator's key over the
// signing root computed here.
func (s *attestSigs) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	bad := 0
	for i, sig := range s.sigs {
		if benchVerify(s.pubs[s.vals[i]], wire.SchemeBLS, s.roots[i][:], sig) != nil {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d attestation signatures do not verify", bad, len(s.sigs))
	}
	return nil
}

// attestWork is a measurement of signer on sched: request i takes a free
// validator and its next epoch. A refusal by the slashing protection is
// an error like any other (the schedule makes none slashable).
func attestWork(signer *benchSigner, sched *attestSchedule) *benchWork {
	sigs := &attestSigs{pubs: signer.pubs}
	return &benchWork{op: signer.op, scheme: benchAttestScheme, local: signer.local, after: sigs.check,
		do: func(ctx context.Context, _ int) error {
			v, e, err := sched.take(ctx)
			if err != nil {
				return err
			}
			defer sched.give(v)
			req := attestationRequest(attestSlot(v, e), e)
			sig, err := signer.sign(ctx, v, req)
			if err != nil {
				return err
			}
			return sigs.add(v, req, sig)
		}}
}

// runAttestSlot signs one attestation of every validator for slot (all at
// target epoch epoch), issuing them all at once with at most conc in
// flight, and returns the row; the error reports signatures that do not
// verify.
func runAttestSlot(ctx context.Context, signer *benchSigner, slot, epoch uint64, conc int) (benchSlotResult, error) {
	ctx, cancel := context.WithTimeout(ctx, benchAttestSlotMax)
	defer cancel()
	validators := len(signer.pubs)
	req := attestationRequest(slot, epoch)
	sigs := &attestSigs{pubs: signer.pubs}
	lat := make([]time.Duration, validators)
	okv := make([]bool, validators)
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0, cpuOK := benchCPU()
	start := time.Now()
	for range min(conc, validators) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				v := int(next.Add(1) - 1)
				if v >= validators {
					return
				}
				t0 := time.Now()
				sig, err := signer.sign(ctx, v, req)
				d := time.Since(t0)
				if err == nil {
					err = sigs.add(v, req, sig)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				lat[v], okv[v] = d, true
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	cpu1, _ := benchCPU()
	var ds []time.Duration
	for v, ok := range okv {
		if ok {
			ds = append(ds, lat[v])
		}
	}
	res := benchSlotResult{Op: signer.slotOp, Scheme: benchAttestScheme, Slot: slot, Validators: validators,
		Concurrency: min(conc, validators), Count: len(ds), Errors: int(failed.Load()),
		WallMS: float64(wall) / float64(time.Millisecond), OpsPerSec: float64(len(ds)) / wall.Seconds(),
		LatencyMS: summarize(ds), N: 1}
	if cpuOK && len(ds) > 0 {
		res.CPUMSPerOp = float64(cpu1-cpu0) / float64(time.Millisecond) / float64(len(ds))
	}
	if e := firstErr.Load(); e != nil {
		res.firstErr = *e
	}
	return res, sigs.check()
}

// benchCreateValidators creates the validator keys prefix-1 … prefix-N
// (bls, marked as validator keys at creation), conc at a time, retrying a
// creation the replicas refuse for an empty key pool (being refilled)
// until benchAttestSetupMax has passed. It returns their public keys and
// the setup row.
func benchCreateValidators(ctx context.Context, cl *client.Client, prefix string, n, conc int) ([]string, [][]byte, benchSetupResult, error) {
	ctx, cancel := context.WithTimeout(ctx, benchAttestSetupMax)
	defer cancel()
	ids := make([]string, n)
	pubs := make([][]byte, n)
	errs := make([]error, n)
	for v := range ids {
		ids[v] = fmt.Sprintf("%s-%d", prefix, v+1)
	}
	var retries atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				v := int(next.Add(1) - 1)
				if v >= n || ctx.Err() != nil {
					return
				}
				pubs[v], errs[v] = benchCreateValidator(ctx, cl, ids[v], &retries)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	res := benchSetupResult{Op: benchAttestSetupOp, Validators: n, Concurrency: min(conc, n), Retries: int(retries.Load()),
		WallMS: float64(wall) / float64(time.Millisecond), KeysPerSec: float64(n) / wall.Seconds()}
	for v, err := range errs {
		if err == nil && pubs[v] == nil {
			err = fmt.Errorf("not created within %v", benchAttestSetupMax)
		}
		if err != nil {
			return nil, nil, res, fmt.Errorf("validator key %s: %w", ids[v], err)
		}
	}
	return ids, pubs, res, nil
}

// benchCreateValidator creates one validator key, retrying while the key
// pool is empty. A creation refused for an empty pool may still have been
// ordered through a replica already refilled, so a retry finding the id
// taken accepts the key if it is this client's validator key.
func benchCreateValidator(ctx context.Context, cl *client.Client, id string, retries *atomic.Int64) ([]byte, error) {
	refusedEmpty := false
	for {
		k, err := cl.GenerateValidatorKey(ctx, id)
		if err == nil {
			return k.PublicKey, nil
		}
		if refusedEmpty && strings.Contains(err.Error(), app.ErrKeyExists.Error()) {
			k, perr := cl.PublicKey(ctx, id)
			if perr == nil && k.Owner == cl.ID() && k.Scheme == wire.SchemeBLS && k.Usage == wire.UsageEth2Validator {
				return k.PublicKey, nil
			}
			return nil, err
		}
		if !strings.Contains(err.Error(), app.ErrPoolEmpty.Error()) {
			return nil, err
		}
		refusedEmpty = true
		retries.Add(1)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (key pool still empty)", ctx.Err())
		case <-time.After(benchSetupPoll):
		}
	}
}

// runBenchAttest is --op attest: it creates the validator keys, then
// measures attestations at 1 client and at o.clients (when more than 1),
// each beside the same requests signed with local keys, then one slot of
// every validator's attestations (and the same slot signed locally). It
// returns the attest rows as benchResults (for --peer).
func (c *cli) runBenchAttest(ctx context.Context, cl *client.Client, o benchOptions) ([]benchResult, error) {
	var tag [6]byte
	if _, err := rand.Read(tag[:]); err != nil {
		return nil, err
	}
	prefix := "att-" + hex.EncodeToString(tag[:])
	fmt.Fprintf(c.stderr, "bench attest: creating %d validator keys (%s-1 …), %d at a time\n", o.validators, prefix, benchAttestSetupConc)
	ids, pubs, setup, err := benchCreateValidators(ctx, cl, prefix, o.validators, benchAttestSetupConc)
	if err != nil {
		return nil, fmt.Errorf("bench attest: set up: %w", err)
	}
	if err := c.emit(setup, fmt.Sprintf("%-8s %d validator keys in %.1f s (%.1f keys/s, %d clients, %d pool-empty retries)",
		setup.Op, setup.Validators, setup.WallMS/1000, setup.KeysPerSec, setup.Concurrency, setup.Retries)); err != nil {
		return nil, err
	}
	if o.cpuProfile != "" {
		stop, err := startBenchProfile(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	local, err := localSigner(o.validators)
	if err != nil {
		return nil, err
	}
	remote := thresholdSigner(cl, ids, pubs)
	sched := newAttestSchedule(o.validators, benchCurrentEpoch())
	n, t := cl.Threshold()

	var results []benchResult
	var p50, rate, cpuPerOp float64
	clients := []int{1}
	if o.clients > 1 {
		clients = append(clients, o.clients)
	}
	for _, k := range clients {
		ok := o
		ok.clients = k
		// The local run signs the same (validator, epoch) sequence: at one
		// client exactly the same requests, hence the same signing roots.
		for _, s := range []struct {
			signer *benchSigner
			sched  *attestSchedule
		}{{remote, sched}, {local, sched.clone()}} {
			if !s.signer.local {
				if err := benchQuiesce(ctx, cl, c.stderr); err != nil {
					return nil, err
				}
			}
			w := attestWork(s.signer, s.sched)
			cpu0, cpuOK := benchCPU()
			res := runBenchOp(ctx, cl, w, ok, c.stderr)
			cpu1, _ := benchCPU()
			if err := w.after(); err != nil {
				return nil, fmt.Errorf("bench %s: %w", w.op, err)
			}
			row := benchAttestResult{benchResult: res, Validators: o.validators}
			if cpuOK && res.Count > 0 {
				row.CPUMSPerOp = float64(cpu1-cpu0) / float64(time.Millisecond) / float64(res.Count)
			}
			if !s.signer.local && k > 1 && row.CPUMSPerOp > 0 {
				cpuPerOp = row.CPUMSPerOp // at many clients: the per-block cost shared
			}
			if err := c.emit(row, benchHuman(res)+fmt.Sprintf(" validators=%d cpu ms/op=%.2f", o.validators, row.CPUMSPerOp)); err != nil {
				return nil, err
			}
			if !s.signer.local {
				results = append(results, res)
				if k == 1 {
					p50 = res.LatencyMS.P50
				} else {
					rate = res.OpsPerSec
				}
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}

	epoch := sched.slotEpoch()
	slot := epoch*eth2.SlotsPerEpoch + eth2.SlotsPerEpoch/2
	var wall float64
	for _, signer := range []*benchSigner{remote, local} {
		if !signer.local {
			if err := benchQuiesce(ctx, cl, c.stderr); err != nil {
				return nil, err
			}
		}
		h0 := int64(0)
		if !signer.local {
			h0 = benchHeight(ctx, cl)
		}
		res, err := runAttestSlot(ctx, signer, slot, epoch, o.slotConc)
		if err != nil {
			return nil, fmt.Errorf("bench %s: %w", res.Op, err)
		}
		if !signer.local {
			res.N, res.T = n, t
			wall = res.WallMS
			if res.CPUMSPerOp > 0 && (cpuPerOp == 0 || res.CPUMSPerOp < cpuPerOp) {
				cpuPerOp = res.CPUMSPerOp
			}
			if blocks := benchHeight(ctx, cl) - h0; h0 > 0 && blocks > 0 {
				fmt.Fprintf(c.stderr, "bench %s: %d blocks committed\n", res.Op, blocks)
			}
		}
		if res.firstErr != nil {
			fmt.Fprintf(c.stderr, "bench %s: first error: %v\n", res.Op, res.firstErr)
		}
		human := fmt.Sprintf("%-8s %-9s slot=%d validators=%d concurrency=%d n=%d t=%d count=%d errors=%d wall=%.0f ms ops/s=%.1f latency ms: mean=%.2f p50=%.2f p90=%.2f p99=%.2f cpu ms/op=%.2f",
			res.Op, res.Scheme, res.Slot, res.Validators, res.Concurrency, res.N, res.T, res.Count, res.Errors, res.WallMS, res.OpsPerSec,
			res.LatencyMS.Mean, res.LatencyMS.P50, res.LatencyMS.P90, res.LatencyMS.P99, res.CPUMSPerOp)
		if err := c.emit(res, human); err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	benchAttestTargets(c.stderr, p50, rate, o.clients, wall, o.validators)
	if o.replicas != 0 && cpuPerOp > 0 {
		fmt.Fprintf(c.stderr, "bench attest: %.1f ms of CPU per attestation at high concurrency (replicas, consensus and client in this process): at most %.0f/s on %d cores with nothing else running\n",
			cpuPerOp, 1000*float64(runtime.NumCPU())/cpuPerOp, runtime.NumCPU())
	}
	return results, nil
}

// benchAttestTargets prints the measured figures beside issue 15's targets.
func benchAttestTargets(w io.Writer, p50, rate float64, clients int, wallMS float64, validators int) {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "bench attest: target p50 at 1 client ≤ %.0f ms: %.2f ms, %s\n", benchTargetP50MS, p50, met(p50 <= benchTargetP50MS))
	if clients > 1 {
		fmt.Fprintf(w, "bench attest: target ≥ %.0f attestations/s (at 64 clients): %.1f/s at %d clients, %s\n", benchTargetRate, rate, clients, met(rate >= benchTargetRate))
	}
	fmt.Fprintf(w, "bench attest: target one slot of 1000 validators ≤ %.0f s: %d validators in %.2f s, %s\n", benchTargetSlotSec, validators, wallMS/1000, met(wallMS <= benchTargetSlotSec*1000))
}

// benchHuman is the human line of a benchResult.
func benchHuman(res benchResult) string {
	return fmt.Sprintf("%-8s %-9s clients=%d n=%d t=%d count=%d errors=%d ops/s=%.1f latency ms: mean=%.2f stddev=%.2f p50=%.2f p90=%.2f p99=%.2f",
		res.Op, res.Scheme, res.Clients, res.N, res.T, res.Count, res.Errors, res.OpsPerSec,
		res.LatencyMS.Mean, res.LatencyMS.StdDev, res.LatencyMS.P50, res.LatencyMS.P90, res.LatencyMS.P99)
}

// checkAttest validates the flags of --op attest.
func (o *benchOptions) checkAttest() error {
	if o.op != benchAttest {
		if o.validators != benchDefaultValidators || o.slotConc != benchDefaultSlotConc {
			return errors.New("--validators and --slot-concurrency need --op attest")
		}
		return nil
	}
	if o.validators < 1 || o.validators > benchMaxValidators {
		return fmt.Errorf("--validators must be between 1 and %d", benchMaxValidators)
	}
	if o.clients > o.validators {
		return fmt.Errorf("--clients (%d) must not exceed --validators (%d): a validator signs one attestation at a time", o.clients, o.validators)
	}
	if o.slotConc < 1 || o.slotConc > benchMaxClients {
		return fmt.Errorf("--slot-concurrency must be between 1 and %d", benchMaxClients)
	}
	return nil
}
