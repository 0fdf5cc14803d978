// Package group is the prime-order group abstraction that polynomial sharing,
// Feldman commitments and the DKG are written against, with two
// implementations: secp256k1 ([Secp256k1], for BIP-340 Schnorr) and the G1
// group of BLS12-381 ([BLS12381G1], for Ethereum BLS public keys and the DiSE
// DPRF).
//
// Scalars and points are immutable values: every operation returns a new
// value and never modifies its receiver or arguments, so they may be shared
// freely. Decoders accept only canonical encodings and are the boundary for
// untrusted input: [Group.DecodePoint] rejects the identity, off-curve and
// wrong-subgroup points; [Group.DecodeScalar] rejects values ≥ the order
// and accepts zero (a BIP-340 signature may carry s = 0), so callers that
// take a secret or a key check [Scalar.IsZero], as every signing and
// evaluation entry point of threshold/ does.
//
// Scalars are often secrets (shares, keys, nonces), so everything that
// touches their value is constant time: [Group.DecodeScalar] compares an
// encoding with the order by a byte-wise borrow chain (secp256k1: decred's
// constant-time overflow check) and branches only on the public outcome;
// [Group.HashToScalar] reduces its wide hash without math/big; on BLS12-381
// a value enters herumi in pieces below 2^192, since herumi's own loaders
// are variable time in the value (blsFrom); temporary
// byte copies of a scalar are cleared after use where this package makes
// them. [HedgedNonce] derives the nonce of every zero-knowledge proof in
// threshold/ from the secret, the statement and fresh randomness, so that a
// failing random source cannot leak the secret.
//
// Encodings and algorithms follow: SEC 1 v2 §2.3.3–2.3.4 and SEC 2 §2.4.1
// (secp256k1 compressed points), BIP-340 lift_x and has_even_y; the ZCash
// BLS12-381 serialization used by Ethereum (the "ZCash serialization format"
// appendix of draft-irtf-cfrg-pairing-friendly-curves) with subgroup checks; RFC 9380 expand_message_xmd,
// hash_to_field and the BLS12381G1_XMD:SHA-256_SSWU_RO_ suite; the complete
// addition formulas of Renes, Costello and Batina (EUROCRYPT 2016) for the
// constant-time secp256k1 ladder and, with the signed fixed-base windows of
// Bernstein, Duif, Lange, Schwabe and Yang (CHES 2011, §4), for the
// constant-time secp256k1 base multiplication; Pippenger's bucket method
// for public multi-scalar multiplication.
package group

import (
	"errors"
	"io"
)

// Errors returned by decoders. They never include the rejected bytes.
var (
	// ErrInvalidScalar is returned for a scalar encoding that is not
	// canonical (wrong length or not below the group order).
	ErrInvalidScalar = errors.New("group: invalid scalar encoding")
	// ErrZeroScalar is returned where a non-zero scalar is required.
	ErrZeroScalar = errors.New("group: zero scalar")
	// ErrInvalidPoint is returned for a point encoding that is not canonical,
	// not on the curve, or not in the prime-order subgroup.
	ErrInvalidPoint = errors.New("group: invalid point encoding")
	// ErrIdentityPoint is returned where the identity (point at infinity)
	// was encoded; untrusted input may never carry it.
	ErrIdentityPoint = errors.New("group: identity point")
)

// Group is a cyclic group of prime order with a fixed generator.
type Group interface {
	// Name is a stable identifier ("secp256k1", "bls12381g1") used in
	// encodings and domain separation.
	Name() string
	// ScalarLen is the length of a scalar encoding in bytes (32 for both).
	ScalarLen() int
	// PointLen is the length of a compressed point encoding in bytes
	// (33 for secp256k1 SEC1, 48 for BLS12-381 G1 in the ZCash/Ethereum format).
	PointLen() int

	// Zero returns the additive identity of the scalar field.
	Zero() Scalar
	// ScalarFromUint64 returns v mod the group order.
	ScalarFromUint64(v uint64) Scalar
	// RandomScalar draws a uniformly random non-zero scalar from r.
	RandomScalar(r io.Reader) (Scalar, error)
	// DecodeScalar parses a canonical big-endian scalar. Zero is accepted;
	// callers that need non-zero check [Scalar.IsZero]. The range check
	// against the order is constant time: b may be a share or a key.
	DecodeScalar(b []byte) (Scalar, error)
	// HashToScalar maps arbitrary data to a scalar, domain-separated by dst,
	// with negligible bias (wide reduction of an expanded hash).
	HashToScalar(dst []byte, msg ...[]byte) Scalar

	// Generator returns the fixed generator.
	Generator() Point
	// Identity returns the identity element.
	Identity() Point
	// DecodePoint parses a canonical compressed point and rejects the
	// identity ([ErrIdentityPoint]) and every invalid encoding ([ErrInvalidPoint]).
	DecodePoint(b []byte) (Point, error)
	// BaseMul returns s·G, in constant time with respect to s.
	BaseMul(s Scalar) Point
}

// Scalar is an element of the scalar field Z_q. Arithmetic on secrets is
// constant time in both implementations.
type Scalar interface {
	Add(o Scalar) Scalar
	Sub(o Scalar) Scalar
	Mul(o Scalar) Scalar
	Neg() Scalar
	// Inv returns the multiplicative inverse; the inverse of zero is zero.
	Inv() Scalar
	// Equal compares in constant time.
	Equal(o Scalar) bool
	IsZero() bool
	// Bytes returns the canonical big-endian encoding of ScalarLen bytes.
	Bytes() []byte
}

// Point is a group element.
type Point interface {
	Add(o Point) Point
	Sub(o Point) Point
	Neg() Point
	// Mul returns s·P, constant time with respect to s.
	Mul(s Scalar) Point
	Equal(o Point) bool
	IsIdentity() bool
	// Bytes returns the canonical compressed encoding of PointLen bytes.
	// The identity encodes as the group's canonical infinity encoding
	// (all zero for secp256k1; 0xc0 followed by zeros for BLS12-381),
	// which DecodePoint rejects.
	Bytes() []byte
}
