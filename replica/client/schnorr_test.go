package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bip32"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// schnorrFaults selects how fake replicas misbehave in FROST sessions.
type schnorrFaults struct {
	badPartial map[int]bool // send a well-formed but wrong share
	badR       map[int]bool // report a wrong group commitment R
	noR        bool         // report no R (a replica from before the field)
	silent     map[int]bool // never answer a sign
	restarted  map[int]bool // refuse the first sign as a restarted replica would (unknown nonce)
	wrongPath  map[int]bool // sign for another derivation path than the one asked
	// rejecting names replicas that refuse every sign, each after its
	// delay (a replica whose share store is damaged, answering slowly).
	rejecting map[int]time.Duration
	// frozen, when set, names a replica that stops answering anything
	// (sign and nonce requests) from the moment it is stored: a SIGSTOPped
	// replica whose connections stay open.
	frozen *atomic.Int64
}

// schnorrFake holds real shares of schnorr key "btc"; each fake replica
// makes its own FROST nonces, hands out their commitments and signs with
// each once, as a real replica does.
func schnorrFake(t testing.TB, n, th int, f schnorrFaults) (*fakeCluster, wire.KeyInfo) {
	info, keyPoly := testKey(t, "btc", wire.SchemeSchnorr, th)
	keyCom, err := vss.DecodeCommitment(group.Secp256k1(), info.Commitment)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	nonces := map[string]*frost.Nonce{} // reference → nonce
	seq := 0
	restartedOnce := map[int]bool{}
	fc := newFakeCluster(t, n, th, func(replica int, req wire.Request, _ []byte) fakeReply {
		if f.frozen != nil && f.frozen.Load() == int64(replica) {
			return fakeReply{hang: true}
		}
		switch req.Op {
		case wire.OpKeyPub:
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
		case wire.OpNonces:
			var b wire.NoncesBody
			json.Unmarshal(req.Body, &b)
			var out []wire.NonceCommitment
			mu.Lock()
			defer mu.Unlock()
			for k := 0; k < b.Count; k++ {
				nc, err := frost.Taproot.NewNonce(keyPoly.Share(replica), rand.Reader)
				if err != nil {
					t.Error(err)
				}
				seq++
				ref := []byte(fmt.Sprintf("r%d-%d", replica, seq))
				nonces[string(ref)] = nc
				com := nc.Commit(replica)
				out = append(out, wire.NonceCommitment{Nonce: ref, Hiding: com.Hiding.Bytes(), Binding: com.Binding.Bytes()})
			}
			return fakeReply{resp: &wire.Response{Replica: replica, Commitments: out}}
		case wire.OpSign:
			if f.silent[replica] {
				return fakeReply{hang: true}
			}
			if d, ok := f.rejecting[replica]; ok {
				time.Sleep(d)
				return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: "engine: share unavailable: btc: sealed: record corrupted or not authentic"}}
			}
			var b wire.SignBody
			if err := json.Unmarshal(req.Body, &b); err != nil {
				t.Error(err)
			}
			tr, err := taprootMode(b.Taproot)
			if err != nil {
				t.Error(err)
			}
			var coms []frost.Commitment
			var mine []byte
			for _, sc := range b.Signers {
				D, _ := group.Secp256k1().DecodePoint(sc.Hiding)
				E, _ := group.Secp256k1().DecodePoint(sc.Binding)
				coms = append(coms, frost.Commitment{ID: sc.Replica, Hiding: D, Binding: E})
				if sc.Replica == replica {
					mine = sc.Nonce
				}
			}
			mu.Lock()
			nc := nonces[string(mine)]
			delete(nonces, string(mine))
			stale := f.restarted[replica] && !restartedOnce[replica]
			restartedOnce[replica] = true
			mu.Unlock()
			if nc == nil || stale {
				return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: "engine: request rejected: engine: unknown or used nonce"}}
			}
			var key *frost.Key
			if path := b.Path; len(path) > 0 || f.wrongPath[replica] {
				if f.wrongPath[replica] {
					path = append(append([]uint32{}, path...), 1)
				}
				P := keyCom.Secret()
				_, tw, err := bip32.Derive(P, bip32.ChainCode(P.Bytes(), info.Commitment), path, 16)
				if err != nil {
					t.Error(err)
				}
				key, err = frost.Taproot.NewDerivedKey(P, tw, tr)
				if err != nil {
					t.Error(err)
				}
			} else if key, err = frost.Taproot.NewKey(keyCom.Secret(), tr); err != nil {
				t.Error(err)
			}
			ss, err := frost.Taproot.Prepare(&frost.SigningPackage{Commitments: coms, Message: b.Message}, key)
			var z group.Scalar
			if err == nil {
				z, err = ss.Sign(replica, keyPoly.Share(replica), nc)
			}
			if err != nil {
				t.Error(err)
				return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: err.Error()}}
			}
			if f.badPartial[replica] {
				z = z.Add(group.Secp256k1().ScalarFromUint64(1))
			}
			R := ss.GroupCommitment()
			if f.badR[replica] {
				R = R.Add(group.Secp256k1().Generator())
			}
			resp := &wire.Response{Replica: replica, Partial: z.Bytes()}
			if rx := group.XOnly(R); !f.noR {
				resp.GroupCommitment = rx[:]
			}
			return fakeReply{resp: resp}
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

