package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
)

// blsFake is a fake cluster holding real shares of key: keys.pub
// returns the key, sign returns partial signatures made with each share,
// corrupted for the replicas in lie.
func blsFake(t *testing.T, n, th int, lie map[int]bool, silent map[int]bool) (*fakeCluster, wire.KeyInfo) {
	info, poly := testKey(t, "eth1", wire.SchemeBLS, th)
	fc := newFakeCluster(t, n, th, func(replica int, req wire.Request, _ []byte) fakeReply {
		switch req.Op {
		case wire.OpKeyPub:
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
		case wire.OpSign:
			if silent[replica] {
				return fakeReply{hang: true}
			}
			var b wire.SignBody
			if err := json.Unmarshal(req.Body, &b); err != nil {
				t.Error(err)
			}
			share := poly.Share(replica)
			msg := b.Message
			if lie[replica] {
				msg = append([]byte("other "), msg...) // a well-formed partial on another message
			}
			p, err := bls.PartialSign(share, msg)
			if err != nil {
				t.Error(err)
			}
			return fakeReply{resp: &wire.Response{Replica: replica, Partial: p}}
		}
		return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "op"}}
	})
	return fc, info
}

func TestSignBLS(t *testing.T) {
	fc, info := blsFake(t, 4, 1, nil, nil)
	c := fc.client()
	msg := []byte("deposit data root")
	sig, err := c.SignBLS(context.Background(), "eth1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifyBLS(info.PublicKey, msg, sig); err != nil || !ok {
		t.Fatalf("signature does not verify: %v", err)
	}
	var root [32]byte
	copy(root[:], "a signing root of thirty-two by")
	sig2, err := c.EthSigner().SignBLS(context.Background(), "eth1", root)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifyBLS(info.PublicKey, root[:], sig2); !ok {
		t.Fatal("eth signer signature does not verify")
	}
}

func TestSignBLSNamesLiars(t *testing.T) {
	// n=7, t=2: two lying replicas; the five honest ones suffice.
	fc, info := blsFake(t, 7, 2, map[int]bool{1: true, 2: true}, nil)
	var culprits []Culprit
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = cs }))
	msg := []byte("exit")
	sig, err := c.SignBLS(context.Background(), "eth1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifyBLS(info.PublicKey, msg, sig); !ok {
		t.Fatal("signature does not verify")
	}
	for _, cu := range culprits {
		if (cu.Replica != 1 && cu.Replica != 2) || cu.Reason != ReasonInvalidPartial {
			t.Fatalf("culprits %+v", culprits)
		}
	}
}

// TestSignBLSSettlesForTPlusOne: with two of four replicas silent (more
// than the t the consistency check assumes) only t+1 partials come in; the
// client does not wait for the 2t+1 it asked for until its deadline, but
// after the hedge and one more hedge delay verifies the two it has and
// signs with them.
func TestSignBLSSettlesForTPlusOne(t *testing.T) {
	fc, info := blsFake(t, 4, 1, nil, map[int]bool{3: true, 4: true})
	fc.cfg.Timeout = "6s" // silent replicas hold the test's end until then
	var culprits []Culprit
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = cs }))
	msg := []byte("two replicas down")
	start := time.Now()
	sig, err := c.SignBLS(context.Background(), "eth1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v: waited for the deadline", took)
	}
	if ok, _ := VerifyBLS(info.PublicKey, msg, sig); !ok || len(culprits) != 0 {
		t.Fatalf("signature verifies: %v, culprits %+v", ok, culprits)
	}
}

