package group

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"testing"
)

// naiveMultiMul is the reference Σ s_i·P_i with the constant-time Point.Mul.
func naiveMultiMul(g Group, points []Point, scalars []Scalar) Point {
	acc := g.Identity()
	for i, p := range points {
		acc = acc.Add(p.Mul(scalars[i]))
	}
	return acc
}

// shortScalar returns a uniformly random scalar below 2^bits.
func shortScalar(t testing.TB, g Group, bits int) Scalar {
	t.Helper()
	b := make([]byte, g.ScalarLen())
	if _, err := rand.Read(b[len(b)-(bits+7)/8:]); err != nil {
		t.Fatal(err)
	}
	if r := bits % 8; r != 0 {
		b[len(b)-(bits+7)/8] &= byte(1<<r - 1)
	}
	s, err := g.DecodeScalar(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// msmInputs returns n random points (some the identity) and scalars of the
// given kind.
func msmInputs(t testing.TB, g Group, n int, kind string) ([]Point, []Scalar) {
	t.Helper()
	points := make([]Point, n)
	scalars := make([]Scalar, n)
	for i := range n {
		points[i] = g.BaseMul(mustRandom(t, g))
		switch kind {
		case "full":
			scalars[i] = mustRandom(t, g)
		case "short":
			scalars[i] = shortScalar(t, g, 128)
		case "small":
			scalars[i] = g.ScalarFromUint64(uint64(i + 1))
		case "edge":
			// Identity points, zero scalars, −1, 1, 2^k, terms that cancel
			// (P and −P with the same scalar: P + (−P) inside a bucket),
			// and one point repeated with one scalar (P + P inside every
			// bucket it lands in).
			switch i % 8 {
			case 0:
				points[i] = g.Identity()
				scalars[i] = mustRandom(t, g)
			case 1:
				scalars[i] = g.Zero()
			case 2:
				scalars[i] = g.ScalarFromUint64(1).Neg()
			case 3:
				scalars[i] = g.ScalarFromUint64(1)
			case 4:
				scalars[i] = g.ScalarFromUint64(1 << (i % 64))
			case 5:
				points[i] = points[i-1].Neg()
				scalars[i] = scalars[i-1]
			case 6:
				points[i] = points[3]
				scalars[i] = shortScalar(t, g, 128)
				if i > 8 {
					scalars[i] = scalars[6]
				}
			default:
				points[i] = points[0]
				scalars[i] = shortScalar(t, g, 1+i%250)
			}
		}
	}
	return points, scalars
}

// TestMultiMulPublic checks MultiMulPublic against the naive Σ s_i·P_i for
// random and edge-case inputs of several sizes, in both groups.
func TestMultiMulPublic(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 4, 5, 16, 17, 128, 300}
	kinds := []string{"full", "short", "small", "edge"}
	if testing.Short() {
		sizes = []int{0, 1, 2, 3, 4, 5, 16, 17, 128}
	}
	for _, g := range groups() {
		for _, n := range sizes {
			for _, kind := range kinds {
				t.Run(fmt.Sprintf("%s/n=%d/%s", g.Name(), n, kind), func(t *testing.T) {
					points, scalars := msmInputs(t, g, n, kind)
					before := make([][]byte, n)
					for i, p := range points {
						before[i] = p.Bytes()
					}
					got, err := MultiMulPublic(g, points, scalars)
					if err != nil {
						t.Fatal(err)
					}
					if want := naiveMultiMul(g, points, scalars); !got.Equal(want) {
						t.Fatal("MultiMulPublic differs from the naive sum")
					}
					for i, p := range points {
						if string(p.Bytes()) != string(before[i]) {
							t.Fatalf("input point %d modified", i)
						}
					}
				})
			}
		}
	}
}

// TestMultiMulPublicDetectsChange checks that changing one scalar of a large
// MSM changes the result (a guard against a routine that ignores terms).
func TestMultiMulPublicDetectsChange(t *testing.T) {
	for _, g := range groups() {
		points, scalars := msmInputs(t, g, 200, "short")
		want, err := MultiMulPublic(g, points, scalars)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 99, 199} {
			s := append([]Scalar(nil), scalars...)
			s[i] = s[i].Add(g.ScalarFromUint64(1))
			got, err := MultiMulPublic(g, points, s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Equal(want) {
				t.Fatalf("%s: term %d ignored", g.Name(), i)
			}
			if !got.Equal(want.Add(points[i])) {
				t.Fatalf("%s: term %d: result is not the old one plus P_%d", g.Name(), i, i)
			}
		}
	}
}

func TestMultiMulPublicErrors(t *testing.T) {
	ec, bg := Secp256k1(), BLS12381G1()
	one := []Scalar{ec.ScalarFromUint64(1)}
	if _, err := MultiMulPublic(ec, []Point{ec.Generator()}, nil); !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("length mismatch: %v", err)
	}
	cases := map[string]struct {
		g       Group
		points  []Point
		scalars []Scalar
	}{
		"nil point":          {ec, []Point{nil}, one},
		"nil scalar":         {ec, []Point{ec.Generator()}, []Scalar{nil}},
		"bls point in secp":  {ec, []Point{bg.Generator()}, one},
		"secp scalar in bls": {bg, []Point{bg.Generator()}, one},
		"secp point in bls":  {bg, []Point{ec.Generator()}, []Scalar{bg.ScalarFromUint64(1)}},
		"typed nil point":    {ec, []Point{(*secpPoint)(nil)}, one},
	}
	for name, c := range cases {
		if _, err := MultiMulPublic(c.g, c.points, c.scalars); !errors.Is(err, ErrWrongGroup) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPippengerRecoding checks that every window width recodes scalars of
// every shape to digits in the bucket range whose weighted sum is the
// scalar.
func TestPippengerRecoding(t *testing.T) {
	scalars := [][4]uint64{
		{1, 0, 0, 0}, {^uint64(0), ^uint64(0), 0, 0}, {0, 0, 0, 1 << 63},
		{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}, {0x5555, 0xaaaa << 40, 7, 0},
		{1<<63 | 1, 1 << 63, 1 << 63, 1<<63 - 1},
	}
	for c := 1; c <= 16; c++ {
		for _, l := range scalars {
			windows := (bitLen(&l) + c) / c
			digits := make([]int32, windows)
			recode(&l, c, digits)
			want := new(big.Int)
			for i := 3; i >= 0; i-- {
				want.Lsh(want, 64).Add(want, new(big.Int).SetUint64(l[i]))
			}
			got := new(big.Int)
			half := int32(1) << (c - 1)
			for w := windows - 1; w >= 0; w-- {
				if digits[w] < -half || digits[w] > half {
					t.Fatalf("c=%d: digit %d out of range", c, digits[w])
				}
				got.Lsh(got, uint(c)).Add(got, big.NewInt(int64(digits[w])))
			}
			if got.Cmp(want) != 0 {
				t.Fatalf("c=%d: recoding of %x gives %x", c, want, got)
			}
		}
	}
}

// BenchmarkMultiMulPublic measures the MSM against the naive sum of
// MulPublic, for 128-bit (batch-verification) and full scalars.
func BenchmarkMultiMulPublic(b *testing.B) {
	for _, g := range groups() {
		for _, kind := range []string{"short", "full"} {
			for _, n := range []int{2, 8, 32, 128, 512} {
				points, scalars := msmInputs(b, g, n, kind)
				b.Run(fmt.Sprintf("%s/%s/n=%d/msm", g.Name(), kind, n), func(b *testing.B) {
					for b.Loop() {
						if _, err := MultiMulPublic(g, points, scalars); err != nil {
							b.Fatal(err)
						}
					}
				})
				if n > 128 {
					continue
				}
				b.Run(fmt.Sprintf("%s/%s/n=%d/naive", g.Name(), kind, n), func(b *testing.B) {
					for b.Loop() {
						acc := g.Identity()
						for i, p := range points {
							acc = acc.Add(MulPublic(p, scalars[i]))
						}
					}
				})
			}
		}
	}
}

// wrappedGroup is a Group implementation MultiMulPublic does not know.
type wrappedGroup struct{ Group }

// TestMultiMulPublicUnknownGroup checks the naive fallback for other Group
// implementations.
func TestMultiMulPublicUnknownGroup(t *testing.T) {
	g := Secp256k1()
	points, scalars := msmInputs(t, g, 9, "edge")
	got, err := MultiMulPublic(wrappedGroup{g}, points, scalars)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(naiveMultiMul(g, points, scalars)) {
		t.Fatal("fallback differs from the naive sum")
	}
	if _, err := MultiMulPublic(wrappedGroup{g}, []Point{nil}, []Scalar{g.Zero()}); !errors.Is(err, ErrWrongGroup) {
		t.Fatalf("nil point: %v", err)
	}
}
