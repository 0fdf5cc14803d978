package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/txscript"
	"github.com/cometbft/cometbft/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vhsm/vhsm/api"
	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/cluster"
	"github.com/vhsm/vhsm/replica/engine"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/node"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// byzantine controls the Byzantine replicas of a cluster run from a binary
// built with the vhsm_byzantine tag: they read the behaviours in their
// shared control file (see replica/engine faults_byzantine.go) at every
// hook, so a test switches them by rewriting the file, without a restart.
type byzantine struct {
	replicas []int
	control  string
}

// set makes the replica misbehave as the words say (none: honest).
func (b *byzantine) set(t *testing.T, words ...string) {
	t.Helper()
	if err := os.WriteFile(b.control, []byte(strings.Join(words, " ")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("replicas %v: %q", b.replicas, strings.Join(words, " "))
}

// startByzantineCluster starts an nrep-process cluster of the
// vhsm_byzantine build in which the replicas byz misbehave as words say
// from the genesis DKG on.
func startByzantineCluster(t *testing.T, nrep int, byz []int, pools *app.PoolConfig, words ...string) (*cluster.Cluster, *byzantine) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the vhsm_byzantine binary and starts a process cluster")
	}
	bin := cluster.BuildBinaryTags(t, "vhsm_byzantine")
	b := &byzantine{replicas: byz, control: filepath.Join(t.TempDir(), "byzantine")}
	b.set(t, words...)
	env := map[int][]string{}
	for _, r := range byz {
		env[r] = []string{engine.ByzantineEnv + "=" + b.control}
	}
	c := cluster.StartProcesses(t, t.TempDir(), nrep, bin, cluster.Options{Pools: pools, PhaseTimeout: 2 * time.Second, Env: env})
	t.Cleanup(func() { dumpLogs(t, c) })
	if err := c.WaitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	return c, b
}

// culpritLog records what a client's culprit handler reports, by the label
// of the operation running (operations run one at a time).
type culpritLog struct {
	mu    sync.Mutex
	label string
	seen  map[string][]client.Culprit
}

func (l *culpritLog) setLabel(s string) {
	l.mu.Lock()
	l.label = s
	l.mu.Unlock()
}

func (l *culpritLog) handler(_ string, cs []client.Culprit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[l.label] = append(l.seen[l.label], cs...)
}

func (l *culpritLog) get(label string) []client.Culprit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen[label])
}

// retryPoolEmpty runs op until it does not fail with "pool empty, retry
// later" (at most 60 times, 500 ms apart): the documented answer while a
// refill DKG runs.
func retryPoolEmpty(ctx context.Context, op func() error) error {
	var err error
	for range 60 {
		err = op()
		var rej *client.RejectedError
		if err == nil || !errors.As(err, &rej) || !strings.Contains(rej.Reason, "pool empty") {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return err
}

// verifyTaproot checks sig on msg under the BIP-341 output key of the x-only
// internal key pub and merkle root (empty: BIP-86) with btcd's txscript and
// btcec, independently of threshold/schnorr.
func verifyTaproot(pub, merkleRoot, msg []byte, sig [64]byte) error {
	internal, err := schnorr.ParsePubKey(pub)
	if err != nil {
		return err
	}
	out := txscript.ComputeTaprootOutputKey(internal, merkleRoot)
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return err
	}
	if !s.Verify(msg, out) {
		return errors.New("taproot signature does not verify (btcec)")
	}
	return nil
}

// keys of one Byzantine run: a key of every scheme, a ciphertext under the
// symmetric key and the plaintext it holds.
type byzKeys struct {
	schnorr, bls client.KeyInfo
	symmetric    string
}

// opsRound runs every operation once through cl, labelled with round, and
// checks every result independently. It returns the labels it used.
func opsRound(ctx context.Context, t *testing.T, clientFor func() *client.Client, log *culpritLog, k byzKeys, sigs *sigLog, round string) []string {
	t.Helper()
	var cl *client.Client
	msg := msgHash("byzantine " + round)
	script := msgHash("script tree " + round)
	ops := []struct {
		label string
		do    func() error
	}{
		{"sign schnorr", func() error {
			sig, err := signSchnorrRetry(ctx, cl, k.schnorr.KeyID, msg)
			if err != nil {
				return err
			}
			return sigs.add(k.schnorr.KeyID, k.schnorr.PublicKey, msg, sig)
		}},
		{"sign taproot bip86", func() error {
			var sig [64]byte
			err := retryPoolEmpty(ctx, func() (err error) {
				sig, err = cl.SignSchnorr(ctx, k.schnorr.KeyID, msg, &wire.TaprootOption{})
				return err
			})
			if err != nil {
				return err
			}
			return verifyTaproot(k.schnorr.PublicKey, nil, msg, sig)
		}},
		{"sign taproot script", func() error {
			var sig [64]byte
			err := retryPoolEmpty(ctx, func() (err error) {
				sig, err = cl.SignSchnorr(ctx, k.schnorr.KeyID, msg, &wire.TaprootOption{MerkleRoot: script})
				return err
			})
			if err != nil {
				return err
			}
			return verifyTaproot(k.schnorr.PublicKey, script, msg, sig)
		}},
		{"sign bls", func() error {
			sig, err := cl.SignBLS(ctx, k.bls.KeyID, msg)
			if err != nil {
				return err
			}
			if !verifyBLS(k.bls.PublicKey, msg, sig) {
				return errors.New("bls signature does not verify (blst)")
			}
			return nil
		}},
		{"encrypt+decrypt", func() error {
			pt := []byte("byzantine plaintext " + round)
			ct, err := cl.Encrypt(ctx, k.symmetric, pt)
			if err != nil {
				return err
			}
			got, err := cl.Decrypt(ctx, k.symmetric, ct)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, pt) {
				return errors.New("decrypt returned another plaintext")
			}
			return nil
		}},
	}
	labels := make([]string, len(ops))
	for i, op := range ops {
		labels[i] = op.label
		log.setLabel(op.label)
		cl = clientFor()
		if err := op.do(); err != nil {
			t.Fatalf("%s, round %s: %v", op.label, round, err)
		}
	}
	log.setLabel("")
	return labels
}

