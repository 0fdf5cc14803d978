package group

import (
	"crypto/rand"
	"errors"
	"testing"
)

// TestSumEachPublic: every sum equals the sum with Add, identities and
// empty lists included, on both groups; a nil point or one of another group
// is refused.
func TestSumEachPublic(t *testing.T) {
	for _, g := range []Group{Secp256k1(), BLS12381G1()} {
		var sets [][]Point
		for n := range 7 {
			set := make([]Point, n)
			for i := range set {
				s, _ := g.RandomScalar(rand.Reader)
				set[i] = g.BaseMul(s)
			}
			sets = append(sets, set)
		}
		p := sets[3][0]
		sets = append(sets, []Point{g.Identity()}, []Point{p, p.Neg()}, []Point{p, p}, nil)
		got, err := SumEachPublic(g, sets)
		if err != nil {
			t.Fatal(err)
		}
		for i, set := range sets {
			want := g.Identity()
			for _, q := range set {
				want = want.Add(q)
			}
			if !got[i].Equal(want) || string(got[i].Bytes()) != string(want.Bytes()) {
				t.Fatalf("%s set %d: wrong sum", g.Name(), i)
			}
		}
		other := BLS12381G1()
		if g == other {
			other = Secp256k1()
		}
		for _, bad := range [][]Point{{nil}, {other.Generator()}} {
			if _, err := SumEachPublic(g, [][]Point{{p}, bad}); !errors.Is(err, ErrWrongGroup) {
				t.Fatalf("%s: %v", g.Name(), err)
			}
		}
	}
}

func BenchmarkSumEachPublic(b *testing.B) {
	g := Secp256k1()
	sets := make([][]Point, 256)
	for i := range sets {
		for range 4 {
			s, _ := g.RandomScalar(rand.Reader)
			sets[i] = append(sets[i], g.BaseMul(s))
		}
	}
	b.Run("sum-each", func(b *testing.B) {
		for b.Loop() {
			SumEachPublic(g, sets)
		}
	})
	b.Run("add", func(b *testing.B) {
		for b.Loop() {
			for _, set := range sets {
				acc := set[0]
				for _, q := range set[1:] {
					acc = acc.Add(q)
				}
			}
		}
	})
}
