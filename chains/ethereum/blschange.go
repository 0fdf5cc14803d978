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
	_, sig, err := signTyped(ctx, s, keyID, change.FromBLSPubkey, change.HashTreeRoot(), net.BLSToExecutionChangeDomain(), blsChangeRequest(net, change))
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

// changeFileKeys add the deposit CLI's per-entry metadata.
var changeFileKeys = keySet("message", "signature", "validator_index", "from_bls_pubkey", "to_execution_address",
	"metadata", "network_name", "genesis_validators_root", "deposit_cli_version")

type blsChangeJSON struct {
	ValidatorIndex     *Uint64           `json:"validator_index"`
	FromBLSPubkey      *Pubkey           `json:"from_bls_pubkey"`
	ToExecutionAddress *ExecutionAddress `json:"to_execution_address"`
}

type signedBLSChangeJSON struct {
	Message   *blsChangeJSON      `json:"message"`
	Signature *Signature          `json:"signature"`
	Metadata  *changeMetadataJSON `json:"metadata"` // only with changeFileKeys
}

type changeMetadataJSON struct {
	NetworkName           *string `json:"network_name"`
	GenesisValidatorsRoot *Root   `json:"genesis_validators_root"`
	DepositCLIVersion     *string `json:"deposit_cli_version"`
}

// ChangeFileMetadata is the "metadata" object that the deposit CLI
// (ethstaker-deposit-cli generate-bls-to-execution-change) adds to every
// entry of the bls_to_execution_change-*.json it writes. It is not part of
// the beacon API's body.
type ChangeFileMetadata struct {
	NetworkName           string
	GenesisValidatorsRoot Root
	DepositCLIVersion     string
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
	out, _, err := parseChanges(data, changeKeys)
	return out, err
}

// ParseBLSToExecutionChangeFile decodes either the beacon-API array (as
// [ParseSignedBLSToExecutionChanges]; the metadata returned is nil) or the
// deposit CLI's bls_to_execution_change-*.json, the same array with a
// "metadata" object {network_name, genesis_validators_root,
// deposit_cli_version} in every entry. Metadata must then be complete and
// identical in every entry; it is returned so that the caller can check
// the network, and the changes returned no longer carry it.
func ParseBLSToExecutionChangeFile(data []byte) ([]SignedBLSToExecutionChange, *ChangeFileMetadata, error) {
	return parseChanges(data, changeFileKeys)
}

func parseChanges(data []byte, keys map[string]bool) ([]SignedBLSToExecutionChange, *ChangeFileMetadata, error) {
	var js []*signedBLSChangeJSON
	if err := decodeStrict(data, &js, keys); err != nil {
		return nil, nil, err
	}
	if len(js) == 0 || len(js) > maxChanges {
		return nil, nil, fmt.Errorf("%w: %d changes", ErrInvalidJSON, len(js))
	}
	out := make([]SignedBLSToExecutionChange, len(js))
	var meta *ChangeFileMetadata
	for i, j := range js {
		if j == nil || j.Message == nil || j.Signature == nil || j.Message.ValidatorIndex == nil ||
			j.Message.FromBLSPubkey == nil || j.Message.ToExecutionAddress == nil {
			return nil, nil, fmt.Errorf("%w: change %d: missing field", ErrInvalidJSON, i)
		}
		m, err := j.Metadata.parse()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: change %d: metadata: %w", ErrInvalidJSON, i, err)
		}
		switch {
		case i == 0:
			meta = m
		case (meta == nil) != (m == nil):
			return nil, nil, fmt.Errorf("%w: change %d: metadata in some entries only", ErrInvalidJSON, i)
		case meta != nil && *meta != *m:
			return nil, nil, fmt.Errorf("%w: change %d: metadata differs from the first entry's", ErrInvalidJSON, i)
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
	return out, meta, nil
}

// parse checks a metadata object: all three fields, a network name as the
// deposit CLI writes them, a version of [0-9A-Za-z.+-]. Nil is nil.
func (j *changeMetadataJSON) parse() (*ChangeFileMetadata, error) {
	if j == nil {
		return nil, nil
	}
	if j.NetworkName == nil || j.GenesisValidatorsRoot == nil || j.DepositCLIVersion == nil {
		return nil, fmt.Errorf("network_name, genesis_validators_root and deposit_cli_version are required")
	}
	if !validName(*j.NetworkName) {
		return nil, fmt.Errorf("network_name must match [a-z0-9_.-]{1,64}")
	}
	if !validVersion(*j.DepositCLIVersion) {
		return nil, fmt.Errorf("deposit_cli_version must match [0-9A-Za-z.+-]{1,64}")
	}
	return &ChangeFileMetadata{NetworkName: *j.NetworkName, GenesisValidatorsRoot: *j.GenesisValidatorsRoot, DepositCLIVersion: *j.DepositCLIVersion}, nil
}

// validVersion reports whether s looks like a tool version ("2.7.0",
// "0.1.4-dev"): [0-9A-Za-z.+-]{1,64}.
func validVersion(s string) bool { return validToken(s, true, ".+-") }
