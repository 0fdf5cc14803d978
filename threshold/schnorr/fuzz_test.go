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
