package schnorr

import (
	"encoding/binary"
	"fmt"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// tagBinding is the tag of the binding-factor hash (BIP-340 tagged hash
// construction, domain of this project).
const tagBinding = "VHSM/schnorr/binding"

// NoncePair is the public material of one pre-dealt nonce pair, from the
// DKG commitments of two polynomials with secrets d and e: D = d·G and
// E = e·G, and D_i = d_i·G, E_i = e_i·G for every participant i.
//
// A pair yields one nonce per (key, Taproot option, message) through
// [NoncePair.Bind]: R = D + ρ·E with ρ a hash of all three and of D and E.
// It must still be used for exactly one (key, Taproot option, message): the
// replicated log assigns it, and a replica signs with it once (see the
// package documentation, "Nonce pairs").
//
// DCommitments and ECommitments must hold the same indices, each in
// 1..vss.MaxIndex. A signer that only needs R (for [PartialSign]) may leave
// both empty; verifying partials ([VerifyPartial], [Combine]) needs them.
type NoncePair struct {
	D, E                       group.Point
	DCommitments, ECommitments map[int]group.Point
}

// NonceShares is replica i's secret shares (d_i, e_i) of a nonce pair.
// They are secrets: never log them or put them in an error.
type NonceShares struct {
	D, E group.Scalar
}

// bindingFactor validates the public material and returns the binding
// factor
//
//	ρ = int(hash_VHSM/schnorr/binding(
//	        enc(bytes(Q)) ‖ enc(cbytes(D)) ‖ enc(cbytes(E)) ‖ enc(taproot) ‖ enc(msg))) mod n,
//
// where hash_tag is the BIP-340 tagged hash, enc(x) is the 8-byte
// big-endian length of x followed by x, bytes(Q) is the 32-byte x-only
// output key [OutputKey](key.GroupKey, tr), cbytes is the 33-byte compressed
// SEC1 encoding, and taproot is the byte tr.Mode followed, for
// [TaprootScript] only, by the 32-byte merkle root (the root of other modes
// is ignored, as it is by signing). ρ depends on public data only, so every
// replica and the combiner derive the same value.
func (p *NoncePair) bindingFactor(key *PublicKey, tr Taproot, msg []byte) (group.Scalar, error) {
	if p == nil || key == nil {
		return nil, ErrInvalidKey
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	Q, _, _, err := outputKey(key.GroupKey, tr)
	if err != nil {
		return nil, err
	}
	return bindingFactor(group.XOnly(Q), p.D, p.E, tr, msg), nil
}

// validate checks that D, E and every commitment are usable points and that
// the two commitment maps cover the same indices.
func (p *NoncePair) validate() error {
	if !usable(p.D) || !usable(p.E) || len(p.DCommitments) != len(p.ECommitments) {
		return ErrInvalidKey
	}
	for i, Di := range p.DCommitments {
		Ei, ok := p.ECommitments[i]
		if !ok || i < 1 || i > vss.MaxIndex || !usable(Di) || !usable(Ei) {
			return ErrInvalidKey
		}
	}
	return nil
}

// bindingFactor computes ρ for validated inputs; see [NoncePair.bindingFactor].
func bindingFactor(xonlyQ [32]byte, D, E group.Point, tr Taproot, msg []byte) group.Scalar {
	// The Taproot option, canonically: the mode, and the merkle root only
	// where signing uses it, so that two values of Taproot that sign the same
	// way bind the same way.
	opt := []byte{byte(tr.Mode)}
	if tr.Mode == TaprootScript {
		opt = append(opt, tr.MerkleRoot[:]...)
	}
	parts := [][]byte{xonlyQ[:], D.Bytes(), E.Bytes(), opt, msg}
	enc := make([][]byte, 0, 2*len(parts))
	for _, part := range parts {
		enc = append(enc, binary.BigEndian.AppendUint64(nil, uint64(len(part))), part)
	}
	// Reducing a 256-bit hash mod n is biased by less than 2^-127 (n > 2^256 −
	// 2^129), as for the BIP-340 challenge.
	return scalarModN(taggedHash(tagBinding, enc...))
}

// Bind derives the single nonce that the pair yields for (key, tr, msg):
// with ρ a hash of bytes(Q), D, E, tr and msg (Q = [OutputKey](key.GroupKey, tr);
// the encoding is in the package documentation), R = D + ρ·E and
// R_i = D_i + ρ·E_i for every index of the commitments. The result is the
// [*PublicNonce] to pass to [PartialSign], [VerifyPartial] and [Combine]
// with the same key, tr and msg. Only key.GroupKey is used.
//
// Bind returns an error wrapping ErrInvalidKey if the pair or key is nil, if
// D, E or a commitment is nil or the identity, if the commitment maps differ
// in their indices, or if R or some R_i is the identity (probability
// negligible for honestly generated pairs); and ErrInvalidTaproot for an
// invalid Taproot option.
func (p *NoncePair) Bind(key *PublicKey, tr Taproot, msg []byte) (*PublicNonce, error) {
	rho, err := p.bindingFactor(key, tr, msg)
	if err != nil {
		return nil, fmt.Errorf("bind nonce pair: %w", err)
	}
	bound, err := p.bindWith(rho)
	if err != nil {
		return nil, fmt.Errorf("bind nonce pair: %w", err)
	}
	return bound, nil
}

// bindWith returns R = D + ρ·E and every R_i = D_i + ρ·E_i, rejecting an
// identity result.
func (p *NoncePair) bindWith(rho group.Scalar) (*PublicNonce, error) {
	// R = D + ρ·E (FROST, RFC 9591 §4.5 compute_group_commitment, and MuSig2
	// NonceAgg/Sign with ν = 2, with one binding factor for the whole group
	// since D and E are already joint).
	R := p.D.Add(group.MulPublic(p.E, rho)) // public values only
	if R.IsIdentity() {
		return nil, ErrInvalidKey
	}
	bound := &PublicNonce{R: R, Commitments: make(map[int]group.Point, len(p.DCommitments))}
	for i, Di := range p.DCommitments {
		Ri := Di.Add(group.MulPublic(p.ECommitments[i], rho))
		if Ri.IsIdentity() {
			return nil, ErrInvalidKey
		}
		bound.Commitments[i] = Ri
	}
	return bound, nil
}

// Bind derives replica i's share k_i = d_i + ρ·e_i of the nonce that the
// pair yields for (key, tr, msg), with the same ρ as [NoncePair.Bind], so
// that k_i·G is the R_i that [NoncePair.Bind] returns: k_i is the nonce share
// to pass to [PartialSign] with the bound nonce. nonce is the public
// material of the pair these shares belong to (its commitments may be
// empty). Bind returns an error wrapping ErrInvalidKey if a share is nil or
// zero, if k_i is zero (negligible), or for the public material as
// [NoncePair.Bind] does, and ErrInvalidTaproot for an invalid Taproot
// option. The error never contains a share.
func (s NonceShares) Bind(key *PublicKey, nonce *NoncePair, tr Taproot, msg []byte) (group.Scalar, error) {
	if !usableSecret(s.D) || !usableSecret(s.E) {
		return nil, fmt.Errorf("bind nonce shares: %w", ErrInvalidKey)
	}
	rho, err := nonce.bindingFactor(key, tr, msg)
	if err != nil {
		return nil, fmt.Errorf("bind nonce shares: %w", err)
	}
	// FROST Sign round two (RFC 9591 §5.2 sign): the nonce share is
	// hiding_nonce + binding_nonce·binding_factor.
	k := s.D.Add(s.E.Mul(rho))
	if k.IsZero() {
		return nil, fmt.Errorf("bind nonce shares: %w", ErrInvalidKey)
	}
	return k, nil
}
