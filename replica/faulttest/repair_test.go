package faulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/cluster"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// TestLateReplicaRepaired (issue 13): replica 4 (vhsm_byzantine build)
// deals garbage shares to replica 1 while replica 1 is down (SIGKILL)
// through the whole of a refill DKG of every pool kind, so each session
// completes with the liar qualified and nobody complaining in time. Replica
// 1 restarts, files late complaints, the others reveal their shares from
// the exposed liar, and replica 1 becomes ready. Then a client that reaches
// only replicas 1 and 2 (t+1 = 2, so every result needs replica 1's
// partial) signs with Schnorr keys and nonces and a BLS key of the repaired
// sessions, encrypts and decrypts under a repaired symmetric key; every
// result is checked by an independent verifier. The committed transcripts
// show the liar qualified, exposed by replica 1 and repaired.
func TestLateReplicaRepaired(t *testing.T) {
	const victim, liar = 1, 4
	c, b := startByzantineCluster(t, n, []int{liar}, smallPools)
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	cl := clientWith(t, c, "20s")

	b.set(t, fmt.Sprintf("bad-deal=%d", victim))
	c.Kill(victim)
	start := time.Now()
	// Drain every pool one item past its genesis batch (4 keys of each key
	// scheme; 4 nonces): the last item of each comes from a refill session
	// dealt while replica 1 is down.
	keys := map[string]client.KeyInfo{}
	for _, scheme := range []string{wire.SchemeSchnorr, wire.SchemeBLS, wire.SchemeSymmetric} {
		for i := range 5 {
			id := fmt.Sprintf("late-%s-%d", scheme, i)
			var k client.KeyInfo
			if err := retryPoolEmpty(ctx, func() (err error) {
				k, err = cl.GenerateKey(ctx, id, scheme)
				return err
			}); err != nil {
				t.Fatalf("keys.gen %s: %v", id, err)
			}
			keys[scheme] = k
		}
	}
	sigs := newSigLog()
	sk := keys[wire.SchemeSchnorr]
	for i := range 5 {
		msg := msgHash(fmt.Sprintf("while replica 1 is down %d", i))
		sig, err := signSchnorrRetry(ctx, cl, sk.KeyID, msg)
		if err != nil {
			t.Fatalf("sign %d with replica 1 down: %v", i, err)
		}
		if err := sigs.add(sk.KeyID, sk.PublicKey, msg, sig); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("refill sessions done with replica %d down in %v", victim, time.Since(start).Round(100*time.Millisecond))

	// Replica 1 returns and is repaired.
	restarted := time.Now()
	c.Restart(victim)
	if err := c.WaitSynced(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReadyOf(90*time.Second, victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("replica %d ready %v after its restart", victim, time.Since(restarted).Round(100*time.Millisecond))

	// A client that reaches only replicas 1 and 2.
	cfg, err := client.Load(c.ClientPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = "20s"
	for i := range cfg.Replicas {
		if r := cfg.Replicas[i].Index; r != victim && r != 2 {
			cfg.Replicas[i].URL = "https://127.0.0.1:1" // nothing listens: connection refused
		}
	}
	two, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	// Ready may be reported a moment before replica 1's engine has visited
	// the sessions it synced: the first operation may wait for the repair.
	msg := msgHash("repaired 0")
	var sig [64]byte
	for {
		sig, err = signSchnorrRetry(ctx, two, sk.KeyID, msg)
		var qe *client.QuorumError
		if !errors.As(err, &qe) || ctx.Err() != nil {
			break
		}
		t.Logf("first sign through replicas 1 and 2: %v; retrying", err)
		msg = msgHash(fmt.Sprintf("repaired 0 %d", time.Now().UnixNano()))
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("sign through replicas 1 and 2: %v", err)
	}
	if err := sigs.add(sk.KeyID, sk.PublicKey, msg, sig); err != nil {
		t.Fatal(err)
	}
	// The refill nonces dealt while replica 1 was down, and more.
	for i := 1; i < 5; i++ {
		msg := msgHash(fmt.Sprintf("repaired %d", i))
		sig, err := signSchnorrRetry(ctx, two, sk.KeyID, msg)
		if err != nil {
			t.Fatalf("sign %d through replicas 1 and 2: %v", i, err)
		}
		if err := sigs.add(sk.KeyID, sk.PublicKey, msg, sig); err != nil {
			t.Fatal(err)
		}
	}
	// The first operation with each key may, like the first sign, find
	// replica 1 still repairing that key's session ("share unavailable"):
	// retry it until the repair is done.
	untilRepaired := func(what string, op func() error) {
		t.Helper()
		for {
			err := op()
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), "share unavailable") || ctx.Err() != nil {
				t.Fatalf("%s through replicas 1 and 2: %v", what, err)
			}
			t.Logf("%s through replicas 1 and 2: %v; retrying", what, err)
			time.Sleep(200 * time.Millisecond)
		}
	}
	bk := keys[wire.SchemeBLS]
	var bsig []byte
	untilRepaired("bls sign", func() (err error) {
		bsig, err = two.SignBLS(ctx, bk.KeyID, msgHash("repaired bls"))
		return err
	})
	if !verifyBLS(bk.PublicKey, msgHash("repaired bls"), bsig) {
		t.Fatal("bls signature does not verify (blst)")
	}
	pt := []byte("repaired plaintext")
	var ct []byte
	untilRepaired("encrypt", func() (err error) {
		ct, err = two.Encrypt(ctx, keys[wire.SchemeSymmetric].KeyID, pt)
		return err
	})
	if got, err := cl.Decrypt(ctx, keys[wire.SchemeSymmetric].KeyID, ct); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("decrypt: %q, %v", got, err)
	}
	if got, err := two.Decrypt(ctx, keys[wire.SchemeSymmetric].KeyID, ct); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("decrypt through replicas 1 and 2: %q, %v", got, err)
	}
	t.Logf("replica %d served %d schnorr signatures, a BLS signature and a DPRF encryption and decryption with replica 2", victim, 5)

	log, err := os.ReadFile(filepath.Join(c.Home(victim), cluster.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dkg_shares_await_repair", "dkg_repair_sent"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("replica %d log has no %s", victim, want)
		}
	}

	// The committed transcripts, from replica 2.
	c.Kill(2)
	checkRepaired(t, c.Home(2), victim, liar)
}

