package group

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/herumi/bls-eth-go-binary/bls"
)

func groups() []Group { return []Group{Secp256k1(), BLS12381G1()} }

func mustRandom(t testing.TB, g Group) Scalar {
	t.Helper()
	s, err := g.RandomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGroupLaws(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			a, b := mustRandom(t, g), mustRandom(t, g)
			G := g.Generator()
			// (a+b)G = aG + bG; (ab)G = a(bG); a - a = 0; a·a⁻¹ = 1.
			if !g.BaseMul(a.Add(b)).Equal(g.BaseMul(a).Add(g.BaseMul(b))) {
				t.Fatal("distributivity over addition fails")
			}
			if !g.BaseMul(a.Mul(b)).Equal(G.Mul(b).Mul(a)) {
				t.Fatal("scalar multiplication is not associative")
			}
			if !a.Sub(a).IsZero() || !a.Add(a.Neg()).IsZero() {
				t.Fatal("a - a != 0")
			}
			if !a.Mul(a.Inv()).Equal(g.ScalarFromUint64(1)) {
				t.Fatal("a·a⁻¹ != 1")
			}
			if !g.Zero().Inv().IsZero() {
				t.Fatal("0⁻¹ must be 0")
			}
			P := g.BaseMul(a)
			if !P.Sub(P).IsIdentity() || !P.Add(P.Neg()).IsIdentity() {
				t.Fatal("P - P is not the identity")
			}
			if !P.Add(g.Identity()).Equal(P) || !g.Identity().Add(P).Equal(P) {
				t.Fatal("identity is not neutral")
			}
			if !g.BaseMul(g.Zero()).IsIdentity() || !g.Identity().Mul(a).IsIdentity() {
				t.Fatal("0·G or a·O is not the identity")
			}
			if !G.Add(G).Equal(G.Mul(g.ScalarFromUint64(2))) {
				t.Fatal("G + G != 2G")
			}
			// The order annihilates: (n-1)·G + G = O.
			minusOne := g.ScalarFromUint64(1).Neg()
			if !G.Mul(minusOne).Add(G).IsIdentity() {
				t.Fatal("(n-1)G + G != O")
			}
		})
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			for range 20 {
				s := mustRandom(t, g)
				sb := s.Bytes()
				if len(sb) != g.ScalarLen() {
					t.Fatalf("scalar length %d", len(sb))
				}
				s2, err := g.DecodeScalar(sb)
				if err != nil || !s2.Equal(s) {
					t.Fatalf("scalar round trip: %v", err)
				}
				P := g.BaseMul(s)
				pb := P.Bytes()
				if len(pb) != g.PointLen() {
					t.Fatalf("point length %d", len(pb))
				}
				P2, err := g.DecodePoint(pb)
				if err != nil || !P2.Equal(P) || !bytes.Equal(P2.Bytes(), pb) {
					t.Fatalf("point round trip: %v", err)
				}
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			if _, err := g.DecodePoint(g.Identity().Bytes()); !errors.Is(err, ErrIdentityPoint) {
				t.Fatalf("identity accepted: %v", err)
			}
			if _, err := g.DecodePoint(make([]byte, g.PointLen()-1)); !errors.Is(err, ErrInvalidPoint) {
				t.Fatalf("short point accepted: %v", err)
			}
			// The order itself (and all-ones) is not a canonical scalar.
			ones := bytes.Repeat([]byte{0xff}, 32)
			if _, err := g.DecodeScalar(ones); !errors.Is(err, ErrInvalidScalar) {
				t.Fatalf("overflowing scalar accepted: %v", err)
			}
			n := g.ScalarFromUint64(1).Neg().Bytes() // n-1
			n[31]++                                  // n (no carry: n-1 ends in an even byte < 0xff for both orders)
			if _, err := g.DecodeScalar(n); !errors.Is(err, ErrInvalidScalar) {
				t.Fatalf("scalar equal to the order accepted: %v", err)
			}
			if _, err := g.DecodeScalar(make([]byte, 31)); !errors.Is(err, ErrInvalidScalar) {
				t.Fatalf("short scalar accepted: %v", err)
			}
			// A random x coordinate is off the curve about half the time;
			// any single flipped bit must never decode to the same point.
			P := g.BaseMul(mustRandom(t, g))
			pb := P.Bytes()
			for i := range pb {
				b := bytes.Clone(pb)
				b[i] ^= 0x01
				if Q, err := g.DecodePoint(b); err == nil && Q.Equal(P) {
					t.Fatalf("byte %d flipped decodes to the same point", i)
				}
			}
		})
	}
}

