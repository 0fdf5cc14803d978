package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dise"
	"github.com/vhsm/vhsm/threshold/group"
)

// diseFake holds real shares of a symmetric key "sym"; replicas in lie
// evaluate with a wrong share (their proofs then fail). The wrong shares
// are points of one other polynomial, so that liars agree with each other.
func diseFake(t *testing.T, lie map[int]bool) *fakeCluster {
	_, other := testKey(t, "sym", wire.SchemeSymmetric, 1)
	return diseFakeWith(t, lie, func(replica int) group.Scalar { return other.Share(replica) })
}

// diseFakeWith is diseFake with the liars' shares given by wrong.
func diseFakeWith(t *testing.T, lie map[int]bool, wrong func(replica int) group.Scalar) *fakeCluster {
	info, poly := testKey(t, "sym", wire.SchemeSymmetric, 1)
	return newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		switch req.Op {
		case wire.OpKeyPub:
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
		case wire.OpEncrypt, wire.OpDecrypt:
			var b wire.EvalBody
			if err := json.Unmarshal(req.Body, &b); err != nil {
				t.Error(err)
			}
			in, err := dise.DecodeInput(b.Input)
			if err != nil || in.KeyID != b.KeyID || b.KeyID != "sym" {
				return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "bad input"}}
			}
			if req.Op == wire.OpEncrypt && in.Encryptor != wire.EncryptorID(req.Client) {
				return fakeReply{status: 403, resp: &wire.Response{Replica: replica, Error: "encryptor is not the requester"}}
			}
			share := poly.Share(replica)
			if lie[replica] {
				share = wrong(replica)
			}
			var e dise.Evaluation
			if b.NoProof {
				e, err = dise.EvaluateUnproven(share, replica, b.Input)
			} else {
				e, err = dise.Evaluate(share, replica, b.Input, rand.Reader)
			}
			if err != nil {
				t.Error(err)
			}
			return fakeReply{resp: &wire.Response{Replica: replica, Partial: e.Bytes()}}
		}
		return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "op"}}
	})
}

func TestEncryptDecrypt(t *testing.T) {
	var culprits []Culprit
	fc := diseFake(t, map[int]bool{2: true})
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = append(culprits, cs...) }))
	ctx := context.Background()
	pt := []byte("launch codes")
	ct, err := c.Encrypt(ctx, "sym", pt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, pt) {
		t.Fatal("plaintext visible in ciphertext")
	}
	got, err := c.Decrypt(ctx, "sym", ct)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("round trip changed the plaintext")
	}
	for _, cu := range culprits {
		if cu != (Culprit{2, ReasonInvalidPartial}) {
			t.Fatalf("culprits %+v", culprits)
		}
	}
	// Tampering with any byte of the body is detected.
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 1
	if _, err := c.Decrypt(ctx, "sym", bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := c.Decrypt(ctx, "sym", ct[:10]); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("truncated: %v", err)
	}
	if _, err := c.Decrypt(ctx, "other", ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other key: %v", err)
	}
}

// TestDecryptUnprovenFirst: a decryption asks for evaluations without
// proofs, and for proven ones only when the unproven result does not
// decrypt — a liar among the first t+1 (then named) or a tampered
// ciphertext.
func TestDecryptUnprovenFirst(t *testing.T) {
	for _, liar := range []int{0, 3} {
		fc, newClient, culprits := liarClient(t, liar)
		c := newClient()
		ctx := context.Background()
		ct, err := c.Encrypt(ctx, "sym", []byte("payroll"))
		if err != nil {
			t.Fatal(err)
		}
		for range 6 {
			if pt, err := c.Decrypt(ctx, "sym", ct); err != nil || string(pt) != "payroll" {
				t.Fatalf("liar %d: %q, %v", liar, pt, err)
			}
		}
		unproven, proven := fc.evalRequests(t, wire.OpDecrypt, true), fc.evalRequests(t, wire.OpDecrypt, false)
		named := checkCulprits(t, liar, culprits())
		switch {
		case unproven < 6*2:
			t.Fatalf("liar %d: %d unproven decryption requests for 6 decryptions", liar, unproven)
		case liar == 0 && (proven != 0 || named != 0):
			t.Fatalf("no liar: %d proven requests, %d culprits", proven, named)
		case liar != 0 && proven > 0 && named == 0:
			t.Fatalf("liar %d asked for proofs and was not named", liar)
		}
		bad := bytes.Clone(ct)
		bad[len(bad)-1] ^= 1
		before := fc.evalRequests(t, wire.OpDecrypt, false)
		if _, err := c.Decrypt(ctx, "sym", bad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("tampered: %v", err)
		}
		if fc.evalRequests(t, wire.OpDecrypt, false) == before {
			t.Fatal("a ciphertext that does not decrypt unproven was not tried with proofs")
		}
	}
}

// liarClient is diseFake with liar lying (0: none), a maker of its clients
// (hedge held off; each new client has no health record, so it does not
// yet ask a named liar last), and the culprits they named so far.
func liarClient(t *testing.T, liar int) (*fakeCluster, func() *Client, func() []Culprit) {
	var mu sync.Mutex
	var culprits []Culprit
	fc := diseFake(t, map[int]bool{liar: true})
	newClient := func() *Client {
		return fc.client(WithCulpritHandler(func(op string, cs []Culprit) {
			mu.Lock()
			culprits = append(culprits, cs...)
			mu.Unlock()
		}), WithMinHedge(time.Minute))
	}
	return fc, newClient, func() []Culprit {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(culprits)
	}
}

