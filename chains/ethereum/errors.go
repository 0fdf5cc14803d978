package ethereum

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions wrap them with context; test with [errors.Is].
var (
	// ErrInvalidHex reports a hex field with a bad prefix, length or digit.
	ErrInvalidHex = errors.New("ethereum: invalid hex")
	// ErrAddressChecksum reports an execution address in mixed case whose
	// case is not its EIP-55 checksum (see [ParseExecutionAddress]).
	ErrAddressChecksum = errors.New("ethereum: bad EIP-55 address checksum")
	// ErrInvalidUint64 reports a decimal string that is not a canonical uint64.
	ErrInvalidUint64 = errors.New("ethereum: invalid uint64 string")
	// ErrInvalidPubkey reports bytes that are not a valid, non-infinity BLS12-381
	// G1 public key in the prime-order subgroup.
	ErrInvalidPubkey = errors.New("ethereum: invalid BLS public key")
	// ErrInvalidSignature reports bytes that are not a valid G2 point.
	ErrInvalidSignature = errors.New("ethereum: invalid BLS signature encoding")
	// ErrBadSignature reports a well-formed signature that does not verify
	// under the expected public key and signing root. See [SignatureError].
	ErrBadSignature = errors.New("ethereum: signature does not verify")
	// ErrInvalidCredentials reports withdrawal credentials with an unknown
	// prefix or non-zero padding, or that do not match the withdrawal key.
	ErrInvalidCredentials = errors.New("ethereum: invalid withdrawal credentials")
	// ErrInvalidAmount reports a deposit amount the consensus rules or the
	// deposit CLI would not accept for the credential type.
	ErrInvalidAmount = errors.New("ethereum: invalid deposit amount")
	// ErrUnknownNetwork reports a network name that is not built in.
	ErrUnknownNetwork = errors.New("ethereum: unknown network")
	// ErrInvalidNetwork reports a network definition (or config file) that is
	// incomplete or malformed.
	ErrInvalidNetwork = errors.New("ethereum: invalid network definition")
	// ErrInvalidJSON reports a JSON document (deposit file, exit, change) that
	// does not match the expected schema.
	ErrInvalidJSON = errors.New("ethereum: invalid JSON payload")
	// ErrRootMismatch reports a deposit file whose stated roots differ from
	// the roots recomputed from its fields.
	ErrRootMismatch = errors.New("ethereum: root mismatch")
	// ErrSigner reports a failure of the [Signer] itself (transport, refusal).
	ErrSigner = errors.New("ethereum: signer failed")
)

// SignatureError names the key whose signature failed verification. It is
// returned when a [Signer] hands back a signature that is malformed or does not
// verify, and when a parsed payload carries a bad signature (KeyID empty).
// It unwraps to [ErrBadSignature] or [ErrInvalidSignature].
type SignatureError struct {
	KeyID       string // signer key id, empty for parsed payloads
	Pubkey      Pubkey // the public key the signature was checked against
	SigningRoot Root   // the signing root that was signed
	Err         error  // ErrBadSignature or ErrInvalidSignature
}

func (e *SignatureError) Error() string {
	if e.KeyID != "" {
		return fmt.Sprintf("%v (key %q, pubkey %s, signing root %s)", e.Err, e.KeyID, e.Pubkey, e.SigningRoot)
	}
	return fmt.Sprintf("%v (pubkey %s, signing root %s)", e.Err, e.Pubkey, e.SigningRoot)
}

func (e *SignatureError) Unwrap() error { return e.Err }
