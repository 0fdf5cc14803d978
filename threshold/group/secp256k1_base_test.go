package group

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

var (
	feP   = secp256k1.S256().P
	two64 = new(big.Int).Lsh(big.NewInt(1), 64)
)

// feBig returns the integer value of the limbs (not reduced).
func feBig(a *fe) *big.Int {
	r := new(big.Int)
	for i := 3; i >= 0; i-- {
		r.Lsh(r, 64).Add(r, new(big.Int).SetUint64(a[i]))
	}
	return r
}

// feOf returns the limbs of v, which must be below 2^256.
func feOf(v *big.Int) fe {
	var a fe
	w := new(big.Int).Set(v)
	for i := range 4 {
		a[i] = new(big.Int).Mod(w, two64).Uint64()
		w.Rsh(w, 64)
	}
	return a
}

// testRand returns a reproducible generator; the seed is logged on failure.
func testRand(t testing.TB) *rand.Rand {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random seed %x", seed)
		}
	})
	return rand.New(rand.NewChaCha8(seed))
}

// feEdgeValues are representatives at the boundaries of the weakly reduced
// range [0, 2^256): around 0, p and 2^256, and values with long runs.
func feEdgeValues() []*big.Int {
	one := big.NewInt(1)
	two256 := new(big.Int).Lsh(one, 256)
	var vs []*big.Int
	for _, d := range []int64{0, 1, 2, 977, 0x1000003d1, 0x1000003d2} {
		vs = append(vs, big.NewInt(d))
		vs = append(vs, new(big.Int).Sub(two256, big.NewInt(d+1)))
		vs = append(vs, new(big.Int).Add(feP, big.NewInt(d)))
		if d > 0 {
			vs = append(vs, new(big.Int).Sub(feP, big.NewInt(d)))
		}
	}
	for _, k := range []uint{63, 64, 128, 192, 255} {
		vs = append(vs, new(big.Int).Lsh(one, k), new(big.Int).Sub(new(big.Int).Lsh(one, k), one))
	}
	var in []*big.Int
	for _, v := range vs {
		if v.Cmp(two256) < 0 { // p + feC = 2^256 is not a 256-bit value
			in = append(in, v)
		}
	}
	return in
}

func TestSecp256k1FieldArithmetic(t *testing.T) {
	r := testRand(t)
	vals := feEdgeValues()
	for range 200 {
		var a fe
		for i := range a {
			a[i] = r.Uint64()
		}
		vals = append(vals, feBig(&a))
	}
	mod := func(v *big.Int) *big.Int { return new(big.Int).Mod(v, feP) }
	check := func(op string, got *fe, want *big.Int, x, y *big.Int) {
		t.Helper()
		if g := feBig(got); mod(g).Cmp(mod(want)) != 0 {
			t.Fatalf("%s(%x, %x) = %x, want %x mod p", op, x, y, g, mod(want))
		}
	}
	for _, x := range vals {
		a := feOf(x)
		for _, y := range vals {
			b := feOf(y)
			var s fe
			s.add(&a, &b)
			check("add", &s, new(big.Int).Add(x, y), x, y)
			s.sub(&a, &b)
			check("sub", &s, new(big.Int).Sub(x, y), x, y)
			s.mul(&a, &b)
			check("mul", &s, new(big.Int).Mul(x, y), x, y)
			// Aliased destination.
			s = a
			s.mul(&s, &b)
			check("mul (aliased)", &s, new(big.Int).Mul(x, y), x, y)
		}
		var s fe
		s.sqr(&a)
		check("sqr", &s, new(big.Int).Mul(x, x), x, x)
		s.mulSmall(&a, feB3)
		check("mulSmall", &s, new(big.Int).Mul(x, big.NewInt(feB3)), x, nil)
		c := feCanon(&a)
		if feBig(&c).Cmp(mod(x)) != 0 {
			t.Fatalf("canon(%x) = %x", x, feBig(&c))
		}
		if got, want := feIsZero(&a), mod(x).Sign() == 0; (got == 1) != want {
			t.Fatalf("isZero(%x) = %d", x, got)
		}
		inv := feInv(&a)
		want := new(big.Int).ModInverse(mod(x), feP)
		if want == nil {
			want = new(big.Int) // the inverse of zero is zero
		}
		check("inv", &inv, want, x, nil)
		// Round trip through decred's FieldVal.
		fv := a.fieldVal()
		if back := feFromFieldVal(&fv); back != c {
			t.Fatalf("FieldVal round trip of %x gave %x", x, feBig(&back))
		}
	}
}

