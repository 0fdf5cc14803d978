package schnorr

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"reflect"

	"github.com/vhsm/vhsm/threshold/group"
)

// Encoding lengths.
const (
	// SignatureLen is the length of a BIP-340 signature: bytes(R) ‖ bytes(s).
	SignatureLen = 64
	// XOnlyLen is the length of an x-only public key (BIP-340 bytes(P)).
	XOnlyLen = 32
)

// Errors returned by this package. They never include secret values.
var (
	// ErrInvalidKey is returned for a group key that is nil, the identity or
	// not a secp256k1 point.
	ErrInvalidKey = errors.New("schnorr: invalid key material")
	// ErrInvalidTaproot is returned for an unknown Taproot mode, or a Taproot
	// tweak that is not below the group order (BIP-341
	// taproot_tweak_pubkey: "if t >= SECP256K1_ORDER: raise ValueError").
	ErrInvalidTaproot = errors.New("schnorr: invalid taproot tweak")
)

// TaprootMode selects which key a signature verifies against.
type TaprootMode int

const (
	// TaprootNone signs plain BIP-340 under the x-only group key P.
	TaprootNone TaprootMode = iota
	// TaprootBIP86 signs under the BIP-341 output key of P with no script
	// tree (BIP-86: Q = P + int(hash_TapTweak(bytes(P)))·G).
	TaprootBIP86
	// TaprootScript signs under the BIP-341 output key of P committing to
	// the script tree with merkle root [Taproot.MerkleRoot].
	TaprootScript
)

// Taproot is the Taproot option of a signature. The zero value is
// [TaprootNone].
type Taproot struct {
	Mode TaprootMode
	// MerkleRoot is the script tree's merkle root; used only by TaprootScript.
	MerkleRoot [32]byte
}

func secp() group.Group { return group.Secp256k1() }

var secpPointType = reflect.TypeOf(group.Secp256k1().Generator())

// usable reports whether P is a secp256k1 point other than the identity.
// A point of another group (say a BLS12-381 key passed by mistake) is
// unusable rather than a panic in the group arithmetic.
func usable(P group.Point) bool {
	return P != nil && reflect.TypeOf(P) == secpPointType && !P.IsIdentity()
}

// Tag hashes of BIP-340 §"Design" tagged hashes: hash_tag(x) =
// SHA256(SHA256(tag) ‖ SHA256(tag) ‖ x).
const (
	tagChallenge = "BIP0340/challenge"
	tagTapTweak  = "TapTweak"
)

func taggedHash(tag string, parts ...[]byte) [32]byte {
	th := sha256.Sum256([]byte(tag))
	h := sha256.New()
	h.Write(th[:])
	h.Write(th[:])
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

var secpN = new(big.Int).SetBytes([]byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
})

// scalarModN returns int(b) mod n as a scalar. b is public (a hash output).
func scalarModN(b [32]byte) group.Scalar {
	v := new(big.Int).SetBytes(b[:])
	v.Mod(v, secpN)
	var out [32]byte
	v.FillBytes(out[:])
	s, err := secp().DecodeScalar(out[:])
	if err != nil {
		panic("schnorr: reduced scalar does not decode") // unreachable: out < n
	}
	return s
}

// challenge returns BIP-340 e = int(hash_BIP0340/challenge(bytes(R) ‖
// bytes(P) ‖ m)) mod n, for a message of any length.
func challenge(rx, px [32]byte, msg []byte) group.Scalar {
	return scalarModN(taggedHash(tagChallenge, rx[:], px[:], msg))
}

// TapTweak returns BIP-341 t = int(hash_TapTweak(bytes(P) ‖ root)) for the
// x-only internal key, with an empty root for [TaprootBIP86]. It returns
// ErrInvalidTaproot for [TaprootNone], an unknown mode, or t ≥ n.
func TapTweak(internal [32]byte, tr Taproot) (group.Scalar, error) {
	var h [32]byte
	switch tr.Mode {
	case TaprootBIP86:
		// BIP-86: "the internal key ... tweaked with an empty script tree":
		// taproot_tweak_pubkey(P, b"").
		h = taggedHash(tagTapTweak, internal[:])
	case TaprootScript:
		h = taggedHash(tagTapTweak, internal[:], tr.MerkleRoot[:])
	default:
		return nil, ErrInvalidTaproot
	}
	// BIP-341 taproot_tweak_pubkey: t = int_from_bytes(tagged_hash(...));
	// if t >= SECP256K1_ORDER: raise ValueError.
	t, err := secp().DecodeScalar(h[:])
	if err != nil {
		return nil, ErrInvalidTaproot
	}
	return t, nil
}

