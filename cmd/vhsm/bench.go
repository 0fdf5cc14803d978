package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica"
	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/testnet"
	"github.com/vhsm/vhsm/replica/wire"
)

// Bench bounds.
const (
	benchMaxClients   = 1024
	benchMaxRequests  = 1_000_000        // per operation
	benchMaxDuration  = 10 * time.Minute // per operation, also the cap of a --requests run
	benchDefaultDur   = 10 * time.Second
	benchProgress     = time.Second // progress line period
	benchCiphertexts  = 16          // distinct ciphertexts decrypted by the decrypt phase
	benchMessageBytes = 32
	benchStopTimeout  = 20 * time.Second // in-process replicas shutting down
	benchSetupWait    = 30 * time.Second // the bench's key made (pool refilled after a keygen run) and usable at every replica
	benchSetupPoll    = 100 * time.Millisecond
	benchSignatures   = 16              // distinct signatures checked by the verify phase
	benchQuiesceWait  = 3 * time.Minute // pool refills finishing before an operation is measured
)

// benchOps are the operations of --op all, in order. sign-local is the
// single-party baseline of sign (no replica involved).
var benchOps = []string{"keygen", "sign", benchSignLocal, "verify", "encrypt", "decrypt"}

// benchSignLocal is the operation measuring one party signing alone, with
// the whole key in this process: BIP-340 with btcec for schnorr, the
// Ethereum BLS signature with herumi (threshold/bls) for bls.
const benchSignLocal = "sign-local"

// benchOptions are the flags of vhsm bench.
type benchOptions struct {
	op, scheme string
	clients    int
	duration   time.Duration
	requests   int
	replicas   int
	dir        string
	cpuProfile string
	pools      app.PoolConfig
	// peer is "" or "softhsm"; peerDuration bounds each peer measurement
	// and peerModule is the PKCS#11 library ("" for the default paths).
	peer         string
	peerDuration time.Duration
	peerModule   string
	// validators and slotConc: --op attest (bench_attest.go).
	validators int
	slotConc   int
	noBatch    bool
}

// benchResult is the JSON shape of one operation's measurement.
type benchResult struct {
	Op        string       `json:"op"`
	Scheme    string       `json:"scheme"`
	Count     int          `json:"count"`
	Errors    int          `json:"errors"`
	OpsPerSec float64      `json:"ops_per_sec"`
	LatencyMS benchLatency `json:"latency_ms"`
	Clients   int          `json:"clients"`
	N         int          `json:"n"`
	T         int          `json:"t"`
	// CPUMSPerOp is the CPU time this process (the client and, with
	// --replicas, the replicas) used during the measurement, per
	// successful request: what the cluster spends on one, including the
	// pool refills the measured requests started (those still running at
	// the end are cut off). Omitted where the platform does not say.
	CPUMSPerOp float64 `json:"cpu_ms_per_op,omitempty"`
}

// benchLatency summarizes the latencies of the successful requests, in
// milliseconds.
type benchLatency struct {
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
}

