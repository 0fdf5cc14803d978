package group

import (
	"encoding/binary"
	"math/big"
	"math/bits"
)

// Variable-time point arithmetic in Jacobian coordinates over the 4×64-bit
// field of secp256k1_fe.go, for the multiplications of PUBLIC points
// (secp256k1_strauss.go, msm.go, public.go) and the decoding of public
// points. decred's AddNonConst and DoubleNonConst do the same over its
// ten-limb FieldVal; the limb layout here multiplies about 3–4× faster on
// 64-bit machines, and every operation returns weakly reduced values, so
// there is no normalization between operations.
//
// Everything here branches on the values (the identity, P = ±Q, the
// comparisons of canonical forms): only public points may be given. The
// constant-time code (secp256k1_base.go, secp256k1_ct.go) does not use it.
//
// Formulas (a = 0, as for secp256k1 y² = x³ + 7; b is never used, so they
// also hold on the curves y² = x³ + b' isomorphic to it):
//   - doubling: dbl-2009-l of the Explicit-Formulas Database
//     (hyperelliptic.org/EFD, g1p/auto-shortw-jacobian-0), 2M + 5S;
//   - addition: add-1998-cmo-2 (12M + 4S), and with an affine point
//     (Z2 = 1) madd in the same form (8M + 3S); when the x coordinates
//     agree (H = 0) the points are equal (R = 0: a doubling) or opposite
//     (the identity). secp256k1 has prime order, so no point has y = 0 and
//     a doubling never gives the identity.

// feJac is a point (X : Y : Z) in Jacobian coordinates, x = X/Z²,
// y = Y/Z³, when fin is set; without fin it is the identity (and X, Y, Z
// mean nothing), so the zero value is the identity.
type feJac struct {
	x, y, z fe
	fin     bool
}

// feAff is an affine point, never the identity.
type feAff struct{ x, y fe }

// fePrime is the field prime p = 2^256 − 2^32 − 977, little-endian limbs.
var fePrime = fe{0xfffffffefffffc2f, ^uint64(0), ^uint64(0), ^uint64(0)}

// feEqual reports whether a ≡ b (mod p); variable time.
func feEqual(a, b *fe) bool { return feCanon(a) == feCanon(b) }

// feIsZeroVar reports whether a ≡ 0; variable time.
func feIsZeroVar(a *fe) bool { return feCanon(a) == fe{} }

// neg sets r = −a.
func (r *fe) neg(a *fe) {
	var zero fe
	r.sub(&zero, a)
}

// feLess reports whether the canonical a is below p, i.e. whether the
// 256-bit integer a is a canonical field element.
func feLess(a *fe) bool {
	_, bw := bits.Sub64(a[0], fePrime[0], 0)
	_, bw = bits.Sub64(a[1], fePrime[1], bw)
	_, bw = bits.Sub64(a[2], fePrime[2], bw)
	_, bw = bits.Sub64(a[3], fePrime[3], bw)
	return bw == 1
}

// jac returns a as a Jacobian point (Z = 1).
func (a *feAff) jac() feJac { return feJac{x: a.x, y: a.y, z: fe{1}, fin: true} }

// double sets p = 2q (p may be q).
func (p *feJac) double(q *feJac) {
	if !q.fin {
		p.fin = false
		return
	}
	var a, b, c, d, e, f, t fe
	a.sqr(&q.x)     // A = X1²
	b.sqr(&q.y)     // B = Y1²
	c.sqr(&b)       // C = B²
	d.add(&q.x, &b) // D = 2·((X1 + B)² − A − C)
	d.sqr(&d)
	d.sub(&d, &a)
	d.sub(&d, &c)
	d.add(&d, &d)
	e.add(&a, &a) // E = 3·A
	e.add(&e, &a)
	f.sqr(&e)           // F = E²
	p.z.mul(&q.y, &q.z) // Z3 = 2·Y1·Z1 (before X3, Y3: p may be q)
	p.z.add(&p.z, &p.z)
	t.add(&d, &d)
	p.x.sub(&f, &t) // X3 = F − 2·D
	c.add(&c, &c)   // 8·C
	c.add(&c, &c)
	c.add(&c, &c)
	t.sub(&d, &p.x)
	p.y.mul(&e, &t) // Y3 = E·(D − X3) − 8·C
	p.y.sub(&p.y, &c)
	p.fin = true
}