// TestByzantineReplica: one of four replicas (replica 4, built with the
// vhsm_byzantine tag) lies, one behaviour set after another, switched
// through its control file without a restart:
//
//  1. from the genesis DKG on, it deals garbage shares to replica 1 and
//     falsely accuses dealer 2 in every DKG session;
//  2. it also returns wrong Schnorr and BLS partial signatures and wrong
//     DPRF evaluations (whose DLEQ proofs then fail);
//  3. it goes silent: no answer to any client, no DKG message.
//
// Every operation (key generation of each scheme, BIP-340 and Taproot
// signing, BLS signing, encryption and decryption) returns a result checked
// by an independent verifier; the client names replica 4, and only it, as
// the culprit of every wrong partial (through the culprit handler, and
// deterministically in the QuorumError of a client that can reach only
// replicas 1 and 4); and every DKG session completes with the right
// qualified set, rebuilt at the end from replica 1's committed transcript:
// the bad dealer is disqualified, the falsely accused dealer stays
// qualified, the silent replica is absent. Issue 4, scenario 2. The
// (7,2) variant, two Byzantine replicas, is TestSevenReplicasByzantine.
func TestByzantineReplica(t *testing.T) {
	byzantineScenario(t, n, []int{n})
}

// byzantineScenario runs scenario 2 on an nrep-replica cluster whose
// replicas byz (at most f, none of them 1 or 2, in increasing order) are
// Byzantine, all with the same behaviour.
func byzantineScenario(t *testing.T, nrep int, byz []int) {
	dkgFaults := []string{"bad-deal=1", "false-complaint=2"}
	c, b := startByzantineCluster(t, nrep, byz, smallPools, dkgFaults...)
	tt := (nrep - 1) / 3
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	log := &culpritLog{seen: map[string][]client.Culprit{}}
	// The wallet service's metrics (api.Metrics) count the same culprits.
	reg := prometheus.NewRegistry()
	metrics := api.NewMetrics(reg)
	culprits := client.WithCulpritHandler(func(op string, cs []client.Culprit) {
		log.handler(op, cs)
		metrics.ObserveCulprits(op, cs)
	})
	cl := clientWith(t, c, "", culprits)
	// The rounds that must name the liars wait for every replica asked
	// first: on a loaded machine the recent p90 passes often, and a hedge
	// can complete an operation before the liar's answer is looked at.
	// A client asks a replica it named last for a while (route.go,
	// health), so that one client names a liar about once per 5 s: every
	// operation gets a new client here, to see each kind of request meet
	// the liar.
	patient := func() *client.Client {
		return clientWith(t, c, "", culprits, client.WithMinHedge(10*time.Second))
	}

	// Phase 2: wrong partials on top of the DKG faults.
	b.set(t, append([]string{"bad-schnorr", "bad-bls", "bad-dprf"}, dkgFaults...)...)
	var k byzKeys
	var err error
	for _, g := range []struct {
		key    *client.KeyInfo
		scheme string
	}{{&k.schnorr, wire.SchemeSchnorr}, {&k.bls, wire.SchemeBLS}, {new(client.KeyInfo), wire.SchemeSymmetric}} {
		if *g.key, err = cl.GenerateKey(ctx, "byz-"+g.scheme, g.scheme); err != nil {
			t.Fatalf("keys.gen %s: %v", g.scheme, err)
		}
	}
	k.symmetric = "byz-" + wire.SchemeSymmetric
	if err := c.WaitSynced(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	sigs := newSigLog()
	// The client asks t+1 replicas first (2t+1 for BLS and encryption) and
	// stops at the partials it needs, so the liar is named only when it is
	// among those asked first (one time in two, or three in four): repeat
	// (at least 3 rounds, at most 16) until every operation has named it.
	var labels []string
	named := func() bool {
		for _, l := range labels {
			if len(log.get(l)) == 0 {
				return false
			}
		}
		return len(labels) > 0
	}
	rounds := 0
	for ; rounds < 16 && (rounds < 3 || !named()); rounds++ {
		labels = opsRound(ctx, t, patient, log, k, sigs, fmt.Sprintf("lies %d", rounds))
	}
	for _, l := range labels {
		cs := log.get(l)
		if len(cs) == 0 {
			t.Errorf("%s: no Byzantine replica named in %d rounds", l, rounds)
		}
		for _, cp := range cs {
			if !slices.Contains(byz, cp.Replica) || cp.Reason != client.ReasonInvalidPartial {
				t.Errorf("%s: culprit %v, want one of replicas %v: %s", l, cp, byz, client.ReasonInvalidPartial)
			}
		}
	}
	var reports []string
	for _, l := range labels {
		reports = append(reports, fmt.Sprintf("%s %d", l, len(log.get(l))))
	}
	// "encrypt+decrypt" is two requests a round.
	t.Logf("wrong partials: every operation named a Byzantine replica within %d rounds; culprit reports: %s", rounds, strings.Join(reports, ", "))
	// One label covers encrypt and decrypt, so the DPRF ops are counted
	// together.
	for _, ops := range [][]string{{wire.OpSign}, {wire.OpEncrypt, wire.OpDecrypt}} {
		sum := 0.0
		for _, op := range ops {
			for _, r := range byz {
				sum += culpritCount(t, reg, op, r)
			}
		}
		if sum == 0 {
			t.Errorf("vhsm_hsm_culprits_total{op in %v} counts no Byzantine replica", ops)
		}
	}

	// A client that reaches only t honest replicas and the liars gets t
	// valid partials: no result, and a QuorumError naming every liar.
	cfg, err := client.Load(c.ClientPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Replicas {
		if r := cfg.Replicas[i].Index; r > tt && !slices.Contains(byz, r) {
			cfg.Replicas[i].URL = "https://127.0.0.1:1" // nothing listens: connection refused
		}
	}
	two, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	ct, err := cl.Encrypt(ctx, k.symmetric, []byte("for the two-replica client"))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"sign schnorr", func() error {
			return retryPoolEmpty(ctx, func() error {
				_, err := two.SignSchnorr(ctx, k.schnorr.KeyID, msgHash("two"), nil)
				return err
			})
		}},
		{"sign bls", func() error { _, err := two.SignBLS(ctx, k.bls.KeyID, msgHash("two")); return err }},
		{"encrypt", func() error { _, err := two.Encrypt(ctx, k.symmetric, []byte("two")); return err }},
		{"decrypt", func() error { _, err := two.Decrypt(ctx, k.symmetric, ct); return err }},
	} {
		err := op.do()
		var qe *client.QuorumError
		if !errors.As(err, &qe) {
			t.Fatalf("%s through %d honest replicas and the liars: want a QuorumError, got %v", op.name, tt, err)
		}
		var want []client.Culprit
		for _, r := range byz {
			want = append(want, client.Culprit{Replica: r, Reason: client.ReasonInvalidPartial})
		}
		if !slices.Equal(qe.Culprits, want) || qe.Valid != tt {
			t.Fatalf("%s: quorum error %+v, want %d valid answers and culprits %v", op.name, qe, tt, want)
		}
		t.Logf("%s: %v", op.name, err)
	}

	// Phase 3: silent. Draining the symmetric pool makes a refill DKG run
	// without replica 4; the last key needs that session's output.
	b.set(t, "silent")
	for i := range 4 {
		id := fmt.Sprintf("byz-silent-%d", i)
		log.setLabel("keys.gen")
		if err := retryPoolEmpty(ctx, func() error {
			_, err := cl.GenerateKey(ctx, id, wire.SchemeSymmetric)
			return err
		}); err != nil {
			t.Fatalf("keys.gen %s with replicas %v silent: %v", id, byz, err)
		}
	}
	opsRound(ctx, t, func() *client.Client { return cl }, log, k, sigs, "silent")
	if cs := log.get("keys.gen"); len(cs) != 0 {
		t.Errorf("key generation named culprits %v", cs)
	}

	// The DKG outcome, from the committed transcripts of honest replica 1.
	c.Kill(1)
	checkQualified(t, c.Home(1), byz)
}

