package group

import (
	"bytes"
	"crypto/rand"
	"testing"

	blst "github.com/supranational/blst/bindings/go"
)

// TestDecodeG1Unchecked: on points of G1 it agrees with DecodePoint; it
// refuses what DecodePoint refuses for its encoding (length, flags,
// non-canonical x, off-curve x, the identity) and accepts a curve point
// outside the subgroup, which DecodePoint refuses.
func TestDecodeG1Unchecked(t *testing.T) {
	g := BLS12381G1()
	for range 20 {
		s, _ := g.RandomScalar(rand.Reader)
		b := g.BaseMul(s).Bytes()
		p, err := DecodeG1Unchecked(b)
		q, err2 := g.DecodePoint(b)
		if err != nil || err2 != nil || !p.Equal(q) || !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("G1 point %x: %v %v", b, err, err2)
		}
	}
	inf := make([]byte, 48)
	inf[0] = 0xc0
	gen := g.Generator().Bytes()
	noFlag := bytes.Clone(gen)
	noFlag[0] &^= 0x80
	bigX := bytes.Repeat([]byte{0xff}, 48)
	bigX[0] = 0x9f
	for name, b := range map[string][]byte{"short": gen[:47], "identity": inf, "uncompressed flag": noFlag, "x ≥ p": bigX} {
		if _, err := DecodeG1Unchecked(b); err == nil {
			t.Fatalf("%s accepted", name)
		}
	}
	// A point on the curve outside G1: x with x³+4 a square, not cleared.
	found := false
	for x := byte(1); x < 200 && !found; x++ {
		var enc [48]byte
		enc[0], enc[47] = 0x80, x
		aff := new(blst.P1Affine).Uncompress(enc[:])
		if aff == nil || aff.InG1() {
			continue
		}
		found = true
		if _, err := g.DecodePoint(enc[:]); err == nil {
			t.Fatal("DecodePoint accepted a point outside G1")
		}
		p, err := DecodeG1Unchecked(enc[:])
		if err != nil || !bytes.Equal(p.Bytes(), enc[:]) {
			t.Fatalf("curve point outside G1: %v", err)
		}
	}
	if !found {
		t.Fatal("no curve point outside G1 found")
	}
}
