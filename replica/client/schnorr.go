package client

import (
	"context"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// taprootMode translates the wire option: nil is plain BIP-340, an empty
// merkle root BIP-86, a 32-byte root a script tree.
func taprootMode(opt *wire.TaprootOption) (schnorr.Taproot, error) {
	switch {
	case opt == nil:
		return schnorr.Taproot{Mode: schnorr.TaprootNone}, nil
	case len(opt.MerkleRoot) == 0:
		return schnorr.Taproot{Mode: schnorr.TaprootBIP86}, nil
	case len(opt.MerkleRoot) == 32:
		tr := schnorr.Taproot{Mode: schnorr.TaprootScript}
		copy(tr.MerkleRoot[:], opt.MerkleRoot)
		return tr, nil
	}
	return schnorr.Taproot{}, fmt.Errorf("%w: merkle root must be empty or 32 bytes", ErrInvalidArgument)
}

// SignSchnorr signs msg (any length up to wire.MaxMessageBytes, BIP-340)
// with the schnorr key id. With taproot nil the signature verifies under
// the key's x-only public key; otherwise under the BIP-341 output key for
// taproot.MerkleRoot (empty: BIP-86). The nonce is the one the log assigned
// to this request: its commitment is used only once t+1 replicas report
// identical bytes. The first t+1 partials are combined and the signature
// verified; only if it does not verify is every partial checked as
// s_i·G = R_i + e·X_i, the senders of wrong ones named, and the first t+1
// valid ones combined.
func (c *Client) SignSchnorr(ctx context.Context, id string, msg []byte, taproot *wire.TaprootOption) ([64]byte, error) {
	var sig [64]byte
	if len(msg) > wire.MaxMessageBytes {
		return sig, fmt.Errorf("%w: message longer than %d bytes", ErrInvalidArgument, wire.MaxMessageBytes)
	}
	tr, err := taprootMode(taproot)
	if err != nil {
		return sig, err
	}
	km, err := c.keyData(ctx, id)
	if err != nil {
		return sig, fmt.Errorf("sign: %w", err)
	}
	if km.info.Scheme != wire.SchemeSchnorr {
		return sig, fmt.Errorf("sign: %w: key %s is %s, not schnorr", ErrScheme, id, km.info.Scheme)
	}
	key := &schnorr.PublicKey{GroupKey: km.commitment.Secret(), VerificationKeys: km.vks, Threshold: c.t}
	// nonce is the bound nonce R, all the combination needs; full adds
	// every replica's R_i, computed only if partials must be checked one
	// by one (the combined signature did not verify).
	var nonce, full *schnorr.PublicNonce
	var dc, ec vss.Commitment
	spec := partialSpec{
		agreeNonce: true,
		setNonce: func(b []byte) error {
			// D ‖ E: two commitments of equal length (wire.Response.Nonce).
			if len(b)%2 != 0 {
				return fmt.Errorf("%w: the nonce pair t+1 replicas agree on is malformed", ErrInvalidKey)
			}
			var derr, eerr error
			dc, derr = vss.DecodeCommitment(group.Secp256k1(), b[:len(b)/2])
			ec, eerr = vss.DecodeCommitment(group.Secp256k1(), b[len(b)/2:])
			if derr != nil || eerr != nil || dc.Degree() != c.t || ec.Degree() != c.t {
				return fmt.Errorf("%w: the nonce pair t+1 replicas agree on is malformed", ErrInvalidKey)
			}
			// R for this (key, taproot option, message): threshold/schnorr
			// nonce binding, computed from public data.
			pair := &schnorr.NoncePair{D: dc.Secret(), E: ec.Secret()}
			bound, err := pair.Bind(key, tr, msg)
			if err != nil {
				return fmt.Errorf("%w: bind nonce: %w", ErrInvalidKey, err)
			}
			nonce = bound
			return nil
		},
		verify: func(replica int, partial []byte) bool {
			if full == nil {
				pair := &schnorr.NoncePair{D: dc.Secret(), E: ec.Secret(), DCommitments: make(map[int]group.Point, c.n), ECommitments: make(map[int]group.Point, c.n)}
				for i := 1; i <= c.n; i++ {
					pair.DCommitments[i], pair.ECommitments[i] = dc.Eval(i), ec.Eval(i)
				}
				bound, err := pair.Bind(key, tr, msg)
				if err != nil {
					return false // cannot happen: R bound from the same data
				}
				full = bound
			}
			return schnorr.VerifyPartial(key, full, tr, msg, replica, partial) == nil
		},
	}
	// combine interpolates exactly t+1 partials, adds the Taproot term e·t
	// once, and keeps the signature only if it verifies (BIP-340).
	combine := func(parts []indexedPartial) bool {
		partials := make(map[int][]byte, len(parts))
		for _, p := range parts {
			partials[p.replica] = p.partial
		}
		s, err := schnorr.CombineUnchecked(key, nonce, tr, msg, partials)
		if err != nil {
			return false
		}
		sig = s
		return true
	}
	spec.optimistic = combine
	spec.combine = func(parts []indexedPartial) error {
		// Verified partials that do not combine into a valid signature: the
		// public material does not match the group key or R.
		if !combine(parts) {
			return fmt.Errorf("%w: verified partials do not combine to a valid signature", ErrInvalidResult)
		}
		return nil
	}
	body := wire.SignBody{KeyID: id, Message: msg, Taproot: taproot}
	err = c.retryPoolEmpty(ctx, func() error {
		nonce, full = nil, nil
		return c.collectPartials(ctx, wire.OpSign, body, spec)
	})
	if err != nil {
		return [64]byte{}, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// VerifySchnorr reports whether sig is a valid BIP-340 signature on msg
// under the x-only key pub, or with taproot set under its BIP-341 output
// key (empty merkle root: BIP-86).
func VerifySchnorr(pub, msg, sig []byte, taproot *wire.TaprootOption) (bool, error) {
	tr, err := taprootMode(taproot)
	if err != nil {
		return false, err
	}
	if len(pub) != schnorr.XOnlyLen {
		return false, fmt.Errorf("%w: schnorr public key must be %d bytes", ErrInvalidArgument, schnorr.XOnlyLen)
	}
	if len(sig) != schnorr.SignatureLen {
		return false, nil
	}
	P, err := group.LiftX(pub)
	if err != nil {
		return false, fmt.Errorf("%w: not a valid x-only key", ErrInvalidArgument)
	}
	q, _, err := schnorr.OutputKey(P, tr)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return schnorr.Verify(q, msg, [schnorr.SignatureLen]byte(sig)), nil
}
