package ethereum

import (
	"context"
	"fmt"

	"github.com/herumi/bls-eth-go-binary/bls"

	"github.com/vhsm/vhsm/threshold/group"
)

// Signer signs a 32-byte signing root with the BLS key keyID (Ethereum POP
// ciphersuite, BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_), returning a
// 96-byte compressed G2 signature. The HSM client implements it; this package
// verifies every signature it returns before using it.
type Signer interface {
	SignBLS(ctx context.Context, keyID string, signingRoot [32]byte) ([]byte, error)
}

// blsPubkey decodes p as a herumi public key, rejecting the point at
// infinity and points outside the prime-order subgroup (consensus-specs
// KeyValidate).
func blsPubkey(p Pubkey) (*bls.PublicKey, error) {
	// The project's one herumi initialiser: BLS12-381, Ethereum mode, subgroup
	// checks on deserialisation. Idempotent and safe for concurrent use.
	group.InitBLS()
	var pk bls.PublicKey
	if err := pk.Deserialize(p[:]); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidPubkey, p)
	}
	if pk.IsZero() || !pk.IsValidOrder() {
		return nil, fmt.Errorf("%w: %s", ErrInvalidPubkey, p)
	}
	return &pk, nil
}

// Validate reports whether p is a usable validator or withdrawal public key:
// a compressed G1 point in the subgroup, not the identity.
func (p Pubkey) Validate() error {
	_, err := blsPubkey(p)
	return err
}

// VerifySignature checks sig on signingRoot under pub (Ethereum BLS
// Verify). It returns a *[SignatureError] if sig is malformed or does not
// verify, and an error wrapping [ErrInvalidPubkey] for a bad pub.
func VerifySignature(pub Pubkey, signingRoot Root, sig Signature) error {
	return verifyFor("", pub, signingRoot, sig)
}

func verifyFor(keyID string, pub Pubkey, signingRoot Root, sig Signature) error {
	pk, err := blsPubkey(pub)
	if err != nil {
		return err
	}
	var s bls.Sign
	if err := s.Deserialize(sig[:]); err != nil || !s.IsValidOrder() {
		return &SignatureError{KeyID: keyID, Pubkey: pub, SigningRoot: signingRoot, Err: ErrInvalidSignature}
	}
	if !s.VerifyByte(pk, signingRoot[:]) {
		return &SignatureError{KeyID: keyID, Pubkey: pub, SigningRoot: signingRoot, Err: ErrBadSignature}
	}
	return nil
}

// SignSigningRoot asks s to sign signingRoot with keyID and verifies the
// result under pub before returning it. A signature that does not verify is
// a *[SignatureError] naming keyID; it is never returned as a result.
func SignSigningRoot(ctx context.Context, s Signer, keyID string, pub Pubkey, signingRoot Root) (Signature, error) {
	if _, err := blsPubkey(pub); err != nil {
		return Signature{}, err
	}
	raw, err := s.SignBLS(ctx, keyID, signingRoot)
	if err != nil {
		return Signature{}, fmt.Errorf("%w: sign with key %q: %w", ErrSigner, keyID, err)
	}
	var sig Signature
	if len(raw) != len(sig) {
		return Signature{}, &SignatureError{KeyID: keyID, Pubkey: pub, SigningRoot: signingRoot, Err: ErrInvalidSignature}
	}
	copy(sig[:], raw)
	if err := verifyFor(keyID, pub, signingRoot, sig); err != nil {
		return Signature{}, err
	}
	return sig, nil
}

// SignObjectRoot is the generic entry point for operators with other needs:
// it computes compute_signing_root from an SSZ object root and a domain
// (phase0 compute_signing_root), has s sign it, verifies the signature under
// pub and returns the signing root and the signature.
func SignObjectRoot(ctx context.Context, s Signer, keyID string, pub Pubkey, objectRoot Root, domain Domain) (Root, Signature, error) {
	signingRoot := ComputeSigningRoot(objectRoot, domain)
	sig, err := SignSigningRoot(ctx, s, keyID, pub, signingRoot)
	if err != nil {
		return Root{}, Signature{}, err
	}
	return signingRoot, sig, nil
}
