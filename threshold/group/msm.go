package group

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/herumi/bls-eth-go-binary/bls"
)

// Errors returned by [MultiMulPublic].
var (
	// ErrLengthMismatch is returned when the point and scalar lists differ
	// in length.
	ErrLengthMismatch = errors.New("group: points and scalars differ in length")
	// ErrWrongGroup is returned for a nil element or an element of another
	// group than the one asked for.
	ErrWrongGroup = errors.New("group: nil element or element of another group")
)

// MultiMulPublic returns Σ_i scalars[i]·points[i] in g (the identity for
// empty lists), for PUBLIC points and PUBLIC scalars: its running time
// depends on both. Like [MulPublic] it is for Feldman commitments,
// verification keys, participant indices and Fiat–Shamir coefficients,
// never for a share, a nonce, a key or anything derived from one.
//
// On secp256k1, over variable-time Jacobian arithmetic on the 4×64-bit
// field (secp256k1_jac.go) with a single conversion to affine at the end:
// terms with scalar 1 are plain additions; terms on the generator use a
// precomputed table; a few other terms (useStrauss) are an interleaved
// (Strauss–Shamir) multiplication with the GLV endomorphism and width-5 NAF digits, all
// terms sharing one chain of about 130 doublings (secp256k1_strauss.go);
// more terms use the bucket method of Pippenger (signed digits, the window
// chosen from the number of points and the longest scalar's bit length, so
// short scalars such as 128-bit batch-verification coefficients cost about
// half of full ones). On BLS12-381 G1 it is herumi's
// G1MulVec. Scalars may be any element of the scalar field; identity points
// and zero scalars are allowed. It returns [ErrLengthMismatch] if the lists
// differ in length and [ErrWrongGroup] for a nil element or one of another
// group; inputs are never modified.
func MultiMulPublic(g Group, points []Point, scalars []Scalar) (Point, error) {
	if len(points) != len(scalars) {
		return nil, ErrLengthMismatch
	}
	switch g.(type) {
	case secpGroup:
		return secpMultiMul(points, scalars)
	case blsGroup:
		return blsMultiMul(points, scalars)
	}
	// A Group implementation this package does not know: the naive sum.
	acc := g.Identity()
	for i, p := range points {
		if p == nil || scalars[i] == nil {
			return nil, ErrWrongGroup
		}
		acc = acc.Add(MulPublic(p, scalars[i]))
	}
	return acc, nil
}

// blsMultiMul is MultiMulPublic on BLS12-381 G1. herumi's mulVec takes
// contiguous arrays (and may normalize the points in place), so the inputs
// are copied.
func blsMultiMul(points []Point, scalars []Scalar) (Point, error) {
	ps := make([]bls.G1, 0, len(points))
	ss := make([]bls.Fr, 0, len(points))
	for i, p := range points {
		bp, ok := p.(*blsPoint)
		if !ok || bp == nil {
			return nil, ErrWrongGroup
		}
		bs, ok := scalars[i].(*blsScalar)
		if !ok || bs == nil {
			return nil, ErrWrongGroup
		}
		if bp.p.IsZero() || bs.s.IsZero() {
			continue
		}
		ps = append(ps, bp.p)
		ss = append(ss, bs.s)
	}
	r := &blsPoint{}
	bls.G1MulVec(&r.p, ps, ss)
	return r, nil
}

// useStrauss reports whether n terms of scalars of at most nbits bits go
// to secpStrauss rather than to the bucket method. Measured CPU time of the
// interleaved GLV multiplication against the bucket method (both on the
// 4×64-bit field, round 4, minimum of three runs on a loaded machine):
// full scalars, 0.41× for 4 terms, 0.61× for 16, 0.75× for 32, 0.90× for
// 48, 1.0× for 64; 128-bit scalars (which the GLV split does not shorten),
// 0.83× for 8 terms, 0.96× for 12, 1.06× for 16, 1.55× for 32.
func useStrauss(n, nbits int) bool {
	return n <= 8 || (n <= 48 && nbits > 160)
}

// secpMultiMul is MultiMulPublic on secp256k1. Terms whose scalar is 1 are
// plain additions and terms on the generator use its static table
// (secpStrauss); the others go to the interleaved GLV multiplication
// (secpStrauss) for a few terms (useStrauss), to the bucket method for
// more. Only one conversion to affine is made.
func secpMultiMul(points []Point, scalars []Scalar) (Point, error) {
	terms := make([]secpTerm, 0, len(points))
	nbits := 0
	var plain feJac                   // Σ of the points with scalar 1
	var gScalar *secp256k1.ModNScalar // Σ of the generator's scalars
	for i, p := range points {
		sp, ok := p.(*secpPoint)
		if !ok || sp == nil {
			return nil, ErrWrongGroup
		}
		ss, ok := scalars[i].(*secpScalar)
		if !ok || ss == nil {
			return nil, ErrWrongGroup
		}
		if sp.isInf() || ss.s.IsZero() {
			continue
		}
		if ss.s.Equals(&secpOne) {
			a := affFromPoint(sp)
			plain.addAff(&plain, &a)
			continue
		}
		if sp.p.X.Equals(&secpGen.p.X) && sp.p.Y.Equals(&secpGen.p.Y) {
			if gScalar == nil {
				gScalar = new(secp256k1.ModNScalar)
			}
			gScalar.Add(&ss.s)
			continue
		}
		b := ss.s.Bytes()
		var t secpTerm
		t.a, t.s = affFromPoint(sp), &ss.s
		for l := range t.limbs {
			t.limbs[l] = binary.BigEndian.Uint64(b[24-8*l:])
		}
		terms = append(terms, t)
		nbits = max(nbits, bitLen(&t.limbs))
	}
	var acc feJac
	if !useStrauss(len(terms), nbits) {
		c, _ := pippengerWindow(len(terms), nbits)
		secpPippenger(terms, nbits, c, &acc)
		if gScalar != nil {
			var gs feJac
			secpStrauss(nil, gScalar, &gs)
			acc.add(&acc, &gs)
		}
	} else if len(terms) > 0 || gScalar != nil {
		secpStrauss(terms, gScalar, &acc)
	}
	acc.add(&acc, &plain)
	return acc.toPoint(), nil
}

