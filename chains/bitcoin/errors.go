package bitcoin

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with [errors.Is]; the returned errors wrap them with the detail.
var (
	// ErrInvalidAddress reports input that is not a Bitcoin address at all (bad length, bad characters).
	ErrInvalidAddress = errors.New("bitcoin: invalid address")
	// ErrBadChecksum reports a bech32/bech32m or base58check address whose checksum does not verify.
	ErrBadChecksum = errors.New("bitcoin: address checksum mismatch")
	// ErrWrongNetwork reports a well-formed address of another network than the wallet's.
	ErrWrongNetwork = errors.New("bitcoin: address is for another network")
	// ErrBech32Variant reports a segwit address with the wrong checksum variant for its witness version
	// (BIP-350: version 0 must use bech32, versions 1..16 must use bech32m).
	ErrBech32Variant = errors.New("bitcoin: wrong bech32 variant for witness version")
	// ErrNotTaproot reports a valid address that is not a P2TR (witness v1, 32-byte program) address.
	ErrNotTaproot = errors.New("bitcoin: not a taproot address")
	// ErrUnknownNetwork reports a network name this package does not know.
	ErrUnknownNetwork = errors.New("bitcoin: unknown network")
	// ErrInvalidKey reports a group key that is not a valid x-only secp256k1 point.
	ErrInvalidKey = errors.New("bitcoin: invalid x-only public key")
	// ErrInsufficientFunds reports that the spendable UTXOs cannot pay the outputs plus the fee.
	ErrInsufficientFunds = errors.New("bitcoin: insufficient funds")
	// ErrDust reports an output below the dust limit of its script type.
	ErrDust = errors.New("bitcoin: output below dust limit")
	// ErrInvalidRequest reports a malformed spend request (no outputs, two send-max outputs, zero fee rate...).
	ErrInvalidRequest = errors.New("bitcoin: invalid spend request")
	// ErrBadSignature reports a signature from the signer that does not verify for its input.
	ErrBadSignature = errors.New("bitcoin: signer returned an invalid signature")
	// ErrForeignPSBT reports an imported PSBT that the wallet refuses to sign.
	ErrForeignPSBT = errors.New("bitcoin: psbt refused")
	// ErrRejected reports a transaction the node or Esplora server refused; see [RejectError].
	ErrRejected = errors.New("bitcoin: transaction rejected")
	// ErrBackend reports a chain backend failure that is not a rejection (bad response, exhausted retries).
	ErrBackend = errors.New("bitcoin: backend error")
	// ErrNotFound reports an unknown transaction.
	ErrNotFound = errors.New("bitcoin: not found")
)

// InputError names the input of a transaction that caused an error.
type InputError struct {
	Index int   // input index in the transaction
	Err   error // what went wrong; wraps a sentinel such as [ErrBadSignature]
}

// Error implements error.
func (e *InputError) Error() string { return fmt.Sprintf("input %d: %v", e.Index, e.Err) }

// Unwrap returns the underlying error.
func (e *InputError) Unwrap() error { return e.Err }

// RejectError carries the reason a node or Esplora server gave for refusing a transaction.
type RejectError struct {
	Code   int    // JSON-RPC error code or HTTP status
	Reason string // the node's reject reason, verbatim
}

// Error implements error.
func (e *RejectError) Error() string {
	return fmt.Sprintf("%v (code %d): %s", ErrRejected, e.Code, e.Reason)
}

// Unwrap makes errors.Is(err, ErrRejected) hold.
func (e *RejectError) Unwrap() error { return ErrRejected }