// bigScalar returns v mod n as a decred scalar.
func bigScalar(v *big.Int) secp256k1.ModNScalar {
	var s secp256k1.ModNScalar
	s.SetByteSlice(new(big.Int).Mod(v, secp256k1.S256().N).FillBytes(make([]byte, 32)))
	return s
}

// baseEdgeScalars are the scalars that stress the recoding and the table:
// 0, 1, 2, n−1, n−2, (n±1)/2, 2^k, 2^k − 1 and n − 2^k for every k, long
// runs of zero and one bits, byte patterns that carry through every window.
func baseEdgeScalars() []secp256k1.ModNScalar {
	n := secp256k1.S256().N
	one := big.NewInt(1)
	var vs []*big.Int
	for _, d := range []int64{0, 1, 2, 3} {
		vs = append(vs, big.NewInt(d), new(big.Int).Sub(n, big.NewInt(d)))
	}
	half := new(big.Int).Rsh(n, 1) // (n−1)/2
	vs = append(vs, half, new(big.Int).Add(half, one), new(big.Int).Sub(half, one))
	for k := range uint(257) {
		p := new(big.Int).Lsh(one, k)
		vs = append(vs, p, new(big.Int).Sub(p, one), new(big.Int).Sub(n, p))
	}
	// Runs: ones in bits [lo, hi) and their complements.
	all := new(big.Int).Sub(new(big.Int).Lsh(one, 256), one)
	for _, run := range [][2]uint{{0, 64}, {64, 128}, {128, 192}, {192, 256}, {0, 128}, {128, 256}, {1, 255}, {30, 200}, {5, 11}, {240, 256}} {
		ones := new(big.Int).Sub(new(big.Int).Lsh(one, run[1]-run[0]), one)
		ones.Lsh(ones, run[0])
		vs = append(vs, ones, new(big.Int).Xor(all, ones))
	}
	for _, b := range []byte{0x11, 0x1f, 0x20, 0x3f, 0x5a, 0x77, 0x7f, 0x80, 0x88, 0xa5, 0xc0, 0xf0, 0xf8, 0xfe, 0xff} {
		vs = append(vs, new(big.Int).SetBytes(bytesOf(b, 32)))
	}
	return bigScalars(vs)
}

// baseWindowScalars are j·2^(baseW·w) for every window w and 1 ≤ j <
// 2^baseW, and their negations: together they use every table entry with
// both signs, with and without a carry into the next window.
func baseWindowScalars() []secp256k1.ModNScalar {
	n := secp256k1.S256().N
	var vs []*big.Int
	for w := range baseWindows {
		for j := int64(1); j < 2*baseRow; j++ {
			v := new(big.Int).Lsh(big.NewInt(j), uint(baseW*w))
			vs = append(vs, v, new(big.Int).Sub(n, v))
		}
	}
	return bigScalars(vs)
}

func bigScalars(vs []*big.Int) []secp256k1.ModNScalar {
	out := make([]secp256k1.ModNScalar, len(vs))
	for i, v := range vs {
		out[i] = bigScalar(v)
	}
	return out
}

func bytesOf(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}

// btcecBaseMul is btcec v2's variable-time k·G (decred's code under
// btcec's names), affine-normalized.
func btcecBaseMul(k *btcec.ModNScalar) *secpPoint {
	var r btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(k, &r)
	return normalized(&r)
}

func TestSecp256k1BaseMulMatchesBtcec(t *testing.T) {
	edge := append(baseEdgeScalars(), baseWindowScalars()...)
	for i := range edge {
		if got, want := ctScalarBaseMult(&edge[i]), btcecBaseMul(&edge[i]); !got.Equal(want) {
			b := edge[i].Bytes()
			t.Fatalf("edge scalar %x: %x, btcec %x", b, got.Bytes(), want.Bytes())
		}
	}
	r := testRand(t)
	for range 10000 {
		var b [32]byte
		for i := 0; i < 32; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], r.Uint64())
		}
		var k secp256k1.ModNScalar
		k.SetBytes(&b)
		if got, want := ctScalarBaseMult(&k), btcecBaseMul(&k); !got.Equal(want) {
			t.Fatalf("scalar %x: %x, btcec %x", k.Bytes(), got.Bytes(), want.Bytes())
		}
	}
}