// Wrong shares are found when the signature does not verify, their senders
// named, and a new session without them signs (n=7, t=2, two liars). Over
// many signatures each liar is picked and named at least once, and never an
// honest replica.
func TestSignSchnorrCulprits(t *testing.T) {
	liars := map[int]bool{1: true, 2: true}
	fc, info := schnorrFake(t, 7, 2, schnorrFaults{badPartial: liars})
	named := map[int]int{}
	var mu sync.Mutex
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) {
		mu.Lock()
		defer mu.Unlock()
		for _, cu := range cs {
			if !liars[cu.Replica] || cu.Reason != ReasonInvalidPartial {
				t.Errorf("culprit %v", cu)
			}
			named[cu.Replica]++
		}
	}))
	for k := 0; k < 40; k++ {
		msg := []byte(fmt.Sprintf("spend %d", k))
		sig, err := c.SignSchnorr(context.Background(), "btc", msg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := VerifySchnorr(info.PublicKey, msg, sig[:], nil); !ok {
			t.Fatal("signature does not verify")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if named[1] == 0 || named[2] == 0 {
		t.Fatalf("liars named %v times in 40 signatures", named)
	}
}

// A silent signer is replaced after the hedge delay by a new session; a
// replica that restarted (its nonces gone) costs a refetch, and is not a
// culprit.
func TestSignSchnorrSilentAndRestarted(t *testing.T) {
	fc, info := schnorrFake(t, 4, 1, schnorrFaults{silent: map[int]bool{4: true}, restarted: map[int]bool{1: true, 2: true, 3: true}})
	fc.cfg.Timeout = "5s"
	var culprits []Culprit
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = cs }))
	for k := 0; k < 5; k++ {
		msg := []byte(fmt.Sprintf("m%d", k))
		sig, err := c.SignSchnorr(context.Background(), "btc", msg, &wire.TaprootOption{})
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := VerifySchnorr(info.PublicKey, msg, sig[:], &wire.TaprootOption{}); !ok {
			t.Fatal("signature does not verify")
		}
	}
	if len(culprits) != 0 {
		t.Fatalf("culprits %v", culprits)
	}
}

