package client

import (
	"context"
	"fmt"
	"slices"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
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

// SignSchnorr signs msg (BIP-340) with the schnorr key id, by FROST with
// ROAST-style retries (frost.go): one round trip to t+1 replicas, each using
// a nonce of its own that it handed out ahead of use. With taproot nil the
// signature verifies under the key's x-only public key; otherwise under the
// BIP-341 output key for taproot.MerkleRoot (empty: BIP-86). The t+1
// shares are combined and the signature verified; only if it does not
// verify is each share checked against its signer's verification key from
// the key's DKG commitment, the senders of wrong ones named, and a new
// session started without them.
func (c *Client) SignSchnorr(ctx context.Context, id string, msg []byte, taproot *wire.TaprootOption) ([64]byte, error) {
	return c.SignSchnorrPath(ctx, id, nil, msg, taproot)
}

// SignSchnorrPath is [Client.SignSchnorr] for the BIP-32 unhardened child
// of the key at path (nil or empty: the key itself): the signature
// verifies under the child key K = P + t·G (threshold/bip32, chain code
// from the key's commitment, [KeyRoot]), or with taproot set under K's
// BIP-341 output key. Every replica derives K itself from the committed
// key; the client derives it too, combines, and keeps the signature only
// if it verifies under the derived (tweaked) key. A path longer than
// wire.MaxPathDepth or with an index ≥ 2^31 is ErrInvalidArgument.
func (c *Client) SignSchnorrPath(ctx context.Context, id string, path []uint32, msg []byte, taproot *wire.TaprootOption) ([64]byte, error) {
	var sig [64]byte
	if err := checkPath(path); err != nil {
		return sig, err
	}
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
	var wpath []uint32
	if len(path) > 0 {
		wpath = slices.Clone(path)
	}
	sig, err = c.signFROST(ctx, km, tr, wpath, wire.SignBody{KeyID: id, Message: msg, Taproot: taproot, Path: wpath})
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
