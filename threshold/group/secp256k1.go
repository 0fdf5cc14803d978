package group

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Secp256k1 returns the secp256k1 group (SEC 2 §2.4.1) with the standard
// generator. Points encode as 33-byte SEC1 compressed points; scalars as
// 32-byte big-endian integers below the group order n.
//
// Field and scalar arithmetic use decred's secp256k1 implementation (the one
// under btcec). Its scalar multiplication is variable time, so [Group.BaseMul]
// and [Point.Mul] use this package's constant-time routines instead
// (secp256k1_base.go, a precomputed fixed-base table with its own 4×64-bit
// field arithmetic in secp256k1_fe.go, and secp256k1_ct.go), and
// [Scalar.Inv] a constant-time exponentiation. The variable-time
// multiplications of public points ([MulPublic], [MultiMulPublic],
// [PublicTable]) and the decoding of points run on that 4×64-bit field too
// (secp256k1_jac.go); points are held as decred's affine JacobianPoint and
// converted at the boundary.
func Secp256k1() Group { return secpGroup{} }

type secpGroup struct{}

type secpScalar struct{ s secp256k1.ModNScalar }

// secpPoint holds an affine-normalized Jacobian point (Z = 1), or the
// identity (X = Y = Z = 0 after normalization).
type secpPoint struct{ p secp256k1.JacobianPoint }

func (secpGroup) Name() string   { return "secp256k1" }
func (secpGroup) ScalarLen() int { return 32 }
func (secpGroup) PointLen() int  { return 33 }

func (secpGroup) Zero() Scalar { return &secpScalar{} }

func (secpGroup) ScalarFromUint64(v uint64) Scalar {
	var b [32]byte
	for i := 0; i < 8; i++ {
		b[31-i] = byte(v >> (8 * i))
	}
	s := &secpScalar{}
	s.s.SetBytes(&b) // v < 2^64 < n: no reduction happens
	return s
}

func (g secpGroup) RandomScalar(r io.Reader) (Scalar, error) {
	// Rejection sampling keeps the distribution uniform over [1, n).
	var b [32]byte
	defer clear(b[:])
	for range 128 {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("group: read randomness: %w", err)
		}
		s := &secpScalar{}
		overflow := s.s.SetBytes(&b)
		if overflow == 0 && !s.s.IsZero() {
			return s, nil
		}
	}
	return nil, errors.New("group: randomness source is degenerate")
}

func (secpGroup) DecodeScalar(b []byte) (Scalar, error) {
	if len(b) != 32 {
		return nil, ErrInvalidScalar
	}
	var a [32]byte
	copy(a[:], b)
	defer clear(a[:])
	// decred's SetBytes compares with n in constant time (word-wise
	// constant-time comparisons, ModNScalar.overflows); only the public
	// outcome, valid or not, is branched on.
	s := &secpScalar{}
	if s.s.SetBytes(&a) != 0 {
		return nil, ErrInvalidScalar
	}
	return s, nil
}

func (g secpGroup) HashToScalar(dst []byte, msg ...[]byte) Scalar {
	// RFC 9380 §5 hash_to_field with L = 48 (k = 128): a 384-bit value
	// reduced mod n has bias below 2^-128.
	u, err := expandMessageXMD(dst, 48, msg...)
	if err != nil {
		// Only reachable with a DST longer than 255 bytes: a programming
		// error in a constant, not an input condition.
		panic(err)
	}
	s := g.fromWide(u)
	clear(u)
	return s
}

// secpTwo256ModN is 2^256 mod n = 2^256 − n (n > 2^255), big-endian.
var secpTwo256ModN = func() secp256k1.ModNScalar {
	var s secp256k1.ModNScalar
	s.SetByteSlice([]byte{
		0x01, 0x45, 0x51, 0x23, 0x19, 0x50, 0xb7, 0x5f, 0xc4, 0x40, 0x2d, 0xa1, 0x73, 0x2f, 0xc9, 0xbe, 0xbf,
	})
	return s
}()

// fromWide returns the big-endian integer b (at most 64 bytes) mod n in
// constant time: with b = hi·2^256 + lo (32 bytes each), the result is
// hi·(2^256 mod n) + lo, where SetBytes reduces each half (below 2^256 <
// 2n, one constant-time conditional subtraction suffices) and decred's
// ModNScalar multiplication and addition are constant time.
func (secpGroup) fromWide(b []byte) Scalar {
	if len(b) > 64 {
		panic("group: wide reduction of more than 64 bytes")
	}
	var w [64]byte
	copy(w[64-len(b):], b)
	var hi, lo [32]byte
	copy(hi[:], w[:32])
	copy(lo[:], w[32:])
	s := &secpScalar{}
	var l secp256k1.ModNScalar
	s.s.SetBytes(&hi)
	l.SetBytes(&lo)
	s.s.Mul(&secpTwo256ModN).Add(&l)
	clear(w[:])
	clear(hi[:])
	clear(lo[:])
	l.Zero()
	return s
}

// Generator returns a copy of the generator, computed once (secpGen).
func (secpGroup) Generator() Point {
	p := *secpGen
	return &p
}

func (secpGroup) Identity() Point { return &secpPoint{} }