// checkQualified rebuilds every completed DKG session from the committed
// transcript in home and checks that only replicas in byz were ever named
// or absent, that every honest replica is qualified in every session, that
// a replica caught dealing bad shares (to replica 1) is disqualified while
// the dealer it falsely accused (replica 2) stays qualified. The genesis
// sessions must show both DKG faults of every replica in byz, and at least
// one session their silence (Q = the honest replicas, the others absent).
func checkQualified(t *testing.T, home string, byz []int) {
	t.Helper()
	a, g := openCommitted(t, home)
	sessions, err := a.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	honest := make([]int, 0, g.N-1)
	for i := 1; i <= g.N; i++ {
		if !slices.Contains(byz, i) {
			honest = append(honest, i)
		}
	}
	var done, badDeal, falseComplaint, silent int
	for i := range sessions {
		s := &sessions[i]
		if s.Status == app.StatusFailed {
			t.Errorf("session %s failed", s.Name)
		}
		if s.Status != app.StatusDone {
			continue
		}
		done++
		p, err := a.SessionParams(s)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := dkg.NewSession(p)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := a.Transcript(s.Name, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			m, err := dkg.DecodeMessage(p.Group, e.Message)
			if err != nil {
				t.Fatalf("session %s: %v", s.Name, err)
			}
			_ = sess.Apply(m) // misbehaviour is recorded in the result
		}
		res, err := sess.Result()
		if err != nil {
			t.Fatalf("session %s committed done, rebuilt: %v", s.Name, err)
		}
		// dealt[r], accused[r]: Byzantine replica r was caught dealing bad
		// shares to replica 1, falsely accusing dealer 2.
		dealt, accused := map[int]bool{}, map[int]bool{}
		for _, cp := range res.Culprits {
			switch {
			case !slices.Contains(byz, cp.Replica):
				t.Errorf("session %s: honest replica named: %v", s.Name, cp)
			case cp.Reason == dkg.ReasonBadShares && cp.Other == 1:
				dealt[cp.Replica] = true
			case cp.Reason == dkg.ReasonFalseComplaint && cp.Other == 2:
				accused[cp.Replica] = true
			default:
				t.Errorf("session %s: unexpected culprit %v", s.Name, cp)
			}
		}
		absent := len(res.Absent) > 0 && slices.Equal(res.Qualified, honest)
		for _, r := range res.Absent {
			if !slices.Contains(byz, r) {
				t.Errorf("session %s: honest replica %d absent", s.Name, r)
			}
		}
		for _, h := range honest {
			if !slices.Contains(res.Qualified, h) {
				t.Errorf("session %s: honest replica %d not qualified (Q = %v, culprits %v)", s.Name, h, res.Qualified, res.Culprits)
			}
		}
		for r := range dealt {
			if slices.Contains(res.Qualified, r) {
				t.Errorf("session %s: replica %d qualified after dealing bad shares (Q = %v)", s.Name, r, res.Qualified)
			}
		}
		if strings.HasSuffix(s.Name, "-0") && (len(dealt) != len(byz) || len(accused) != len(byz)) {
			t.Errorf("genesis session %s: culprits %v, want each of %v for bad shares to 1 and a false complaint about 2", s.Name, res.Culprits, byz)
		}
		if len(dealt) > 0 {
			badDeal++
		}
		if len(accused) > 0 {
			falseComplaint++
		}
		if absent {
			silent++
		}
		t.Logf("session %s: Q = %v, absent %v, culprits %v", s.Name, res.Qualified, res.Absent, res.Culprits)
	}
	if badDeal == 0 || falseComplaint == 0 || silent == 0 {
		t.Errorf("%d sessions done: %d disqualified a bad dealer of %v, %d named a false complaint, %d ran without them; want each > 0",
			done, badDeal, byz, falseComplaint, silent)
	}
}

// culpritCount sums the vhsm_hsm_culprits_total series of op and replica
// (reason "invalid partial") gathered from reg.
func culpritCount(t *testing.T, reg *prometheus.Registry, op string, replica int) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "vhsm_hsm_culprits_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["op"] == op && l["replica"] == fmt.Sprint(replica) && l["reason"] == client.ReasonInvalidPartial {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// openCommitted opens the committed application state of a stopped
// replica's home, with the genesis it was made from (the cluster id from the
// CometBFT genesis); the app is closed when the test ends.
func openCommitted(t *testing.T, home string) (*app.App, app.Genesis) {
	t.Helper()
	doc, err := types.GenesisDocFromFile(filepath.Join(home, node.GenesisFile))
	if err != nil {
		t.Fatal(err)
	}
	var g app.Genesis
	if err := json.Unmarshal(doc.AppState, &g); err != nil {
		t.Fatal(err)
	}
	g.Cluster = doc.ChainID
	a, err := app.New(filepath.Join(home, layout.AppDir), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, g
}
