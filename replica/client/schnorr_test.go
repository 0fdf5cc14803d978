package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// schnorrFaults selects how fake replicas misbehave in a Schnorr round.
type schnorrFaults struct {
	wrongNonce map[int]bool // report another nonce commitment (and sign with it)
	badPartial map[int]bool // send a well-formed but wrong partial
	silent     map[int]bool // never answer
}

// schnorrFake holds real shares of schnorr key "btc" and of one pre-dealt
// nonce, which every honest replica uses for the (single) sign request.
func schnorrFake(t testing.TB, n, th int, f schnorrFaults) (*fakeCluster, wire.KeyInfo) {
	info, keyPoly := testKey(t, "btc", wire.SchemeSchnorr, th)
	deal := func() (*vss.Polynomial, vss.Commitment) {
		k, err := group.Secp256k1().RandomScalar(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p, err := vss.NewPolynomial(group.Secp256k1(), th, k, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return p, p.Commit()
	}
	// Nonces are pairs (D, E) bound to the message (threshold/schnorr).
	dPoly, dCom := deal()
	ePoly, eCom := deal()
	oPoly, oCom := deal()
	keyCom, err := vss.DecodeCommitment(group.Secp256k1(), info.Commitment)
	if err != nil {
		t.Fatal(err)
	}
	fc := newFakeCluster(t, n, th, func(replica int, req wire.Request, _ []byte) fakeReply {
		switch req.Op {
		case wire.OpKeyPub:
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
		case wire.OpSign:
			if f.silent[replica] {
				return fakeReply{hang: true}
			}
			var b wire.SignBody
			if err := json.Unmarshal(req.Body, &b); err != nil {
				t.Error(err)
			}
			tr, err := taprootMode(b.Taproot)
			if err != nil {
				t.Error(err)
			}
			dp, dc := dPoly, dCom
			if f.wrongNonce[replica] {
				dp, dc = oPoly, oCom
			}
			key := &schnorr.PublicKey{GroupKey: keyCom.Secret(), Threshold: th}
			msg := b.Message
			if f.badPartial[replica] {
				msg = append([]byte("x"), msg...)
			}
			pair := &schnorr.NoncePair{D: dc.Secret(), E: eCom.Secret()}
			nonce, err := pair.Bind(key, tr, msg)
			if err != nil {
				t.Error(err)
			}
			k, err := schnorr.NonceShares{D: dp.Share(replica), E: ePoly.Share(replica)}.Bind(key, pair, tr, msg)
			if err != nil {
				t.Error(err)
			}
			p, err := schnorr.PartialSign(key, nonce, tr, msg, keyPoly.Share(replica), k)
			if err != nil {
				t.Error(err)
			}
			return fakeReply{resp: &wire.Response{Replica: replica, Partial: p, Nonce: append(dc.Bytes(), eCom.Bytes()...)}}
		}
		return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "op"}}
	})
	return fc, info
}

func TestSignSchnorr(t *testing.T) {
	fc, info := schnorrFake(t, 4, 1, schnorrFaults{})
	c := fc.client()
	var sighash [32]byte
	copy(sighash[:], "thirty-two byte sighash of a tx")
	for _, opt := range []*wire.TaprootOption{nil, {}, {MerkleRoot: sighash[:]}} {
		sig, err := c.SignSchnorr(context.Background(), "btc", sighash[:], opt)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := VerifySchnorr(info.PublicKey, sighash[:], sig[:], opt); err != nil || !ok {
			t.Fatalf("taproot %v: signature does not verify: %v", opt, err)
		}
		// An independent verifier (btcd) under the key computed by btcd.
		pub := info.PublicKey
		if opt != nil {
			q, err := TaprootOutputKey(info.PublicKey, opt.MerkleRoot)
			if err != nil {
				t.Fatal(err)
			}
			pub = q[:]
		}
		pk, err := btcschnorr.ParsePubKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		s, err := btcschnorr.ParseSignature(sig[:])
		if err != nil {
			t.Fatal(err)
		}
		if !s.Verify(sighash[:], pk) {
			t.Fatalf("taproot %v: btcd rejects the signature", opt)
		}
	}
	// The Bitcoin adapter signs for the BIP-86 output key.
	sig, err := c.SignTaproot(context.Background(), "btc", sighash, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifySchnorr(info.PublicKey, sighash[:], sig[:], &wire.TaprootOption{}); !ok {
		t.Fatal("SignTaproot signature does not verify under the output key")
	}
	if ok, _ := VerifySchnorr(info.PublicKey, sighash[:], sig[:], nil); ok {
		t.Fatal("taproot signature verifies under the internal key")
	}
}

func TestSignSchnorrCulprits(t *testing.T) {
	// n=7, t=2: replica 1 reports another nonce, replica 2 a wrong partial.
	fc, info := schnorrFake(t, 7, 2, schnorrFaults{wrongNonce: map[int]bool{1: true}, badPartial: map[int]bool{2: true}})
	var culprits []Culprit
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = cs }))
	msg := []byte("any length message")
	sig, err := c.SignSchnorr(context.Background(), "btc", msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifySchnorr(info.PublicKey, msg, sig[:], nil); !ok {
		t.Fatal("signature does not verify")
	}
	for _, cu := range culprits {
		switch cu {
		case Culprit{1, ReasonDisagreement}, Culprit{2, ReasonInvalidPartial}:
		default:
			t.Fatalf("culprits %+v", culprits)
		}
	}
}

