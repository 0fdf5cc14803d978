package faulttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/cluster"
	"github.com/vhsm/vhsm/replica/wire"
)

// FaultRatioEnv, when "1", makes TestFROSTUnderFaults also require each
// fault phase to keep at least frostMinRatio of the fault-free throughput.
// Off by default: on a shared CI machine throughput varies too much from
// one phase to the next for a ratio to mean anything.
const FaultRatioEnv = "VHSM_FAULT_RATIO"

// The signing load of the FROST fault runs.
const (
	frostClients  = 64               // concurrent signers, one client (one request stream each)
	frostPhase    = 8 * time.Second  // length of each phase
	frostMaxSigns = 4000             // requests per phase at most
	frostMinRatio = 0.5              // fault phase ÷ fault-free throughput, with FaultRatioEnv
	frostTimeout  = "20s"            // request timeout: longer than a loaded machine's worst hedge
	frostByzPhase = 5 * time.Second  // length of the Byzantine load
	frostDrain    = 30 * time.Second // in-flight requests finishing after a phase
)

// frostLoad is the outcome of one phase of signing load.
type frostLoad struct {
	ok, failed int
	elapsed    time.Duration   // phase start to the last request's end
	errs       []string        // the first failures
	lat        []time.Duration // of the successful requests
}

// latency returns the p-th percentile (nearest rank) of the successful
// requests' latencies.
func (l frostLoad) latency(p int) time.Duration {
	if len(l.lat) == 0 {
		return 0
	}
	s := slices.Clone(l.lat)
	slices.Sort(s)
	return s[max((p*len(s)+99)/100, 1)-1].Round(time.Millisecond)
}

func (l frostLoad) rate() float64 { return float64(l.ok) / l.elapsed.Seconds() }

// rLog records the R (first 32 bytes) of every FROST signature, to catch
// a nonce used for two messages: two signatures sharing R on different
// messages would reveal the key.
type rLog struct {
	mu  sync.Mutex
	byR map[[32]byte]string
}

func (l *rLog) add(msg []byte, sig [64]byte) error {
	var r [32]byte
	copy(r[:], sig[:32])
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.byR[r]; ok && prev != string(msg) {
		return fmt.Errorf("nonce reuse: R %x signs two distinct messages", r)
	}
	l.byR[r] = string(msg)
	return nil
}

// signLoad runs frostClients workers signing distinct 32-byte messages with
// the schnorr key k under BIP-86 (Taproot, no script tree) for d or
// frostMaxSigns requests, whichever comes first, and waits for the requests
// in flight. Every signature is verified with btcec against the BIP-341
// output key and its R recorded in rs; a request that fails or returns a
// wrong signature counts as failed.
func signLoad(ctx context.Context, cl *client.Client, k client.KeyInfo, rs *rLog, label string, d time.Duration) frostLoad {
	return runLoad(ctx, label, d, func(msg []byte) error {
		sig, err := cl.SignSchnorr(ctx, k.KeyID, msg, &wire.TaprootOption{})
		if err == nil {
			err = verifyTaproot(k.PublicKey, nil, msg, sig)
		}
		if err == nil {
			err = rs.add(msg, sig)
		}
		return err
	})
}

