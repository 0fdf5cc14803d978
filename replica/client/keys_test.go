package client

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"testing"

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
