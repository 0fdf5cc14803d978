package schnorr

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// FuzzDecodePartial: every input either is rejected or is a canonical
// scalar that re-encodes to itself.
func FuzzDecodePartial(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Add(secpN.FillBytes(make([]byte, 32)))
	f.Add(new(big.Int).Sub(secpN, big.NewInt(1)).FillBytes(make([]byte, 32)))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodePartial(b)
		canonical := len(b) == PartialLen && new(big.Int).SetBytes(b).Cmp(secpN) < 0
		if err != nil {
			if !errors.Is(err, ErrInvalidPartial) || canonical {
				t.Fatalf("rejected %x: %v", b, err)
			}
			return
		}
		if !canonical || !bytes.Equal(s.Bytes(), b) {
			t.Fatalf("accepted non-canonical %x", b)
		}
	})
}

// FuzzVerify decodes arbitrary keys and signatures without panicking and,
// for 32-byte messages, agrees with btcec's BIP-340 verifier.
func FuzzVerify(f *testing.F) {
	c := newCluster(f, 4, 1, nil, nil, rand.Reader)
	msg := bytes.Repeat([]byte{7}, 32)
	sig, err := Combine(c.pk, c.pn, Taproot{}, msg, c.partials(f, Taproot{}, msg, []int{1, 2}, nil))
	if err != nil {
		f.Fatal(err)
	}
	px := group.XOnly(c.key.pub)
	f.Add(px[:], msg, sig[:])
	f.Add(px[:], []byte{}, sig[:])
	f.Add(make([]byte, 32), msg, make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xff}, 32), msg, bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, pub, m, s []byte) {
		if len(pub) != XOnlyLen || len(s) != SignatureLen {
			return
		}
		var pk [32]byte
		var sg [SignatureLen]byte
		copy(pk[:], pub)
		copy(sg[:], s)
		ok := Verify(pk, m, sg)
		if len(m) != 32 {
			return
		}
		want := false
		if bpk, err := btcschnorr.ParsePubKey(pub); err == nil {
			if bs, err := btcschnorr.ParseSignature(s); err == nil {
				want = bs.Verify(m, bpk)
			}
		}
		if ok != want {
			t.Fatalf("Verify = %v, btcec says %v", ok, want)
		}
	})
}

// FuzzCombine feeds arbitrary bytes as one replica's partial: Combine
// never panics, and whatever it returns without ErrNotEnoughPartials is a
// valid signature.
func FuzzCombine(f *testing.F) {
	c := newCluster(f, 4, 1, nil, nil, rand.Reader)
	msg := []byte("fuzzed partial")
	tr := Taproot{Mode: TaprootBIP86}
	honest := c.partials(f, tr, msg, []int{1, 2, 3, 4}, nil)
	q, _, err := OutputKey(c.key.pub, tr)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(honest[1], uint8(1), false)
	f.Add(honest[2][:31], uint8(2), true)
	f.Add(bytes.Repeat([]byte{0xff}, 32), uint8(3), true)
	f.Fuzz(func(t *testing.T, p []byte, who uint8, alone bool) {
		i := int(who % 6) // 0..5: includes indices outside 1..n
		parts := map[int][]byte{i: p}
		if !alone {
			parts[4] = honest[4]
			if i != 3 {
				parts[3] = honest[3]
			}
		}
		sig, err := Combine(c.pk, c.pn, tr, msg, parts)
		if errors.Is(err, ErrNotEnoughPartials) {
			if sig != ([SignatureLen]byte{}) {
				t.Fatal("signature returned with ErrNotEnoughPartials")
			}
			return
		}
		var ce *CulpritError
		if err != nil && !(errors.As(err, &ce) && ce.Err == nil) {
			t.Fatalf("unexpected error: %v", err)
		}
		if !Verify(q, msg, sig) {
			t.Fatal("Combine returned an invalid signature")
		}
	})
}

// FuzzNoncePairBind binds a real nonce pair (or one whose D or E is replaced
// by a fuzzed encoding) to fuzzed Taproot options and messages: Bind never
// panics; when it succeeds, R = D + ρ·E and, for the real pair, each
// replica's bound share matches its R_i and t+1 partials combine into a
// signature that verifies, while a pair with a substituted point never
// yields a signature.
func FuzzNoncePairBind(f *testing.F) {
	key := deal(f, 4, 1, nil, rand.Reader)
	pk := &PublicKey{GroupKey: key.pub, VerificationKeys: key.vks, Threshold: 1}
	pair := dealPair(f, 4, 1, rand.Reader)
	g := secp()
	f.Add([]byte("msg"), uint8(0), []byte{}, []byte{}, []byte{})
	f.Add(make([]byte, 32), uint8(1), []byte{}, []byte{}, []byte{})
	f.Add([]byte{}, uint8(2), []byte{1, 2, 3}, []byte{}, []byte{})
	f.Add([]byte("x"), uint8(3), []byte{}, []byte{}, []byte{})
	f.Add([]byte("x"), uint8(1), []byte{}, pair.pub.E.Bytes(), []byte{})
	f.Add([]byte("y"), uint8(0), []byte{}, []byte{}, g.Generator().Bytes())
	f.Add([]byte("z"), uint8(2), []byte{9}, make([]byte, 33), []byte{})
	f.Fuzz(func(t *testing.T, msg []byte, mode uint8, root, dEnc, eEnc []byte) {
		tr := Taproot{Mode: TaprootMode(mode % 4)} // 3 is invalid
		copy(tr.MerkleRoot[:], root)
		p := &NoncePair{D: pair.pub.D, E: pair.pub.E, DCommitments: pair.pub.DCommitments, ECommitments: pair.pub.ECommitments}
		substituted := false
		if len(dEnc) > 0 {
			D, err := g.DecodePoint(dEnc)
			if err != nil {
				return
			}
			p.D, substituted = D, !D.Equal(pair.pub.D)
		}
		if len(eEnc) > 0 {
			E, err := g.DecodePoint(eEnc)
			if err != nil {
				return
			}
			p.E, substituted = E, substituted || !E.Equal(pair.pub.E)
		}
		bound, err := p.Bind(pk, tr, msg)
		if tr.Mode == 3 {
			if !errors.Is(err, ErrInvalidTaproot) {
				t.Fatalf("invalid mode: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		rho, err := p.bindingFactor(pk, tr, msg)
		if err != nil || !bound.R.Equal(p.D.Add(p.E.Mul(rho))) {
			t.Fatalf("R ≠ D + ρ·E: %v", err)
		}
		parts := map[int][]byte{}
		for _, i := range []int{1, 2} {
			k, err := pair.shares(i).Bind(pk, p, tr, msg)
			if err != nil {
				t.Fatal(err)
			}
			if !substituted && !g.BaseMul(k).Equal(bound.Commitments[i]) {
				t.Fatalf("k_%d·G ≠ R_%d", i, i)
			}
			if parts[i], err = PartialSign(pk, bound, tr, msg, key.shares[i], k); err != nil {
				t.Fatal(err)
			}
		}
		sig, err := Combine(pk, bound, tr, msg, parts)
		q, _, qerr := OutputKey(key.pub, tr)
		if qerr != nil {
			t.Fatal(qerr)
		}
		switch {
		case substituted && err == nil:
			t.Fatal("a pair with a substituted point signed")
		case !substituted && (err != nil || !Verify(q, msg, sig)):
			t.Fatalf("honest pair did not sign: %v", err)
		}
	})
}