func (secpGroup) DecodePoint(b []byte) (Point, error) {
	if len(b) != 33 {
		return nil, ErrInvalidPoint
	}
	if subtle.ConstantTimeCompare(b, make([]byte, 33)) == 1 {
		return nil, ErrIdentityPoint
	}
	if b[0] != secp256k1.PubKeyFormatCompressedEven && b[0] != secp256k1.PubKeyFormatCompressedOdd {
		return nil, ErrInvalidPoint
	}
	// x below p, x³ + 7 a square, y of the prefix's parity
	// (secp256k1_jac.go; the same checks as decred's ParsePubKey,
	// FuzzDecodePointDecred).
	p, ok := secpDecompress(b[1:], b[0]&1)
	if !ok {
		return nil, ErrInvalidPoint
	}
	return p, nil
}

func (secpGroup) BaseMul(s Scalar) Point {
	return ctScalarBaseMult(&asSecpScalar(s).s)
}

// secpGen is the generator in affine form.
var secpGen = func() *secpPoint {
	p := &secpPoint{}
	var one secp256k1.ModNScalar
	one.SetInt(1)
	secp256k1.ScalarBaseMultNonConst(&one, &p.p)
	p.p.ToAffine()
	return p
}()

func asSecpScalar(s Scalar) *secpScalar {
	v, ok := s.(*secpScalar)
	if !ok {
		panic("group: secp256k1 scalar mixed with another group's scalar")
	}
	return v
}

func asSecpPoint(p Point) *secpPoint {
	v, ok := p.(*secpPoint)
	if !ok {
		panic("group: secp256k1 point mixed with another group's point")
	}
	return v
}

func (a *secpScalar) Add(o Scalar) Scalar {
	r := &secpScalar{}
	r.s.Add2(&a.s, &asSecpScalar(o).s)
	return r
}

func (a *secpScalar) Sub(o Scalar) Scalar {
	var neg secp256k1.ModNScalar
	neg.NegateVal(&asSecpScalar(o).s)
	r := &secpScalar{}
	r.s.Add2(&a.s, &neg)
	return r
}

func (a *secpScalar) Mul(o Scalar) Scalar {
	r := &secpScalar{}
	r.s.Mul2(&a.s, &asSecpScalar(o).s)
	return r
}

func (a *secpScalar) Neg() Scalar {
	r := &secpScalar{}
	r.s.NegateVal(&a.s)
	return r
}

func (a *secpScalar) Inv() Scalar {
	return &secpScalar{s: ctScalarInverse(&a.s)}
}

func (a *secpScalar) Equal(o Scalar) bool {
	x, y := a.s.Bytes(), asSecpScalar(o).s.Bytes()
	eq := subtle.ConstantTimeCompare(x[:], y[:]) == 1
	clear(x[:])
	clear(y[:])
	return eq
}

func (a *secpScalar) IsZero() bool { return a.s.IsZero() }

func (a *secpScalar) Bytes() []byte {
	b := a.s.Bytes()
	return b[:]
}

func (p *secpPoint) isInf() bool {
	return (p.p.X.IsZero() && p.p.Y.IsZero()) || p.p.Z.IsZero()
}

// Add is variable time (as decred's AddNonConst, which it replaced, was):
// a mixed addition on the 4×64-bit field and one inversion
// (secp256k1_jac.go).
func (p *secpPoint) Add(o Point) Point {
	q := asSecpPoint(o)
	switch {
	case p.isInf() && q.isInf():
		return &secpPoint{}
	case p.isInf():
		return &secpPoint{p: q.p}
	case q.isInf():
		return &secpPoint{p: p.p}
	}
	a, b := affFromPoint(p), affFromPoint(q)
	j := a.jac()
	j.addAff(&j, &b)
	return j.toPoint()
}

func (p *secpPoint) Sub(o Point) Point { return p.Add(o.Neg()) }

func (p *secpPoint) Neg() Point {
	if p.isInf() {
		return &secpPoint{}
	}
	r := &secpPoint{p: p.p}
	r.p.Y.Negate(1).Normalize()
	return r
}

func (p *secpPoint) Mul(s Scalar) Point {
	return ctScalarMult(&asSecpScalar(s).s, p)
}

func (p *secpPoint) Equal(o Point) bool {
	q := asSecpPoint(o)
	if p.isInf() || q.isInf() {
		return p.isInf() == q.isInf()
	}
	return p.p.X.Equals(&q.p.X) && p.p.Y.Equals(&q.p.Y)
}

func (p *secpPoint) IsIdentity() bool { return p.isInf() }

func (p *secpPoint) Bytes() []byte {
	if p.isInf() {
		return make([]byte, 33)
	}
	return secp256k1.NewPublicKey(&p.p.X, &p.p.Y).SerializeCompressed()
}

// XOnly returns the 32-byte x coordinate of a secp256k1 point (BIP-340
// bytes(P)). It returns zeros for the identity.
func XOnly(p Point) [32]byte {
	var out [32]byte
	q := asSecpPoint(p)
	if q.isInf() {
		return out
	}
	q.p.X.PutBytes(&out)
	return out
}

// HasEvenY reports whether a secp256k1 point has an even y coordinate
// (BIP-340 has_even_y). The identity reports false.
func HasEvenY(p Point) bool {
	q := asSecpPoint(p)
	return !q.isInf() && !q.p.Y.IsOdd()
}

// LiftX returns the secp256k1 point with x coordinate x and even y
// (BIP-340 lift_x), or ErrInvalidPoint if x is not a field element or not
// the x coordinate of a curve point.
func LiftX(x []byte) (Point, error) {
	if len(x) != 32 {
		return nil, ErrInvalidPoint
	}
	b := make([]byte, 33)
	b[0] = secp256k1.PubKeyFormatCompressedEven
	copy(b[1:], x)
	p, err := Secp256k1().DecodePoint(b)
	if err != nil {
		return nil, ErrInvalidPoint
	}
	return p, nil
}
