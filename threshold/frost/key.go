package frost

import (
	"fmt"
	"sync"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// Key is the public signing data of one group key under one suite and one
// Taproot option, prepared once by [Suite.NewKey]: the even-Y negation of
// the group key, the BIP-341 tweak and the output key are computed there,
// not per signature. It is immutable and safe for concurrent use.
type Key struct {
	suite Suite
	// p is the group key P as given (untweaked DKG key, either parity).
	p group.Point
	// q is the output key (OutputKey): P, or Q = lift_x(P) + t·G.
	q group.Point
	// qx is bytes(q), the x-only key of the BIP-340 challenge (Taproot).
	qx [32]byte
	// enc is SerializeElement of the key the binding factors commit to
	// (RFC 9591 §4.4 group_public_key): P for RFC9591; for Taproot the
	// even-Y effective key, 0x02 ‖ bytes(q) (frost-secp256k1-tr runs
	// compute_binding_factor_list after into_even_y).
	enc []byte
	// keyNeg is σ_P·σ_Q = −1: every key share x_i is negated (Taproot).
	keyNeg bool
	// qNeg is σ_Q = −1: Q has odd Y, so the tweaked key is negated.
	qNeg bool
	// tweak is σ_Q·t, added to every (negated) key share; nil without a
	// tweak. tweakPoint is t·G (unnegated), nil without a tweak.
	tweak      group.Scalar
	tweakPoint group.Point
	// derived is the derived key P + δ·G ([Suite.NewDerivedKey]), the key
	// the parity and Taproot rules apply to; p for [Suite.NewKey].
	derived group.Point
	// derive is the additive pre-tweak δ, added to every share before the
	// parity and Taproot rules; derivePoint is δ·G. Both nil for NewKey.
	derive      group.Scalar
	derivePoint group.Point
	// vt holds the precomputed table of lift_x(bytes(q)) for
	// [Suite.Verify] (Taproot), built at the first verification (Verify
	// only: signers never build it).
	vt *lazyTable
}

// lazyTable is a table built once, on first use.
type lazyTable struct {
	once sync.Once
	tab  *group.PublicTable
}

// verifyTable returns the table of lift_x(bytes(q)), or nil if k has none
// (a Key not from NewKey) or it cannot be built.
func (k *Key) verifyTable() *group.PublicTable {
	if k.vt == nil || k.q == nil {
		return nil
	}
	k.vt.once.Do(func() {
		P := k.q
		if !group.HasEvenY(P) {
			P = P.Neg()
		}
		k.vt.tab, _ = group.NewPublicTable(P)
	})
	return k.vt.tab
}

// NewKey prepares groupKey, the untweaked group key P of a DKG (either Y
// parity), for signing under tweak:
//
//   - schnorr.Taproot{Mode: schnorr.TaprootNone}: plain FROST under P. With
//     [Taproot] this is BIP-340 under bytes(P): if P has odd Y every share is
//     negated (BIP-340 Sign step 3; frost-secp256k1-tr pre_sign
//     into_even_y). This is frost-secp256k1-tr's round2::sign.
//   - schnorr.TaprootBIP86 and schnorr.TaprootScript (Taproot only): the
//     BIP-341 output key Q = lift_x(bytes(P)) + t·G with t =
//     int(hash_TapTweak(bytes(P) ‖ root)), root empty for BIP-86 (BIP-341
//     taproot_tweak_pubkey); every share becomes σ_Q·(σ_P·x_i + t), σ
//     the ±1 that makes P and Q even (BIP-341 taproot_tweak_seckey). This is
//     frost-secp256k1-tr's KeyPackage::tweak(merkle_root) followed by
//     pre_sign: BIP86 is tweak(None), what its post_dkg applies to every
//     DKG key; TaprootScript is sign_with_tweak(Some(root)).
//
// With [RFC9591] only TaprootNone is valid. NewKey returns ErrInvalidKey for
// a nil, identity or non-secp256k1 groupKey and ErrInvalidTweak for an
// invalid or unsupported tweak.
func (s Suite) NewKey(groupKey group.Point, tweak schnorr.Taproot) (*Key, error) {
	if !s.valid() {
		return nil, ErrUnknownSuite
	}
	if !usablePoint(groupKey) {
		return nil, fmt.Errorf("new key: %w", ErrInvalidKey)
	}
	k := &Key{suite: s, p: groupKey, derived: groupKey}
	if !s.taproot() {
		if tweak.Mode != schnorr.TaprootNone {
			return nil, fmt.Errorf("new key: %w", ErrInvalidTweak)
		}
		// RFC 9591 §4.4: group_public_key_enc = G.SerializeElement(group_public_key).
		k.q = groupKey
		k.enc = groupKey.Bytes()
		return k, nil
	}
	// BIP-340 Sign step 3 / frost-secp256k1-tr into_even_y: let d' = x if
	// has_even_y(P), else n − x.
	pNeg := !group.HasEvenY(groupKey)
	switch tweak.Mode {
	case schnorr.TaprootNone:
		k.q = groupKey
		k.keyNeg = pNeg
	case schnorr.TaprootBIP86, schnorr.TaprootScript:
		// BIP-341 taproot_tweak_pubkey: t = int(hash_TapTweak(bytes(P) ‖ h)),
		// fail if t ≥ n; Q = lift_x(P) + t·G.
		t, err := schnorr.TapTweak(group.XOnly(groupKey), tweak)
		if err != nil {
			return nil, fmt.Errorf("new key: %w", ErrInvalidTweak)
		}
		T := group.MulPublic(secp().Generator(), t) // t is public
		even := groupKey
		if pNeg {
			even = groupKey.Neg()
		}
		Q := even.Add(T)
		if Q.IsIdentity() { // BIP-341: "if Q is infinity: raise ValueError"
			return nil, fmt.Errorf("new key: %w", ErrInvalidTweak)
		}
		// BIP-341 taproot_tweak_seckey: seckey = d' + t, negated if Q has odd Y
		// (frost-secp256k1-tr: pre_sign's into_even_y on the tweaked package).
		k.qNeg = !group.HasEvenY(Q)
		k.keyNeg = pNeg != k.qNeg
		k.tweak = t
		if k.qNeg {
			k.tweak = t.Neg()
		}
		k.tweakPoint = T
		k.q = Q
	default:
		return nil, fmt.Errorf("new key: %w", ErrInvalidTweak)
	}
	k.qx = group.XOnly(k.q)
	k.vt = &lazyTable{}
	// The binding factors commit to the even-Y effective key (frost-core
	// round2::sign computes them from the key package after pre_sign).
	k.enc = append([]byte{0x02}, k.qx[:]...)
	return k, nil
}

// NewDerivedKey prepares the derived key P' = groupKey + tweak·G for
// signing under taproot, with the shares x_i of groupKey's secret x: a
// signer adds the public tweak to its share before anything else, so it
// signs with x_i + tweak, a Shamir share of x + tweak (Σ λ_i·(x_i + δ) =
// x + δ because Σ λ_i = 1), the secret key of P'. This is how threshold
// signers sign for a BIP-32 child of the group key without holding anything
// new: tweak is the child's accumulated CKDpub tweak (chains/bitcoin/hd
// ExtendedKey.Tweak), P' the child key, and a TaprootBIP86 key signs for the
// child's BIP-86 address. Everything [Suite.NewKey] does is then done on P':
// its even-Y negation, the BIP-341 tweak of bytes(P'), the output key. So
// the share becomes σ_Q·(σ_P'·(x_i + δ) + t) and [Session.VerifyShare],
// still given X_i = x_i·G of groupKey, checks against X_i + δ·G.
//
// A zero tweak gives the same signatures as NewKey. NewDerivedKey returns
// ErrInvalidKey for an unusable groupKey and ErrInvalidTweak for a nil or
// non-secp256k1 tweak, a derived key at infinity (BIP-32 refuses that child
// too) and every case NewKey refuses the Taproot option for.
func (s Suite) NewDerivedKey(groupKey group.Point, tweak group.Scalar, taproot schnorr.Taproot) (*Key, error) {
	if !s.valid() {
		return nil, ErrUnknownSuite
	}
	if !usablePoint(groupKey) {
		return nil, fmt.Errorf("new derived key: %w", ErrInvalidKey)
	}
	if !isSecpScalar(tweak) {
		return nil, fmt.Errorf("new derived key: %w", ErrInvalidTweak)
	}
	// BIP-32 CKDpub: K_i = point(parse256(I_L)) + K_par, summed along the
	// path; "in case ... K_i is the point at infinity, the resulting key is
	// invalid". δ is public: variable-time multiplication.
	D := group.MulPublic(secp().Generator(), tweak)
	derived := groupKey.Add(D)
	if derived.IsIdentity() {
		return nil, fmt.Errorf("new derived key: %w", ErrInvalidTweak)
	}
	k, err := s.NewKey(derived, taproot)
	if err != nil {
		return nil, err
	}
	k.p = groupKey
	if !tweak.IsZero() {
		k.derive = tweak
		k.derivePoint = D
	}
	return k, nil
}

// DerivedKey returns the key the Taproot rules were applied to: P + δ·G
// for [Suite.NewDerivedKey] (the BIP-86 internal key of a BIP-32 child),
// the group key P for [Suite.NewKey].
func (k *Key) DerivedKey() group.Point { return k.derived }

// OutputKey returns the key the final signature verifies under: the group
// key P as given for TaprootNone and for [RFC9591], the BIP-341 output key
// Q (with its actual Y parity, the parity bit of a BIP-341 control block)
// for TaprootBIP86 and TaprootScript. Under [Taproot] only its x
// coordinate, group.XOnly(OutputKey()), is the BIP-340 public key.
func (k *Key) OutputKey() group.Point { return k.q }

// GroupKey returns the untweaked group key P that k was prepared from, the
// key the signers hold shares of (for [Suite.NewDerivedKey], before the
// derivation tweak).
func (k *Key) GroupKey() group.Point { return k.p }

// Suite returns the suite k was prepared for.
func (k *Key) Suite() Suite { return k.suite }

// effectiveShare returns the key share the signature share is computed
// with: x_i for RFC9591, σ_Q·(σ_P·x_i + t) for Taproot, with x_i + δ in
// place of x_i for a derived key. The branches are on public parity bits
// and the presence of public tweaks only; the scalar arithmetic is
// constant time.
func (k *Key) effectiveShare(x group.Scalar) group.Scalar {
	if k.derive != nil {
		x = x.Add(k.derive) // NewDerivedKey: the share of x + δ
	}
	if k.keyNeg {
		x = x.Neg()
	}
	if k.tweak != nil {
		x = x.Add(k.tweak)
	}
	return x
}
