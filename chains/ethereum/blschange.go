package ethereum

import (
	"context"
	"crypto/subtle"
	"fmt"
)

// SignedBLSToExecutionChange is capella SignedBLSToExecutionChange; its JSON
// is the beacon API's.
type SignedBLSToExecutionChange struct {
	Message   BLSToExecutionChange `json:"message"`
	Signature Signature            `json:"signature"`
}

// CheckBLSCredentials checks what process_bls_to_execution_change asserts
// (capella/beacon-chain.md): the validator's current credentials start with
// BLS_WITHDRAWAL_PREFIX and the rest equals hash(from_bls_pubkey)[1:].
func CheckBLSCredentials(current Credentials, withdrawalPubkey Pubkey) error {
	if current[0] != BLSWithdrawalPrefix {
		return fmt.Errorf("%w: prefix 0x%02x, a change needs 0x00", ErrInvalidCredentials, current[0])
	}
	want := BLSCredentials(withdrawalPubkey)
	if subtle.ConstantTimeCompare(current[1:], want[1:]) != 1 {
		return fmt.Errorf("%w: credentials do not commit to withdrawal key %s", ErrInvalidCredentials, withdrawalPubkey)
	}
	return nil
}

// SignBLSToExecutionChange signs change with the BLS withdrawal key keyID,
// whose public key is change.FromBLSPubkey, after checking that
// currentCredentials (the validator's on-chain withdrawal credentials, e.g.
// from the beacon API) commit to that key ([CheckBLSCredentials]). Domain:
// compute_domain(DOMAIN_BLS_TO_EXECUTION_CHANGE, GENESIS_FORK_VERSION,
// genesis_validators_root) (capella/beacon-chain.md
// process_bls_to_execution_change). The signature is verified before it is
// returned.
func SignBLSToExecutionChange(ctx context.Context, s Signer, net Network, keyID string, change BLSToExecutionChange, currentCredentials Credentials) (SignedBLSToExecutionChange, error) {
	if err := net.Validate(); err != nil {
		return SignedBLSToExecutionChange{}, err
	}
	if err := CheckBLSCredentials(currentCredentials, change.FromBLSPubkey); err != nil {
		return SignedBLSToExecutionChange{}, err
	}
	if change.ToExecutionAddress == (ExecutionAddress{}) {
		return SignedBLSToExecutionChange{}, fmt.Errorf("%w: zero execution address", ErrInvalidCredentials)
	}
	_, sig, err := SignObjectRoot(ctx, s, keyID, change.FromBLSPubkey, change.HashTreeRoot(), net.BLSToExecutionChangeDomain())
	if err != nil {
		return SignedBLSToExecutionChange{}, fmt.Errorf("sign bls to execution change: %w", err)
	}
	return SignedBLSToExecutionChange{Message: change, Signature: sig}, nil
}

// Verify checks c's signature under c.Message.FromBLSPubkey with net's
// BLS-to-execution-change domain.
func (c SignedBLSToExecutionChange) Verify(net Network) error {
	root := ComputeSigningRoot(c.Message.HashTreeRoot(), net.BLSToExecutionChangeDomain())
	return VerifySignature(c.Message.FromBLSPubkey, root, c.Signature)
}

// changeKeys are the JSON keys of a SignedBLSToExecutionChange.
var changeKeys = keySet("message", "signature", "validator_index", "from_bls_pubkey", "to_execution_address")

type blsChangeJSON struct {
	ValidatorIndex     *Uint64           `json:"validator_index"`
	FromBLSPubkey      *Pubkey           `json:"from_bls_pubkey"`
	ToExecutionAddress *ExecutionAddress `json:"to_execution_address"`
}

type signedBLSChangeJSON struct {
	Message   *blsChangeJSON `json:"message"`
	Signature *Signature     `json:"signature"`
}

// maxChanges bounds a parsed array (the beacon API takes any number; a
// block holds MAX_BLS_TO_EXECUTION_CHANGES = 16).
const maxChanges = 1 << 14

// ParseSignedBLSToExecutionChanges decodes the beacon-API JSON array of
// SignedBLSToExecutionChange (the POST body of
// /eth/v1/beacon/pool/bls_to_execution_changes): all fields required, no
// unknown, repeated or differently cased keys, at least one element. Form only; see
// [SignedBLSToExecutionChange.Verify].
func ParseSignedBLSToExecutionChanges(data []byte) ([]SignedBLSToExecutionChange, error) {
	var js []*signedBLSChangeJSON
	if err := decodeStrict(data, &js, changeKeys); err != nil {
		return nil, err
	}
	if len(js) == 0 || len(js) > maxChanges {
		return nil, fmt.Errorf("%w: %d changes", ErrInvalidJSON, len(js))
	}
	out := make([]SignedBLSToExecutionChange, len(js))
	for i, j := range js {
		if j == nil || j.Message == nil || j.Signature == nil || j.Message.ValidatorIndex == nil ||
			j.Message.FromBLSPubkey == nil || j.Message.ToExecutionAddress == nil {
			return nil, fmt.Errorf("%w: change %d: missing field", ErrInvalidJSON, i)
		}
		out[i] = SignedBLSToExecutionChange{
			Message: BLSToExecutionChange{
				ValidatorIndex:     *j.Message.ValidatorIndex,
				FromBLSPubkey:      *j.Message.FromBLSPubkey,
				ToExecutionAddress: *j.Message.ToExecutionAddress,
			},
			Signature: *j.Signature,
		}
	}
	return out, nil
}
