package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/wire"
)

// blsChangeBody is the body of POST /v1/keys/{id}/bls-to-execution-change.
// Every field is required; pointers tell an absent field from a zero.
type blsChangeBody struct {
	Network               *string `json:"network"`
	ValidatorIndex        *uint64 `json:"validator_index"`
	ToExecutionAddress    *string `json:"to_execution_address"`
	WithdrawalCredentials *string `json:"withdrawal_credentials"`
}

// hsmEthSigner adapts the API's HSM to ethereum.Signer.
type hsmEthSigner struct{ h HSM }

func (e hsmEthSigner) SignBLS(ctx context.Context, keyID string, root [32]byte) ([]byte, error) {
	return e.h.SignBLS(ctx, keyID, root[:])
}

// SignTyped signs the typed request with a validator key (which the
// replicas refuse to sign bare roots with), and the root with another key;
// chains/ethereum verifies the result over its own root either way.
func (e hsmEthSigner) SignTyped(ctx context.Context, keyID string, root [32]byte, request []byte) ([]byte, error) {
	typed, ok := e.h.(interface {
		SignEth2(ctx context.Context, keyID string, request []byte) ([]byte, error)
	})
	if ok {
		k, err := e.h.PublicKey(ctx, keyID)
		if err != nil {
			return nil, err
		}
		if k.Usage == wire.UsageEth2Validator {
			return typed.SignEth2(ctx, keyID, request)
		}
	}
	return e.h.SignBLS(ctx, keyID, root[:])
}

var _ ethereum.TypedSigner = hsmEthSigner{}

// blsToExecutionChange signs a BLS-to-execution change with the raw BLS
// withdrawal key {id}, with the checks of vhsm eth bls-change: a configured
// network, the validator's current 0x00 credentials committing to the key
// (capella process_bls_to_execution_change), an EIP-55-checked non-zero
// execution address, and the signature verified before it is returned. The
// answer is the beacon API's JSON array, ready for
// POST /eth/v1/beacon/pool/bls_to_execution_changes.
func (s *server) blsToExecutionChange(w http.ResponseWriter, r *http.Request) {
	var body blsChangeBody
	id, ok := s.rawKeyRequest(w, r, &body)
	if !ok {
		return
	}
	var errs []FieldError
	var net ethereum.Network
	if body.Network == nil || *body.Network == "" {
		errs = append(errs, FieldError{Field: "network", Message: "required (an Ethereum network name, e.g. hoodi)"})
	} else if n, err := s.w.EthereumNetwork(*body.Network); err != nil || !validID(*body.Network) {
		errs = append(errs, FieldError{Field: "network", Message: "unknown network"})
	} else {
		net = n
	}
	idx := requiredIndex("validator_index", body.ValidatorIndex, &errs)
	var to ethereum.ExecutionAddress
	if body.ToExecutionAddress == nil {
		errs = append(errs, FieldError{Field: "to_execution_address", Message: "required: the 0x… address that will receive withdrawals"})
	} else if fe := addressError("to_execution_address", *body.ToExecutionAddress); fe != nil {
		errs = append(errs, *fe)
	} else {
		to, _ = ethereum.ParseExecutionAddress(*body.ToExecutionAddress)
		if to == (ethereum.ExecutionAddress{}) {
			errs = append(errs, FieldError{Field: "to_execution_address", Message: "the zero address would burn the withdrawals"})
		}
	}
	var current ethereum.Credentials
	if body.WithdrawalCredentials == nil {
		errs = append(errs, FieldError{Field: "withdrawal_credentials", Message: "required: the validator's current 0x00 credentials, as the beacon node reports them"})
	} else if err := current.UnmarshalText([]byte(*body.WithdrawalCredentials)); err != nil {
		errs = append(errs, FieldError{Field: "withdrawal_credentials", Message: "must be 0x and 64 hex digits"})
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid("the BLS-to-execution change request is invalid", errs...))
		return
	}
	k, err := s.hsm.PublicKey(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var pub ethereum.Pubkey
	switch {
	case k.Scheme != wire.SchemeBLS:
		s.fail(w, r, invalid("key "+id+" is a "+k.Scheme+" key; a BLS-to-execution change needs the BLS withdrawal key"))
		return
	case k.Disabled:
		s.fail(w, r, newProblem(ProblemRejected, "the key is disabled"))
		return
	case len(k.PublicKey) != len(pub):
		s.fail(w, r, newProblem(ProblemInternal, "the key's public key has the wrong length"))
		return
	}
	copy(pub[:], k.PublicKey)
	msg := ethereum.BLSToExecutionChange{ValidatorIndex: ethereum.Uint64(idx), FromBLSPubkey: pub, ToExecutionAddress: to}
	signed, err := ethereum.SignBLSToExecutionChange(r.Context(), hsmEthSigner{s.hsm}, net, id, msg, current)
	var se *ethereum.SignatureError
	switch {
	case err == nil:
	case errors.Is(err, ethereum.ErrInvalidCredentials):
		s.fail(w, r, invalid("the withdrawal credentials do not allow this change",
			FieldError{Field: "withdrawal_credentials", Message: "must be 0x00 credentials committing to this key (0x00 ‖ sha256(pubkey)[1:])"}))
		return
	case errors.As(err, &se):
		s.fail(w, r, newProblem(ProblemRejected, "the HSM returned a signature that does not verify"))
		return
	default:
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, []ethereum.SignedBLSToExecutionChange{signed})
}