// runLoad runs frostClients workers calling one with distinct 32-byte
// messages for d or frostMaxSigns requests, whichever comes first, and
// waits for the requests in flight; a call that returns an error counts as
// failed.
func runLoad(ctx context.Context, label string, d time.Duration, one func(msg []byte) error) frostLoad {
	var next atomic.Int64
	var mu sync.Mutex
	var out frostLoad
	end := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range frostClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= frostMaxSigns {
					return
				}
				msg := msgHash(fmt.Sprintf("%s %d/%d", label, w, i))
				t0 := time.Now()
				err := one(msg)
				mu.Lock()
				if err != nil {
					out.failed++
					if len(out.errs) < 5 {
						out.errs = append(out.errs, fmt.Sprintf("request %d: %v", i, err))
					}
				} else {
					out.ok++
					out.lat = append(out.lat, time.Since(t0))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}

// frostKey generates the schnorr key id on c's admin client cl and waits
// until every replica has applied it (signing is not ordered: a replica
// behind the key's block refuses it until it catches up).
func frostKey(ctx context.Context, t *testing.T, c *cluster.Cluster, cl *client.Client, id string) client.KeyInfo {
	t.Helper()
	k, err := cl.GenerateKey(ctx, id, wire.SchemeSchnorr)
	if err != nil {
		t.Fatalf("keys.gen: %v", err)
	}
	if err := c.WaitSynced(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestFROSTUnderFaults: 64 concurrent signers make BIP-86 Taproot
// signatures (FROST, one round trip to t+1 replicas, issue 14) in three
// phases of frostPhase each (frostMaxSigns requests at most): fault-free;
// replica 4 SIGKILLed at the start of the phase (restarted after it); and
// replica 3 SIGSTOPped at the start of the phase (resumed after it). No
// request may fail, every signature must verify with btcec under the
// BIP-341 output key, and no R may sign two messages. Each phase's
// throughput and latencies are logged; with VHSM_FAULT_RATIO=1 each fault
// phase must keep at least half the fault-free throughput.
//
// The killed replica's connections are refused at once, so the client
// marks it suspect and picks the others; the stopped one keeps its
// connections open and never answers, so a session that picked it is
// replaced when the hedge delay (the recent p90 latency) passes, and once
// the client's commitments of it are used up it is picked no more (its
// refill, fetched in the background, times out and marks it suspect).
func TestFROSTUnderFaults(t *testing.T) {
	c := startCluster(t, loadPools)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	k := frostKey(ctx, t, c, c.Client(), "frost-faults")
	rs := &rLog{byR: map[[32]byte]string{}}
	// Each phase has its own client, warmed up by a few signatures one at
	// a time: connections open, latencies seen, and about nonceFetch
	// commitments of each replica held, so that the stopped replica's run
	// out early in its phase (64 concurrent first requests would fetch
	// many more).
	phaseClient := func(name string) *client.Client {
		cl := clientWith(t, c, frostTimeout)
		for i := range 8 {
			msg := msgHash(fmt.Sprintf("%s warm-up %d", name, i))
			sig, err := cl.SignSchnorr(ctx, k.KeyID, msg, &wire.TaprootOption{})
			if err == nil {
				err = verifyTaproot(k.PublicKey, nil, msg, sig)
			}
			if err != nil {
				t.Fatalf("%s: warm-up: %v", name, err)
			}
		}
		return cl
	}

	const killed, stopped = 4, 3
	phases := []struct {
		name        string
		fault, heal func() error
	}{
		{"fault-free", nil, nil},
		{fmt.Sprintf("replica %d SIGKILLed", killed),
			func() error { c.Kill(killed); return nil },
			func() error { c.Restart(killed); return c.WaitReadyOf(60*time.Second, killed) }},
		{fmt.Sprintf("replica %d SIGSTOPped", stopped),
			func() error { return c.Pause(stopped) },
			func() error { return c.Resume(stopped) }},
	}
	var base float64
	for i, ph := range phases {
		cl := phaseClient(ph.name)
		if ph.fault != nil {
			if err := ph.fault(); err != nil {
				t.Fatalf("%s: %v", ph.name, err)
			}
		}
		l := signLoad(ctx, cl, k, rs, ph.name, frostPhase)
		t.Logf("%s: %d signatures in %v, %.1f/s, %d failed; latency p50 %v, p90 %v, p99 %v, max %v", ph.name, l.ok,
			l.elapsed.Round(10*time.Millisecond), l.rate(), l.failed, l.latency(50), l.latency(90), l.latency(99), l.latency(100))
		if ph.heal != nil {
			if err := ph.heal(); err != nil {
				t.Fatalf("%s: heal: %v", ph.name, err)
			}
		}
		if l.failed > 0 {
			t.Errorf("%s: %d of %d requests failed: %s", ph.name, l.failed, l.ok+l.failed, strings.Join(l.errs, "; "))
		}
		if l.ok == 0 {
			t.Fatalf("%s: no signature", ph.name)
		}
		if i == 0 {
			base = l.rate()
			continue
		}
		ratio := l.rate() / base
		t.Logf("%s: %.2f of the fault-free throughput", ph.name, ratio)
		if os.Getenv(FaultRatioEnv) == "1" && ratio < frostMinRatio {
			t.Errorf("%s: %.1f signatures/s, %.2f of the fault-free %.1f/s; want at least %.2f", ph.name, l.rate(), ratio, base, frostMinRatio)
		}
	}
}

// TestFROSTByzantineSigner: replica 4 (the vhsm_byzantine build,
// "bad-schnorr") computes every FROST signature share with a wrong key
// share: a well-formed share that fails the check against its verification
// key. Under 64 concurrent signers for frostByzPhase, alternately plain
// BIP-340 and BIP-86, every request succeeds with a signature that btcec
// verifies, the client names replica 4, and only it, as the culprit
// (invalid partial) through WithCulpritHandler, and a session that picked
// it is redone without it (ROAST). A client that reaches only replicas 1
// and 4 gets no signature but a QuorumError naming replica 4.
func TestFROSTByzantineSigner(t *testing.T) {
	const byz = 4
	c, _ := startByzantineCluster(t, n, []int{byz}, smallPools, "bad-schnorr")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var mu sync.Mutex
	var culprits []client.Culprit
	cl := clientWith(t, c, frostTimeout, client.WithCulpritHandler(func(op string, cs []client.Culprit) {
		mu.Lock()
		defer mu.Unlock()
		if op != wire.OpSign {
			cs = append(cs, client.Culprit{Replica: -1, Reason: "reported for op " + op})
		}
		culprits = append(culprits, cs...)
	}))
	k := frostKey(ctx, t, c, cl, "frost-byz")
	rs := &rLog{byR: map[[32]byte]string{}}
	plain := newSigLog()

	var next atomic.Int64
	var ok, failed atomic.Int64
	errs := make(chan error, 5)
	end := time.Now().Add(frostByzPhase)
	var wg sync.WaitGroup
	for w := range frostClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= frostMaxSigns {
					return
				}
				msg := msgHash(fmt.Sprintf("byzantine signer %d/%d", w, i))
				var tr *wire.TaprootOption
				if i%2 == 1 {
					tr = &wire.TaprootOption{}
				}
				sig, err := cl.SignSchnorr(ctx, k.KeyID, msg, tr)
				switch {
				case err != nil:
				case tr == nil:
					err = plain.add(k.KeyID, k.PublicKey, msg, sig)
				default:
					err = verifyTaproot(k.PublicKey, nil, msg, sig)
				}
				if err == nil {
					err = rs.add(msg, sig)
				}
				if err != nil {
					failed.Add(1)
					select {
					case errs <- fmt.Errorf("request %d: %w", i, err):
					default:
					}
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	reports := slices.Clone(culprits)
	mu.Unlock()
	t.Logf("%d signatures (%d failed) in %v, %d culprit reports", ok.Load(), failed.Load(), frostByzPhase, len(reports))
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed", failed.Load(), ok.Load()+failed.Load())
	}
	if ok.Load() == 0 {
		t.Fatal("no signature")
	}
	if len(reports) == 0 {
		t.Errorf("replica %d never named in %d signatures (it is a signer of about half the sessions)", byz, ok.Load())
	}
	for _, cp := range reports {
		if cp.Replica != byz || cp.Reason != client.ReasonInvalidPartial {
			t.Errorf("culprit %v, want replica %d: %s", cp, byz, client.ReasonInvalidPartial)
		}
	}

	// Only replicas 1 and 4 reachable: one honest share, no signature.
	cfg, err := client.Load(c.ClientPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Replicas {
		if r := cfg.Replicas[i].Index; r != 1 && r != byz {
			cfg.Replicas[i].URL = "https://127.0.0.1:1" // nothing listens: connection refused
		}
	}
	two, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	sig, err := two.SignSchnorr(ctx, k.KeyID, msgHash("two replicas"), nil)
	var qe *client.QuorumError
	if !errors.As(err, &qe) || sig != [64]byte{} {
		t.Fatalf("sign through replicas 1 and %d: want a QuorumError and no signature, got %v", byz, err)
	}
	if want := []client.Culprit{{Replica: byz, Reason: client.ReasonInvalidPartial}}; !slices.Equal(qe.Culprits, want) || qe.Valid != 1 {
		t.Fatalf("quorum error %+v, want 1 valid share and culprits %v", qe, want)
	}
	t.Logf("through replicas 1 and %d: %v", byz, err)
}