// addAff sets p = q + a for an affine a (p may be q).
func (p *feJac) addAff(q *feJac, a *feAff) {
	if !q.fin {
		*p = a.jac()
		return
	}
	var z1z1, u2, s2, h, r fe
	z1z1.sqr(&q.z)      // Z1²
	u2.mul(&a.x, &z1z1) // U2 = X2·Z1²
	s2.mul(&q.z, &z1z1) // S2 = Y2·Z1³
	s2.mul(&s2, &a.y)   //
	h.sub(&u2, &q.x)    // H = U2 − X1
	r.sub(&s2, &q.y)    // R = S2 − Y1
	if feIsZeroVar(&h) {
		if feIsZeroVar(&r) {
			p.double(q)
		} else {
			*p = feJac{}
		}
		return
	}
	var hh, hhh, v, t fe
	hh.sqr(&h)        // H²
	hhh.mul(&h, &hh)  // H³
	v.mul(&q.x, &hh)  // V = X1·H²
	p.z.mul(&q.z, &h) // Z3 = Z1·H
	t.mul(&q.y, &hhh) // Y1·H³ (before Y3: p may be q)
	var x3 fe
	x3.sqr(&r) // X3 = R² − H³ − 2·V
	x3.sub(&x3, &hhh)
	x3.sub(&x3, &v)
	x3.sub(&x3, &v)
	v.sub(&v, &x3) // Y3 = R·(V − X3) − Y1·H³
	p.y.mul(&r, &v)
	p.y.sub(&p.y, &t)
	p.x = x3
	p.fin = true
}

// add sets p = q + o (p may be q or o).
func (p *feJac) add(q, o *feJac) {
	switch {
	case !q.fin:
		*p = *o
		return
	case !o.fin:
		*p = *q
		return
	}
	var z1z1, z2z2, u1, u2, s1, s2, h, r fe
	z1z1.sqr(&q.z)
	z2z2.sqr(&o.z)
	u1.mul(&q.x, &z2z2) // U1 = X1·Z2²
	u2.mul(&o.x, &z1z1) // U2 = X2·Z1²
	s1.mul(&o.z, &z2z2) // S1 = Y1·Z2³
	s1.mul(&s1, &q.y)
	s2.mul(&q.z, &z1z1) // S2 = Y2·Z1³
	s2.mul(&s2, &o.y)
	h.sub(&u2, &u1) // H = U2 − U1
	r.sub(&s2, &s1) // R = S2 − S1
	if feIsZeroVar(&h) {
		if feIsZeroVar(&r) {
			p.double(q)
		} else {
			*p = feJac{}
		}
		return
	}
	var hh, hhh, v, z3, x3 fe
	hh.sqr(&h)
	hhh.mul(&h, &hh)
	v.mul(&u1, &hh) // V = U1·H²
	z3.mul(&q.z, &o.z)
	z3.mul(&z3, &h) // Z3 = Z1·Z2·H
	x3.sqr(&r)      // X3 = R² − H³ − 2·V
	x3.sub(&x3, &hhh)
	x3.sub(&x3, &v)
	x3.sub(&x3, &v)
	v.sub(&v, &x3) // Y3 = R·(V − X3) − S1·H³
	s1.mul(&s1, &hhh)
	p.y.mul(&r, &v)
	p.y.sub(&p.y, &s1)
	p.x, p.z = x3, z3
	p.fin = true
}

// feInvVar returns a⁻¹ for a ≢ 0 (zero for zero) in variable time, with
// math/big's extended Euclid (about twice as fast here as feInv's 255
// squarings).
func feInvVar(a *fe) fe {
	c := feCanon(a)
	var b [32]byte
	binary.BigEndian.PutUint64(b[0:], c[3])
	binary.BigEndian.PutUint64(b[8:], c[2])
	binary.BigEndian.PutUint64(b[16:], c[1])
	binary.BigEndian.PutUint64(b[24:], c[0])
	v := new(big.Int).SetBytes(b[:])
	if v.ModInverse(v, fePrimeBig) == nil {
		return fe{}
	}
	v.FillBytes(b[:])
	return fe{
		binary.BigEndian.Uint64(b[24:]), binary.BigEndian.Uint64(b[16:]),
		binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[0:]),
	}
}

// fePrimeBig is p as a big.Int.
var fePrimeBig = mustHexInt("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")