func TestSecp256k1RejectsBadPrefixAndXNotOnCurve(t *testing.T) {
	g := Secp256k1()
	pb := g.Generator().Bytes()
	for _, prefix := range []byte{0x00, 0x01, 0x04, 0x05, 0xff} {
		b := bytes.Clone(pb)
		b[0] = prefix
		if _, err := g.DecodePoint(b); !errors.Is(err, ErrInvalidPoint) {
			t.Fatalf("prefix %#x accepted: %v", prefix, err)
		}
	}
	// x = p (field modulus) is not a field element.
	p, _ := hex.DecodeString("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")
	if _, err := LiftX(p); err == nil {
		t.Fatal("x = p accepted")
	}
	// BIP-340 test vector 5: x is not on the curve.
	x, _ := hex.DecodeString("eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34")
	if _, err := LiftX(x); err == nil {
		t.Fatal("x not on the curve accepted")
	}
	// lift_x always returns even Y.
	P := g.BaseMul(mustRandom(t, g))
	xo := XOnly(P)
	L, err := LiftX(xo[:])
	if err != nil || !HasEvenY(L) {
		t.Fatalf("lift_x: %v", err)
	}
	if !(L.Equal(P) || L.Equal(P.Neg())) {
		t.Fatal("lift_x returned another point")
	}
}

func TestBLSRejectsNonSubgroupPoint(t *testing.T) {
	g := BLS12381G1()
	// Search for an x that is on the curve but whose point lies outside the
	// order-r subgroup: the cofactor of G1 is large, so almost every curve
	// point found this way is outside it.
	var found bool
	for i := 0; i < 200 && !found; i++ {
		var x bls.Fp
		x.SetInt64(int64(i + 1))
		b := x.Serialize()
		b[0] |= 0x80 // compressed flag
		var raw bls.G1
		bls.VerifyOrderG1(false)
		err := raw.Deserialize(b)
		bls.VerifyOrderG1(true)
		if err != nil || raw.IsValidOrder() {
			continue
		}
		found = true
		if _, err := g.DecodePoint(b); !errors.Is(err, ErrInvalidPoint) {
			t.Fatalf("non-subgroup point accepted: %v", err)
		}
	}
	if !found {
		t.Fatal("no non-subgroup point found to test with")
	}
}

// RFC 9380 Appendix K.1: expand_message_xmd(SHA-256),
// DST = "QUUX-V01-CS02-with-expander-SHA256-128".
func TestExpandMessageXMD(t *testing.T) {
	dst := []byte("QUUX-V01-CS02-with-expander-SHA256-128")
	for _, tc := range []struct {
		msg  string
		n    int
		want string
	}{
		{"", 0x20, "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"},
		{"abc", 0x20, "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"},
	} {
		got, err := expandMessageXMD(dst, tc.n, []byte(tc.msg))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != tc.want {
			t.Fatalf("msg %q: got %x", tc.msg, got)
		}
	}
	// Split input is the concatenation.
	a, _ := expandMessageXMD(dst, 100, []byte("ab"), []byte("c"))
	b, _ := expandMessageXMD(dst, 100, []byte("abc"))
	if !bytes.Equal(a, b) || len(a) != 100 {
		t.Fatal("multi-part message differs from its concatenation")
	}
	if _, err := expandMessageXMD(dst, 256*32, nil); err == nil {
		t.Fatal("ell > 255 accepted")
	}
	if _, err := expandMessageXMD(make([]byte, 256), 32, nil); err == nil {
		t.Fatal("DST > 255 bytes accepted")
	}
}