// outputKey computes the point signatures verify against: the output point
// Q with its real parity, lift_x(x(P)) without Taproot.
func outputKey(P group.Point, tr Taproot) (group.Point, error) {
	g := secp()
	if !usable(P) {
		return nil, ErrInvalidKey
	}
	// BIP-341 taproot_tweak_pubkey / BIP-340 lift_x: P' = lift_x(x(P)) is P
	// if has_even_y(P), else −P.
	Pprime := P
	if !group.HasEvenY(P) {
		Pprime = P.Neg()
	}
	if tr.Mode == TaprootNone {
		return Pprime, nil
	}
	t, err := TapTweak(group.XOnly(P), tr)
	if err != nil {
		return nil, err
	}
	// BIP-341 taproot_tweak_pubkey: Q = point_add(P', point_mul(G, t)).
	Q := Pprime.Add(g.BaseMul(t))
	if Q.IsIdentity() {
		return nil, ErrInvalidTaproot
	}
	return Q, nil
}

// OutputKey returns the x-only key that signatures made with tr verify
// against, and whether its Y coordinate is odd (the parity bit of a BIP-341
// control block). For TaprootNone it is bytes(P) with even parity by
// definition of lift_x; otherwise it is BIP-341 taproot_tweak_pubkey(P, h).
func OutputKey(groupKey group.Point, tr Taproot) (xonly [32]byte, oddY bool, err error) {
	Q, err := outputKey(groupKey, tr)
	if err != nil {
		return xonly, false, fmt.Errorf("output key: %w", err)
	}
	return group.XOnly(Q), !group.HasEvenY(Q), nil
}

// secpP is the field prime p of secp256k1.
var secpP = new(big.Int).SetBytes([]byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xfc, 0x2f,
})

// Verify reports whether sig is a valid BIP-340 signature on msg under the
// x-only public key xonlyPub. Messages may have any length (BIP-340
// "Messages of arbitrary size"); every other rule is BIP-340 Verify.
func Verify(xonlyPub [32]byte, msg []byte, sig [SignatureLen]byte) bool {
	// BIP-340 Verify: let P = lift_x(int(pk)); fail if that fails.
	P, err := group.LiftX(xonlyPub[:])
	if err != nil {
		return false
	}
	return verifyLifted(P, nil, xonlyPub, msg, sig)
}

// VerifyPoint is [Verify] under the x-only key bytes(P), for a caller that
// holds the key as a point already (a prepared signing key): it skips
// lift_x, whose square root costs about a tenth of a verification. P may
// have either Y parity (lift_x(bytes(P)) is P or −P); it returns false for
// a nil, identity or non-secp256k1 P.
func VerifyPoint(P group.Point, msg []byte, sig [SignatureLen]byte) bool {
	if !usable(P) {
		return false
	}
	if !group.HasEvenY(P) {
		P = P.Neg() // lift_x(bytes(P))
	}
	return verifyLifted(P, nil, group.XOnly(P), msg, sig)
}

// VerifyTable is [VerifyPoint] with a precomputed table of the key
// (group.NewPublicTable), for a key that verifies many signatures: about
// 15% less work a verification. The table's point must have even Y (it is
// lift_x of the x-only key); VerifyTable returns false otherwise, and for a
// nil table.
func VerifyTable(t *group.PublicTable, msg []byte, sig [SignatureLen]byte) bool {
	if t == nil {
		return false
	}
	P := t.Point()
	if !group.HasEvenY(P) {
		return false
	}
	return verifyLifted(P, t, group.XOnly(P), msg, sig)
}

// verifyLifted is BIP-340 Verify after lift_x: P = lift_x(xonlyPub), with
// tab P's precomputed table or nil.
func verifyLifted(P group.Point, tab *group.PublicTable, xonlyPub [32]byte, msg []byte, sig [SignatureLen]byte) bool {
	g := secp()
	// Let r = int(sig[0:32]); fail if r ≥ p.
	if new(big.Int).SetBytes(sig[:32]).Cmp(secpP) >= 0 {
		return false
	}
	// Let s = int(sig[32:64]); fail if s ≥ n.
	s, err := g.DecodeScalar(sig[32:])
	if err != nil {
		return false
	}
	// Let e = int(hash_BIP0340/challenge(bytes(r) ‖ bytes(P) ‖ m)) mod n.
	var r [32]byte
	copy(r[:], sig[:32])
	e := challenge(r, xonlyPub, msg)
	// Let R = s·G − e·P: public values only, one variable-time
	// multi-scalar multiplication.
	var R group.Point
	if tab != nil {
		R = tab.BaseMulAdd(s, e.Neg())
	} else if R, err = group.MultiMulPublic(g, []group.Point{g.Generator(), P}, []group.Scalar{s, e.Neg()}); err != nil {
		return false
	}
	// Fail if is_infinite(R), not has_even_y(R), or x(R) ≠ r.
	if R.IsIdentity() || !group.HasEvenY(R) {
		return false
	}
	return group.XOnly(R) == r
}
