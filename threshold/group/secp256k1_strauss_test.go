package group

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// TestGLVConstants checks the endomorphism constants of secpStrauss: λ and
// β are non-trivial cube roots of unity mod n and p, λ·G = (β·x_G, y_G),
// and (a1, b1), (a2, b2) lie in the lattice {(a, b) : a + b·λ ≡ 0 (mod n)}
// with a1·b2 − a2·b1 = n (a basis).
func TestGLVConstants(t *testing.T) {
	p := mustHexInt("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")
	beta := new(big.Int).SetBytes(strBeta.Bytes()[:])
	one := big.NewInt(1)
	if new(big.Int).Exp(strLambda, big.NewInt(3), strN).Cmp(one) != 0 || strLambda.Cmp(one) == 0 {
		t.Fatal("λ is not a non-trivial cube root of unity mod n")
	}
	if new(big.Int).Exp(beta, big.NewInt(3), p).Cmp(one) != 0 || beta.Cmp(one) == 0 {
		t.Fatal("β is not a non-trivial cube root of unity mod p")
	}
	g := Secp256k1()
	lam, err := g.DecodeScalar(strLambda.FillBytes(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	lg := asSecpPoint(g.Generator().Mul(lam))
	var bx secp256k1.FieldVal
	bx.Set(&secpGen.p.X).Mul(&strBeta).Normalize()
	if !lg.p.X.Equals(&bx) || !lg.p.Y.Equals(&secpGen.p.Y) {
		t.Fatal("λ·G ≠ (β·x, y)")
	}
	for i, v := range [][2]*big.Int{{strA1, strB1}, {strA2, strB2}} {
		f := new(big.Int).Mul(v[1], strLambda)
		f.Add(f, v[0]).Mod(f, strN)
		if f.Sign() != 0 {
			t.Fatalf("basis vector %d: a + b·λ ≢ 0", i+1)
		}
	}
	det := new(big.Int).Sub(new(big.Int).Mul(strA1, strB2), new(big.Int).Mul(strA2, strB1))
	if det.Cmp(strN) != 0 {
		t.Fatal("a1·b2 − a2·b1 ≠ n")
	}
}

// glvScalars returns edge-case and random scalars.
func glvScalars(t testing.TB) []*secp256k1.ModNScalar {
	var out []*secp256k1.ModNScalar
	add := func(v *big.Int) {
		var s secp256k1.ModNScalar
		s.SetByteSlice(new(big.Int).Mod(v, strN).FillBytes(make([]byte, 32)))
		out = append(out, &s)
	}
	nm1 := new(big.Int).Sub(strN, big.NewInt(1))
	for _, v := range []*big.Int{
		big.NewInt(1), big.NewInt(2), big.NewInt(3), nm1, new(big.Int).Rsh(strN, 1),
		new(big.Int).Add(new(big.Int).Rsh(strN, 1), big.NewInt(1)), strLambda,
		new(big.Int).Sub(strN, strLambda), new(big.Int).Lsh(big.NewInt(1), 128),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1)),
		new(big.Int).Lsh(big.NewInt(1), 255), strA1, strA2, new(big.Int).Neg(strB1),
	} {
		add(v)
	}
	g := Secp256k1()
	for range 200 {
		out = append(out, &asSecpScalar(mustRandom(t, g)).s)
	}
	return out
}

// TestGLVSplit checks k ≡ k1 + k2·λ (mod n) with both halves below 2^129
// (edge scalars and 20,000 random ones: the rounding of glvSplit only
// approximates the exact one), and that the constants of the rounding are
// round(2^384·b2/n) and round(2^384·(−b1)/n).
func TestGLVSplit(t *testing.T) {
	ks := glvScalars(t)
	rng := testRand(t)
	for range 20000 {
		var b [32]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		var s secp256k1.ModNScalar
		s.SetBytes(&b)
		ks = append(ks, &s)
	}
	two384 := new(big.Int).Lsh(big.NewInt(1), 384)
	for i, c := range []struct {
		got [4]uint64
		b   *big.Int
	}{{strG1, strB2}, {strG2, new(big.Int).Neg(strB1)}} {
		num := new(big.Int).Mul(two384, c.b)
		q, r := new(big.Int).QuoRem(num, strN, new(big.Int))
		if r.Lsh(r, 1).Cmp(strN) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		if limbsOf(q) != c.got || q.BitLen() > 256 {
			t.Fatalf("g%d is not round(2^384·b/n)", i+1)
		}
	}
	for _, k := range ks {
		k1, k2, neg1, neg2 := glvSplit(k)
		if bitLen(&k1) > 129 || bitLen(&k2) > 129 {
			t.Fatalf("split of %x: halves of %d and %d bits", k.Bytes(), bitLen(&k1), bitLen(&k2))
		}
		toInt := func(l [4]uint64, neg bool) *big.Int {
			v := new(big.Int)
			for i := 3; i >= 0; i-- {
				v.Lsh(v, 64).Add(v, new(big.Int).SetUint64(l[i]))
			}
			if neg {
				v.Neg(v)
			}
			return v
		}
		sum := new(big.Int).Mul(toInt(k2, neg2), strLambda)
		sum.Add(sum, toInt(k1, neg1)).Mod(sum, strN)
		kb := k.Bytes()
		if sum.Cmp(new(big.Int).SetBytes(kb[:])) != 0 {
			t.Fatalf("split of %x does not recombine", kb)
		}
	}
}