// secpOne is the scalar 1.
var secpOne = func() secp256k1.ModNScalar {
	var s secp256k1.ModNScalar
	s.SetInt(1)
	return s
}()

// secpPippenger sets out to Σ terms (non-zero scalars of at most nbits
// bits, non-identity points) by the bucket method with window c.
func secpPippenger(terms []secpTerm, nbits, c int, out *feJac) {
	// Signed-digit recoding: scalar = Σ_w d_w·2^(c·w) with every digit in
	// [−2^(c−1), 2^(c−1)]; a digit ≥ 2^(c−1) borrows from the next window.
	// windows·c ≥ nbits+1, so the top window never carries out and keeps its
	// digit unrecentered (at most 2^(c−1)).
	windows := (nbits + c) / c
	digits := make([]int32, len(terms)*windows) // digits[i·windows + w]
	half := int32(1) << (c - 1)
	for i := range terms {
		recode(&terms[i].limbs, c, digits[i*windows:(i+1)*windows])
	}
	// Negated points for negative digits.
	neg := make([]feAff, len(terms))
	for i := range terms {
		neg[i] = terms[i].a
		neg[i].y.neg(&neg[i].y)
	}

	// Pippenger's bucket method, top window first (Horner in 2^c):
	// acc = 2^c·acc + Σ_k k·bucket_k, where bucket_k sums the points whose
	// digit in this window is ±k.
	buckets := make([]feJac, half)
	var acc feJac
	for w := windows - 1; w >= 0; w-- {
		for range c {
			acc.double(&acc)
		}
		clear(buckets)
		for i := range terms {
			switch d := digits[i*windows+w]; {
			case d > 0:
				buckets[d-1].addAff(&buckets[d-1], &terms[i].a)
			case d < 0:
				buckets[-d-1].addAff(&buckets[-d-1], &neg[i])
			}
		}
		// Σ_k k·bucket_k as a running sum from the top bucket down.
		var run, sum feJac
		for k := half - 1; k >= 0; k-- {
			run.add(&run, &buckets[k])
			sum.add(&sum, &run)
		}
		acc.add(&acc, &sum)
	}
	*out = acc
}

// recode writes the signed base-2^c digits of l into digits (len(digits)
// windows, with windows·c > bitLen(l)): l = Σ_w digits[w]·2^(c·w), every
// digit in [−2^(c−1), 2^(c−1)].
func recode(l *[4]uint64, c int, digits []int32) {
	half := int32(1) << (c - 1)
	carry := int32(0)
	for w := range digits {
		d := int32(windowBits(l, w*c, c)) + carry
		carry = 0
		if d >= half && w < len(digits)-1 {
			d -= 2 * half
			carry = 1
		}
		digits[w] = d
	}
}

// pippengerWindow returns the window width c minimising the estimated cost
// (in point additions) of the bucket method for n points and scalars of
// the given bit length, and that cost: per window, n bucket additions, 2^c
// additions to sum the buckets and c doublings (about half an addition
// each). On 128-bit scalars it picks c = 6 for 100 to 300 points, which
// measures best.
func pippengerWindow(n, nbits int) (int, int) {
	best, bestCost := 1, int(^uint(0)>>1)
	for c := 1; c <= 16; c++ {
		windows := (nbits + c) / c
		cost := windows*(n+(1<<c)) + windows*c/2
		if cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best, bestCost
}

// bitLen returns the bit length of a 256-bit little-endian integer.
func bitLen(l *[4]uint64) int {
	for i := 3; i >= 0; i-- {
		if l[i] != 0 {
			return 64*i + bits.Len64(l[i])
		}
	}
	return 0
}

// windowBits returns the c bits (c ≤ 16) of l starting at bit pos.
func windowBits(l *[4]uint64, pos, c int) uint64 {
	i, off := pos/64, pos%64
	if i >= 4 {
		return 0
	}
	v := l[i] >> off
	if off+c > 64 && i+1 < 4 {
		v |= l[i+1] << (64 - off)
	}
	return v & (1<<c - 1)
}

// secpTerm is one term s·P of a secp256k1 multi-scalar multiplication.
type secpTerm struct {
	a     feAff // the point, affine
	s     *secp256k1.ModNScalar
	limbs [4]uint64 // s, little-endian 64-bit limbs
}