// One replica's refusals never count as t+1 replicas' (issue 4, CI
// failure of TestDamagedShareStore): replica 3 refuses every sign, slowly,
// while the others have just restarted and refuse their first session
// with an unknown nonce. A session failed by a stale refusal used to free
// its still-pending signers for the next session, so replica 3 could sit
// in two sessions at once; its two refusals then made a RejectedError
// "by replicas [3 3]" at t=1, although three honest signers were there.
// Each round runs against fresh fakes, so that the restarts recur.
func TestSignSchnorrOneRefuserIsNotAQuorum(t *testing.T) {
	for k := range 20 {
		fc, info := schnorrFake(t, 4, 1, schnorrFaults{
			rejecting: map[int]time.Duration{3: 20 * time.Millisecond},
			restarted: map[int]bool{1: true, 2: true, 4: true},
		})
		fc.cfg.Timeout = "10s"
		msg := []byte(fmt.Sprintf("m%d", k))
		sig, err := fc.client().SignSchnorr(context.Background(), "btc", msg, nil)
		if err != nil {
			t.Fatalf("round %d: %v", k, err)
		}
		if ok, _ := VerifySchnorr(info.PublicKey, msg, sig[:], nil); !ok {
			t.Fatalf("round %d: signature does not verify", k)
		}
	}
}

// A replica whose share is damaged refuses every sign; after its first
// refusal the client asks it last (suspect) instead of picking it for
// about half of the next sessions, each of which it would fail.
func TestSignSchnorrDamagedReplicaAskedLast(t *testing.T) {
	fc, info := schnorrFake(t, 4, 1, schnorrFaults{rejecting: map[int]time.Duration{3: 0}})
	c := fc.client()
	c.lat.floor.Store(int64(10 * time.Second)) // no hedge (a hedge asks every replica), however loaded the machine
	signs := fc.signsSeen
	for k := range 20 {
		msg := []byte(fmt.Sprintf("m%d", k))
		sig, err := c.SignSchnorr(context.Background(), "btc", msg, nil)
		if err != nil {
			t.Fatalf("signature %d: %v", k, err)
		}
		if ok, _ := VerifySchnorr(info.PublicKey, msg, sig[:], nil); !ok {
			t.Fatalf("signature %d does not verify", k)
		}
		if signs(3) > 0 {
			break // it refused once: from here on it is asked last
		}
	}
	before, start := signs(3), time.Now()
	for k := range 20 {
		if time.Since(start) > suspectFor/2 {
			break // a very slow machine: stay well inside suspectFor
		}
		msg := []byte(fmt.Sprintf("after %d", k))
		if _, err := c.SignSchnorr(context.Background(), "btc", msg, nil); err != nil {
			t.Fatalf("signature %d: %v", k, err)
		}
	}
	// Were it picked like the others, it would sit in about half of these
	// sessions.
	if n := signs(3) - before; n > 0 {
		t.Fatalf("the damaged replica was asked %d times in 20 signatures after its refusal", n)
	}
}

// A signer that stops answering everything (nonce requests too) once the
// client holds some of its commitments never makes a signature fail: once
// its commitments are used up, sessions pick the signers whose commitments
// the client holds and refill it in the background; a session waits on a
// fetch only when no other candidate is left, and then for fetchWait (1 s
// here), not the request timeout. Before, the session waited on the silent
// signer's nonce fetch for the whole request timeout and failed.
func TestSignSchnorrFrozenSigner(t *testing.T) {
	frozen := new(atomic.Int64)
	fc, info := schnorrFake(t, 4, 1, schnorrFaults{frozen: frozen})
	fc.cfg.Timeout = "3s"
	c := fc.client()
	sign := func(k int) time.Duration {
		t.Helper()
		msg := []byte(fmt.Sprintf("m%d", k))
		start := time.Now()
		sig, err := c.SignSchnorr(context.Background(), "btc", msg, nil)
		if err != nil {
			t.Fatalf("signature %d: %v", k, err)
		}
		if ok, _ := VerifySchnorr(info.PublicKey, msg, sig[:], nil); !ok {
			t.Fatalf("signature %d does not verify", k)
		}
		return time.Since(start)
	}
	for k := range 8 { // every replica's commitments cached, with high probability
		sign(k)
	}
	frozen.Store(4)
	// 4 is picked for about half the sessions: 120 signatures use up
	// the commitments of it the client held (nonceFetch and a few more).
	var slowest time.Duration
	for k := 8; k < 128; k++ {
		slowest = max(slowest, sign(k))
	}
	if slowest > time.Second {
		t.Fatalf("slowest signature took %v with replica 4 frozen (request timeout 3s)", slowest)
	}
}

