package group_test

import (
	"crypto/rand"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
)

// TestMulPublic checks MulPublic against the constant-time Point.Mul on
// random and edge-case scalars, in both groups.
func TestMulPublic(t *testing.T) {
	for _, g := range []group.Group{group.Secp256k1(), group.BLS12381G1()} {
		t.Run(g.Name(), func(t *testing.T) {
			r, err := g.RandomScalar(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			p := g.BaseMul(r)
			scalars := []group.Scalar{g.Zero(), g.ScalarFromUint64(1), g.ScalarFromUint64(2), g.ScalarFromUint64(65536), g.Zero().Sub(g.ScalarFromUint64(1))}
			for range 8 {
				s, err := g.RandomScalar(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				scalars = append(scalars, s)
			}
			identity := g.BaseMul(g.Zero())
			for i, s := range scalars {
				if got, want := group.MulPublic(p, s), p.Mul(s); !got.Equal(want) {
					t.Errorf("scalar %d: MulPublic differs from Mul", i)
				}
				if got := group.MulPublic(identity, s); !got.IsIdentity() {
					t.Errorf("scalar %d: s·O is not the identity", i)
				}
				if got, want := group.MulPublic(g.Generator(), s), g.BaseMul(s); !got.Equal(want) {
					t.Errorf("scalar %d: MulPublic(G) differs from BaseMul", i)
				}
			}
		})
	}
}

func BenchmarkMulPublicIndex(b *testing.B) {
	g := group.Secp256k1()
	p, x := g.Generator(), g.ScalarFromUint64(3)
	b.Run("ct", func(b *testing.B) {
		for b.Loop() {
			p.Mul(x)
		}
	})
	b.Run("public", func(b *testing.B) {
		for b.Loop() {
			group.MulPublic(p, x)
		}
	})
}
