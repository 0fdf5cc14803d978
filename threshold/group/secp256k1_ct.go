package group

import (
	"crypto/subtle"
	"encoding/binary"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Constant-time secp256k1 scalar multiplication.
//
// decred's library only offers variable-time scalar multiplication
// (ScalarMultNonConst, ScalarBaseMultNonConst), whose running time depends
// on the scalar. Key shares, nonce shares, DKG polynomial coefficients and
// DLEQ commitment randomness are multiplied here, so [Point.Mul] uses the
// routine below instead ([Group.BaseMul] has its own, faster fixed-base
// routine in secp256k1_base.go): a fixed 4-bit window over all
// 64 nibbles of the scalar, a table lookup that touches every entry
// (crypto/subtle), and the complete addition formula for short Weierstrass
// curves with a = 0 of Renes, Costello, Batina, "Complete addition formulas
// for prime order elliptic curves", EUROCRYPT 2016, Algorithm 7 (and its
// doubling, Algorithm 9), which has no exceptional cases (doubling and the
// identity included) and so no data-dependent branches. decred's field arithmetic (FieldVal) is constant
// time. Only the final conversion to affine coordinates branches, on whether
// the result is the identity, which the result itself reveals.

// ctProj is a point in homogeneous projective coordinates (X:Y:Z), x = X/Z,
// y = Y/Z; the identity is (0:1:0). Every coordinate is kept normalized.
type ctProj struct{ x, y, z secp256k1.FieldVal }

// b3 is 3·b for secp256k1's b = 7.
const ctB3 = 21

// Field helpers. decred's FieldVal tracks a "magnitude" (how far a value is
// from normalized): Mul needs inputs of magnitude ≤ 8 and returns magnitude
// 1, Add sums magnitudes, NegateVal(b, m) needs m ≥ the magnitude of b and
// returns m+1. The magnitudes after each step of ctPointAdd are noted there.

func ctAdd(a, b *secp256k1.FieldVal) secp256k1.FieldVal {
	var r secp256k1.FieldVal
	r.Add2(a, b)
	return r
}

// ctSub returns a − b for b of magnitude at most bMag.
func ctSub(a, b *secp256k1.FieldVal, bMag uint32) secp256k1.FieldVal {
	var r secp256k1.FieldVal
	r.NegateVal(b, bMag).Add(a)
	return r
}

func ctMul(a, b *secp256k1.FieldVal) secp256k1.FieldVal {
	var r secp256k1.FieldVal
	r.Mul2(a, b)
	return r
}

// ctMulB3 returns 21·a, normalized (magnitude 1).
func ctMulB3(a *secp256k1.FieldVal) secp256k1.FieldVal {
	var r secp256k1.FieldVal
	r.Set(a).Normalize().MulInt(ctB3).Normalize()
	return r
}

// ctPointAdd returns p + q with RCB16 Algorithm 7 (complete, a = 0). The
// step numbers are those of the algorithm; inputs have magnitude 1 (they
// are normalized), and the comment after a step is its result's magnitude.
func ctPointAdd(p, q *ctProj) ctProj {
	t0 := ctMul(&p.x, &q.x) // 1: 1
	t1 := ctMul(&p.y, &q.y) // 2: 1
	t2 := ctMul(&p.z, &q.z) // 3: 1
	t3 := ctAdd(&p.x, &p.y) // 4: 2
	t4 := ctAdd(&q.x, &q.y) // 5: 2
	t3 = ctMul(&t3, &t4)    // 6: 1
	t4 = ctAdd(&t0, &t1)    // 7: 2
	t3 = ctSub(&t3, &t4, 2) // 8: 4
	t4 = ctAdd(&p.y, &p.z)  // 9: 2
	x3 := ctAdd(&q.y, &q.z) // 10: 2
	t4 = ctMul(&t4, &x3)    // 11: 1
	x3 = ctAdd(&t1, &t2)    // 12: 2
	t4 = ctSub(&t4, &x3, 2) // 13: 4
	x3 = ctAdd(&p.x, &p.z)  // 14: 2
	y3 := ctAdd(&q.x, &q.z) // 15: 2
	x3 = ctMul(&x3, &y3)    // 16: 1
	y3 = ctAdd(&t0, &t2)    // 17: 2
	y3 = ctSub(&x3, &y3, 2) // 18: 4
	x3 = ctAdd(&t0, &t0)    // 19: 2
	t0 = ctAdd(&x3, &t0)    // 20: 3
	t2 = ctMulB3(&t2)       // 21: 1
	z3 := ctAdd(&t1, &t2)   // 22: 2
	t1 = ctSub(&t1, &t2, 1) // 23: 3
	y3 = ctMulB3(&y3)       // 24: 1
	x3 = ctMul(&t4, &y3)    // 25: 1
	t2 = ctMul(&t3, &t1)    // 26: 1
	x3 = ctSub(&t2, &x3, 1) // 27: 3
	y3 = ctMul(&y3, &t0)    // 28: 1
	t1 = ctMul(&t1, &z3)    // 29: 1
	y3 = ctAdd(&t1, &y3)    // 30: 2
	t0 = ctMul(&t0, &t3)    // 31: 1
	z3 = ctMul(&z3, &t4)    // 32: 1
	z3 = ctAdd(&z3, &t0)    // 33: 2
	x3.Normalize()
	y3.Normalize()
	z3.Normalize()
	return ctProj{x: x3, y: y3, z: z3}
}

// ctPointDouble returns 2·p with RCB16 Algorithm 9 (exception-free
// doubling, a = 0; the identity doubles to itself). Magnitudes as in
// ctPointAdd.
func ctPointDouble(p *ctProj) ctProj {
	t0 := ctMul(&p.y, &p.y) // 1: 1
	z3 := ctAdd(&t0, &t0)   // 2: 2
	z3 = ctAdd(&z3, &z3)    // 3: 4
	z3 = ctAdd(&z3, &z3)    // 4: 8
	t1 := ctMul(&p.y, &p.z) // 5: 1
	t2 := ctMul(&p.z, &p.z) // 6: 1
	t2 = ctMulB3(&t2)       // 7: 1
	x3 := ctMul(&t2, &z3)   // 8: 1
	y3 := ctAdd(&t0, &t2)   // 9: 2
	z3 = ctMul(&t1, &z3)    // 10: 1
	t1 = ctAdd(&t2, &t2)    // 11: 2
	t2 = ctAdd(&t1, &t2)    // 12: 3
	t0 = ctSub(&t0, &t2, 3) // 13: 5
	y3 = ctMul(&t0, &y3)    // 14: 1
	y3 = ctAdd(&x3, &y3)    // 15: 2
	t1 = ctMul(&p.x, &p.y)  // 16: 1
	x3 = ctMul(&t0, &t1)    // 17: 1
	x3 = ctAdd(&x3, &x3)    // 18: 2
	x3.Normalize()
	y3.Normalize()
	z3.Normalize()
	return ctProj{x: x3, y: y3, z: z3}
}

func ctIdentity() ctProj {
	var r ctProj
	r.y.SetInt(1)
	return r
}

// ctFromPoint converts an affine point (or the identity) to projective
// coordinates. It branches only on whether p is the identity, which is
// public.
func ctFromPoint(p *secpPoint) ctProj {
	if p.isInf() {
		return ctIdentity()
	}
	var r ctProj
	r.x.Set(&p.p.X).Normalize()
	r.y.Set(&p.p.Y).Normalize()
	r.z.SetInt(1)
	return r
}

// ctToPoint converts back to an affine-normalized point.
func ctToPoint(p *ctProj) *secpPoint {
	if p.z.IsZero() {
		return &secpPoint{}
	}
	var zi secp256k1.FieldVal
	zi.Set(&p.z).Inverse()
	r := &secpPoint{}
	r.p.X = ctMul(&p.x, &zi)
	r.p.Y = ctMul(&p.y, &zi)
	r.p.X.Normalize()
	r.p.Y.Normalize()
	r.p.Z.SetInt(1)
	return r
}

const ctEntryLen = 96

// ctEntry is a table entry: the 96-byte encoding of a ctProj as 64-bit
// words, so that a constant-time lookup masks 12 words per entry instead
// of copying 96 bytes one at a time.
type ctEntry [ctEntryLen / 8]uint64

func (p *ctProj) putBytes(b []byte) {
	p.x.PutBytesUnchecked(b[0:32])
	p.y.PutBytesUnchecked(b[32:64])
	p.z.PutBytesUnchecked(b[64:96])
}

// entry encodes p as a table entry.
func (p *ctProj) entry() ctEntry {
	var b [ctEntryLen]byte
	p.putBytes(b[:])
	var e ctEntry
	for k := range e {
		e[k] = binary.LittleEndian.Uint64(b[8*k:])
	}
	return e
}

// ctSelect returns table[idx] reading every entry: each is masked with all
// ones (the entry at idx) or zero (the others), without a branch or an
// index that depends on idx.
func ctSelect(table *[16]ctEntry, idx uint8) ctProj {
	var sel ctEntry
	for j := range table {
		m := -uint64(subtle.ConstantTimeByteEq(idx, uint8(j)))
		for k := range sel {
			sel[k] |= table[j][k] & m
		}
	}
	var b [ctEntryLen]byte
	for k := range sel {
		binary.LittleEndian.PutUint64(b[8*k:], sel[k])
	}
	var r ctProj
	r.setBytes(b[:])
	clear(b[:])
	clear(sel[:])
	return r
}

func (p *ctProj) setBytes(b []byte) {
	// The entries were normalized, so they are below p and SetByteSlice
	// does not reduce.
	p.x.SetByteSlice(b[0:32])
	p.y.SetByteSlice(b[32:64])
	p.z.SetByteSlice(b[64:96])
}

// ctScalarMult returns s·p in time independent of s.
func ctScalarMult(s *secp256k1.ModNScalar, p *secpPoint) *secpPoint {
	// table[j] = j·p for j = 0..15, encoded for constant-time selection.
	var table [16]ctEntry
	base := ctFromPoint(p)
	acc := ctIdentity()
	table[0] = acc.entry()
	acc = base
	for j := 1; j < 16; j++ {
		if j > 1 {
			acc = ctPointAdd(&acc, &base)
		}
		table[j] = acc.entry()
	}

	k := s.Bytes()
	r := ctIdentity()
	for i := 0; i < 64; i++ {
		if i > 0 {
			for range 4 {
				r = ctPointDouble(&r)
			}
		}
		nib := k[i/2] >> 4
		if i%2 == 1 {
			nib = k[i/2] & 0x0f
		}
		// Read every entry, keep the one at index nib.
		e := ctSelect(&table, nib)
		r = ctPointAdd(&r, &e)
	}
	clear(k[:])
	return ctToPoint(&r)
}

// ctScalarInverse returns a⁻¹ = a^(n−2) mod n by square-and-multiply over
// the public exponent n−2, in time independent of a. The inverse of zero is
// zero.
func ctScalarInverse(a *secp256k1.ModNScalar) secp256k1.ModNScalar {
	var r secp256k1.ModNScalar
	r.SetInt(1)
	for _, byt := range ctOrderMinus2 {
		for bit := 7; bit >= 0; bit-- {
			r.Square()
			if (byt>>bit)&1 == 1 { // the exponent is public
				r.Mul(a)
			}
		}
	}
	return r
}

// ctOrderMinus2 is n − 2, big-endian.
var ctOrderMinus2 = [32]byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x3f,
}
