package group

import (
	"encoding/binary"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Constant-time fixed-base multiplication s·G on secp256k1 ([Group.BaseMul]:
// nonce commitments d·G and e·G, public key shares, Feldman commitments).
//
// Construction: the fixed-base windowed method with signed digits of
// Bernstein, Duif, Lange, Schwabe, Yang, "High-speed high-security
// signatures" (CHES 2011, §4 "Fast fixed-base scalar multiplication"; there
// radix 16, here radix 64), as also used by Go's
// crypto/internal/fips140/edwards25519. libsecp256k1's ecmult_gen reaches
// the same end with a signed-digit comb (Hamburg, "Fast and compact
// elliptic-curve cryptography", ePrint 2012/309), which trades a few
// doublings for a smaller table; with memory to spare, windows need no
// doublings and are simpler.
//
//  1. Recode s (below n < 2^256) as s = Σ_{w=0}^{42} e_w·64^w with
//     e_w ∈ [−32, 32) for w < 42 and 0 ≤ e_42 ≤ 32 (ctRecode), with
//     arithmetic only.
//  2. Precompute, once, baseTable[w][j−1] = j·64^w·G for j = 1..32 and
//     w = 0..42, in affine coordinates (43·32 points of 64 bytes, 88 KiB),
//     from the generator alone (baseTableInit; TestSecp256k1BaseTable
//     recomputes every entry with decred's independent code).
//  3. s·G = Σ_w sign(e_w)·baseTable[w][|e_w|−1]: 43 additions, no
//     doublings. Each lookup reads the whole row and keeps the wanted entry
//     with masks (baseSelect), the sign is applied by a masked conditional
//     negation of y, and a zero digit is handled by computing the addition
//     anyway and discarding it with a masked move: no branch and no memory
//     address depends on s.
//  4. The additions use the complete mixed (projective + affine) formula
//     for a = 0 of Renes, Costello, Batina, "Complete addition formulas for
//     prime order elliptic curves", EUROCRYPT 2016, Algorithm 8: no
//     exceptional case (the identity accumulator, P = Q and P = −Q
//     included), so no data-dependent branch; 11 multiplications and two
//     by 3b = 21, in the 4×64-bit field arithmetic of secp256k1_fe.go.
//  5. One conversion to affine coordinates by a constant-time Fermat
//     inversion; it branches only on whether the result is the identity
//     (s = 0), which the result itself reveals.
//
// What is left to the hardware: Go compiles math/bits.Mul64/Add64 to
// constant-time instructions on amd64 and arm64, and the table scans touch
// the same cache lines in the same order for every s.
// TestSecp256k1BaseMulDudect (VHSM_DUDECT=1) measures the timing
// statistically.

// The window: baseW-bit signed digits, baseWindows of them, rows of
// baseRow = 2^(baseW−1) multiples. ⌈256/baseW⌉ windows suffice when the
// top one, at most 2^(256 − baseW·(baseWindows−1)) − 1 plus the carry from
// below, stays within baseRow; for baseW = 6 that is 15 + 1 ≤ 32.
const (
	baseW       = 6
	baseWindows = 43
	baseRow     = 1 << (baseW - 1)
)

// Compile-time checks of the comment above: the windows cover 256 bits and
// no more than one window beyond, and the top digit fits a row.
var _ = [1]int{}[baseWindows-(256+baseW-1)/baseW]

const _ = uint(baseRow - 1<<(256-baseW*(baseWindows-1)))

// baseEntry is an affine point (x, y) of a table row; never the identity.
type baseEntry struct{ x, y fe }

// feProj is a point in homogeneous projective coordinates (X:Y:Z),
// x = X/Z, y = Y/Z; the identity is (0:1:0).
type feProj struct{ x, y, z fe }

var (
	baseOnce  sync.Once
	baseTable *[baseWindows][baseRow]baseEntry
)

// feB3 is 3·b for secp256k1's b = 7.
const feB3 = 21

// feMixedAdd returns p + q for projective p and affine q with RCB16
// Algorithm 8 (complete, a = 0, Z2 = 1); the step numbers are the
// algorithm's.
func feMixedAdd(p *feProj, q *baseEntry) feProj {
	var t0, t1, t2, t3, t4, x3, y3, z3 fe
	t0.mul(&p.x, &q.x)      // 1. t0 ← X1·X2
	t1.mul(&p.y, &q.y)      // 2. t1 ← Y1·Y2
	t3.add(&q.x, &q.y)      // 3. t3 ← X2+Y2
	t4.add(&p.x, &p.y)      // 4. t4 ← X1+Y1
	t3.mul(&t3, &t4)        // 5. t3 ← t3·t4
	t4.add(&t0, &t1)        // 6. t4 ← t0+t1
	t3.sub(&t3, &t4)        // 7. t3 ← t3−t4
	t4.mul(&q.y, &p.z)      // 8. t4 ← Y2·Z1
	t4.add(&t4, &p.y)       // 9. t4 ← t4+Y1
	y3.mul(&q.x, &p.z)      // 10. Y3 ← X2·Z1
	y3.add(&y3, &p.x)       // 11. Y3 ← Y3+X1
	x3.add(&t0, &t0)        // 12. X3 ← t0+t0
	t0.add(&x3, &t0)        // 13. t0 ← X3+t0
	t2.mulSmall(&p.z, feB3) // 14. t2 ← b3·Z1
	z3.add(&t1, &t2)        // 15. Z3 ← t1+t2
	t1.sub(&t1, &t2)        // 16. t1 ← t1−t2
	y3.mulSmall(&y3, feB3)  // 17. Y3 ← b3·Y3
	x3.mul(&t4, &y3)        // 18. X3 ← t4·Y3
	t2.mul(&t3, &t1)        // 19. t2 ← t3·t1
	x3.sub(&t2, &x3)        // 20. X3 ← t2−X3
	y3.mul(&y3, &t0)        // 21. Y3 ← Y3·t0
	t1.mul(&t1, &z3)        // 22. t1 ← t1·Z3
	y3.add(&t1, &y3)        // 23. Y3 ← t1+Y3
	t0.mul(&t0, &t3)        // 24. t0 ← t0·t3
	z3.mul(&z3, &t4)        // 25. Z3 ← Z3·t4
	z3.add(&z3, &t0)        // 26. Z3 ← Z3+t0
	return feProj{x: x3, y: y3, z: z3}
}

func (p *feProj) cmov(q *feProj, mask uint64) {
	p.x.cmov(&q.x, mask)
	p.y.cmov(&q.y, mask)
	p.z.cmov(&q.z, mask)
}

// feProjIdentity returns (0:1:0).
func feProjIdentity() feProj { return feProj{y: fe{1}} }

// baseTableInit computes baseTable from the generator: per window w, with
// B = 2^(baseW·w)·G, the multiples B, 2B, …, 2^baseW·B by repeated mixed
// addition of B (the formula is complete, so B + B needs no special case),
// made affine with one inversion per row (Montgomery's simultaneous
// inversion); 2^baseW·B is the next row's B. The data is public, so nothing
// here needs to be constant time, but it is anyway.
func baseTableInit() {
	t := new([baseWindows][baseRow]baseEntry)
	b := baseEntry{x: feFromFieldVal(&secpGen.p.X), y: feFromFieldVal(&secpGen.p.Y)}
	for w := range baseWindows {
		// m[j] = (j+1)·B for j < baseRow, m[baseRow] = 2^baseW·B.
		var m [baseRow + 1]feProj
		acc := feProj{x: b.x, y: b.y, z: fe{1}}
		for j := 1; j <= 2*baseRow; j++ {
			if j > 1 {
				acc = feMixedAdd(&acc, &b)
			}
			switch {
			case j <= baseRow:
				m[j-1] = acc
			case j == 2*baseRow:
				m[baseRow] = acc
			}
		}
		// Simultaneous inversion, prefix[j] = z_0·…·z_j. No z is zero:
		// j·2^(baseW·w)·G is never the identity for 1 ≤ j ≤ 2^baseW < n.
		var prefix [baseRow + 1]fe
		prefix[0] = m[0].z
		for j := 1; j <= baseRow; j++ {
			prefix[j].mul(&prefix[j-1], &m[j].z)
		}
		inv := feInv(&prefix[baseRow]) // (z_0·…·z_baseRow)⁻¹
		var aff [baseRow + 1]baseEntry
		for j := baseRow; j >= 0; j-- {
			zi := inv // z_j⁻¹ = inv·prefix[j−1]; then inv·z_j is (z_0·…·z_(j−1))⁻¹
			if j > 0 {
				zi.mul(&inv, &prefix[j-1])
				inv.mul(&inv, &m[j].z)
			}
			var x, y fe
			x.mul(&m[j].x, &zi)
			y.mul(&m[j].y, &zi)
			aff[j] = baseEntry{x: feCanon(&x), y: feCanon(&y)}
		}
		copy(t[w][:], aff[:baseRow])
		b = aff[baseRow]
	}
	baseTable = t
}

// ctRecode writes the signed radix-2^baseW digits of the 32-byte big-endian
// k: k = Σ_w d[w]·2^(baseW·w) with d[w] ∈ [−baseRow, baseRow) below the
// top window and 0 ≤ d[top] ≤ baseRow (see baseWindows). Each window's
// value plus the incoming carry, v ∈ [0, 2^baseW], becomes v − 2^baseW·c
// with c = 1 exactly when v ≥ baseRow, computed as (v + baseRow) >> baseW:
// arithmetic only, no branch or index that depends on k.
func ctRecode(k *[32]byte, d *[baseWindows]int32) {
	var l [5]uint64 // little-endian limbs, and a zero limb for the top window
	for i := range 4 {
		l[i] = binary.BigEndian.Uint64(k[24-8*i:])
	}
	var carry int32
	for w := range baseWindows {
		// The bit position, limb and shifts depend on w only.
		pos := baseW * w
		i, sh := pos/64, uint(pos%64)
		win := l[i] >> sh
		if sh > 64-baseW {
			win |= l[i+1] << (64 - sh)
		}
		v := int32(win&(1<<baseW-1)) + carry
		if w == baseWindows-1 {
			d[w] = v
			break
		}
		carry = (v + baseRow) >> baseW
		d[w] = v - carry<<baseW
	}
	clear(l[:])
}

// ctEqMask returns all ones if a == b and 0 otherwise, for a, b < 2^63.
func ctEqMask(a, b uint64) uint64 {
	x := a ^ b
	return -((x - 1) >> 63)
}

// baseSelect sets r to row[idx−1], or to (0, 0) for idx = 0, reading every
// entry of the row and keeping one with a mask. (The accumulators are
// locals, not r's arrays, so that they live in registers.)
func baseSelect(r *baseEntry, row *[baseRow]baseEntry, idx uint64) {
	var x0, x1, x2, x3, y0, y1, y2, y3 uint64
	for j := range row {
		m := ctEqMask(idx, uint64(j+1))
		e := &row[j]
		x0 |= e.x[0] & m
		x1 |= e.x[1] & m
		x2 |= e.x[2] & m
		x3 |= e.x[3] & m
		y0 |= e.y[0] & m
		y1 |= e.y[1] & m
		y2 |= e.y[2] & m
		y3 |= e.y[3] & m
	}
	r.x = fe{x0, x1, x2, x3}
	r.y = fe{y0, y1, y2, y3}
}

// ctScalarBaseMult returns s·G in time independent of s (see the
// construction above).
func ctScalarBaseMult(s *secp256k1.ModNScalar) *secpPoint {
	baseOnce.Do(baseTableInit)
	k := s.Bytes()
	var d [baseWindows]int32
	ctRecode(&k, &d)
	clear(k[:])

	var zero fe
	acc := feProjIdentity()
	for w := range baseWindows {
		neg := uint64(int64(d[w] >> 31)) // all ones if d[w] < 0
		abs := uint64(int64((d[w] ^ d[w]>>31) - d[w]>>31))
		var q baseEntry
		baseSelect(&q, &baseTable[w], abs)
		var ny fe
		ny.sub(&zero, &q.y)
		q.y.cmov(&ny, neg)
		// For abs = 0, q is (0, 0), not a point; the sum is computed the
		// same way and discarded.
		sum := feMixedAdd(&acc, &q)
		acc.cmov(&sum, ^ctEqMask(abs, 0))
	}
	clear(d[:])
	return acc.toPoint()
}

// toPoint converts p to an affine-normalized secpPoint. It branches only on
// whether p is the identity.
func (p *feProj) toPoint() *secpPoint {
	if feIsZero(&p.z) == 1 {
		return &secpPoint{}
	}
	zi := feInv(&p.z)
	var x, y fe
	x.mul(&p.x, &zi)
	y.mul(&p.y, &zi)
	r := &secpPoint{}
	r.p.X = x.fieldVal()
	r.p.Y = y.fieldVal()
	r.p.Z.SetInt(1)
	return r
}
