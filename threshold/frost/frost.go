package frost

import (
	"crypto/sha256"
	"errors"
	"reflect"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vhsm/vhsm/threshold/group"
)

// Errors returned by this package. They never include a share, a nonce or
// any other secret.
var (
	// ErrUnknownSuite is returned when a method is called on the zero Suite.
	ErrUnknownSuite = errors.New("frost: unknown ciphersuite")
	// ErrInvalidKey is returned for missing or unusable key material: a group
	// key or verification key that is nil, the identity or not a secp256k1
	// point; a share that is nil or zero; a nil or zero nonce.
	ErrInvalidKey = errors.New("frost: invalid key material")
	// ErrInvalidTweak is returned by [Suite.NewKey] for an unknown Taproot
	// mode, a BIP-341 tweak not below the group order, or any tweak with the
	// [RFC9591] suite (which signs under the group key only).
	ErrInvalidTweak = errors.New("frost: invalid or unsupported taproot tweak")
	// ErrNoCommitments is returned for a signing package without commitments.
	ErrNoCommitments = errors.New("frost: signing package has no commitments")
	// ErrInvalidID is returned for a participant identifier outside
	// 1..[MaxID].
	ErrInvalidID = errors.New("frost: invalid participant identifier")
	// ErrDuplicateID is returned for a signing package listing an identifier
	// twice.
	ErrDuplicateID = errors.New("frost: duplicate participant identifier")
	// ErrIdentityCommitment is returned for a commitment point that is nil,
	// the identity or not a secp256k1 point (RFC 9591 §3.1
	// SerializeElement fails on the identity; §5.2 validates inputs).
	ErrIdentityCommitment = errors.New("frost: nil, identity or foreign commitment point")
	// ErrUnknownID is returned when the signer, or a share's sender, is not
	// in the signing package.
	ErrUnknownID = errors.New("frost: identifier not in signing package")
	// ErrCommitmentMismatch is returned by Sign when the package's commitment
	// for the signer is not the commitment of the nonce it holds: the
	// coordinator substituted it (or the signer picked the wrong nonce).
	ErrCommitmentMismatch = errors.New("frost: package commitment does not match signer's nonce")
	// ErrIdentityNonce is returned when the group commitment R is the
	// identity (negligible probability with honest nonces).
	ErrIdentityNonce = errors.New("frost: group commitment is the identity")
	// ErrInvalidShare is returned by VerifyShare for a signature share that
	// does not verify against the signer's verification key.
	ErrInvalidShare = errors.New("frost: signature share does not verify")
	// ErrMissingShare is returned by Aggregate when a signer of the package
	// has no share, or a share is nil.
	ErrMissingShare = errors.New("frost: missing signature share")
	// ErrInvalidEncoding is returned by [Commitment.UnmarshalBinary] for
	// bytes that are not a canonical commitment encoding.
	ErrInvalidEncoding = errors.New("frost: invalid commitment encoding")
)

// MaxID is the largest participant identifier: identifiers travel as
// 16-bit integers (Commitment encoding) and are scalars 1..MaxID in the
// protocol (RFC 9591 §3: identifiers are non-zero scalars).
const MaxID = 1<<16 - 1

// Suite is a FROST ciphersuite (RFC 9591 §6): the hash functions H1–H5,
// the challenge and the signature encoding. The zero Suite is invalid; use
// [Taproot] or [RFC9591]. Both run over secp256k1 with SHA-256.
type Suite struct {
	id  int
	ctx string
}

const (
	suiteRFC9591 = 1 + iota
	suiteTaproot
)

var (
	// Taproot is the ciphersuite "FROST-secp256k1-SHA256-TR-v1" of the
	// ZcashFoundation frost-secp256k1-tr crate: RFC 9591's secp256k1 suite
	// with the BIP-340 challenge and even-Y rules and the BIP-341 tweak. Its
	// signatures are 64-byte BIP-340 signatures (package documentation).
	Taproot = Suite{id: suiteTaproot, ctx: "FROST-secp256k1-SHA256-TR-v1"}
	// RFC9591 is FROST(secp256k1, SHA-256), RFC 9591 §6.5, context string
	// "FROST-secp256k1-SHA256-v1". Its signatures are 65 bytes: the 33-byte
	// compressed R followed by the 32-byte z (§6.5 SerializeElement and
	// SerializeScalar; Appendix A signature encoding).
	RFC9591 = Suite{id: suiteRFC9591, ctx: "FROST-secp256k1-SHA256-v1"}
)