// feBatchAffine sets out[i] to the affine form of in[i], none of which may
// be the identity, with one inversion (Montgomery's trick: invert the
// product of the Z coordinates, then peel each inverse off with two
// multiplications). The coordinates are canonical. len(out) ≥ len(in).
func feBatchAffine(in []feJac, out []feAff) {
	if len(in) == 0 {
		return
	}
	// prefix[i] = z_0·…·z_i.
	prefix := make([]fe, len(in))
	prefix[0] = in[0].z
	for i := 1; i < len(in); i++ {
		prefix[i].mul(&prefix[i-1], &in[i].z)
	}
	inv := feInvVar(&prefix[len(in)-1])
	for i := len(in) - 1; i >= 0; i-- {
		zi := inv // z_i⁻¹ = inv·prefix[i−1]; then inv·z_i = (z_0·…·z_(i−1))⁻¹
		if i > 0 {
			zi.mul(&inv, &prefix[i-1])
			inv.mul(&inv, &in[i].z)
		}
		var zi2, x, y fe
		zi2.sqr(&zi)
		x.mul(&in[i].x, &zi2)
		zi2.mul(&zi2, &zi)
		y.mul(&in[i].y, &zi2)
		out[i] = feAff{x: feCanon(&x), y: feCanon(&y)}
	}
}

// affFromPoint converts a non-identity secpPoint (Z = 1).
func affFromPoint(p *secpPoint) feAff {
	return feAff{x: feFromFieldVal(&p.p.X), y: feFromFieldVal(&p.p.Y)}
}

// toPoint converts p to an affine-normalized secpPoint.
func (p *feJac) toPoint() *secpPoint {
	if !p.fin {
		return &secpPoint{}
	}
	var a [1]feAff
	feBatchAffine([]feJac{*p}, a[:])
	return a[0].toPoint()
}

// toPoint converts a to a secpPoint.
func (a *feAff) toPoint() *secpPoint {
	r := &secpPoint{}
	r.p.X = a.x.fieldVal()
	r.p.Y = a.y.fieldVal()
	r.p.Z.SetInt(1)
	return r
}

// feSqrt returns a square root of a and true, or false if a is not a
// square: a^((p+1)/4) (p ≡ 3 mod 4), checked by squaring. The addition
// chain is libsecp256k1's (secp256k1_fe_sqrt in field_impl.h): (p+1)/4 has
// blocks of 223, 22 and 2 ones, each made from a^(2^k − 1) for k in
// 1, 2, 3, 6, 9, 11, 22, 44, 88, 176, 220, 223; 253 squarings and 13
// multiplications. Variable time only in the final check.
func feSqrt(a *fe) (fe, bool) {
	x2, x22, x223 := fePow223(a)
	var t fe
	// (p+1)/4 = 223 ones, a zero, 22 ones, four zeros, 2 ones, two zeros.
	t.sqrN(&x223, 23)
	t.mul(&t, &x22)
	t.sqrN(&t, 6)
	t.mul(&t, &x2)
	t.sqrN(&t, 2)
	var chk fe
	chk.sqr(&t)
	return t, feEqual(&chk, a)
}

// feFromBytes reads a 32-byte big-endian integer; ok is false if it is
// not below p.
func feFromBytes(b []byte) (fe, bool) {
	_ = b[31]
	be := func(i int) uint64 {
		return uint64(b[i])<<56 | uint64(b[i+1])<<48 | uint64(b[i+2])<<40 | uint64(b[i+3])<<32 |
			uint64(b[i+4])<<24 | uint64(b[i+5])<<16 | uint64(b[i+6])<<8 | uint64(b[i+7])
	}
	a := fe{be(24), be(16), be(8), be(0)}
	return a, feLess(&a)
}

// secpDecompress returns the point with x coordinate x (32 bytes,
// big-endian) and y of the given parity (odd: 1), or false when x is not
// below p or not the x coordinate of a curve point. Public inputs only.
func secpDecompress(x []byte, odd byte) (*secpPoint, bool) {
	xf, ok := feFromBytes(x)
	if !ok {
		return nil, false
	}
	var rhs fe
	rhs.sqr(&xf) // x³ + 7
	rhs.mul(&rhs, &xf)
	rhs.add(&rhs, &fe{7})
	y, ok := feSqrt(&rhs)
	if !ok {
		return nil, false
	}
	y = feCanon(&y)
	if byte(y[0]&1) != odd {
		y.neg(&y)
		y = feCanon(&y)
	}
	a := feAff{x: xf, y: y}
	return a.toPoint(), true
}
