package client

import (
	"context"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
)

// SignTaproot signs a BIP-341 sighash for a Taproot key-path spend with
// the schnorr key keyID: the signature verifies under the output key
// Q = P + H_TapTweak(P ‖ merkleRoot)·G, where an empty merkleRoot means
// BIP-86 (no script tree). It fits the Bitcoin chain's signer interface.
func (c *Client) SignTaproot(ctx context.Context, keyID string, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	if len(merkleRoot) != 0 && len(merkleRoot) != 32 {
		return [64]byte{}, fmt.Errorf("%w: merkle root must be empty or 32 bytes", ErrInvalidArgument)
	}
	return c.SignTaprootPath(ctx, keyID, nil, sighash, merkleRoot)
}

// SignTaprootPath is [Client.SignTaproot] for the BIP-32 unhardened child
// of keyID at path (nil: the key itself, as SignTaproot): the signature
// verifies under the BIP-341 output key of the child key K = P + t·G
// ([KeyRoot] gives P and the chain code). The client checks it there
// before returning it.
func (c *Client) SignTaprootPath(ctx context.Context, keyID string, path []uint32, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	if len(merkleRoot) != 0 && len(merkleRoot) != 32 {
		return [64]byte{}, fmt.Errorf("%w: merkle root must be empty or 32 bytes", ErrInvalidArgument)
	}
	return c.SignSchnorrPath(ctx, keyID, path, sighash[:], &wire.TaprootOption{MerkleRoot: merkleRoot})
}

// EthSigner adapts a Client to the Ethereum chain's signer, whose SignBLS
// takes a 32-byte signing root (the Client's own SignBLS takes a message of
// any length).
type EthSigner struct{ c *Client }

// EthSigner returns the Ethereum adapter of c.
func (c *Client) EthSigner() EthSigner { return EthSigner{c: c} }

// SignBLS signs the consensus-layer signing root with the bls key keyID and
// returns the 96-byte compressed G2 signature (Ethereum POP ciphersuite).
func (e EthSigner) SignBLS(ctx context.Context, keyID string, signingRoot [32]byte) ([]byte, error) {
	return e.c.SignBLS(ctx, keyID, signingRoot[:])
}

// SignTyped signs a typed Ethereum remote-signing request with keyID: a
// validator key signs the request (SignEth2: the replicas compute the root
// themselves and refuse bare roots), any other bls key signs signingRoot,
// the root the caller computed from the same object. Either way the
// caller (chains/ethereum) verifies the signature over its own root.
func (e EthSigner) SignTyped(ctx context.Context, keyID string, signingRoot [32]byte, request []byte) ([]byte, error) {
	km, err := e.c.keyData(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if km.info.Usage == wire.UsageEth2Validator {
		return e.c.SignEth2(ctx, keyID, request)
	}
	return e.c.SignBLS(ctx, keyID, signingRoot[:])
}
