package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/vss"
)

// testKey deals a key of scheme with degree t (as a DKG would, from one
// polynomial) and returns its public description and the polynomial.
func testKey(t testing.TB, id, scheme string, deg int) (wire.KeyInfo, *vss.Polynomial) {
	t.Helper()
	g, err := groupOf(scheme)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := g.RandomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := vss.NewPolynomial(g, deg, secret, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	com := p.Commit()
	pub := com.Secret().Bytes()
	if scheme == wire.SchemeSchnorr {
		pub = pub[1:]
	}
	return wire.KeyInfo{KeyID: id, Scheme: scheme, Owner: "alice", PublicKey: pub, Commitment: com.Bytes()}, p
}

func TestGenerateKeyAgreement(t *testing.T) {
	for _, scheme := range []string{wire.SchemeSchnorr, wire.SchemeBLS, wire.SchemeSymmetric} {
		t.Run(scheme, func(t *testing.T) {
			good, _ := testKey(t, "k1", scheme, 1)
			evil, _ := testKey(t, "k1", scheme, 1) // a self-consistent but different key
			var culprits []Culprit
			fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
				if req.Op != wire.OpKeyGen {
					return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: "op"}}
				}
				k := good
				if replica == 1 {
					k = evil // answers first, with a key of its own
				}
				return fakeReply{resp: &wire.Response{Replica: replica, Key: &k}}
			})
			c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = cs }))
			got, err := c.GenerateKey(context.Background(), "k1", scheme)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.PublicKey) != string(good.PublicKey) || string(got.Commitment) != string(good.Commitment) {
				t.Fatal("accepted key data not agreed by t+1 replicas")
			}
			// The liar is named when its answer arrived before agreement.
			for _, cu := range culprits {
				if cu.Replica != 1 || cu.Reason != ReasonDisagreement {
					t.Fatalf("culprits %+v", culprits)
				}
			}
		})
	}
}

func TestKeyDataMustMatchCommitment(t *testing.T) {
	bad, _ := testKey(t, "k1", wire.SchemeSchnorr, 1)
	other, _ := testKey(t, "k1", wire.SchemeSchnorr, 1)
	bad.PublicKey = other.PublicKey
	wrongDegree, _ := testKey(t, "k2", wire.SchemeBLS, 2)
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		k := bad
		if req.Op == wire.OpKeyPub {
			k = wrongDegree
		}
		return fakeReply{resp: &wire.Response{Replica: replica, Key: &k}}
	})
	c := fc.client()
	if _, err := c.GenerateKey(context.Background(), "k1", wire.SchemeSchnorr); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("inconsistent public key: %v", err)
	}
	if _, err := c.PublicKey(context.Background(), "k2"); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("wrong degree: %v", err)
	}
}

func TestGenerateKeyArguments(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply { return ok(replica) })
	c := fc.client()
	if _, err := c.GenerateKey(context.Background(), "bad id", wire.SchemeBLS); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
	if _, err := c.GenerateKey(context.Background(), "k", "rsa"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
	// Replicas answering without key data are culprits, not a result.
	_, err := c.GenerateKey(context.Background(), "k", wire.SchemeBLS)
	var qe *QuorumError
	if !errors.As(err, &qe) || len(qe.Culprits) != 4 {
		t.Fatalf("got %v", err)
	}
}