// TestSecp256k1BaseMulMatchesGenericMul checks the fixed-base routine
// against the generic constant-time ladder (Point.Mul) on the generator.
func TestSecp256k1BaseMulMatchesGenericMul(t *testing.T) {
	g := Secp256k1()
	scalars := baseEdgeScalars()
	for range 50 {
		scalars = append(scalars, asSecpScalar(mustRandom(t, g)).s)
	}
	for i := range scalars {
		if !ctScalarBaseMult(&scalars[i]).Equal(ctScalarMult(&scalars[i], secpGen)) {
			t.Fatalf("scalar %x: BaseMul differs from Mul(G, k)", scalars[i].Bytes())
		}
	}
}

// bigAffineMul is textbook double-and-add in affine coordinates with
// math/big: a reference that shares no code with decred or this package.
func bigAffineMul(k *big.Int) (x, y *big.Int, inf bool) {
	c := secp256k1.S256()
	p := c.P
	gx, gy := new(big.Int).Set(c.Gx), new(big.Int).Set(c.Gy)
	inf = true
	add := func(x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int, bool) {
		var l *big.Int
		if x1.Cmp(x2) == 0 {
			if sum := new(big.Int).Add(y1, y2); sum.Mod(sum, p).Sign() == 0 {
				return nil, nil, true
			}
			// λ = 3x²/2y
			num := new(big.Int).Mul(x1, x1)
			num.Mul(num, big.NewInt(3))
			den := new(big.Int).Lsh(y1, 1)
			l = num.Mul(num, den.ModInverse(den, p))
		} else {
			num := new(big.Int).Sub(y2, y1)
			den := new(big.Int).Sub(x2, x1)
			den.Mod(den, p)
			l = num.Mul(num, den.ModInverse(den, p))
		}
		l.Mod(l, p)
		x3 := new(big.Int).Mul(l, l)
		x3.Sub(x3, x1).Sub(x3, x2).Mod(x3, p)
		y3 := new(big.Int).Sub(x1, x3)
		y3.Mul(y3, l).Sub(y3, y1).Mod(y3, p)
		return x3, y3, false
	}
	for i := k.BitLen() - 1; i >= 0; i-- {
		if !inf {
			x, y, inf = add(x, y, x, y)
		}
		if k.Bit(i) == 1 {
			if inf {
				x, y, inf = gx, gy, false
			} else {
				x, y, inf = add(x, y, gx, gy)
			}
		}
	}
	return x, y, inf
}

func TestSecp256k1BaseMulMatchesBigAffine(t *testing.T) {
	g := Secp256k1()
	scalars := baseEdgeScalars()[:40]
	for range 30 {
		scalars = append(scalars, asSecpScalar(mustRandom(t, g)).s)
	}
	for i := range scalars {
		b := scalars[i].Bytes()
		x, y, inf := bigAffineMul(new(big.Int).SetBytes(b[:]))
		got := ctScalarBaseMult(&scalars[i])
		if inf != got.isInf() {
			t.Fatalf("scalar %x: identity mismatch", b)
		}
		if inf {
			continue
		}
		gx, gy := got.p.X.Bytes(), got.p.Y.Bytes()
		if new(big.Int).SetBytes(gx[:]).Cmp(x) != 0 || new(big.Int).SetBytes(gy[:]).Cmp(y) != 0 {
			t.Fatalf("scalar %x: differs from the math/big reference", b)
		}
	}
}