// Signature lengths of the two suites.
const (
	// TaprootSignatureLen is the length of a BIP-340 signature: bytes(R) ‖ z.
	TaprootSignatureLen = 64
	// RFC9591SignatureLen is the length of an RFC 9591 secp256k1 signature:
	// SerializeElement(R) ‖ SerializeScalar(z).
	RFC9591SignatureLen = 65
)

// Name returns the suite's context string (RFC 9591 §6 contextString),
// or "" for the zero Suite.
func (s Suite) Name() string { return s.ctx }

// SignatureLen returns the length of the suite's signatures (0 for the zero
// Suite).
func (s Suite) SignatureLen() int {
	switch s.id {
	case suiteTaproot:
		return TaprootSignatureLen
	case suiteRFC9591:
		return RFC9591SignatureLen
	}
	return 0
}

func (s Suite) valid() bool { return s.id == suiteTaproot || s.id == suiteRFC9591 }

func (s Suite) taproot() bool { return s.id == suiteTaproot }

func secp() group.Group { return group.Secp256k1() }

// h1 is RFC 9591 §6.5 H1: hash_to_field(m, 1) with expand_message_xmd
// (SHA-256), DST = contextString ‖ "rho", L = 48, reduced mod n — which is
// group.HashToScalar on secp256k1. Both suites use it unchanged.
func (s Suite) h1(m ...[]byte) group.Scalar {
	return secp().HashToScalar([]byte(s.ctx+"rho"), m...)
}

// h3 is RFC 9591 §6.5 H3 (DST = contextString ‖ "nonce").
func (s Suite) h3(m ...[]byte) group.Scalar {
	return secp().HashToScalar([]byte(s.ctx+"nonce"), m...)
}

// h4 is RFC 9591 §6.5 H4: SHA-256(contextString ‖ "msg" ‖ m).
func (s Suite) h4(m []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(s.ctx + "msg"))
	h.Write(m)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// h5 is RFC 9591 §6.5 H5: SHA-256(contextString ‖ "com" ‖ m).
func (s Suite) h5(m []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(s.ctx + "com"))
	h.Write(m)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// challenge is RFC 9591 §4.6 compute_challenge with the suite's H2.
//
// RFC9591 (§6.5 H2, DST = contextString ‖ "chal"):
//
//	c = H2(SerializeElement(R) ‖ SerializeElement(PK) ‖ msg)
//
// Taproot (frost-secp256k1-tr `challenge` and `H2`): the BIP-340 challenge,
//
//	c = int(hash_BIP0340/challenge(bytes(R) ‖ bytes(Q) ‖ msg)) mod n
//
// over x-only encodings (BIP-340 Sign step 7, Verify step 4).
func (s Suite) challenge(R group.Point, k *Key, msg []byte) group.Scalar {
	if s.taproot() {
		rx := group.XOnly(R)
		h := sha256.New()
		h.Write(tagChallenge[:])
		h.Write(tagChallenge[:])
		h.Write(rx[:])
		h.Write(k.qx[:])
		h.Write(msg)
		var e [32]byte
		h.Sum(e[:0])
		return reduce(e)
	}
	return secp().HashToScalar([]byte(s.ctx+"chal"), R.Bytes(), k.q.Bytes(), msg)
}

// tagChallenge is SHA-256("BIP0340/challenge"), the BIP-340 tagged-hash
// prefix (written twice).
var tagChallenge = sha256.Sum256([]byte("BIP0340/challenge"))

// reduce returns the 32-byte big-endian integer b mod n. Only public hash
// outputs are reduced here.
func reduce(b [32]byte) group.Scalar {
	var s secp256k1.ModNScalar
	s.SetBytes(&b)
	enc := s.Bytes()
	out, err := secp().DecodeScalar(enc[:])
	if err != nil {
		panic("frost: reduced scalar does not decode") // unreachable
	}
	return out
}

var (
	secpPointType  = reflect.TypeOf(group.Secp256k1().Generator())
	secpScalarType = reflect.TypeOf(group.Secp256k1().Zero())
)

// usablePoint reports whether p is a non-identity secp256k1 point. Values
// of another group are rejected here rather than left to panic in group.
func usablePoint(p group.Point) bool {
	return p != nil && reflect.TypeOf(p) == secpPointType && !p.IsIdentity()
}

// usableScalar reports whether s is a non-zero secp256k1 scalar.
func usableScalar(s group.Scalar) bool {
	return s != nil && reflect.TypeOf(s) == secpScalarType && !s.IsZero()
}

// isSecpScalar reports whether s is a secp256k1 scalar (zero allowed).
func isSecpScalar(s group.Scalar) bool {
	return s != nil && reflect.TypeOf(s) == secpScalarType
}
