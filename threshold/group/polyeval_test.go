package group

import (
	"crypto/rand"
	"testing"
)

// TestEvalPublic cross-checks EvalPublic with the plain sum of MulPublic
// terms Σ_k x^k·C_k, on random polynomials of degree 0..3 and on edge
// cases (identity coefficients, a value that is the identity, repeated
// points), at small and large indices, and checks that the secp256k1
// results are affine like the other constructors' (same bytes, usable by
// MultiMulPublic).
func TestEvalPublic(t *testing.T) {
	for _, g := range []Group{Secp256k1(), BLS12381G1()} {
		rnd := func() Point {
			s, err := g.RandomScalar(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return g.BaseMul(s)
		}
		var polys [][]Point
		for deg := 0; deg <= 3; deg++ {
			for range 3 {
				c := make([]Point, deg+1)
				for k := range c {
					c[k] = rnd()
				}
				polys = append(polys, c)
			}
		}
		p := rnd()
		polys = append(polys,
			[]Point{g.Identity()},
			[]Point{g.Identity(), g.Identity()},
			[]Point{p, g.Identity(), p},
			[]Point{p, p},
			[]Point{g.Identity(), p},
		)
		for _, x := range []uint64{1, 2, 3, 4, 5, 7, 255, 1 << 16} {
			// A constant term that cancels the rest at x: C_0 = −x·C_1.
			zero := []Point{MulPublic(p, g.ScalarFromUint64(x)).Neg(), p}
			got, err := EvalPublic(g, append(polys, zero), x)
			if err != nil {
				t.Fatal(err)
			}
			for b, c := range append(polys, zero) {
				want := g.Identity()
				pow := g.ScalarFromUint64(1)
				for _, ck := range c {
					want = want.Add(MulPublic(ck, pow))
					pow = pow.Mul(g.ScalarFromUint64(x))
				}
				if !got[b].Equal(want) || string(got[b].Bytes()) != string(want.Bytes()) {
					t.Fatalf("%s x=%d poly %d: wrong value", g.Name(), x, b)
				}
			}
			if !got[len(got)-1].Equal(g.Identity()) {
				t.Fatalf("%s x=%d: cancelling polynomial not the identity", g.Name(), x)
			}
			// The values feed a multi-scalar multiplication as any point.
			r := make([]Scalar, len(got))
			for i := range r {
				r[i], _ = g.RandomScalar(rand.Reader)
			}
			m1, err := MultiMulPublic(g, got, r)
			if err != nil {
				t.Fatal(err)
			}
			want := g.Identity()
			for i := range got {
				want = want.Add(MulPublic(got[i], r[i]))
			}
			if !m1.Equal(want) {
				t.Fatalf("%s x=%d: MultiMulPublic over the values", g.Name(), x)
			}
		}
		other := BLS12381G1()
		if g == other {
			other = Secp256k1()
		}
		for _, bad := range [][][]Point{{{nil}}, {{}}, {{p, other.Generator()}}, {{other.Generator(), p}}} {
			if _, err := EvalPublic(g, bad, 2); err != ErrWrongGroup {
				t.Fatalf("%s: %v for a bad list, want ErrWrongGroup", g.Name(), err)
			}
		}
		before := p.Bytes()
		if _, err := EvalPublic(g, [][]Point{{p, p}}, 3); err != nil || string(p.Bytes()) != string(before) {
			t.Fatal("input modified")
		}
	}
}

func BenchmarkEvalPublic(b *testing.B) {
	g := Secp256k1()
	polys := make([][]Point, 128)
	for i := range polys {
		s1, _ := g.RandomScalar(rand.Reader)
		s2, _ := g.RandomScalar(rand.Reader)
		polys[i] = []Point{g.BaseMul(s1), g.BaseMul(s2)}
	}
	b.Run("batch128/t=1", func(b *testing.B) {
		for b.Loop() {
			EvalPublic(g, polys, 4)
		}
	})
	b.Run("one/t=1", func(b *testing.B) {
		for b.Loop() {
			EvalPublic(g, polys[:1], 4)
		}
	})
}