// TestWNAF checks the width-w NAF: the digits recombine, are zero or odd
// with |d| < 2^(w−1), and any w consecutive digits hold at most one
// non-zero one.
func TestWNAF(t *testing.T) {
	vals := [][4]uint64{
		{}, {1, 0, 0, 0}, {^uint64(0), ^uint64(0), 1, 0}, {^uint64(0), ^uint64(0), ^uint64(0), 1<<63 - 1},
		{0x5555555555555555, 0xaaaaaaaaaaaaaaaa, 0, 0}, {1 << 63, 1 << 63, 1 << 63, 1 << 62},
	}
	for _, k := range glvScalars(t) {
		k1, k2, _, _ := glvSplit(k)
		vals = append(vals, k1, k2)
	}
	for _, w := range []uint{2, strWindow, strGenWindow} {
		for _, v := range vals {
			want := new(big.Int)
			for i := 3; i >= 0; i-- {
				want.Lsh(want, 64).Add(want, new(big.Int).SetUint64(v[i]))
			}
			l := v
			var digits [260]int8
			n := wnaf(&l, w, digits[:])
			got := new(big.Int)
			last := 1 << 20
			for i := n - 1; i >= 0; i-- {
				d := int64(digits[i])
				if d != 0 {
					if d%2 == 0 || d >= 1<<(w-1) || d <= -(1<<(w-1)) {
						t.Fatalf("w=%d: digit %d", w, d)
					}
					if last-i < int(w) {
						t.Fatalf("w=%d: non-zero digits %d and %d closer than w", w, last, i)
					}
					last = i
				}
				got.Lsh(got, 1).Add(got, big.NewInt(d))
			}
			if got.Cmp(want) != 0 {
				t.Fatalf("w=%d: wNAF of %x gives %x", w, want, got)
			}
		}
	}
}

// TestMultiMulPublicStraus checks the interleaved multiplication (and the
// generator and unit-scalar shortcuts of MultiMulPublic) against the
// constant-time Point.Mul for few terms: random and edge scalars, the
// generator among the points (once, twice, with scalars that cancel, and
// its negation), unit scalars, and repeated and opposite points.
func TestMultiMulPublicStraus(t *testing.T) {
	g := Secp256k1()
	G := g.Generator()
	edge := glvScalars(t)
	sc := func(i int) Scalar { return &secpScalar{s: *edge[i%len(edge)]} }
	P := g.BaseMul(mustRandom(t, g))
	Q := g.BaseMul(mustRandom(t, g))
	one := g.ScalarFromUint64(1)
	cases := map[string]struct {
		points  []Point
		scalars []Scalar
	}{
		"G only":             {[]Point{G}, []Scalar{sc(5)}},
		"G and P":            {[]Point{G, P}, []Scalar{sc(200), sc(7).Neg()}},
		"G twice cancelling": {[]Point{G, P, G}, []Scalar{sc(9), sc(3), sc(9).Neg()}},
		"G twice":            {[]Point{G, G}, []Scalar{sc(20), sc(21)}},
		"−G":                 {[]Point{G.Neg(), P}, []Scalar{sc(22), sc(23)}},
		"unit scalars":       {[]Point{P, Q, P}, []Scalar{one, one, sc(30)}},
		"unit only":          {[]Point{P, Q}, []Scalar{one, one}},
		"P and −P":           {[]Point{P, P.Neg()}, []Scalar{sc(40), sc(40)}},
		"P twice":            {[]Point{P, P}, []Scalar{sc(41), sc(41)}},
		"R of FROST":         {[]Point{P, Q, G, P.Neg()}, []Scalar{one, sc(50), sc(51), sc(52)}},
		"n−1 and 1 on P":     {[]Point{P, P}, []Scalar{sc(3), one}},
	}
	for i := range 40 {
		var pts []Point
		var scs []Scalar
		for j := range 1 + i%9 {
			if (i+j)%5 == 0 {
				pts = append(pts, G)
			} else {
				pts = append(pts, g.BaseMul(mustRandom(t, g)))
			}
			scs = append(scs, sc(i*7+j))
		}
		cases[fmt.Sprintf("random %d", i)] = struct {
			points  []Point
			scalars []Scalar
		}{pts, scs}
	}
	for name, c := range cases {
		got, err := MultiMulPublic(g, c.points, c.scalars)
		if err != nil {
			t.Fatal(name, err)
		}
		if want := naiveMultiMul(g, c.points, c.scalars); !got.Equal(want) {
			t.Fatalf("%s: MultiMulPublic differs from the naive sum", name)
		}
	}
	// Every edge scalar on one point and on the generator, through MulPublic too.
	for i, k := range edge {
		s := &secpScalar{s: *k}
		for _, pt := range []Point{P, G} {
			want := pt.Mul(s)
			got, err := MultiMulPublic(g, []Point{pt}, []Scalar{s})
			if err != nil || !got.Equal(want) {
				t.Fatalf("scalar %d: MultiMulPublic differs from Mul", i)
			}
			if !MulPublic(pt, s).Equal(want) {
				t.Fatalf("scalar %d: MulPublic differs from Mul", i)
			}
		}
	}
}

