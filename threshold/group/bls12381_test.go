package group

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/herumi/bls-eth-go-binary/bls"
	blst "github.com/supranational/blst/bindings/go"
)

// RFC 9380 Appendix J.9.1, suite BLS12381G1_XMD:SHA-256_SSWU_RO_: both
// affine coordinates of P for the first three messages.
func TestHashToG1RFC9380Vectors(t *testing.T) {
	dst := []byte("QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_")
	for _, tc := range []struct{ msg, x, y string }{
		{"",
			"052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1",
			"08ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265"},
		{"abc",
			"03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903",
			"0b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d"},
		{"abcdef0123456789",
			"11e0b079dea29a68f0383ee94fed1b940995272407e3bb916bbf268c263ddd57a6a27200a784cbc248e84f357ce82d98",
			"03a87ae2caf14e8ee52e51fa2ed8eefe80f02457004ba4d486d6aa1f517c0889501dc7413753f9599b099ebcbbd2d709"},
	} {
		P, err := HashToG1([]byte(tc.msg), dst)
		if err != nil {
			t.Fatal(err)
		}
		// Uncompressed (x ‖ y, no flags for a finite point), via both
		// libraries.
		want := tc.x + tc.y
		if got := hex.EncodeToString(BLSG1(P).SerializeUncompressed()); got != want {
			t.Errorf("msg %q: herumi coordinates %s", tc.msg, got)
		}
		aff := new(blst.P1Affine).Uncompress(P.Bytes())
		if aff == nil || hex.EncodeToString(aff.Serialize()) != want {
			t.Errorf("msg %q: blst does not decode our point to the vector", tc.msg)
		}
		// The herumi hash with the same (process-wide) DST agrees.
		if err := bls.SetDstG1(string(dst)); err != nil {
			t.Fatal(err)
		}
		var h bls.G1
		if err := h.HashAndMapTo([]byte(tc.msg)); err != nil || !h.IsEqual(BLSG1(P)) {
			t.Errorf("msg %q: herumi HashAndMapTo disagrees", tc.msg)
		}
	}
}

func TestHashToG1RejectsBadDST(t *testing.T) {
	if _, err := HashToG1([]byte("m"), nil); err == nil {
		t.Fatal("empty DST accepted")
	}
	if _, err := HashToG1([]byte("m"), make([]byte, 256)); err == nil {
		t.Fatal("DST over 255 bytes accepted")
	}
}

// The standard generator, in the compressed Ethereum encoding, and the
// flag rules of the ZCash/Ethereum format.
func TestBLSEncodingFormat(t *testing.T) {
	g := BLS12381G1()
	G := g.Generator().Bytes()
	if hex.EncodeToString(G) != "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb" {
		t.Fatal("generator encoding")
	}
	var blstG blst.P1Affine
	if !bytes.Equal(blstG.Deserialize(blst.P1Generator().ToAffine().Serialize()).Compress(), G) {
		t.Fatal("generator differs from blst's")
	}
	// Flipping the sign flag gives the negation.
	neg := bytes.Clone(G)
	neg[0] ^= 0x20
	P, err := g.DecodePoint(neg)
	if err != nil || !P.Equal(g.Generator().Neg()) {
		t.Fatalf("sign flag: %v", err)
	}
	// Without the compression flag, with the infinity flag on a finite
	// point, or with x ≥ p, the encoding is rejected.
	for name, b := range map[string][]byte{
		"uncompressed flag": func() []byte { b := bytes.Clone(G); b[0] &^= 0x80; return b }(),
		"infinity flag":     func() []byte { b := bytes.Clone(G); b[0] |= 0x40; return b }(),
		"infinity with sign": func() []byte {
			b := make([]byte, 48)
			b[0] = 0xe0
			return b
		}(),
		"x = p": func() []byte {
			p, _ := new(big.Int).SetString("1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab", 16)
			b := p.FillBytes(make([]byte, 48))
			b[0] |= 0x80
			return b
		}(),
		"uncompressed length": g.Generator().(*blsPoint).p.SerializeUncompressed(),
	} {
		if _, err := g.DecodePoint(b); !errors.Is(err, ErrInvalidPoint) && !errors.Is(err, ErrIdentityPoint) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
}

func TestBLSScalarBounds(t *testing.T) {
	g := BLS12381G1()
	r, _ := new(big.Int).SetString("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)
	rMinus1 := new(big.Int).Sub(r, big.NewInt(1)).FillBytes(make([]byte, 32))
	s, err := g.DecodeScalar(rMinus1)
	if err != nil || !s.Equal(g.ScalarFromUint64(1).Neg()) {
		t.Fatalf("r-1: %v", err)
	}
	for _, v := range []*big.Int{r, new(big.Int).Add(r, big.NewInt(1))} {
		if _, err := g.DecodeScalar(v.FillBytes(make([]byte, 32))); !errors.Is(err, ErrInvalidScalar) {
			t.Fatalf("scalar ≥ r accepted: %v", err)
		}
	}
	// Scalars match blst's arithmetic: s·G agrees.
	s = g.HashToScalar([]byte("vhsm-test"), []byte("x"))
	var sk blst.SecretKey
	sk.Deserialize(s.Bytes())
	if !bytes.Equal(new(blst.P1Affine).From(&sk).Compress(), g.BaseMul(s).Bytes()) {
		t.Fatal("s·G differs from blst")
	}
}
