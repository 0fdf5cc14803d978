package group

import (
	"encoding/binary"
	"math/big"
	"math/bits"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Variable-time multi-scalar multiplication for a few PUBLIC terms on
// secp256k1 (Strauss–Shamir "interleaving" with the GLV endomorphism and
// width-w NAF digits): the multiplications of binding factors by nonce
// commitments (FROST's group commitment R), of signature verification
// (s·G − e·P) and of share verification share all their doublings, about
// 129 for any number of terms, instead of about 129 per term as a sum of
// decred's ScalarMultNonConst does, and each term adds only every
// (w+1)-th bit on average.
//
//   - GLV (Gallant–Lambert–Vanstone; [GECC] §3.5, algorithm 3.74):
//     k ≡ k1 + k2·λ (mod n) with |k1|, |k2| < 2^129, and λ·P = φ(P) =
//     (β·x, y), so k·P = k1·P + k2·φ(P), two half-length terms.
//   - wNAF ([GECC] algorithm 3.35): each half-length scalar in signed odd
//     digits |d| < 2^(w−1), at most one non-zero digit in any w
//     consecutive ones; a term's table holds its odd multiples P, 3P, …,
//     (2^(w−1)−1)·P (a negative digit negates y on the fly), φ of the
//     table is one field multiplication per entry.
//   - The generator has a larger precomputed table of affine points
//     (strGenWindow), built once, so s·G costs about 2·129/(strGenWindow+1)
//     mixed additions and no doubling of its own.
//
// The point arithmetic is the variable-time Jacobian arithmetic over the
// 4×64-bit field (secp256k1_jac.go). Everything here branches on and
// indexes by the scalars and points: only public values may be given (the
// callers are MultiMulPublic, MulPublic and PublicTable).

// GLV constants of secp256k1 (libsecp256k1, decred curve.go): λ is a cube
// root of unity mod n with λ·(x, y) = (β·x, y), β a cube root of unity mod
// p; (a1, b1) and (a2, b2) are a short basis of the lattice
// {(a, b) : a + b·λ ≡ 0 (mod n)} (TestGLVConstants checks all of it).
var (
	strLambda = mustHexInt("5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72")
	strBeta   = func() secp256k1.FieldVal {
		var f secp256k1.FieldVal
		b := mustHexInt("7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501ee").FillBytes(make([]byte, 32))
		f.SetByteSlice(b)
		return f
	}()
	strA1 = mustHexInt("3086d221a7d46bcde86c90e49284eb15")
	strB1 = new(big.Int).Neg(mustHexInt("e4437ed6010e88286f547fa90abfe4c3"))
	strA2 = mustHexInt("114ca50f7a8e2f3f657c1108d9d44cfd8")
	strB2 = mustHexInt("3086d221a7d46bcde86c90e49284eb15")
	strN  = mustHexInt("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
)

func mustHexInt(h string) *big.Int {
	v, ok := new(big.Int).SetString(h, 16)
	if !ok {
		panic("group: bad constant " + h)
	}
	return v
}

// Window widths: a term's table has 2^(w−2) entries.
const (
	strWindow    = 5 // per-call tables of the terms: 8 odd multiples
	strGenWindow = 8 // the generator's static table: 64 odd multiples
)

// glvSplit returns k1, k2 with k ≡ k1 + k2·λ (mod n) as magnitudes and
// signs (neg1, neg2 report k1 < 0, k2 < 0); both magnitudes are below
// 2^129 (TestGLVSplit). [GECC] algorithm 3.74: c1 = round(b2·k/n),
// c2 = round(−b1·k/n), k1 = k − c1·a1 − c2·a2, k2 = −c1·b1 − c2·b2, with
// libsecp256k1's rounding (secp256k1_scalar_split_lambda): c = ⌊k·g/2^384⌉
// for g1 = round(2^384·b2/n), g2 = round(2^384·(−b1)/n), which may be off
// by one from the exact rounding; any integers c1, c2 give k1 + k2·λ ≡ k
// because (a1, b1) and (a2, b2) are lattice vectors, and the error only
// moves the halves within the bound. As the results are far below 2^255
// in magnitude, k1 and k2 are computed in two's complement mod 2^256 (the
// intermediate products may wrap). No big.Int and no reduction mod n.
func glvSplit(k *secp256k1.ModNScalar) (k1, k2 [4]uint64, neg1, neg2 bool) {
	kb := k.Bytes()
	kl := [4]uint64{
		binary.BigEndian.Uint64(kb[24:]), binary.BigEndian.Uint64(kb[16:]),
		binary.BigEndian.Uint64(kb[8:]), binary.BigEndian.Uint64(kb[0:]),
	}
	c1 := mulShift384(&kl, &strG1)
	c2 := mulShift384(&kl, &strG2)
	// k1 = k − c1·a1 − c2·a2, k2 = c1·(−b1) − c2·b2 (mod 2^256).
	t1, t2 := mulLo256(&c1, &strA1L), mulLo256(&c2, &strA2L)
	k1 = sub256(sub256(kl, t1), t2)
	k2 = sub256(mulLo256(&c1, &strMinusB1L), mulLo256(&c2, &strB2L))
	k1, neg1 = abs256(k1)
	k2, neg2 = abs256(k2)
	return k1, k2, neg1, neg2
}

// mulShift384 returns ⌊a·b/2^384⌉ (rounded to nearest) for 256-bit a and
// b; it is below 2^128 for the GLV constants.
func mulShift384(a, b *[4]uint64) [4]uint64 {
	var t [8]uint64
	for i := range 4 {
		var carry uint64
		for j := range 4 {
			hi, lo := bits.Mul64(a[i], b[j])
			var c uint64
			lo, c = bits.Add64(lo, t[i+j], 0)
			hi += c
			lo, c = bits.Add64(lo, carry, 0)
			hi += c
			t[i+j] = lo
			carry = hi
		}
		t[i+4] = carry
	}
	// Bits 384..511 plus bit 383 for the rounding.
	lo, c := bits.Add64(t[6], t[5]>>63, 0)
	return [4]uint64{lo, t[7] + c}
}

// mulLo256 returns a·b mod 2^256.
func mulLo256(a, b *[4]uint64) [4]uint64 {
	var r [4]uint64
	for i := range 4 {
		var carry uint64
		for j := 0; i+j < 4; j++ {
			hi, lo := bits.Mul64(a[i], b[j])
			var c uint64
			lo, c = bits.Add64(lo, r[i+j], 0)
			hi += c
			lo, c = bits.Add64(lo, carry, 0)
			hi += c
			r[i+j] = lo
			carry = hi
		}
	}
	return r
}

// sub256 returns a − b mod 2^256.
func sub256(a, b [4]uint64) [4]uint64 {
	var r [4]uint64
	var bw uint64
	for i := range 4 {
		r[i], bw = bits.Sub64(a[i], b[i], bw)
	}
	return r
}

// abs256 returns |a| and whether a is negative, for a in two's complement.
func abs256(a [4]uint64) ([4]uint64, bool) {
	if a[3]>>63 == 0 {
		return a, false
	}
	return sub256([4]uint64{}, a), true
}

// GLV constants as limbs (glvSplit): g1 = round(2^384·b2/n),
// g2 = round(2^384·(−b1)/n), a1, a2, −b1, b2.
var (
	strG1       = glvRoundConst(strB2)
	strG2       = glvRoundConst(new(big.Int).Neg(strB1))
	strA1L      = limbsOf(strA1)
	strA2L      = limbsOf(strA2)
	strMinusB1L = limbsOf(new(big.Int).Neg(strB1))
	strB2L      = limbsOf(strB2)
)

func glvRoundConst(b *big.Int) [4]uint64 {
	num := new(big.Int).Lsh(b, 385)
	num.Add(num, strN)
	num.Quo(num, new(big.Int).Lsh(strN, 1)) // round(2^384·b/n)
	return limbsOf(num)
}

// limbsOf returns v (0 ≤ v < 2^256) as little-endian 64-bit limbs.
func limbsOf(v *big.Int) [4]uint64 {
	var l [4]uint64
	for i, w := range v.Bits() {
		if i < 4 {
			l[i] = uint64(w)
		}
	}
	return l
}

// wnaf writes the width-w NAF of l (below 2^255; the GLV halves are
// below 2^129) into digits (at least bitLen(l)+2
// entries) and returns the number of digits used: l = Σ digits[i]·2^i,
// each digit zero or odd with |d| < 2^(w−1). l is consumed.
func wnaf(l *[4]uint64, w uint, digits []int8) int {
	n := 0
	full := uint64(1) << w
	half := int64(1) << (w - 1)
	for i := range digits {
		if l[0] == 0 && l[1] == 0 && l[2] == 0 && l[3] == 0 {
			break
		}
		var d int64
		if l[0]&1 == 1 {
			d = int64(l[0] & (full - 1))
			if d >= half {
				d -= int64(full)
				addSmall(l, uint64(-d))
			} else {
				l[0] -= uint64(d) // low bits only: no borrow
			}
		}
		digits[i] = int8(d)
		if d != 0 {
			n = i + 1
		}
		l[0] = l[0]>>1 | l[1]<<63
		l[1] = l[1]>>1 | l[2]<<63
		l[2] = l[2]>>1 | l[3]<<63
		l[3] >>= 1
	}
	return n
}

// addSmall adds v to l in place (no overflow for the values here).
func addSmall(l *[4]uint64, v uint64) {
	for i := range l {
		s := l[i] + v
		carry := s < v
		l[i] = s
		if !carry {
			return
		}
		v = 1
	}
}

// strTerm is one half-length term of the interleaved multiplication: its
// wNAF digits and the table of odd multiples of its point in affine form;
// flip negates every digit (the sign of the GLV half).
type strTerm struct {
	digits [260]int8 // room for any 256-bit magnitude, whatever the split gives
	n      int
	flip   bool
	tab    []feAff
}

// addAt adds the term's digit at bit i (if any) to acc.
func (t *strTerm) addAt(i int, acc *feJac) {
	if i >= t.n {
		return
	}
	d := t.digits[i]
	if d == 0 {
		return
	}
	neg := (d < 0) != t.flip
	if d < 0 {
		d = -d
	}
	q := t.tab[d>>1]
	if neg {
		q.y.neg(&q.y)
	}
	acc.addAff(acc, &q)
}

// oddMultiples fills t with P, 3P, 5P, … (len(t) entries) in Jacobian
// form.
func oddMultiples(p *feAff, t []feJac) {
	t[0] = p.jac()
	if len(t) == 1 {
		return
	}
	var twice feJac
	twice.double(&t[0])
	for i := 1; i < len(t); i++ {
		t[i].add(&t[i-1], &twice)
	}
}

// feBeta is β as an fe.
var feBeta = feFromFieldVal(&strBeta)

// endoAff sets dst[i] = φ(src[i]) = (β·x, y).
func endoAff(src, dst []feAff) {
	for i := range src {
		dst[i].x.mul(&src[i].x, &feBeta)
		dst[i].x = feCanon(&dst[i].x)
		dst[i].y = src[i].y
	}
}

// strGen holds the generator's static tables: odd multiples of G and of
// φ(G) in affine form (so each addition is a mixed one).
var strGen struct {
	once      sync.Once
	pos, endo []feAff
}

func strGenTables() {
	strGen.once.Do(func() {
		g := affFromPoint(secpGen)
		strGen.pos, strGen.endo = affineTables(&g, strGenWindow)
	})
}

// affineTables returns the odd multiples P, 3P, …, (2^(w−1)−1)·P of p in
// affine form (one inversion for all), and the same for φ(P).
func affineTables(p *feAff, w int) (pos, endo []feAff) {
	size := 1 << (w - 2)
	jac := make([]feJac, size)
	oddMultiples(p, jac)
	pos = make([]feAff, size)
	feBatchAffine(jac, pos)
	endo = make([]feAff, size)
	endoAff(pos, endo)
	return pos, endo
}

// PublicTable is a precomputed table of one PUBLIC secp256k1 point P (a
// verification key used many times): its odd multiples and those of φ(P)
// in affine form, so that [PublicTable.BaseMulAdd] adds about one mixed
// addition per strTableWindow+1 bits of each GLV half and builds no table
// per call. It is immutable and safe for concurrent use; about 2 KiB.
type PublicTable struct {
	p         *secpPoint
	pos, endo []feAff
}

// strTableWindow is the window of a PublicTable (16 odd multiples).
const strTableWindow = 6

// NewPublicTable precomputes the table of p, a public secp256k1 point other
// than the identity; it returns ErrWrongGroup for anything else.
func NewPublicTable(p Point) (*PublicTable, error) {
	sp, ok := p.(*secpPoint)
	if !ok || sp == nil || sp.isInf() {
		return nil, ErrWrongGroup
	}
	t := &PublicTable{p: &secpPoint{p: sp.p}}
	a := affFromPoint(t.p)
	t.pos, t.endo = affineTables(&a, strTableWindow)
	return t, nil
}

// Point returns the table's point.
func (t *PublicTable) Point() Point { return &secpPoint{p: t.p.p} }

// BaseMulAdd returns a·G + b·P for PUBLIC secp256k1 scalars a and b, P the
// table's point, in variable time (a BIP-340 verification's s·G − e·P).
// It panics on a scalar of another group, as the Scalar methods do.
func (t *PublicTable) BaseMulAdd(a, b Scalar) Point {
	as, bs := asSecpScalar(a), asSecpScalar(b)
	var acc feJac
	secpStraussWith(nil, &as.s, t, &bs.s, &acc)
	return acc.toPoint()
}

// secpStrauss returns Σ scalar·point over terms (non-identity points with
// their affine form in a, non-zero scalars) plus gScalar·G when gScalar is
// non-nil, in Jacobian form.
func secpStrauss(terms []secpTerm, gScalar *secp256k1.ModNScalar, out *feJac) {
	secpStraussWith(terms, gScalar, nil, nil, out)
}

// glvTerms appends the two half-length terms of k·P for a point with
// precomputed affine tables (pos for P, endo for φ(P)) of window w.
func glvTerms(ts []strTerm, k *secp256k1.ModNScalar, w uint, pos, endo []feAff) []strTerm {
	k1, k2, neg1, neg2 := glvSplit(k)
	ts = append(ts, strTerm{tab: pos, flip: neg1}, strTerm{tab: endo, flip: neg2})
	a, b := &ts[len(ts)-2], &ts[len(ts)-1]
	a.n = wnaf(&k1, w, a.digits[:])
	b.n = wnaf(&k2, w, b.digits[:])
	return ts
}

// secpStraussWith is secpStrauss plus tScalar·P for the point P of table
// (when both are non-nil).
func secpStraussWith(terms []secpTerm, gScalar *secp256k1.ModNScalar, table *PublicTable, tScalar *secp256k1.ModNScalar, out *feJac) {
	// The terms' tables: odd multiples in Jacobian form, made affine all
	// at once (one inversion; each addition of the main loop is then a
	// mixed one, 8M + 3S instead of 12M + 4S, which repays the conversion
	// from one term on), and φ of each entry.
	size := 1 << (strWindow - 2)
	ts := make([]strTerm, 0, 2*len(terms)+4)
	var pos, endo []feAff
	if len(terms) > 0 {
		jac := make([]feJac, size*len(terms))
		for i := range terms {
			oddMultiples(&terms[i].a, jac[size*i:size*(i+1)])
		}
		pos, endo = make([]feAff, len(jac)), make([]feAff, len(jac))
		feBatchAffine(jac, pos)
		endoAff(pos, endo)
	}
	for i := range terms {
		k1, k2, neg1, neg2 := glvSplit(terms[i].s)
		ts = append(ts, strTerm{tab: pos[size*i : size*(i+1)], flip: neg1}, strTerm{tab: endo[size*i : size*(i+1)], flip: neg2})
		a, b := &ts[len(ts)-2], &ts[len(ts)-1]
		a.n = wnaf(&k1, strWindow, a.digits[:])
		b.n = wnaf(&k2, strWindow, b.digits[:])
	}
	if gScalar != nil && !gScalar.IsZero() {
		strGenTables()
		ts = glvTerms(ts, gScalar, strGenWindow, strGen.pos, strGen.endo)
	}
	if table != nil && tScalar != nil && !tScalar.IsZero() {
		ts = glvTerms(ts, tScalar, strTableWindow, table.pos, table.endo)
	}
	top := 0
	for i := range ts {
		top = max(top, ts[i].n)
	}
	var acc feJac
	for i := top - 1; i >= 0; i-- {
		acc.double(&acc)
		for j := range ts {
			ts[j].addAt(i, &acc)
		}
	}
	*out = acc
}
