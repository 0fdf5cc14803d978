package group

import (
	"encoding/binary"
	"math/bits"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Constant-time arithmetic in the secp256k1 base field GF(p), p = 2^256 −
// 2^32 − 977, for the fixed-base multiplication (secp256k1_base.go).
//
// decred's FieldVal keeps ten 26-bit limbs (a layout chosen for 32-bit
// machines); on amd64 and arm64, where math/bits.Mul64 and Add64 compile to
// single constant-time instructions (MULQ, ADCQ / UMULH, ADCS), a 4×64-bit
// multiplication takes about 0.6 of its time (39 against 69 ns here). An
// fe is four little-endian 64-bit limbs, and every operation runs the same
// instructions whatever the values: reductions use the special form of p
// (2^256 ≡ 2^32 + 977 = 0x1000003d1 mod p, the constant libsecp256k1's
// field multiplication reduces by), and carries are folded back with
// masks, never a branch.
// Values enter and leave through decred's FieldVal (32-byte encodings), so
// the rest of the package keeps one point representation.

// fe is an element of GF(p) as four little-endian 64-bit limbs. Values
// are kept weakly reduced: any 256-bit representative of the residue (so
// below 2p, as 2^256 < 2p), which saves a conditional subtraction per
// operation; feCanon gives the canonical one (below p), needed before a
// comparison or an encoding. Every operation accepts and returns weakly
// reduced values.
type fe [4]uint64

// feC is 2^256 mod p = 2^32 + 977.
const feC = 0x1000003d1

// reduce5 sets r to a weakly reduced value congruent to r0..r3 + r4·2^256
// for r4 < 2^35, in constant time.
func (r *fe) reduce5(r0, r1, r2, r3, r4 uint64) {
	// 2^256 ≡ feC: fold r4 into the low limbs (r4·feC < 2^69).
	hi, lo := bits.Mul64(r4, feC)
	var c uint64
	r0, c = bits.Add64(r0, lo, 0)
	r1, c = bits.Add64(r1, hi, c)
	r2, c = bits.Add64(r2, 0, c)
	r3, c = bits.Add64(r3, 0, c)
	// A carry out means the value is r + 2^256 ≡ r + feC, with r below
	// 2^69 (it just wrapped), so this second fold cannot carry again.
	r0, c = bits.Add64(r0, feC&-c, 0)
	r1, c = bits.Add64(r1, 0, c)
	r2, c = bits.Add64(r2, 0, c)
	r3, _ = bits.Add64(r3, 0, c)
	r[0], r[1], r[2], r[3] = r0, r1, r2, r3
}

// feCanon returns the canonical representative of a (below p): a + feC
// carries out of 2^256 exactly when a ≥ p, and then equals a − p mod 2^256.
func feCanon(a *fe) fe {
	t0, c := bits.Add64(a[0], feC, 0)
	t1, c := bits.Add64(a[1], 0, c)
	t2, c := bits.Add64(a[2], 0, c)
	t3, c := bits.Add64(a[3], 0, c)
	r := *a
	r.cmov(&fe{t0, t1, t2, t3}, -c)
	return r
}

// add sets r = a + b.
func (r *fe) add(a, b *fe) {
	r0, c := bits.Add64(a[0], b[0], 0)
	r1, c := bits.Add64(a[1], b[1], c)
	r2, c := bits.Add64(a[2], b[2], c)
	r3, c := bits.Add64(a[3], b[3], c)
	// Fold the carry: r + 2^256 ≡ r + feC. If that carries again, r + feC
	// wrapped to below feC and one more fold cannot carry.
	r0, c = bits.Add64(r0, feC&-c, 0)
	r1, c = bits.Add64(r1, 0, c)
	r2, c = bits.Add64(r2, 0, c)
	r3, c = bits.Add64(r3, 0, c)
	r0 += feC & -c
	r[0], r[1], r[2], r[3] = r0, r1, r2, r3
}

// sub sets r = a − b.
func (r *fe) sub(a, b *fe) {
	r0, bw := bits.Sub64(a[0], b[0], 0)
	r1, bw := bits.Sub64(a[1], b[1], bw)
	r2, bw := bits.Sub64(a[2], b[2], bw)
	r3, bw := bits.Sub64(a[3], b[3], bw)
	// On a borrow the limbs hold a − b + 2^256; adding p is subtracting
	// feC. That borrows again only if a − b + p < 0 (b weakly reduced);
	// then a − b + 2p ≥ 0 (a − b > −2^256 > −2p), so a second
	// subtraction of feC cannot borrow, and it leaves the low limb above
	// 2^64 − feC, so it needs no propagation.
	r0, bw = bits.Sub64(r0, feC&-bw, 0)
	r1, bw = bits.Sub64(r1, 0, bw)
	r2, bw = bits.Sub64(r2, 0, bw)
	r3, bw = bits.Sub64(r3, 0, bw)
	r0 -= feC & -bw
	r[0], r[1], r[2], r[3] = r0, r1, r2, r3
}

// mulSmall sets r = a·k for k < 2^32.
func (r *fe) mulSmall(a *fe, k uint64) {
	h0, r0 := bits.Mul64(a[0], k)
	h1, l1 := bits.Mul64(a[1], k)
	h2, l2 := bits.Mul64(a[2], k)
	h3, l3 := bits.Mul64(a[3], k)
	r1, c := bits.Add64(l1, h0, 0)
	r2, c := bits.Add64(l2, h1, c)
	r3, c := bits.Add64(l3, h2, c)
	r.reduce5(r0, r1, r2, r3, h3+c)
}

// mul sets r = a·b: the 512-bit product t = H·2^256 + L row by row (as
// fiat-crypto's generated Go code does: one carry chain per row, which the
// compiler keeps in the flags), then t ≡ L + H·feC (foldWide).
func (r *fe) mul(a, b *fe) {
	var c uint64
	b0, b1, b2, b3 := b[0], b[1], b[2], b[3]

	// Row 0: t0..t4 = a0·b.
	x := a[0]
	h0, t0 := bits.Mul64(x, b0)
	h1, l1 := bits.Mul64(x, b1)
	h2, l2 := bits.Mul64(x, b2)
	h3, l3 := bits.Mul64(x, b3)
	t1, c := bits.Add64(l1, h0, 0)
	t2, c := bits.Add64(l2, h1, c)
	t3, c := bits.Add64(l3, h2, c)
	t4 := h3 + c

	// Row 1: add a1·b at limb 1.
	x = a[1]
	h0, l0 := bits.Mul64(x, b0)
	h1, l1 = bits.Mul64(x, b1)
	h2, l2 = bits.Mul64(x, b2)
	h3, l3 = bits.Mul64(x, b3)
	l1, c = bits.Add64(l1, h0, 0)
	l2, c = bits.Add64(l2, h1, c)
	l3, c = bits.Add64(l3, h2, c)
	h3 += c
	t1, c = bits.Add64(t1, l0, 0)
	t2, c = bits.Add64(t2, l1, c)
	t3, c = bits.Add64(t3, l2, c)
	t4, c = bits.Add64(t4, l3, c)
	t5 := h3 + c

	// Row 2: add a2·b at limb 2.
	x = a[2]
	h0, l0 = bits.Mul64(x, b0)
	h1, l1 = bits.Mul64(x, b1)
	h2, l2 = bits.Mul64(x, b2)
	h3, l3 = bits.Mul64(x, b3)
	l1, c = bits.Add64(l1, h0, 0)
	l2, c = bits.Add64(l2, h1, c)
	l3, c = bits.Add64(l3, h2, c)
	h3 += c
	t2, c = bits.Add64(t2, l0, 0)
	t3, c = bits.Add64(t3, l1, c)
	t4, c = bits.Add64(t4, l2, c)
	t5, c = bits.Add64(t5, l3, c)
	t6 := h3 + c

	// Row 3: add a3·b at limb 3.
	x = a[3]
	h0, l0 = bits.Mul64(x, b0)
	h1, l1 = bits.Mul64(x, b1)
	h2, l2 = bits.Mul64(x, b2)
	h3, l3 = bits.Mul64(x, b3)
	l1, c = bits.Add64(l1, h0, 0)
	l2, c = bits.Add64(l2, h1, c)
	l3, c = bits.Add64(l3, h2, c)
	h3 += c
	t3, c = bits.Add64(t3, l0, 0)
	t4, c = bits.Add64(t4, l1, c)
	t5, c = bits.Add64(t5, l2, c)
	t6, c = bits.Add64(t6, l3, c)
	t7 := h3 + c

	r.foldWide(t0, t1, t2, t3, t4, t5, t6, t7)
}

// sqr sets r = a²: the six cross products a_i·a_j (i < j) once, doubled,
// plus the four squares.
func (r *fe) sqr(a *fe) {
	var c uint64
	// a0·(a1, a2, a3) at limbs 1..4.
	h1, t1 := bits.Mul64(a[0], a[1])
	h2, l2 := bits.Mul64(a[0], a[2])
	h3, l3 := bits.Mul64(a[0], a[3])
	t2, c := bits.Add64(l2, h1, 0)
	t3, c := bits.Add64(l3, h2, c)
	t4 := h3 + c
	// a1·(a2, a3) at limbs 3..5.
	h2, l2 = bits.Mul64(a[1], a[2])
	h3, l3 = bits.Mul64(a[1], a[3])
	r4, c := bits.Add64(l3, h2, 0)
	r5 := h3 + c
	t3, c = bits.Add64(t3, l2, 0)
	t4, c = bits.Add64(t4, r4, c)
	t5 := r5 + c
	// a2·a3 at limbs 5..6.
	h3, l3 = bits.Mul64(a[2], a[3])
	t5, c = bits.Add64(t5, l3, 0)
	t6 := h3 + c
	// Double them (the top bit goes to t7).
	t7 := t6 >> 63
	t6 = t6<<1 | t5>>63
	t5 = t5<<1 | t4>>63
	t4 = t4<<1 | t3>>63
	t3 = t3<<1 | t2>>63
	t2 = t2<<1 | t1>>63
	t1 <<= 1
	// Add the squares a_i² at limb 2i.
	s0h, t0 := bits.Mul64(a[0], a[0])
	s1h, s1l := bits.Mul64(a[1], a[1])
	s2h, s2l := bits.Mul64(a[2], a[2])
	s3h, s3l := bits.Mul64(a[3], a[3])
	t1, c = bits.Add64(t1, s0h, 0)
	t2, c = bits.Add64(t2, s1l, c)
	t3, c = bits.Add64(t3, s1h, c)
	t4, c = bits.Add64(t4, s2l, c)
	t5, c = bits.Add64(t5, s2h, c)
	t6, c = bits.Add64(t6, s3l, c)
	t7, _ = bits.Add64(t7, s3h, c)
	r.foldWide(t0, t1, t2, t3, t4, t5, t6, t7)
}

// foldWide sets r to a weakly reduced value congruent to the 512-bit
// t0..t7 (little-endian), computed as L + H·feC, where
// H·feC < 2^289 leaves a fifth limb below 2^34 to fold as reduce5 does.
func (r *fe) foldWide(t0, t1, t2, t3, t4, t5, t6, t7 uint64) {
	h0, l0 := bits.Mul64(t4, feC)
	h1, l1 := bits.Mul64(t5, feC)
	h2, l2 := bits.Mul64(t6, feC)
	h3, l3 := bits.Mul64(t7, feC)
	var c uint64
	l1, c = bits.Add64(l1, h0, 0)
	l2, c = bits.Add64(l2, h1, c)
	l3, c = bits.Add64(l3, h2, c)
	r4 := h3 + c
	t0, c = bits.Add64(t0, l0, 0)
	t1, c = bits.Add64(t1, l1, c)
	t2, c = bits.Add64(t2, l2, c)
	t3, c = bits.Add64(t3, l3, c)
	// r.reduce5(t0, t1, t2, t3, r4+c), inlined by hand (the compiler will
	// not): fold the fifth limb, then a possible carry.
	h0, l0 = bits.Mul64(r4+c, feC)
	t0, c = bits.Add64(t0, l0, 0)
	t1, c = bits.Add64(t1, h0, c)
	t2, c = bits.Add64(t2, 0, c)
	t3, c = bits.Add64(t3, 0, c)
	t0, c = bits.Add64(t0, feC&-c, 0)
	t1, c = bits.Add64(t1, 0, c)
	t2, c = bits.Add64(t2, 0, c)
	t3, _ = bits.Add64(t3, 0, c)
	r[0], r[1], r[2], r[3] = t0, t1, t2, t3
}

// sqrN sets r = a^(2^n).
func (r *fe) sqrN(a *fe, n int) {
	r.sqr(a)
	for range n - 1 {
		r.sqr(r)
	}
}

// feInv returns a⁻¹ = a^(p−2) (Fermat; the inverse of zero is zero) with
// the addition chain libsecp256k1 used for p − 2 before safegcd
// (secp256k1_fe_inv in field_impl.h): 255 squarings and 15 multiplications
// over a public exponent, so the time does not depend on a.
func feInv(a *fe) fe {
	x2, x22, x223 := fePow223(a)
	var t fe
	// p − 2 in binary: 223 ones, a zero, 22 ones, then 0000101101
	// (its low 32 bits are 0xfffffc2d).
	t.sqrN(&x223, 23)
	t.mul(&t, &x22)
	t.sqrN(&t, 5)
	t.mul(&t, a)
	t.sqrN(&t, 3)
	t.mul(&t, &x2)
	t.sqrN(&t, 2)
	t.mul(&t, a)
	return t
}

// fePow223 returns a^(2^k − 1) for k = 2, 22 and 223, the common start of
// the addition chains of the inversion (feInv) and the square root
// (feSqrt), libsecp256k1's: 221 squarings and 11 multiplications in a
// fixed sequence, so the time does not depend on a.
func fePow223(a *fe) (x2, x22, x223 fe) {
	// xk = a^(2^k − 1).
	var x3, x6, x9, x11, x44, x88, x176, x220 fe
	x2.sqr(a)
	x2.mul(&x2, a)
	x3.sqr(&x2)
	x3.mul(&x3, a)
	x6.sqrN(&x3, 3)
	x6.mul(&x6, &x3)
	x9.sqrN(&x6, 3)
	x9.mul(&x9, &x3)
	x11.sqrN(&x9, 2)
	x11.mul(&x11, &x2)
	x22.sqrN(&x11, 11)
	x22.mul(&x22, &x11)
	x44.sqrN(&x22, 22)
	x44.mul(&x44, &x22)
	x88.sqrN(&x44, 44)
	x88.mul(&x88, &x44)
	x176.sqrN(&x88, 88)
	x176.mul(&x176, &x88)
	x220.sqrN(&x176, 44)
	x220.mul(&x220, &x44)
	x223.sqrN(&x220, 3)
	x223.mul(&x223, &x3)
	return x2, x22, x223
}

// feIsZero returns 1 if a ≡ 0 and 0 otherwise, without a branch.
func feIsZero(a *fe) uint64 {
	c := feCanon(a)
	x := c[0] | c[1] | c[2] | c[3]
	return 1 ^ ((x | -x) >> 63)
}

// cmov sets r to a where mask is all ones, and leaves it where mask is 0.
func (r *fe) cmov(a *fe, mask uint64) {
	r[0] ^= (r[0] ^ a[0]) & mask
	r[1] ^= (r[1] ^ a[1]) & mask
	r[2] ^= (r[2] ^ a[2]) & mask
	r[3] ^= (r[3] ^ a[3]) & mask
}

// feFromFieldVal converts a decred field element (any magnitude).
func feFromFieldVal(v *secp256k1.FieldVal) fe {
	var n secp256k1.FieldVal
	n.Set(v).Normalize()
	var b [32]byte
	n.PutBytes(&b)
	r := fe{
		binary.BigEndian.Uint64(b[24:]),
		binary.BigEndian.Uint64(b[16:]),
		binary.BigEndian.Uint64(b[8:]),
		binary.BigEndian.Uint64(b[0:]),
	}
	clear(b[:])
	n.Zero()
	return r
}

// fieldVal converts a to a normalized decred field element.
func (a *fe) fieldVal() secp256k1.FieldVal {
	c := feCanon(a)
	a = &c
	var b [32]byte
	binary.BigEndian.PutUint64(b[0:], a[3])
	binary.BigEndian.PutUint64(b[8:], a[2])
	binary.BigEndian.PutUint64(b[16:], a[1])
	binary.BigEndian.PutUint64(b[24:], a[0])
	var v secp256k1.FieldVal
	v.SetBytes(&b) // c < p: no reduction
	clear(b[:])
	return v
}
