package schnorr

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// Encoding lengths.
const (
	// SignatureLen is the length of a BIP-340 signature: bytes(R) ‖ bytes(s).
	SignatureLen = 64
	// PartialLen is the length of a partial signature: the 32-byte
	// big-endian scalar s_i, below the group order.
	PartialLen = 32
	// XOnlyLen is the length of an x-only public key (BIP-340 bytes(P)).
	XOnlyLen = 32
)

// Errors returned by this package. They never include secret values.
var (
	// ErrInvalidPartial is returned for a partial signature that does not
	// decode: wrong length or a scalar not below the group order.
	ErrInvalidPartial = errors.New("schnorr: invalid partial signature encoding")
	// ErrVerify is returned when a well-formed partial signature, or a
	// combined signature, does not verify.
	ErrVerify = errors.New("schnorr: signature does not verify")
	// ErrInvalidKey is returned for missing or unusable key material: a
	// group key, verification key or nonce point that is nil, the identity
	// or not a secp256k1 point, or a share or nonce share that is nil, zero
	// or not a secp256k1 scalar.
	ErrInvalidKey = errors.New("schnorr: invalid key material")
	// ErrInvalidThreshold is returned for a threshold t outside 0..vss.MaxDegree.
	ErrInvalidThreshold = errors.New("schnorr: invalid threshold")
	// ErrInvalidTaproot is returned for an unknown Taproot mode, or a Taproot
	// tweak that is not below the group order (BIP-341
	// taproot_tweak_pubkey: "if t >= SECP256K1_ORDER: raise ValueError").
	ErrInvalidTaproot = errors.New("schnorr: invalid taproot tweak")
	// ErrNotEnoughPartials is returned by [Combine] when fewer than t+1
	// valid partial signatures were supplied; it is wrapped in a
	// [*CulpritError] when some partials were invalid.
	ErrNotEnoughPartials = errors.New("schnorr: not enough valid partial signatures")
)

// CulpritError names the replicas whose partial results were invalid; see
// [vss.CulpritError].
type CulpritError = vss.CulpritError

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

// PublicKey is the public material of a shared signing key, as derived from
// the DKG commitments: the group key P = x·G (of either Y parity), the
// verification key X_i = x_i·G of every participant i in 1..n, and the
// threshold t (polynomial degree; t+1 partials sign).
type PublicKey struct {
	GroupKey         group.Point
	VerificationKeys map[int]group.Point
	Threshold        int
}

// PublicNonce is the public material of one nonce: R = k·G and
// R_i = k_i·G for every participant i. In the protocol it is the output of
// [NoncePair.Bind] for one (key, Taproot option, message). A pre-dealt
// single nonce (R from DKG commitments, known before the message is chosen)
// is unsafe whenever the requester can choose messages after seeing R: the
// ROS attack forges signatures from ≈256 such nonces (package
// documentation, "Security"). That use remains only for the BIP-340 test
// vectors. A nonce must be used for exactly one (key, message).
type PublicNonce struct {
	R           group.Point
	Commitments map[int]group.Point
}

func secp() group.Group { return group.Secp256k1() }

var (
	secpPointType  = reflect.TypeOf(group.Secp256k1().Generator())
	secpScalarType = reflect.TypeOf(group.Secp256k1().Zero())
)

// usable reports whether P is a secp256k1 point other than the identity.
// A point of another group (say a BLS12-381 key passed by mistake) is
// unusable rather than a panic in the group arithmetic.
func usable(P group.Point) bool {
	return P != nil && reflect.TypeOf(P) == secpPointType && !P.IsIdentity()
}