// BenchmarkStraus compares the interleaved multiplication with decred's
// ScalarMultNonConst on the shapes the signing path uses.
func BenchmarkStraus(b *testing.B) {
	g := Secp256k1()
	G := g.Generator()
	rnd := func() Scalar { return mustRandom(b, g) }
	pt := func() Point { return g.BaseMul(rnd()) }
	one := g.ScalarFromUint64(1)
	shapes := map[string]struct {
		points  []Point
		scalars []Scalar
	}{
		"1 point":                 {[]Point{pt()}, []Scalar{rnd()}},
		"2 points":                {[]Point{pt(), pt()}, []Scalar{rnd(), rnd()}},
		"FROST R t=1 (2 D, 2 ρE)": {[]Point{pt(), pt(), pt(), pt()}, []Scalar{one, one, rnd(), rnd()}},
		"G and P (verify)":        {[]Point{G, pt()}, []Scalar{rnd(), rnd()}},
		"G, E, X (share check)":   {[]Point{G, pt(), pt()}, []Scalar{rnd(), rnd(), rnd()}},
	}
	for name, s := range shapes {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := MultiMulPublic(g, s.points, s.scalars); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPublicTable checks a·G + b·P from a precomputed table against the
// constant-time multiplications, for edge and random scalars (zero ones
// included) and points of both Y parities; NewPublicTable refuses the
// identity, nil and points of another group.
func TestPublicTable(t *testing.T) {
	g := Secp256k1()
	edge := glvScalars(t)
	for i := range 8 {
		P := g.BaseMul(mustRandom(t, g))
		if i%2 == 1 {
			P = P.Neg()
		}
		if i == 7 {
			P = g.Generator()
		}
		tab, err := NewPublicTable(P)
		if err != nil {
			t.Fatal(err)
		}
		if !tab.Point().Equal(P) {
			t.Fatal("table of another point")
		}
		for j := range 60 {
			a := Scalar(&secpScalar{s: *edge[(i*31+j)%len(edge)]})
			b := Scalar(&secpScalar{s: *edge[(i*17+3*j)%len(edge)]})
			switch j {
			case 0:
				a = g.Zero()
			case 1:
				b = g.Zero()
			case 2:
				a, b = g.Zero(), g.Zero()
			}
			want := g.Generator().Mul(a).Add(P.Mul(b))
			if got := tab.BaseMulAdd(a, b); !got.Equal(want) {
				t.Fatalf("point %d, scalars %d: a·G + b·P wrong", i, j)
			}
		}
	}
	for name, p := range map[string]Point{"identity": g.Identity(), "nil": nil, "typed nil": (*secpPoint)(nil), "bls": BLS12381G1().Generator()} {
		if _, err := NewPublicTable(p); err == nil {
			t.Errorf("%s: table made", name)
		}
	}
}

func BenchmarkPublicTableBaseMulAdd(b *testing.B) {
	g := Secp256k1()
	tab, err := NewPublicTable(g.BaseMul(mustRandom(b, g)))
	if err != nil {
		b.Fatal(err)
	}
	s, e := mustRandom(b, g), mustRandom(b, g)
	b.ReportAllocs()
	for b.Loop() {
		tab.BaseMulAdd(s, e)
	}
}
