package client

import (
	"bytes"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bip32"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// KeyRoot returns the root of a schnorr key's BIP-32 tree, from its public
// information alone: the group key P as 33 compressed bytes with its real
// Y parity (the constant term C_0 of the DKG commitment, not the lift_x of
// the x-only public key) and the chain code bip32.ChainCode(P, commitment),
// the same values every replica derives from the committed key when it
// signs for a child ([Client.SignSchnorrPath]). chains/bitcoin/hd turns
// them into an xpub. It returns ErrInvalidKey for a key that is not
// schnorr, a commitment that does not decode, or one whose constant term is
// not the stated public key.
func KeyRoot(info KeyInfo) (groupKey []byte, chainCode [32]byte, err error) {
	if info.Scheme != wire.SchemeSchnorr {
		return nil, chainCode, fmt.Errorf("%w: key %s is %s, not schnorr", ErrInvalidKey, sanitize(info.KeyID), sanitize(info.Scheme))
	}
	com, err := vss.DecodeCommitment(group.Secp256k1(), info.Commitment)
	if err != nil {
		return nil, chainCode, fmt.Errorf("%w: key %s: %w", ErrInvalidKey, sanitize(info.KeyID), err)
	}
	P := com.Secret().Bytes()
	if !bytes.Equal(P[1:], info.PublicKey) {
		return nil, chainCode, fmt.Errorf("%w: key %s: public key does not match its commitment", ErrInvalidKey, sanitize(info.KeyID))
	}
	return P, bip32.ChainCode(P, info.Commitment), nil
}

// checkPath refuses a derivation path the replicas do not sign for.
func checkPath(path []uint32) error {
	if len(path) > wire.MaxPathDepth {
		return fmt.Errorf("%w: derivation path of %d indices, at most %d", ErrInvalidArgument, len(path), wire.MaxPathDepth)
	}
	for _, i := range path {
		if i >= bip32.HardenedOffset {
			return fmt.Errorf("%w: hardened derivation index %d needs the private key", ErrInvalidArgument, i)
		}
	}
	return nil
}