// TestPoolEmptyRetried: a key-generation request refused by every replica
// for an empty key pool is retried, as a new request, until the pool has
// been refilled; with WithPoolWait(0) the refusal is returned at once, and
// other rejections are never retried.
func TestPoolEmptyRetried(t *testing.T) {
	info, _ := testKey(t, "k1", wire.SchemeBLS, 1)
	late, _ := testKey(t, "late", wire.SchemeBLS, 1)
	theirs, _ := testKey(t, "theirs", wire.SchemeBLS, 1)
	theirs.Owner = "bob"
	const empty = "app: pool empty, retry later: bls key"
	var mu sync.Mutex
	ids := map[string]map[string]bool{} // distinct request ids, by key id asked for
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		var b wire.KeyGenBody
		if err := json.Unmarshal(req.Body, &b); err != nil {
			t.Error(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if ids[b.KeyID] == nil {
			ids[b.KeyID] = map[string]bool{}
		}
		ids[b.KeyID][req.ID] = true
		switch {
		case req.Op == wire.OpKeyPub && b.KeyID == "late":
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &late}}
		case req.Op == wire.OpKeyPub && b.KeyID == "theirs":
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &theirs}}
		case req.Op == wire.OpKeyPub:
			return fakeReply{status: http.StatusNotFound, resp: &wire.Response{Replica: replica, Error: "app: unknown key"}}
		case (b.KeyID == "late" || b.KeyID == "theirs") && len(ids[b.KeyID]) > 1:
			// The refused first attempt was committed after all.
			return fakeReply{status: http.StatusConflict, resp: &wire.Response{Replica: replica, Error: "app: key already exists"}}
		case b.KeyID == "k1" && len(ids["k1"]) > 2: // refilled after two refusals
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
		case b.KeyID == "taken":
			return fakeReply{status: http.StatusConflict, resp: &wire.Response{Replica: replica, Error: "app: key id exists"}}
		}
		return fakeReply{status: http.StatusConflict, resp: &wire.Response{Replica: replica, Error: empty}}
	})
	requests := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(ids[id])
	}
	got, err := fc.client().GenerateKey(context.Background(), "k1", wire.SchemeBLS)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.PublicKey) != string(info.PublicKey) || requests("k1") != 3 {
		t.Fatalf("key %x after %d requests", got.PublicKey, requests("k1"))
	}

	_, err = fc.client(WithPoolWait(0)).GenerateKey(context.Background(), "k2", wire.SchemeBLS)
	var re *RejectedError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "pool empty") || requests("k2") != 1 {
		t.Fatalf("WithPoolWait(0): %v after %d requests", err, requests("k2"))
	}

	_, err = fc.client().GenerateKey(context.Background(), "taken", wire.SchemeBLS)
	if !errors.As(err, &re) || requests("taken") != 1 {
		t.Fatalf("other rejection: %v after %d requests", err, requests("taken"))
	}

	// A refused attempt that was committed through another replica: the
	// retry finds the id taken, and the key, this client's, is returned.
	got, err = fc.client().GenerateKey(context.Background(), "late", wire.SchemeBLS)
	if err != nil || string(got.PublicKey) != string(late.PublicKey) {
		t.Fatalf("late commit: %v", err)
	}
	// Taken by another client meanwhile: the rejection stands.
	if _, err = fc.client().GenerateKey(context.Background(), "theirs", wire.SchemeBLS); !errors.As(err, &re) || !strings.Contains(re.Reason, "exists") {
		t.Fatalf("taken by bob: %v", err)
	}

	// A pool that stays empty: the client gives up after its pool wait.
	start := time.Now()
	_, err = fc.client(WithPoolWait(400*time.Millisecond)).GenerateKey(context.Background(), "k3", wire.SchemeBLS)
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "pool empty") || time.Since(start) > 5*time.Second || requests("k3") < 2 {
		t.Fatalf("empty pool: %v after %v and %d requests", err, time.Since(start), requests("k3"))
	}
}

// TestKeyRequestsToTPlusOne: a key generation goes to t+1 replicas first,
// since t+1 identical answers are all it needs; the others are asked when
// one of the first fails, and the key still comes. A public-key read asks
// every replica at once.
func TestKeyRequestsToTPlusOne(t *testing.T) {
	info, _ := testKey(t, "k1", wire.SchemeSchnorr, 1)
	var mu sync.Mutex
	asked := map[string]map[int]int{} // op → replica → requests
	failing := map[int]bool{}
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		mu.Lock()
		defer mu.Unlock()
		if asked[req.Op] == nil {
			asked[req.Op] = map[int]int{}
		}
		asked[req.Op][replica]++
		if failing[replica] {
			return fakeReply{status: http.StatusServiceUnavailable}
		}
		return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
	})
	c := fc.client()
	c.lat.floor.Store(int64(time.Minute)) // no hedge, however loaded the machine
	count := func(op string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, k := range asked[op] {
			n += k
		}
		return n
	}
	for k := 0; k < 5; k++ {
		if _, err := c.GenerateKey(context.Background(), "k1", wire.SchemeSchnorr); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PublicKey(context.Background(), "k1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(wire.OpKeyGen); n != 5*2 {
		t.Fatalf("5 key generations sent %d requests (%v), want t+1 = 2 each", n, asked[wire.OpKeyGen])
	}
	// A read returns at t+1 agreeing answers; the requests to the other
	// replicas may still be on their way.
	for deadline := time.Now().Add(10 * time.Second); count(wire.OpKeyPub) < 5*4 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := count(wire.OpKeyPub); n != 5*4 {
		t.Fatalf("5 public-key reads sent %d requests, want n = 4 each", n)
	}

	// Two replicas fail: whichever were asked first, the others are asked
	// and agree.
	mu.Lock()
	failing[1], failing[2] = true, true
	asked = map[string]map[int]int{}
	mu.Unlock()
	for k := 0; k < 5; k++ {
		got, err := fc.client().GenerateKey(context.Background(), "k1", wire.SchemeSchnorr)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.PublicKey) != string(info.PublicKey) {
			t.Fatal("wrong key")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if asked[wire.OpKeyGen][3] != 5 || asked[wire.OpKeyGen][4] != 5 {
		t.Fatalf("requests by replica %v, want replicas 3 and 4 asked every time", asked[wire.OpKeyGen])
	}
}