// checkCulprits fails unless every culprit is liar with an invalid
// partial, and returns how many were named.
func checkCulprits(t *testing.T, liar int, culprits []Culprit) int {
	t.Helper()
	for _, cu := range culprits {
		if cu != (Culprit{liar, ReasonInvalidPartial}) {
			t.Fatalf("liar %d: culprits %+v", liar, culprits)
		}
	}
	return len(culprits)
}

// evalRequests counts the evaluation requests of op the replicas received
// (batch items included) with NoProof equal to unproven.
func (fc *fakeCluster) evalRequests(t *testing.T, op string, unproven bool) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	n := 0
	for _, reqs := range fc.seen {
		for _, signed := range reqs {
			r, err := fc.verify(signed)
			if err != nil {
				t.Fatal(err)
			}
			items := []wire.BatchItem{{Op: r.Op, Body: r.Body}}
			if r.Op == wire.OpBatch {
				var b wire.BatchBody
				if json.Unmarshal(r.Body, &b) != nil {
					t.Fatal("undecodable batch")
				}
				items = b.Items
			}
			for _, it := range items {
				var b wire.EvalBody
				if it.Op == op && json.Unmarshal(it.Body, &b) == nil && b.NoProof == unproven {
					n++
				}
			}
		}
	}
	return n
}

// TestEncryptConsistentFirst: an encryption asks 2t+1 replicas for
// evaluations without proofs and uses them when they are consistent; with
// a liar (any one replica, whatever its place) every ciphertext still
// decrypts, proofs are asked for only when the liar was among those
// asked, and then the liar is named.
func TestEncryptConsistentFirst(t *testing.T) {
	for _, liar := range []int{0, 1, 2, 3, 4} {
		fc, newClient, culprits := liarClient(t, liar)
		ctx := context.Background()
		const k = 8
		for i := range k {
			// A new client each time: one that named the liar (an
			// encryption's or a decryption's) asks it last afterwards.
			c := newClient()
			pt := []byte{'p', byte(i)}
			ct, err := c.Encrypt(ctx, "sym", pt)
			if err != nil {
				t.Fatalf("liar %d: %v", liar, err)
			}
			if got, err := c.Decrypt(ctx, "sym", ct); err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("liar %d: decrypt %q: %v", liar, got, err)
			}
		}
		unproven, proven := fc.evalRequests(t, wire.OpEncrypt, true), fc.evalRequests(t, wire.OpEncrypt, false)
		named := checkCulprits(t, liar, culprits())
		switch {
		case unproven < k*3:
			t.Fatalf("liar %d: %d unproven encryption requests for %d encryptions, want 2t+1 = 3 each", liar, unproven, k)
		case liar == 0 && (proven != 0 || named != 0):
			t.Fatalf("no liar: %d proven requests, %d culprits", proven, named)
		case liar != 0 && proven == 0:
			// Each encryption asks 3 of 4 at random: the liar is left out of
			// all 8 with probability (1/4)^8.
			t.Fatalf("liar %d: never asked for proofs", liar)
		case liar != 0 && named == 0:
			t.Fatalf("liar %d asked for proofs and was not named", liar)
		}
	}
}

// TestLiarAskedLast: once a liar is named, the next encryptions ask the
// honest replicas first, and so stay on the fast path.
func TestLiarAskedLast(t *testing.T) {
	const liar = 3
	fc, newClient, culprits := liarClient(t, liar)
	c := newClient()
	ctx := context.Background()
	for i := 0; len(culprits()) == 0; i++ {
		if i == 40 {
			t.Fatal("the liar was never named")
		}
		if _, err := c.Encrypt(ctx, "sym", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	checkCulprits(t, liar, culprits())
	askedLiar := func() int {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		return len(fc.seen[liar])
	}
	before, proven := askedLiar(), fc.evalRequests(t, wire.OpEncrypt, false)
	for range 10 {
		if _, err := c.Encrypt(ctx, "sym", []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	if n := askedLiar() - before; n != 0 {
		t.Fatalf("the named liar was asked %d times in 10 encryptions", n)
	}
	if n := fc.evalRequests(t, wire.OpEncrypt, false) - proven; n != 0 {
		t.Fatalf("%d proven requests after the liar was named", n)
	}
}

// TestEncryptTooManyLiars: t+1 or more liars with unrelated wrong shares
// are inconsistent, and their proofs fail: the encryption fails naming
// them, with no ciphertext.
func TestEncryptTooManyLiars(t *testing.T) {
	fc := diseFakeWith(t, map[int]bool{1: true, 2: true, 3: true}, func(int) group.Scalar {
		s, err := group.BLS12381G1().RandomScalar(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	_, err := fc.client().Encrypt(context.Background(), "sym", []byte("x"))
	var qe *QuorumError
	if !errors.As(err, &qe) || qe.Valid != 1 || len(qe.Culprits) != 3 || qe.TimedOut {
		t.Fatalf("got %v", err)
	}
}