// RFC 9380 Appendix J.9.1, BLS12381G1_XMD:SHA-256_SSWU_RO_, msg = "".
func TestHashToG1Vector(t *testing.T) {
	dst := []byte("QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_")
	P, err := HashToG1(nil, dst)
	if err != nil {
		t.Fatal(err)
	}
	b := P.Bytes()
	b[0] &= 0x1f // strip the compression, infinity and sign flags
	const wantX = "052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1"
	if hex.EncodeToString(b) != wantX {
		t.Fatalf("x = %x", b)
	}
}

// herumi's own hash-to-G1 (process-wide DST) must agree with blst's.
func TestHashToG1CrossCheck(t *testing.T) {
	InitBLS()
	dst := "VHSM-TEST-HASH-TO-G1_XMD:SHA-256_SSWU_RO_"
	if err := bls.SetDstG1(dst); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"", "abc", "vhsm", string(bytes.Repeat([]byte{7}, 300))} {
		var h bls.G1
		if err := h.HashAndMapTo([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		P, err := HashToG1([]byte(msg), []byte(dst))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h.Serialize(), P.Bytes()) {
			t.Fatalf("herumi and blst disagree on %q", msg)
		}
	}
}

func TestHashToScalarDomainSeparation(t *testing.T) {
	for _, g := range groups() {
		a := g.HashToScalar([]byte("A"), []byte("m"))
		b := g.HashToScalar([]byte("B"), []byte("m"))
		c := g.HashToScalar([]byte("A"), []byte("m"))
		if a.Equal(b) || !a.Equal(c) || a.IsZero() {
			t.Fatalf("%s: HashToScalar is not a domain-separated function", g.Name())
		}
	}
}

func FuzzDecodePoint(f *testing.F) {
	for _, g := range groups() {
		f.Add(g.Generator().Bytes())
		f.Add(g.Identity().Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, g := range groups() {
			P, err := g.DecodePoint(b)
			if err != nil {
				continue
			}
			if P.IsIdentity() {
				t.Fatal("decoded the identity")
			}
			if !bytes.Equal(P.Bytes(), b) {
				t.Fatal("decoded a non-canonical encoding")
			}
		}
	})
}

func FuzzDecodeScalar(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Add(make([]byte, 32))
	for _, g := range groups() {
		q := order(g)
		for _, d := range []int64{-1, 0, 1} {
			f.Add(new(big.Int).Add(q, big.NewInt(d)).FillBytes(make([]byte, 32)))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, g := range groups() {
			// The constant-time wide reduction agrees with math/big.
			if len(b) <= 64 {
				want := new(big.Int).Mod(new(big.Int).SetBytes(b), order(g)).FillBytes(make([]byte, 32))
				if got := g.(wideReducer).fromWide(b).Bytes(); !bytes.Equal(got, want) {
					t.Fatalf("%s: fromWide(%x) = %x, want %x", g.Name(), b, got, want)
				}
			}
			s, err := g.DecodeScalar(b)
			// The constant-time range check agrees with math/big.
			if want := len(b) == 32 && new(big.Int).SetBytes(b).Cmp(order(g)) < 0; want != (err == nil) {
				t.Fatalf("%s: DecodeScalar(%x) error %v", g.Name(), b, err)
			}
			if err != nil {
				continue
			}
			if !bytes.Equal(s.Bytes(), b) {
				t.Fatal("decoded a non-canonical scalar")
			}
		}
	})
}

func BenchmarkBaseMul(b *testing.B) {
	for _, g := range groups() {
		s := mustRandom(b, g)
		b.Run(g.Name(), func(b *testing.B) {
			for b.Loop() {
				g.BaseMul(s)
			}
		})
	}
}

func BenchmarkMul(b *testing.B) {
	for _, g := range groups() {
		s := mustRandom(b, g)
		P := g.BaseMul(mustRandom(b, g))
		b.Run(g.Name(), func(b *testing.B) {
			for b.Loop() {
				P.Mul(s)
			}
		})
	}
}