// TestSecp256k1BaseTable recomputes the precomputed table with decred's
// independent variable-time code: entry [w][j−1] is j·2^(baseW·w)·G, in
// canonical affine coordinates.
func TestSecp256k1BaseTable(t *testing.T) {
	baseOnce.Do(baseTableInit)
	for w := range baseWindows {
		for j := 1; j <= baseRow; j++ {
			k := bigScalar(new(big.Int).Lsh(big.NewInt(int64(j)), uint(baseW*w)))
			want := btcecBaseMul(&k)
			e := &baseTable[w][j-1]
			if feBig(&e.x).Cmp(feP) >= 0 || feBig(&e.y).Cmp(feP) >= 0 {
				t.Fatalf("entry [%d][%d] is not canonical", w, j-1)
			}
			if e.x != feFromFieldVal(&want.p.X) || e.y != feFromFieldVal(&want.p.Y) {
				t.Fatalf("entry [%d][%d] is not %d·2^%d·G", w, j-1, j, baseW*w)
			}
		}
	}
}

func TestSecp256k1Recode(t *testing.T) {
	r := testRand(t)
	scalars := append(baseEdgeScalars(), baseWindowScalars()...)
	for range 1000 {
		var b [32]byte
		for i := 0; i < 32; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], r.Uint64())
		}
		var k secp256k1.ModNScalar
		k.SetBytes(&b)
		scalars = append(scalars, k)
	}
	for i := range scalars {
		k := scalars[i].Bytes()
		var d [baseWindows]int32
		ctRecode(&k, &d)
		sum := new(big.Int)
		for w := baseWindows - 1; w >= 0; w-- {
			lo, hi := int32(-baseRow), int32(baseRow-1)
			if w == baseWindows-1 {
				lo, hi = 0, baseRow
			}
			if d[w] < lo || d[w] > hi {
				t.Fatalf("scalar %x: digit %d = %d out of [%d, %d]", k, w, d[w], lo, hi)
			}
			sum.Lsh(sum, baseW).Add(sum, big.NewInt(int64(d[w])))
		}
		if sum.Cmp(new(big.Int).SetBytes(k[:])) != 0 {
			t.Fatalf("scalar %x: digits sum to %x", k, sum)
		}
	}
}

// TestSecp256k1MixedAddComplete checks the mixed formula on the
// exceptional cases of incomplete formulas: the identity, doubling and
// inverse points.
func TestSecp256k1MixedAddComplete(t *testing.T) {
	g := Secp256k1()
	P := asSecpPoint(g.BaseMul(mustRandom(t, g)))
	Q := asSecpPoint(g.BaseMul(mustRandom(t, g)))
	negQ := asSecpPoint(Q.Neg())
	proj := func(p *secpPoint) feProj {
		if p.isInf() {
			return feProjIdentity()
		}
		return feProj{x: feFromFieldVal(&p.p.X), y: feFromFieldVal(&p.p.Y), z: fe{1}}
	}
	aff := func(p *secpPoint) baseEntry {
		return baseEntry{x: feFromFieldVal(&p.p.X), y: feFromFieldVal(&p.p.Y)}
	}
	id := &secpPoint{}
	for name, c := range map[string]struct {
		a, b *secpPoint
		want Point
	}{
		"P+Q":   {P, Q, P.Add(Q)},
		"Q+Q":   {Q, Q, Q.Add(Q)},
		"-Q+Q":  {negQ, Q, id},
		"0+Q":   {id, Q, Q},
		"0+-Q":  {id, negQ, negQ},
		"-Q+-Q": {negQ, negQ, negQ.Add(negQ)},
	} {
		a, b := proj(c.a), aff(c.b)
		sum := feMixedAdd(&a, &b)
		if got := sum.toPoint(); !got.Equal(c.want) {
			t.Errorf("%s: wrong sum", name)
		}
	}
}

func FuzzSecp256k1BaseMul(f *testing.F) {
	for _, k := range baseEdgeScalars()[:200] {
		b := k.Bytes()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var k secp256k1.ModNScalar
		k.SetByteSlice(b)
		if got, want := ctScalarBaseMult(&k), btcecBaseMul(&k); !got.Equal(want) {
			t.Fatalf("scalar %x: %x, btcec %x", k.Bytes(), got.Bytes(), want.Bytes())
		}
	})
}

// BenchmarkSecp256k1VariableTimeBaseMul is btcec's variable-time k·G
// (affine), the yardstick for BenchmarkBaseMul/secp256k1 in the same run.
func BenchmarkSecp256k1VariableTimeBaseMul(b *testing.B) {
	k := asSecpScalar(mustRandom(b, Secp256k1())).s
	for b.Loop() {
		btcecBaseMul(&k)
	}
}
