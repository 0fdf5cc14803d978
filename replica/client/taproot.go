package client

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/txscript"
)

// TaprootOutputKey returns the BIP-341 output key Q (x-only) for the
// x-only internal key pub and a script tree merkleRoot (empty: BIP-86,
// key-path only). It is computed with btcd's independent implementation.
func TaprootOutputKey(pub []byte, merkleRoot []byte) ([32]byte, error) {
	var q [32]byte
	if len(merkleRoot) != 0 && len(merkleRoot) != 32 {
		return q, fmt.Errorf("%w: merkle root must be empty or 32 bytes", ErrInvalidArgument)
	}
	p, err := schnorr.ParsePubKey(pub)
	if err != nil {
		return q, fmt.Errorf("%w: internal key is not a valid x-only key", ErrInvalidArgument)
	}
	// BIP-341 taproot_tweak_pubkey: Q = P + int(hashTapTweak(bytes(P) ‖ root))·G.
	out := txscript.ComputeTaprootOutputKey(p, merkleRoot)
	copy(q[:], schnorr.SerializePubKey(out))
	return q, nil
}