// TestSignBLSEveryoneAskedSettles: a round that asks every replica at once
// (as an ordered eth2.sign does) with two of four silent holds t+1 partials
// and no hedge to wait for; one hedge delay after the (t+1)-th partial it
// verifies them and signs, long before its deadline.
func TestSignBLSEveryoneAskedSettles(t *testing.T) {
	fc, info := blsFake(t, 4, 1, nil, map[int]bool{2: true, 4: true})
	fc.cfg.Timeout = "6s" // silent replicas hold the test's end until then
	c := fc.client()
	ctx := context.Background()
	km, err := c.keyData(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("everyone asked")
	out, err := c.newSignedRequest(ctx, wire.OpSign, wire.SignBody{KeyID: "eth1", Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	var sig []byte
	start := time.Now()
	if err := c.collectFrom(ctx, wire.OpSign, out, nil, c.blsSpec(km, msg, &sig)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v: waited for the deadline", took)
	}
	if ok, _ := VerifyBLS(info.PublicKey, msg, sig); !ok {
		t.Fatal("signature does not verify")
	}
}

func TestSignBLSTooFewValid(t *testing.T) {
	// One liar and two silent replicas out of four: one valid partial, two needed.
	fc, _ := blsFake(t, 4, 1, map[int]bool{1: true}, map[int]bool{3: true, 4: true})
	fc.cfg.Timeout = "500ms"
	_, err := fc.client().SignBLS(context.Background(), "eth1", []byte("m"))
	var qe *QuorumError
	if !errors.As(err, &qe) {
		t.Fatalf("got %v", err)
	}
	if qe.Answered != 2 || qe.Valid != 1 || !qe.TimedOut || len(qe.Culprits) != 1 || qe.Culprits[0] != (Culprit{1, ReasonInvalidPartial}) {
		t.Fatalf("quorum error %+v", qe)
	}
}

func TestSignBLSWrongScheme(t *testing.T) {
	info, _ := testKey(t, "btc", wire.SchemeSchnorr, 1)
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
	})
	if _, err := fc.client().SignBLS(context.Background(), "btc", []byte("m")); !errors.Is(err, ErrScheme) {
		t.Fatalf("got %v", err)
	}
}

func TestSignBLSLaggingReplicasRejectFirst(t *testing.T) {
	// Replicas 1 and 3 have not applied the key's block yet and reject at
	// once; 2 and 4 answer later with valid partials. t+1 rejections must
	// not end the round while the outstanding replicas can still succeed.
	fc, info := blsFake(t, 4, 1, nil, nil)
	inner := fc.getHandler()
	fc.setHandler(func(replica int, req wire.Request, signed []byte) fakeReply {
		if req.Op == wire.OpSign {
			if replica%2 == 1 {
				return fakeReply{status: 404, resp: &wire.Response{Replica: replica, Error: "app: unknown key"}}
			}
			time.Sleep(200 * time.Millisecond)
		}
		return inner(replica, req, signed)
	})
	msg := []byte("attestation")
	sig, err := fc.client().SignBLS(context.Background(), "eth1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifyBLS(info.PublicKey, msg, sig); !ok {
		t.Fatal("signature does not verify")
	}

	// When three replicas reject, one valid answer cannot make t+1: the
	// rejection stands without waiting for the fourth.
	fc.setHandler(func(replica int, req wire.Request, signed []byte) fakeReply {
		if req.Op == wire.OpSign {
			if replica != 4 {
				return fakeReply{status: 404, resp: &wire.Response{Replica: replica, Error: "app: unknown key"}}
			}
			return fakeReply{hang: true}
		}
		return inner(replica, req, signed)
	})
	start := time.Now()
	_, err = fc.client().SignBLS(context.Background(), "eth1", msg)
	var rej *RejectedError
	if !errors.As(err, &rej) || len(rej.Replicas) != 3 {
		t.Fatalf("got %v, want a rejection by 3 replicas", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("rejection took %v, want no wait for the silent replica", d)
	}
}

// delayHonest makes every replica but those in first answer sign requests
// only after d, so that the client's first t+1 answers include them.
func delayHonest(fc *fakeCluster, first map[int]bool, d time.Duration) {
	inner := fc.getHandler()
	fc.setHandler(func(replica int, req wire.Request, signed []byte) fakeReply {
		if req.Op == wire.OpSign && !first[replica] {
			time.Sleep(d)
		}
		return inner(replica, req, signed)
	})
}

// TestSignBLSNamesLiarsAmongFirst: the two liars answer first, so the
// first t+1 partials do not combine to a valid signature; the client then
// checks each partial, names exactly the liars, and signs with honest ones.
func TestSignBLSNamesLiarsAmongFirst(t *testing.T) {
	liars := map[int]bool{1: true, 2: true}
	fc, info := blsFake(t, 7, 2, liars, nil)
	delayHonest(fc, liars, 200*time.Millisecond)
	var culprits []Culprit
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = cs }))
	msg := []byte("exit")
	sig, err := c.SignBLS(context.Background(), "eth1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifyBLS(info.PublicKey, msg, sig); !ok {
		t.Fatal("signature does not verify")
	}
	wantCulprits(t, culprits, Culprit{1, ReasonInvalidPartial}, Culprit{2, ReasonInvalidPartial})
}

// wantCulprits checks the named culprits are exactly want, in any order.
func wantCulprits(t *testing.T, got []Culprit, want ...Culprit) {
	t.Helper()
	seen := map[Culprit]bool{}
	for _, c := range got {
		seen[c] = true
	}
	ok := len(got) == len(want) && len(seen) == len(want)
	for _, w := range want {
		ok = ok && seen[w]
	}
	if !ok {
		t.Fatalf("culprits %+v, want %+v", got, want)
	}
}

// A replica whose share is damaged refuses every BLS sign; after its first
// refusal the client asks the others first (it is suspect), instead of
// asking it among the first 2t+1 of most calls and hedging past it.
func TestSignBLSDamagedReplicaAskedLast(t *testing.T) {
	fc, info := blsFake(t, 4, 1, nil, nil)
	inner := fc.getHandler()
	fc.setHandler(func(replica int, req wire.Request, signed []byte) fakeReply {
		if replica == 3 && req.Op == wire.OpSign {
			return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: "engine: share unavailable: eth1: sealed: record corrupted or not authentic"}}
		}
		return inner(replica, req, signed)
	})
	c := fc.client()
	c.lat.floor.Store(int64(10 * time.Second)) // no hedge (a hedge asks every replica), however loaded the machine
	sign := func(msg string) {
		t.Helper()
		sig, err := c.SignBLS(context.Background(), "eth1", []byte(msg))
		if err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		if ok, _ := VerifyBLS(info.PublicKey, []byte(msg), sig); !ok {
			t.Fatalf("%s: signature does not verify", msg)
		}
	}
	for k := 0; k < 20 && fc.signsSeen(3) == 0; k++ {
		sign(fmt.Sprintf("m%d", k))
	}
	before, start := fc.signsSeen(3), time.Now()
	for k := range 20 {
		if time.Since(start) > suspectFor/2 {
			break // a very slow machine: stay well inside suspectFor
		}
		sign(fmt.Sprintf("after %d", k))
	}
	// Picked like the others, it would be among the first three of about
	// three calls in four.
	if n := fc.signsSeen(3) - before; n > 0 {
		t.Fatalf("the damaged replica was asked %d times in 20 signatures after its refusal", n)
	}
}