// checkRepaired checks, from the committed state in home, that some done
// session had the liar qualified, exposed by the victim's late complaint
// and repaired, and that no session is still under repair.
func checkRepaired(t *testing.T, home string, victim, liar int) {
	t.Helper()
	a, _ := openCommitted(t, home)
	sessions, err := a.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	repaired := map[string]bool{}
	for i := range sessions {
		s := &sessions[i]
		if s.Status != app.StatusDone {
			continue
		}
		p, err := a.SessionParams(s)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := dkg.NewSession(p)
		if err != nil {
			t.Fatal(err)
		}
		main, err := a.Transcript(s.Name, 0)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := a.RepairTranscript(s.Name, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range append(main, rep...) {
			m, err := dkg.DecodeMessage(p.Group, e.Message)
			if err != nil {
				t.Fatalf("session %s: %v", s.Name, err)
			}
			_ = sess.Apply(m)
		}
		res, err := sess.Result()
		if err != nil {
			t.Fatal(err)
		}
		if sess.Repair(liar) == dkg.RepairComplete && slices.Contains(res.Qualified, liar) &&
			slices.Contains(sess.Culprits(), dkg.Culprit{Replica: liar, Reason: dkg.ReasonBadShares, Other: victim}) {
			repaired[strings.SplitN(s.Name, "-", 2)[0]] = true
		}
		for _, cp := range sess.Culprits() {
			if cp.Replica != liar {
				t.Errorf("session %s: honest replica named: %v", s.Name, cp)
			}
		}
	}
	for _, k := range app.Kinds {
		if !repaired[k] {
			t.Errorf("no %s session repaired (liar qualified, exposed by replica %d)", k, victim)
		}
	}
	if names, err := a.Repairing(); err != nil || len(names) != 0 {
		t.Errorf("still under repair: %v, %v", names, err)
	}
	t.Logf("repaired sessions of kinds %v", repaired)
}