func TestSignSchnorrNeedsNonceAgreement(t *testing.T) {
	// Only replicas 1 and 2 answer and they report different nonces: no
	// nonce is agreed, so no partial is even checked.
	fc, _ := schnorrFake(t, 4, 1, schnorrFaults{wrongNonce: map[int]bool{1: true}, silent: map[int]bool{3: true, 4: true}})
	fc.cfg.Timeout = "500ms"
	_, err := fc.client().SignSchnorr(context.Background(), "btc", []byte("m"), nil)
	var qe *QuorumError
	if !errors.As(err, &qe) || qe.Answered != 2 || qe.Valid != 0 || !qe.TimedOut {
		t.Fatalf("got %v", err)
	}
}

func TestSignSchnorrAllAnswersChecked(t *testing.T) {
	// Three of four answer; one of those lies about its partial: t+1=2
	// valid partials remain and the liar is named.
	fc, _ := schnorrFake(t, 4, 1, schnorrFaults{badPartial: map[int]bool{3: true}, silent: map[int]bool{4: true}})
	fc.cfg.Timeout = "2s"
	var culprits []Culprit
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = cs }))
	if _, err := c.SignSchnorr(context.Background(), "btc", []byte("m"), nil); err != nil {
		t.Fatal(err)
	}
	for _, cu := range culprits {
		if cu != (Culprit{3, ReasonInvalidPartial}) {
			t.Fatalf("culprits %+v", culprits)
		}
	}
}

func TestTaprootOutputKeyMatchesThreshold(t *testing.T) {
	info, _ := testKey(t, "k", wire.SchemeSchnorr, 1)
	P, err := group.LiftX(info.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := schnorr.OutputKey(P, schnorr.Taproot{Mode: schnorr.TaprootBIP86})
	if err != nil {
		t.Fatal(err)
	}
	got, err := TaprootOutputKey(info.PublicKey, nil)
	if err != nil || got != want {
		t.Fatalf("btcd and threshold/schnorr disagree on the BIP-86 output key: %v", err)
	}
}

// TestSignSchnorrNamesLiarsAmongFirst: replicas 1 and 2 send wrong partials
// (on the agreed nonce) and answer first; the client names exactly them and
// still returns a valid signature from honest partials.
func TestSignSchnorrNamesLiarsAmongFirst(t *testing.T) {
	liars := map[int]bool{1: true, 2: true}
	fc, info := schnorrFake(t, 7, 2, schnorrFaults{badPartial: liars})
	delayHonest(fc, liars, 200*time.Millisecond)
	var culprits []Culprit
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = cs }))
	msg := []byte("spend")
	sig, err := c.SignSchnorr(context.Background(), "btc", msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifySchnorr(info.PublicKey, msg, sig[:], nil); !ok {
		t.Fatal("signature does not verify")
	}
	wantCulprits(t, culprits, Culprit{1, ReasonInvalidPartial}, Culprit{2, ReasonInvalidPartial})
}

// TestSignSchnorrWaitsForNonces: a sign request refused for an empty nonce
// pool is retried as a new request and then signed with the nonce the new
// request is assigned.
func TestSignSchnorrWaitsForNonces(t *testing.T) {
	fc, info := schnorrFake(t, 4, 1, schnorrFaults{})
	signer := fc.getHandler()
	var mu sync.Mutex
	var refusedID string // the first sign request, refused by every replica
	refusals, signs := 0, 0
	fc.setHandler(func(replica int, req wire.Request, signed []byte) fakeReply {
		if req.Op == wire.OpSign {
			mu.Lock()
			if refusedID == "" {
				refusedID = req.ID
			}
			refuse := req.ID == refusedID
			if refuse {
				refusals++
			} else {
				signs++
			}
			mu.Unlock()
			if refuse {
				return fakeReply{status: http.StatusConflict, resp: &wire.Response{Replica: replica, Error: "app: pool empty, retry later: nonce"}}
			}
		}
		return signer(replica, req, signed)
	})
	msg := []byte("after a refill")
	sig, err := fc.client().SignSchnorr(context.Background(), "btc", msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifySchnorr(info.PublicKey, msg, sig[:], nil); !ok {
		t.Fatal("signature does not verify")
	}
	mu.Lock()
	defer mu.Unlock()
	if refusals < 2 || signs < 2 {
		t.Fatalf("%d refusals and %d answers to the retry; want at least t+1 of each", refusals, signs)
	}
}