// With fewer than t+1 signers able to answer, SignSchnorr fails with a
// QuorumError that says so, returning no signature.
func TestSignSchnorrTooFewSigners(t *testing.T) {
	fc, _ := schnorrFake(t, 4, 1, schnorrFaults{silent: map[int]bool{2: true, 3: true, 4: true}})
	fc.cfg.Timeout = "1s"
	sig, err := fc.client().SignSchnorr(context.Background(), "btc", []byte("m"), nil)
	var qe *QuorumError
	if !errors.As(err, &qe) || sig != ([64]byte{}) {
		t.Fatalf("got %x, %v", sig, err)
	}
}

// With one honest signer, one liar and the others silent, SignSchnorr
// fails with a QuorumError counting the one valid share and naming the
// liar.
func TestSignSchnorrLiarAndSilent(t *testing.T) {
	fc, _ := schnorrFake(t, 4, 1, schnorrFaults{badPartial: map[int]bool{4: true}, silent: map[int]bool{2: true, 3: true}})
	fc.cfg.Timeout = "1s"
	_, err := fc.client().SignSchnorr(context.Background(), "btc", []byte("m"), nil)
	var qe *QuorumError
	if !errors.As(err, &qe) || qe.Valid != 1 || len(qe.Culprits) != 1 || qe.Culprits[0] != (Culprit{Replica: 4, Reason: ReasonInvalidPartial}) {
		t.Fatalf("got %v (%+v)", err, qe)
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

// The group commitment R the signers report is a hint: without it (older
// replicas) the client computes R; with a wrong one from a signer whose
// share is right, the client computes R, returns the valid signature and
// names that signer; with a wrong R and a wrong share, the share's sender
// is found and left out as before.
func TestSignSchnorrReportedR(t *testing.T) {
	cases := map[string]struct {
		f      schnorrFaults
		reason string // expected culprit reason of replica 2, "" for none
	}{
		"no R":                 {schnorrFaults{noR: true}, ""},
		"wrong R":              {schnorrFaults{badR: map[int]bool{2: true}}, ReasonMalformed},
		"wrong R, wrong share": {schnorrFaults{badR: map[int]bool{2: true}, badPartial: map[int]bool{2: true}}, ReasonInvalidPartial},
		"wrong share":          {schnorrFaults{badPartial: map[int]bool{2: true}}, ReasonInvalidPartial},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fc, info := schnorrFake(t, 4, 1, tc.f)
			var mu sync.Mutex
			named := 0
			c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) {
				mu.Lock()
				defer mu.Unlock()
				for _, cu := range cs {
					if cu.Replica != 2 || cu.Reason != tc.reason {
						t.Errorf("culprit %v", cu)
					}
					named++
				}
			}))
			for k := 0; k < 24; k++ {
				msg := []byte(fmt.Sprintf("spend %d", k))
				opt := &wire.TaprootOption{}
				sig, err := c.SignSchnorr(context.Background(), "btc", msg, opt)
				if err != nil {
					t.Fatal(err)
				}
				if ok, _ := VerifySchnorr(info.PublicKey, msg, sig[:], opt); !ok {
					t.Fatal("signature does not verify")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.reason == "" && named != 0 || tc.reason != "" && named == 0 {
				t.Fatalf("replica 2 named %d times in 24 signatures (want reason %q)", named, tc.reason)
			}
		})
	}
}
