package vss_test

// Differential tests of the sharing layer against an independent
// implementation: go.dedis.ch/kyber/v4's share package (Shamir polynomials,
// Feldman commitment polynomials, Lagrange recovery) over kyber's
// BLS12-381 G1 on cloudflare/circl (pairing/bls12381/circl). Kyber is used
// only here, in tests; it has no secp256k1 group, so the secp256k1 side
// has no such oracle.
//
// Both sides encode G1 points in the compressed ZCash/Ethereum format and
// scalars as 32-byte big-endian integers, so values are compared byte for
// byte and carried across through those encodings. Kyber indexes shares
// from 0 and evaluates share I at x = I+1; our replica i is kyber's I = i−1.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"go.dedis.ch/kyber/v4"
	"go.dedis.ch/kyber/v4/pairing/bls12381/circl"
	"go.dedis.ch/kyber/v4/share"
	"go.dedis.ch/kyber/v4/util/random"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

var kg = circl.G1

func kyberBytes(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fromKyber carries a kyber scalar over through its encoding.
func fromKyber(t testing.TB, s kyber.Scalar) group.Scalar {
	t.Helper()
	v, err := group.BLS12381G1().DecodeScalar(kyberBytes(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// toKyber carries one of our scalars over to kyber.
func toKyber(t testing.TB, s group.Scalar) kyber.Scalar {
	t.Helper()
	v := kg.Scalar()
	if err := v.UnmarshalBinary(s.Bytes()); err != nil {
		t.Fatal(err)
	}
	return v
}

// pointToKyber carries one of our points over to kyber.
func pointToKyber(t testing.TB, p group.Point) kyber.Point {
	t.Helper()
	v := kg.Point()
	if err := v.UnmarshalBinary(p.Bytes()); err != nil {
		t.Fatal(err)
	}
	return v
}

// samePolynomial returns a kyber polynomial of degree deg with random
// coefficients and our vss.Polynomial with the same coefficients.
// NewPolynomial takes a_0 as the secret and reads a_1..a_t from its
// reader, each as a 32-byte candidate kept if below r and non-zero, so
// feeding it the encodings of kyber's a_1..a_t reproduces them exactly;
// the reader must be drained, and the commitments are compared with
// kyber's coefficient by coefficient below.
func samePolynomial(t testing.TB, deg int) (*share.PriPoly, *vss.Polynomial) {
	t.Helper()
	kp := share.NewPriPoly(kg, uint32(deg+1), nil, random.New())
	var rest bytes.Buffer
	for _, a := range kp.Coefficients()[1:] {
		rest.Write(kyberBytes(t, a))
	}
	coeffs := kp.Coefficients()
	f, err := vss.NewPolynomial(group.BLS12381G1(), deg, fromKyber(t, coeffs[0]), &rest)
	if err != nil {
		t.Fatal(err)
	}
	if rest.Len() != 0 {
		t.Fatalf("NewPolynomial left %d bytes: a coefficient was rejected", rest.Len())
	}
	return kp, f
}

func TestKyberSharesAndCommitments(t *testing.T) {
	g := group.BLS12381G1()
	G := pointToKyber(t, g.Generator())
	if !G.Equal(kg.Point().Base()) {
		t.Fatal("generators differ")
	}
	for _, deg := range []int{0, 1, 2, 5} {
		t.Run(fmt.Sprintf("t=%d", deg), func(t *testing.T) {
			n := 3*deg + 1
			kp, f := samePolynomial(t, deg)
			kpub := kp.Commit(G)

			// Same secret, same shares f(i) = kyber's Eval(i−1).
			if !bytes.Equal(f.Secret().Bytes(), kyberBytes(t, kp.Secret())) {
				t.Fatal("secrets differ")
			}
			for i := 1; i <= n; i++ {
				ks := kp.Eval(uint32(i - 1))
				if !bytes.Equal(f.Share(i).Bytes(), kyberBytes(t, ks.V)) {
					t.Fatalf("share %d differs", i)
				}
			}

			// Same Feldman commitments C_k = a_k·G, encoded alike, and our
			// decoder accepts kyber's encoding as the same commitment.
			c := f.Commit()
			_, kc := kpub.Info()
			var kenc []byte
			for k := range c {
				kb := kyberBytes(t, kc[k])
				if !bytes.Equal(c[k].Bytes(), kb) {
					t.Fatalf("commitment %d differs", k)
				}
				kenc = append(kenc, kb...)
			}
			if !bytes.Equal(c.Bytes(), kenc) {
				t.Fatal("commitment encodings differ")
			}
			dc, err := vss.DecodeCommitment(g, kenc)
			if err != nil || !dc.Equal(c) {
				t.Fatalf("kyber's commitment does not decode to ours: %v", err)
			}

			for i := 1; i <= n; i++ {
				// Verification keys: Eval(i) = f(i)·G = kyber's PubPoly.Eval(i−1).
				if !bytes.Equal(c.Eval(i).Bytes(), kyberBytes(t, kpub.Eval(uint32(i-1)).V)) {
					t.Fatalf("verification key %d differs", i)
				}
				// Share checks agree: the right share passes on both sides,
				// a wrong value or a share at the wrong index fails on both.
				s := f.Share(i)
				bad := s.Add(g.ScalarFromUint64(1))
				other := f.Share(i%n + 1)
				for _, tc := range []struct {
					name string
					s    group.Scalar
					want bool
				}{{"right", s, true}, {"off by one", bad, false}, {"other index", other, n == 1 || deg == 0}} {
					ours := c.Verify(i, tc.s)
					theirs := kpub.Check(&share.PriShare{I: uint32(i - 1), V: toKyber(t, tc.s)})
					if ours != theirs || ours != tc.want {
						t.Fatalf("share %d (%s): ours %v, kyber %v, want %v", i, tc.name, ours, theirs, tc.want)
					}
				}
			}
		})
	}
}

// subsets returns a few index sets of size k from 1..n: the first k, the
// last k and a random one.
func subsets(rng *rand.Rand, n, k int) [][]int {
	first, last := make([]int, k), make([]int, k)
	for j := range k {
		first[j], last[j] = j+1, n-k+j+1
	}
	perm := rng.Perm(n)[:k]
	for j := range perm {
		perm[j]++
	}
	slices.Sort(perm)
	return [][]int{first, last, perm}
}

// TestKyberInterpolation: Lagrange interpolation at zero, of scalars and in
// the exponent, against kyber's RecoverSecret and RecoverCommit: on shares
// of one polynomial (both recover the secret and its commitment) and on
// arbitrary values (both compute the value at 0 of the unique polynomial
// through the points). Lagrange coefficients are compared with kyber's
// recovery of a unit vector (λ_i is the value at 0 of the polynomial that
// is 1 at i and 0 at the other indices).
func TestKyberInterpolation(t *testing.T) {
	g := group.BLS12381G1()
	rng := rand.New(rand.NewPCG(1, 2))
	G := kg.Point().Base()
	for _, deg := range []int{0, 1, 3, 6} {
		t.Run(fmt.Sprintf("t=%d", deg), func(t *testing.T) {
			n := 3*deg + 1
			kp, f := samePolynomial(t, deg)
			c := f.Commit()
			kpub := kp.Commit(G)
			th := uint32(deg + 1) // kyber's threshold: shares needed
			for _, idx := range subsets(rng, n, deg+1) {
				shares := map[int]group.Scalar{}
				vks := map[int]group.Point{}
				var kshares []*share.PriShare
				var kpubs []*share.PubShare
				for _, i := range idx {
					shares[i], vks[i] = f.Share(i), c.Eval(i)
					kshares = append(kshares, kp.Eval(uint32(i-1)))
					kpubs = append(kpubs, kpub.Eval(uint32(i-1)))
				}
				s, err := vss.InterpolateScalars(g, shares)
				if err != nil {
					t.Fatal(err)
				}
				ks, err := share.RecoverSecret(kg, kshares, th, uint32(n))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(s.Bytes(), kyberBytes(t, ks)) || !s.Equal(f.Secret()) {
					t.Fatalf("%v: recovered secrets differ", idx)
				}
				P, err := vss.InterpolatePoints(g, vks)
				if err != nil {
					t.Fatal(err)
				}
				KP, err := share.RecoverCommit(kg, kpubs, th, uint32(n))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(P.Bytes(), kyberBytes(t, KP)) || !P.Equal(c.Secret()) {
					t.Fatalf("%v: recovered commitments differ", idx)
				}

				// Arbitrary values at the same indices.
				ys := map[int]group.Scalar{}
				pts := map[int]group.Point{}
				kys := []*share.PriShare{}
				kpts := []*share.PubShare{}
				for _, i := range idx {
					y := kg.Scalar().Pick(random.New())
					Y := kg.Point().Mul(kg.Scalar().Pick(random.New()), nil)
					ys[i] = fromKyber(t, y)
					var err error
					if pts[i], err = g.DecodePoint(kyberBytes(t, Y)); err != nil {
						t.Fatal(err)
					}
					kys = append(kys, &share.PriShare{I: uint32(i - 1), V: y})
					kpts = append(kpts, &share.PubShare{I: uint32(i - 1), V: Y})
				}
				s, _ = vss.InterpolateScalars(g, ys)
				ks, _ = share.RecoverSecret(kg, kys, th, uint32(n))
				if !bytes.Equal(s.Bytes(), kyberBytes(t, ks)) {
					t.Fatalf("%v: interpolation of arbitrary scalars differs", idx)
				}
				P, _ = vss.InterpolatePoints(g, pts)
				KP, _ = share.RecoverCommit(kg, kpts, th, uint32(n))
				if !bytes.Equal(P.Bytes(), kyberBytes(t, KP)) {
					t.Fatalf("%v: interpolation of arbitrary points differs", idx)
				}

				// Lagrange coefficients.
				for _, i := range idx {
					l, err := vss.LagrangeCoefficient(g, idx, i)
					if err != nil {
						t.Fatal(err)
					}
					unit := []*share.PriShare{}
					for _, j := range idx {
						v := kg.Scalar().Zero()
						if j == i {
							v = kg.Scalar().One()
						}
						unit = append(unit, &share.PriShare{I: uint32(j - 1), V: v})
					}
					kl, _ := share.RecoverSecret(kg, unit, th, uint32(n))
					if !bytes.Equal(l.Bytes(), kyberBytes(t, kl)) {
						t.Fatalf("%v: λ_%d differs", idx, i)
					}
				}
			}
		})
	}
}