// usableSecret reports whether s is a non-zero secp256k1 scalar.
func usableSecret(s group.Scalar) bool {
	return s != nil && reflect.TypeOf(s) == secpScalarType && !s.IsZero()
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

// signingContext holds the public values every party derives identically
// for one signature.
type signingContext struct {
	// keySign is ±1 (as a scalar) applied to every key share: the product of
	// the even-Y negation for P (BIP-340 Sign step 3 / BIP-341
	// taproot_tweak_seckey) and the one for the output key Q.
	keySign group.Scalar
	// tweakTerm is e·(±t), the Taproot term of the tweaked key negated with
	// Q, added once by the combiner (zero without Taproot).
	tweakTerm group.Scalar
	// nonceNeg reports whether R has odd Y (BIP-340 Sign step 6).
	nonceNeg bool
	// xonlyQ is bytes(Q), the key the signature verifies against.
	xonlyQ [32]byte
	rx     [32]byte
	e      group.Scalar
}

// outputKey computes the key signatures verify against. It returns the
// output point Q (with its real parity; lift_x(x(P)) without Taproot),
// whether P has even Y (so that the secret is used as is, not negated), and
// the tweak t (zero without Taproot).
func outputKey(P group.Point, tr Taproot) (Q group.Point, pEven bool, t group.Scalar, err error) {
	g := secp()
	if !usable(P) {
		return nil, false, nil, ErrInvalidKey
	}
	// BIP-341 taproot_tweak_seckey / BIP-340 Sign step 3: the secret key of
	// P' = lift_x(x(P)) is d if has_even_y(P), else n − d.
	pEven = group.HasEvenY(P)
	Pprime := P
	if !pEven {
		Pprime = P.Neg()
	}
	if tr.Mode == TaprootNone {
		return Pprime, pEven, g.Zero(), nil
	}
	t, err = TapTweak(group.XOnly(P), tr)
	if err != nil {
		return nil, false, nil, err
	}
	// BIP-341 taproot_tweak_pubkey: Q = point_add(P', point_mul(G, t)).
	Q = Pprime.Add(g.BaseMul(t))
	if Q.IsIdentity() {
		return nil, false, nil, ErrInvalidTaproot
	}
	return Q, pEven, t, nil
}

// OutputKey returns the x-only key that signatures made with tr verify
// against, and whether its Y coordinate is odd (the parity bit of a BIP-341
// control block). For TaprootNone it is bytes(P) with even parity by
// definition of lift_x; otherwise it is BIP-341 taproot_tweak_pubkey(P, h).
func OutputKey(groupKey group.Point, tr Taproot) (xonly [32]byte, oddY bool, err error) {
	Q, _, _, err := outputKey(groupKey, tr)
	if err != nil {
		return xonly, false, fmt.Errorf("output key: %w", err)
	}
	return group.XOnly(Q), !group.HasEvenY(Q), nil
}

func newContext(groupKey, R group.Point, tr Taproot, msg []byte) (*signingContext, error) {
	g := secp()
	if !usable(R) {
		return nil, ErrInvalidKey
	}
	Q, pEven, t, err := outputKey(groupKey, tr)
	if err != nil {
		return nil, err
	}
	one := g.ScalarFromUint64(1)
	keySign := one
	if !pEven {
		keySign = keySign.Neg()
	}
	tweakTerm := t
	// BIP-340 Sign step 3 applied to the tweaked key (BIP-341
	// taproot_sign_key signs with the tweaked secret, and BIP-340 negates
	// it when Q has odd Y): d_Q = (d' + t) if has_even_y(Q), else n − (d' + t).
	if !group.HasEvenY(Q) {
		keySign = keySign.Neg()
		tweakTerm = tweakTerm.Neg()
	}
	c := &signingContext{
		keySign:  keySign,
		nonceNeg: !group.HasEvenY(R),
		xonlyQ:   group.XOnly(Q),
		rx:       group.XOnly(R),
	}
	// BIP-340 Sign step 7: e = int(hash_BIP0340/challenge(bytes(R) ‖
	// bytes(P) ‖ m)) mod n, with P the signing (output) key.
	c.e = challenge(c.rx, c.xonlyQ, msg)
	c.tweakTerm = c.e.Mul(tweakTerm)
	return c, nil
}

// PartialSign returns replica i's partial signature s_i = k_i' + e·d_i' on
// msg (PartialLen bytes), where share is x_i and nonceShare is k_i of the
// nonce whose public material is nonce. Only key.GroupKey and nonce.R are
// used. The caller must make sure this nonce is used for this one (key,
// message) only: signing two messages with one nonce reveals the share.
//
// PartialSign is the low-level step under the nonce-pair protocol: nonce
// and nonceShare should come from [NoncePair.Bind] and [NonceShares.Bind]
// for the same key, tr and msg. Called directly with a pre-dealt single
// nonce it is unsafe whenever the requester can choose msg after seeing R
// (ROS attack; see "Security" in the package documentation).
func PartialSign(key *PublicKey, nonce *PublicNonce, tr Taproot, msg []byte, share, nonceShare group.Scalar) ([]byte, error) {
	if key == nil || nonce == nil || !usableSecret(share) || !usableSecret(nonceShare) {
		return nil, fmt.Errorf("partial sign: %w", ErrInvalidKey)
	}
	c, err := newContext(key.GroupKey, nonce.R, tr, msg)
	if err != nil {
		return nil, fmt.Errorf("partial sign: %w", err)
	}
	// BIP-340 Sign step 6: k = k' if has_even_y(R), otherwise n − k'. R is
	// the interpolation of the R_i, so negating every nonce share negates k.
	k := nonceShare
	if c.nonceNeg {
		k = k.Neg()
	}
	// BIP-340 Sign step 8, per share: s_i = k_i + e·d_i with d_i the share
	// of the (negated, tweaked) secret; the e·t term of the tweaked key is
	// added once by the combiner.
	s := k.Add(c.e.Mul(c.keySign.Mul(share)))
	return s.Bytes(), nil
}

// decodePartial parses a partial signature: a canonical scalar below n.
func decodePartial(b []byte) (group.Scalar, error) {
	if len(b) != PartialLen {
		return nil, ErrInvalidPartial
	}
	s, err := secp().DecodeScalar(b)
	if err != nil {
		return nil, ErrInvalidPartial
	}
	return s, nil
}

// VerifyPartial checks replica i's partial signature against its
// verification key X_i and nonce commitment R_i:
// s_i·G == R_i' + e·X_i', with the same negations as [PartialSign]. It
// returns nil if the partial is valid, an error wrapping ErrInvalidPartial
// or ErrVerify if it is not (the replica is at fault), and an error wrapping
// ErrInvalidKey if the public material for i is missing or unusable.
func VerifyPartial(key *PublicKey, nonce *PublicNonce, tr Taproot, msg []byte, i int, partial []byte) error {
	if key == nil || nonce == nil {
		return fmt.Errorf("verify partial: %w", ErrInvalidKey)
	}
	c, err := newContext(key.GroupKey, nonce.R, tr, msg)
	if err != nil {
		return fmt.Errorf("verify partial: %w", err)
	}
	return c.verifyPartial(key, nonce, i, partial)
}

func (c *signingContext) verifyPartial(key *PublicKey, nonce *PublicNonce, i int, partial []byte) error {
	X, R := key.VerificationKeys[i], nonce.Commitments[i]
	if !usable(X) || !usable(R) {
		return fmt.Errorf("verify partial %d: %w", i, ErrInvalidKey)
	}
	s, err := decodePartial(partial)
	if err != nil {
		return fmt.Errorf("verify partial %d: %w", i, err)
	}
	if c.nonceNeg {
		R = R.Neg()
	}
	// s_i·G == R_i' + e·(±X_i)
	want := R.Add(group.MulPublic(X, c.e.Mul(c.keySign))) // public values only
	if !secp().BaseMul(s).Equal(want) {
		return fmt.Errorf("verify partial %d: %w", i, ErrVerify)
	}
	return nil
}

// Combine robustly combines partial signatures on msg into a BIP-340
// signature under the key [OutputKey](key.GroupKey, tr). partials holds the
// partial signatures received, keyed by replica index. Every partial is
// verified, so that every misbehaving sender is named; the t+1 valid ones
// with the smallest indices are interpolated at zero, the Taproot term e·t
// is added once, and the result is checked with [Verify] before it is
// returned.
//
// If some partials were invalid (or came from a replica without public
// material) but t+1 valid ones remained, Combine returns the signature
// together with a [*CulpritError] whose Err is nil; callers that only want
// the signature check it for non-nil. If fewer than t+1 partials are valid,
// it returns no signature (the zero array) and an error wrapping
// [ErrNotEnoughPartials] (inside a [*CulpritError] when there are culprits).
// It never returns a signature that does not verify.
func Combine(key *PublicKey, nonce *PublicNonce, tr Taproot, msg []byte, partials map[int][]byte) ([SignatureLen]byte, error) {
	var sig [SignatureLen]byte
	c, err := combineContext(key, nonce, tr, msg)
	if err != nil {
		return sig, err
	}
	t := key.Threshold
	indices := make([]int, 0, len(partials))
	for i := range partials {
		indices = append(indices, i)
	}
	slices.Sort(indices)

	var culprits []int
	valid := make([]int, 0, t+1)
	shares := make([]group.Scalar, 0, t+1)
	for _, i := range indices {
		// A partial from an index without public material cannot be
		// checked, so it is unusable: its sender is named like the sender
		// of an invalid one.
		if i < 1 || i > vss.MaxIndex || key.VerificationKeys[i] == nil || nonce.Commitments[i] == nil {
			culprits = append(culprits, i)
			continue
		}
		if err := c.verifyPartial(key, nonce, i, partials[i]); err != nil {
			if errors.Is(err, ErrInvalidKey) {
				// Our own public material is unusable: no replica is to blame.
				return sig, fmt.Errorf("combine partials: %w", err)
			}
			culprits = append(culprits, i)
			continue
		}
		if len(valid) == t+1 {
			continue // valid but not needed; verified only to name culprits
		}
		s, err := decodePartial(partials[i]) // verified above
		if err != nil {
			return sig, fmt.Errorf("combine partials: %w", err)
		}
		valid = append(valid, i)
		shares = append(shares, s)
	}
	if len(valid) < t+1 {
		if len(culprits) > 0 {
			return sig, &CulpritError{Scheme: "schnorr", Culprits: culprits, Err: ErrNotEnoughPartials}
		}
		return sig, ErrNotEnoughPartials
	}

	sig, err = c.interpolate(msg, valid, shares)
	if err != nil {
		// With public material consistent with the group key this cannot
		// fail, so a failure means the verification keys or nonce
		// commitments do not match the group key or R.
		return sig, err
	}
	if len(culprits) > 0 {
		return sig, &CulpritError{Scheme: "schnorr", Culprits: culprits}
	}
	return sig, nil
}

// combineContext checks the combiners' arguments and returns the signing
// context of (key, nonce, tr, msg).
func combineContext(key *PublicKey, nonce *PublicNonce, tr Taproot, msg []byte) (*signingContext, error) {
	if key == nil || nonce == nil {
		return nil, fmt.Errorf("combine partials: %w", ErrInvalidKey)
	}
	if key.Threshold < 0 || key.Threshold > vss.MaxDegree {
		return nil, fmt.Errorf("combine partials: %w", ErrInvalidThreshold)
	}
	c, err := newContext(key.GroupKey, nonce.R, tr, msg)
	if err != nil {
		return nil, fmt.Errorf("combine partials: %w", err)
	}
	return c, nil
}

// interpolate returns the signature (R, Σ_{i∈S} λ_i·s_i + e·t) for the
// shares s_i of the indices S, or ErrVerify if it does not verify.
func (c *signingContext) interpolate(msg []byte, indices []int, shares []group.Scalar) ([SignatureLen]byte, error) {
	var sig [SignatureLen]byte
	// s = Σ_{i∈S} λ_i·s_i + e·t: interpolation at zero gives k + e·d_Q'
	// without the tweak, which BIP-341 adds to the secret key once.
	s := c.tweakTerm
	for k, i := range indices {
		l, err := vss.LagrangeCoefficient(secp(), indices, i)
		if err != nil {
			return sig, fmt.Errorf("combine partials: %w", err)
		}
		s = s.Add(l.Mul(shares[k]))
	}
	// BIP-340 Sign step 9: sig = bytes(R) ‖ bytes((k + e·d) mod n).
	copy(sig[:32], c.rx[:])
	copy(sig[32:], s.Bytes())
	// BIP-340 Sign step 10: if Verify(bytes(P), m, sig) fails, abort.
	if !Verify(c.xonlyQ, msg, sig) {
		return [SignatureLen]byte{}, fmt.Errorf("combine partials: %w", ErrVerify)
	}
	return sig, nil
}

// CombineUnchecked interpolates exactly t+1 partial signatures without
// verifying them one by one, and returns the signature only if it verifies
// (one BIP-340 verification instead of t+1 partial checks and one). With a
// wrong partial among them it returns an error wrapping ErrVerify and
// names no one: the caller then verifies the partials and uses [Combine].
// This is the fast path of a client whose replicas are usually honest.
func CombineUnchecked(key *PublicKey, nonce *PublicNonce, tr Taproot, msg []byte, partials map[int][]byte) ([SignatureLen]byte, error) {
	var sig [SignatureLen]byte
	c, err := combineContext(key, nonce, tr, msg)
	if err != nil {
		return sig, err
	}
	if len(partials) != key.Threshold+1 {
		return sig, ErrNotEnoughPartials
	}
	indices := make([]int, 0, len(partials))
	for i := range partials {
		if i < 1 || i > vss.MaxIndex {
			return sig, fmt.Errorf("combine partials: index %d: %w", i, ErrVerify)
		}
		indices = append(indices, i)
	}
	slices.Sort(indices)
	shares := make([]group.Scalar, len(indices))
	for k, i := range indices {
		if shares[k], err = decodePartial(partials[i]); err != nil {
			return sig, fmt.Errorf("combine partials: %w", err)
		}
	}
	return c.interpolate(msg, indices, shares)
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
	g := secp()
	// BIP-340 Verify: let P = lift_x(int(pk)); fail if that fails.
	P, err := group.LiftX(xonlyPub[:])
	if err != nil {
		return false
	}
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
	// Let R = s·G − e·P.
	R := g.BaseMul(s).Sub(group.MulPublic(P, e)) // public values only
	// Fail if is_infinite(R), not has_even_y(R), or x(R) ≠ r.
	if R.IsIdentity() || !group.HasEvenY(R) {
		return false
	}
	return group.XOnly(R) == r
}