func (c *cli) benchCmd() *cobra.Command {
	o := benchOptions{pools: app.DefaultPoolConfig()}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure latency and throughput of keygen, sign, verify, encrypt and decrypt",
		Long: `Runs --clients concurrent clients issuing one operation for --duration or
until --requests requests were made, and reports count, errors, ops/s and
latency (mean, std dev, p50, p90, p99) per operation; --json prints one
JSON object per operation. Every decryption is compared with its
plaintext (a wrong result counts as an error), and every signature, which
the client verified before returning it, is verified again after the
measurement (a wrong one fails the command).
verify checks threshold signatures made before the measurement against
the group key, locally (no replica round trip), as "vhsm verify" does.
sign-local (part of --op all) is the single-party baseline of sign, the
cost of distribution: the same clients sign the same messages with one
key held in this process, BIP-340 with btcec (schnorr) or the Ethereum
BLS signature with herumi (bls); its row reports n=1 t=0.

Before each operation it waits (up to 3 minutes) until no replica runs a
DKG session, so that the background refill of the key pools
(started by the previous operation, or at genesis) does not share the CPU
with the measured requests; a refill started by the measured requests
themselves is part of the measurement. Unlike the other commands, the
bench's client does not wait and retry when the replicas refuse a request
for an empty key pool: such a refusal is counted as an error.

Without --replicas it uses the cluster of --config (as the other commands).
With --replicas 4|7 it generates a testnet in a temporary directory (or
--dir), runs the replicas in this process with the --key-* pool
sizes, and removes the temporary directory afterwards. --cpuprofile writes
a CPU profile of the measured runs (in-process replicas included), from
the first measurement on (not the genesis pool refills before it). Each
row's cpu_ms_per_op is this process's CPU time during the measurement per
successful request.

--peer softhsm then measures SoftHSM2 through PKCS#11 on a throw-away
token (its own SOFTHSM2_CONF and token directory, random PINs, removed
afterwards): secp256k1 ECDSA signing with 1 and 2 sessions and persisted
EC key generation, each for --peer-duration; and prints our ops/s divided
by SoftHSM's for the comparable operations (our Schnorr sign vs its ECDSA
sign, our keygen vs its persisted keygen).

The --clients share one vhsm client, as the callers of one wallet service
do: their signing, encryption and decryption requests in flight at the same
replica leave together in batches (one signature, one reply key and one
sealed answer per batch); --no-batch sends each request on its own.

--op attest (not part of all) measures Ethereum attestations: it creates
--validators validator keys (bls, marked as validator keys; the set-up is
timed and reported apart, as the attest-setup row), then signs
remote-signing API ATTESTATION requests (mainnet fork_info at Fulu)
through the replicated slashing protection (SignEth2) at 1 client and at
--clients, each followed by the same requests signed with one local
herumi key per validator (attest-local: parse, signing root, sign), and
finally one slot: every validator's attestation for the same slot issued
at once, at most --slot-concurrency in flight (attest-slot, wall time from
the first request to the last answer; attest-slot-local beside it). Each
validator's attestations have increasing source and target epochs and a
validator has one request in flight at a time, so none is slashable: a
refusal counts as an error. --cpuprofile then covers the measurements,
not the set-up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			return c.runBench(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.op, "op", "all", "operation: keygen, sign, sign-local, verify, encrypt, decrypt, all, or attest (not part of all)")
	f.StringVar(&o.scheme, "scheme", wire.SchemeSchnorr, "signature scheme of keygen and sign: schnorr or bls")
	f.IntVar(&o.clients, "clients", 1, "concurrent clients")
	f.DurationVar(&o.duration, "duration", 0, "run each operation this long (default 10s unless --requests)")
	f.IntVar(&o.requests, "requests", 0, "run each operation until this many requests were made")
	f.IntVar(&o.replicas, "replicas", 0, "start an in-process cluster of 4 or 7 replicas instead of using --config")
	f.StringVar(&o.dir, "dir", "", "with --replicas: testnet directory (default a temporary one, removed afterwards)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured runs to this file")
	f.StringVar(&o.peer, "peer", "", "also measure a peer HSM and print our ops/s ÷ its ops/s: softhsm")
	f.DurationVar(&o.peerDuration, "peer-duration", benchPeerDefaultDur, "with --peer: length of each peer measurement")
	f.StringVar(&o.peerModule, "softhsm-module", "", "with --peer softhsm: path of libsofthsm2.so (default: the distribution's)")
	f.IntVar(&o.pools.KeyBatch, "key-batch", o.pools.KeyBatch, "with --replicas: keys per key DKG session")
	f.IntVar(&o.pools.KeyLow, "key-low", o.pools.KeyLow, "with --replicas: key pool low watermark")
	f.IntVar(&o.validators, "validators", benchDefaultValidators, "with --op attest: validator keys created and attesting")
	f.IntVar(&o.slotConc, "slot-concurrency", benchDefaultSlotConc, "with --op attest: attestations in flight while one slot's are signed")
	f.BoolVar(&o.noBatch, "no-batch", false, "send every request on its own instead of in batches per replica (the clients share one vhsm client)")
	return cmd
}

// clientOptions are the options of the bench's vhsm client: no retry on an
// empty key pool, and batching unless --no-batch.
func (o *benchOptions) clientOptions() []client.Option {
	opts := []client.Option{client.WithPoolWait(0)}
	if o.noBatch {
		opts = append(opts, client.WithoutBatching())
	}
	return opts
}

// check validates the flags and fills in the default duration.
func (o *benchOptions) check() error {
	if o.op != "all" && o.op != benchAttest && !slices.Contains(benchOps, o.op) {
		return fmt.Errorf("--op must be keygen, sign, sign-local, verify, encrypt, decrypt, attest or all, not %q", o.op)
	}
	if err := o.checkAttest(); err != nil {
		return err
	}
	if o.scheme != wire.SchemeSchnorr && o.scheme != wire.SchemeBLS {
		return fmt.Errorf("--scheme must be schnorr or bls, not %q", o.scheme)
	}
	if o.clients < 1 || o.clients > benchMaxClients {
		return fmt.Errorf("--clients must be between 1 and %d", benchMaxClients)
	}
	if o.requests < 0 || o.requests > benchMaxRequests {
		return fmt.Errorf("--requests must be between 1 and %d", benchMaxRequests)
	}
	if o.duration < 0 || o.duration > benchMaxDuration {
		return fmt.Errorf("--duration must be positive and at most %v", benchMaxDuration)
	}
	if o.duration == 0 {
		o.duration = benchMaxDuration
		if o.requests == 0 {
			o.duration = benchDefaultDur
		}
	}
	if o.requests == 0 {
		o.requests = benchMaxRequests
	}
	if o.replicas != 0 && o.replicas != 4 && o.replicas != 7 {
		return fmt.Errorf("--replicas must be 4 or 7")
	}
	if o.replicas == 0 && o.dir != "" {
		return fmt.Errorf("--dir needs --replicas")
	}
	if o.peer != "" && o.peer != benchPeerSoftHSM {
		return fmt.Errorf("--peer must be %s, not %q", benchPeerSoftHSM, o.peer)
	}
	if o.peer == benchPeerSoftHSM && errNoSoftHSM != nil {
		return fmt.Errorf("--peer softhsm: %w", errNoSoftHSM)
	}
	if o.peerDuration <= 0 || o.peerDuration > benchMaxDuration {
		return fmt.Errorf("--peer-duration must be positive and at most %v", benchMaxDuration)
	}
	if o.peer == "" && o.peerModule != "" {
		return fmt.Errorf("--softhsm-module needs --peer softhsm")
	}
	// Fail before the (long) measurement of our operations.
	if o.peerModule != "" {
		if _, err := os.Stat(o.peerModule); err != nil {
			return fmt.Errorf("--softhsm-module: %w", err)
		}
	} else if o.peer == benchPeerSoftHSM {
		if err := findSoftHSM(); err != nil {
			return fmt.Errorf("--peer softhsm: %w (or give --softhsm-module)", err)
		}
	}
	return nil
}

// runBench measures our operations, then the peer (after the in-process
// cluster, if any, has stopped) and the ratios of comparable operations.
func (c *cli) runBench(ctx context.Context, o benchOptions) error {
	ours, err := c.runBenchOurs(ctx, o)
	if err != nil || o.peer == "" {
		return err
	}
	return c.runBenchPeer(ctx, o, ours)
}

// runBenchOurs measures the operations of o against the cluster and returns
// their results in order.
func (c *cli) runBenchOurs(ctx context.Context, o benchOptions) (results []benchResult, err error) {
	var cl *client.Client
	if o.replicas != 0 {
		var stop func() error
		cl, stop, err = c.startBenchCluster(ctx, o)
		if err != nil {
			return nil, err
		}
		defer func() {
			if serr := stop(); serr != nil && err == nil {
				err = serr
			}
		}()
	} else {
		cl, err = c.client(o.clientOptions()...)
		if err != nil {
			return nil, err
		}
	}
	defer cl.Close()

	// The CPU profile starts with the first measurement, once the genesis
	// pool refills are over (attest profiles after its own set-up).
	var stopProfile func()
	defer func() {
		if stopProfile != nil {
			stopProfile()
		}
	}()

	ops := benchOps
	if o.op != "all" {
		ops = []string{o.op}
	}
	for _, op := range ops {
		if op == benchAttest {
			rs, err := c.runBenchAttest(ctx, cl, o)
			if err != nil {
				return nil, err
			}
			results = append(results, rs...)
			continue
		}
		w, err := newBenchWork(ctx, cl, op, o.scheme)
		if err != nil {
			return nil, fmt.Errorf("bench %s: set up: %w", op, err)
		}
		if err := benchQuiesce(ctx, cl, c.stderr); err != nil {
			return nil, err
		}
		if o.cpuProfile != "" && stopProfile == nil {
			if stopProfile, err = startBenchProfile(o.cpuProfile); err != nil {
				return nil, err
			}
		}
		res := runBenchOp(ctx, cl, w, o, c.stderr)
		if w.after != nil {
			if err := w.after(); err != nil {
				return nil, fmt.Errorf("bench %s: %w", op, err)
			}
		}
		human := fmt.Sprintf("%-8s %-9s clients=%d n=%d t=%d count=%d errors=%d ops/s=%.1f latency ms: mean=%.2f stddev=%.2f p50=%.2f p90=%.2f p99=%.2f",
			res.Op, res.Scheme, res.Clients, res.N, res.T, res.Count, res.Errors, res.OpsPerSec,
			res.LatencyMS.Mean, res.LatencyMS.StdDev, res.LatencyMS.P50, res.LatencyMS.P90, res.LatencyMS.P99)
		if err := c.emit(res, human); err != nil {
			return nil, err
		}
		results = append(results, res)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return results, nil
}

// startBenchProfile starts the CPU profile written to path; stop ends it.
func startBenchProfile(path string) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// startBenchCluster generates a testnet and runs its replicas in this
// process, waits until they are ready, and returns a client for it and a
// function stopping the replicas (and removing a temporary directory).
func (c *cli) startBenchCluster(ctx context.Context, o benchOptions) (*client.Client, func() error, error) {
	dir, temp := o.dir, o.dir == ""
	if temp {
		d, err := os.MkdirTemp("", "vhsm-bench-")
		if err != nil {
			return nil, nil, err
		}
		dir = d
	}
	cleanup := func() {
		if temp {
			_ = os.RemoveAll(dir)
		}
	}
	pools := o.pools
	tn, err := testnet.Generate(filepath.Join(dir, "net"), o.replicas, testnet.Options{Pools: &pools})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make([]error, len(tn.Homes))
	var logs []*os.File
	stop := func() error {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		var err error
		select {
		case <-done:
			err = errors.Join(errs...)
		case <-time.After(benchStopTimeout):
			err = fmt.Errorf("replicas did not stop within %v", benchStopTimeout)
		}
		for _, f := range logs {
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("stop replicas (logs in %s): %w", tn.Dir, err)
		}
		cleanup()
		return nil
	}
	for i, home := range tn.Homes {
		lf, err := os.OpenFile(filepath.Join(home, "replica.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			_ = stop()
			return nil, nil, err
		}
		logs = append(logs, lf)
		log := slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := replica.Run(runCtx, replica.Config{Home: home, Log: log}); err != nil {
				errs[i] = fmt.Errorf("replica %d: %w", i+1, err)
			}
		}()
	}
	cfg, err := client.Load(tn.ClientPath)
	if err == nil {
		var cl *client.Client
		cl, err = client.New(cfg, o.clientOptions()...)
		if err == nil {
			fmt.Fprintf(c.stderr, "bench: waiting for %d in-process replicas in %s\n", o.replicas, tn.Dir)
			if err = waitDevnetReady(ctx, cl, nil); err == nil {
				return cl, stop, nil
			}
			cl.Close()
		}
	}
	if serr := stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	return nil, nil, err
}

// benchWork is one operation ready to run: do makes request number i and
// checks its result, returning an error for a failed or wrong one.
type benchWork struct {
	op, scheme string
	// local: no replica is involved (the row reports n=1, t=0).
	local bool
	do    func(ctx context.Context, i int) error
	// after, if set, checks the results once the measurement is over.
	after func() error
}

// newBenchWork prepares op: the key it uses (and for decrypt the
// ciphertexts it decrypts) are made here, outside the measurement.
func newBenchWork(ctx context.Context, cl *client.Client, op, scheme string) (*benchWork, error) {
	var tag [6]byte
	if _, err := rand.Read(tag[:]); err != nil {
		return nil, err
	}
	prefix := "bench-" + hex.EncodeToString(tag[:])
	msg := func(i int) []byte {
		m := make([]byte, benchMessageBytes)
		copy(m, fmt.Sprintf("%s-%d", prefix, i))
		return m
	}
	switch op {
	case "keygen":
		return &benchWork{op: op, scheme: scheme, do: func(ctx context.Context, i int) error {
			id := fmt.Sprintf("%s-%d", prefix, i)
			k, err := cl.GenerateKey(ctx, id, scheme)
			if err != nil {
				return err
			}
			if k.KeyID != id || k.Scheme != scheme || len(k.PublicKey) == 0 {
				return fmt.Errorf("keygen returned key %q of scheme %q", k.KeyID, k.Scheme)
			}
			return nil
		}}, nil
	case "sign":
		k, err := benchGenerateKey(ctx, cl, prefix, scheme)
		if err != nil {
			return nil, err
		}
		// The client verifies every signature before returning it; bench
		// verifies them all again, independently, after the measurement,
		// so that its check does not take CPU from the measured requests.
		sigs := &benchSigs{pub: k.PublicKey, scheme: scheme}
		return &benchWork{op: op, scheme: scheme, do: func(ctx context.Context, i int) error {
			m := msg(i)
			sig, err := benchSign(ctx, cl, k.KeyID, scheme, m)
			if err != nil {
				return err
			}
			sigs.add(m, sig)
			return nil
		}, after: sigs.check}, nil
	case benchSignLocal:
		return newBenchSignLocal(scheme, msg)
	case "verify":
		k, err := benchGenerateKey(ctx, cl, prefix, scheme)
		if err != nil {
			return nil, err
		}
		msgs := make([][]byte, benchSignatures)
		sigs := make([][]byte, benchSignatures)
		for j := range sigs {
			msgs[j] = msg(j)
			err := benchRetry(ctx, func() error {
				var err error
				sigs[j], err = benchSign(ctx, cl, k.KeyID, scheme, msgs[j])
				return err
			})
			if err != nil {
				return nil, err
			}
		}
		return &benchWork{op: op, scheme: scheme, do: func(ctx context.Context, i int) error {
			j := i % benchSignatures
			return benchVerify(k.PublicKey, scheme, msgs[j], sigs[j])
		}}, nil
	case "encrypt", "decrypt":
		k, err := benchGenerateKey(ctx, cl, prefix, wire.SchemeSymmetric)
		if err != nil {
			return nil, err
		}
		// Encrypt and decrypt are not ordered: a replica that has not yet
		// applied the block creating the key refuses them. Wait until the
		// key is usable before measuring.
		if err := benchRetry(ctx, func() error { _, err := cl.Encrypt(ctx, k.KeyID, msg(-1)); return err }); err != nil {
			return nil, err
		}
		if op == "encrypt" {
			return &benchWork{op: op, scheme: wire.SchemeSymmetric, do: func(ctx context.Context, i int) error {
				ct, err := cl.Encrypt(ctx, k.KeyID, msg(i))
				if err != nil {
					return err
				}
				if len(ct) <= benchMessageBytes {
					return fmt.Errorf("ciphertext of %d bytes", len(ct))
				}
				return nil
			}}, nil
		}
		pts := make([][]byte, benchCiphertexts)
		cts := make([][]byte, benchCiphertexts)
		for j := range cts {
			pts[j] = msg(j)
			if cts[j], err = cl.Encrypt(ctx, k.KeyID, pts[j]); err != nil {
				return nil, err
			}
		}
		return &benchWork{op: op, scheme: wire.SchemeSymmetric, do: func(ctx context.Context, i int) error {
			j := i % benchCiphertexts
			pt, err := cl.Decrypt(ctx, k.KeyID, cts[j])
			if err != nil {
				return err
			}
			if !bytes.Equal(pt, pts[j]) {
				return errors.New("decryption differs from the plaintext")
			}
			return nil
		}}, nil
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

// benchSign signs m with the key id of scheme (schnorr: BIP-340, no
// Taproot tweak).
func benchSign(ctx context.Context, cl *client.Client, id, scheme string, m []byte) ([]byte, error) {
	if scheme == wire.SchemeSchnorr {
		sig, err := cl.SignSchnorr(ctx, id, m, nil)
		return sig[:], err
	}
	return cl.SignBLS(ctx, id, m)
}

// benchVerify returns an error unless sig is a valid signature on m under
// pub (verified locally, as vhsm verify does).
func benchVerify(pub []byte, scheme string, m, sig []byte) error {
	var valid bool
	var err error
	if scheme == wire.SchemeSchnorr {
		valid, err = client.VerifySchnorr(pub, m, sig, nil)
	} else {
		valid, err = client.VerifyBLS(pub, m, sig)
	}
	if err != nil {
		return err
	}
	if !valid {
		return errors.New("signature does not verify")
	}
	return nil
}

// benchGenerateKey generates the key an operation uses, retrying for up to
// benchSetupWait while the replicas refuse it for an empty pool (as after
// a keygen run drained it); a refusal is final, so a retry cannot create
// the key twice.
func benchGenerateKey(ctx context.Context, cl *client.Client, id, scheme string) (client.KeyInfo, error) {
	deadline := time.Now().Add(benchSetupWait)
	for {
		k, err := cl.GenerateKey(ctx, id, scheme)
		if err == nil || !strings.Contains(err.Error(), app.ErrPoolEmpty.Error()) || time.Now().After(deadline) {
			return k, err
		}
		select {
		case <-ctx.Done():
			return k, err
		case <-time.After(benchSetupPoll):
		}
	}
}

// benchQuiesce waits, up to benchQuiesceWait, until no replica reports an
// open DKG session, printing what it waits for. A cluster still refilling
// after that is measured anyway, with a warning.
func benchQuiesce(ctx context.Context, cl *client.Client, progress io.Writer) error {
	deadline := time.Now().Add(benchQuiesceWait)
	said := false
	for {
		open := 0
		for _, st := range cl.Status(ctx) {
			open = max(open, st.OpenSessions)
		}
		if open == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(progress, "bench: %d pool refills still running after %v; measuring anyway\n", open, benchQuiesceWait)
			return nil
		}
		if !said {
			fmt.Fprintf(progress, "bench: waiting for %d pool refills (DKG sessions) to finish\n", open)
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(benchSetupPoll):
		}
	}
}

// benchRetry calls f until it succeeds, ctx ends or benchSetupWait passed,
// and returns f's last error.
func benchRetry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(benchSetupWait)
	for {
		err := f()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(benchSetupPoll):
		}
	}
}

// runBenchOp runs w with o.clients workers until o.requests requests were
// started or o.duration passed, printing a progress line on progress.
func runBenchOp(ctx context.Context, cl *client.Client, w *benchWork, o benchOptions, progress io.Writer) benchResult {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var next, ok, failed atomic.Int64
	lat := make([][]time.Duration, o.clients)
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	var h0 int64
	if !w.local {
		h0 = benchHeight(ctx, cl)
	}
	cpu0, cpuOK := benchCPU()
	start := time.Now()
	for k := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(o.requests) {
					return
				}
				t0 := time.Now()
				err := w.do(ctx, int(i))
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return // cut off by the deadline: not counted
					}
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				ok.Add(1)
				lat[k] = append(lat[k], d)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(benchProgress)
	defer tick.Stop()
	line := func() {
		s := time.Since(start).Seconds()
		fmt.Fprintf(progress, "\rbench %s %s: %d ok, %d errors, %.1f ops/s, %.0fs ", w.op, w.scheme, ok.Load(), failed.Load(), float64(ok.Load())/s, s)
	}
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			line()
		}
	}
	elapsed := time.Since(start)
	cpu1, _ := benchCPU()
	line()
	fmt.Fprintln(progress)
	if h0 > 0 {
		if blocks := benchHeight(context.WithoutCancel(ctx), cl) - h0; blocks > 0 {
			fmt.Fprintf(progress, "bench %s: %d blocks committed, %.2f per successful request\n", w.op, blocks, float64(blocks)/float64(max(ok.Load(), 1)))
		}
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(progress, "bench %s: first error: %v\n", w.op, *e)
	}
	n, t := cl.Threshold()
	if w.local {
		n, t = 1, 0
	}
	all := slices.Concat(lat...)
	r := benchResult{
		Op: w.op, Scheme: w.scheme, Count: len(all), Errors: int(failed.Load()),
		OpsPerSec: float64(len(all)) / elapsed.Seconds(),
		LatencyMS: summarize(all), Clients: o.clients, N: n, T: t,
	}
	if cpuOK && len(all) > 0 {
		r.CPUMSPerOp = float64(cpu1-cpu0) / float64(time.Millisecond) / float64(len(all))
		fmt.Fprintf(progress, "bench %s: %.2f ms of CPU per successful request (this process)\n", w.op, r.CPUMSPerOp)
	}
	return r
}

// benchHeight returns the highest committed height the replicas report (0
// when none answers within a second).
func benchHeight(ctx context.Context, cl *client.Client) int64 {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var h int64
	for _, st := range cl.Status(ctx) {
		h = max(h, st.Height)
	}
	return h
}

// summarize computes mean, standard deviation and nearest-rank percentiles
// of ds in milliseconds (all zero for no samples).
func summarize(ds []time.Duration) benchLatency {
	if len(ds) == 0 {
		return benchLatency{}
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var sum float64
	for _, d := range ds {
		sum += ms(d)
	}
	mean := sum / float64(len(ds))
	var sq float64
	for _, d := range ds {
		sq += (ms(d) - mean) * (ms(d) - mean)
	}
	pct := func(p float64) float64 {
		r := int(math.Ceil(p / 100 * float64(len(ds))))
		return ms(ds[max(r, 1)-1])
	}
	return benchLatency{
		Mean: mean, StdDev: math.Sqrt(sq / float64(len(ds))),
		P50: pct(50), P90: pct(90), P99: pct(99),
	}
}
