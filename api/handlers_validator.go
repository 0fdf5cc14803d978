package api

import (
	"errors"
	"net/http"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/wallet"
)

func (s *server) createValidator(w http.ResponseWriter, r *http.Request) {
	key, err := idempotencyKey(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req wallet.CreateValidatorRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	if req.Network == "" {
		errs = append(errs, FieldError{Field: "network", Message: "required (an Ethereum network name, e.g. hoodi)"})
	} else if !validID(req.Network) {
		errs = append(errs, FieldError{Field: "network", Message: "unknown network"})
	}
	if req.WithdrawalAddress == "" {
		errs = append(errs, FieldError{Field: "withdrawal_address", Message: "required: the 0x… execution address that receives withdrawals"})
	} else if fe := addressError("withdrawal_address", req.WithdrawalAddress); fe != nil {
		errs = append(errs, *fe)
	}
	checkText("label", req.Label, maxLabelLen, &errs)
	if len(errs) > 0 {
		s.fail(w, r, invalid("the validator request is invalid", errs...))
		return
	}
	req.IdempotencyKey = key
	v, err := s.w.CreateValidator(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *server) listValidators(w http.ResponseWriter, r *http.Request) {
	vs, err := s.w.ListValidators(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if vs == nil {
		vs = []wallet.Validator{}
	}
	writeJSON(w, http.StatusOK, vs)
}

func (s *server) getValidator(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.w.GetValidator(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// maxDepositGwei bounds amount_gwei (2048 ETH, the EIP-7251 maximum).
const maxDepositGwei = 2048 * 1_000_000_000

func (s *server) depositData(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req wallet.DepositDataRequest
	if err := s.decodeJSON(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.AmountGwei > maxDepositGwei {
		s.fail(w, r, invalid("amount_gwei is too large", FieldError{Field: "amount_gwei", Message: "at most 2048 ETH (2048000000000 Gwei)"}))
		return
	}
	entry, err := s.w.DepositData(r.Context(), id, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := ethereum.MarshalDepositFile([]ethereum.DepositEntry{entry})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+ethereum.DepositFileName(s.now())+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// maxExitIndex bounds an exit's validator index and epoch, far above any
// real one; openapi.json documents it as the fields' maximum.
const maxExitIndex = 1 << 40

// exitBody is the exit request on the wire: pointers tell an absent field
// from a zero, so {} is refused rather than signing index 0 at epoch 0.
type exitBody struct {
	ValidatorIndex *uint64 `json:"validator_index"`
	Epoch          *uint64 `json:"epoch"`
}

// requiredIndex checks a required uint64 field bounded by maxExitIndex.
func requiredIndex(field string, v *uint64, errs *[]FieldError) uint64 {
	switch {
	case v == nil:
		*errs = append(*errs, FieldError{Field: field, Message: "required"})
		return 0
	case *v > maxExitIndex:
		*errs = append(*errs, FieldError{Field: field, Message: "out of range"})
	}
	return *v
}

func (s *server) exit(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body exitBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	req := wallet.ExitRequest{
		ValidatorIndex: requiredIndex("validator_index", body.ValidatorIndex, &errs),
		Epoch:          requiredIndex("epoch", body.Epoch, &errs),
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid("the exit request is invalid", errs...))
		return
	}
	ex, err := s.w.Exit(r.Context(), id, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ex)
}

// indexBody is the body of PUT /v1/validators/{id}/index.
type indexBody struct {
	ValidatorIndex *uint64 `json:"validator_index"`
}

// setValidatorIndex records or corrects a validator's index (admin): exits
// must then use it.
func (s *server) setValidatorIndex(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body indexBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	idx := requiredIndex("validator_index", body.ValidatorIndex, &errs)
	if len(errs) > 0 {
		s.fail(w, r, invalid("the index request is invalid", errs...))
		return
	}
	v, err := s.w.SetValidatorIndex(r.Context(), id, idx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// addressError checks an execution address field with
// ethereum.ParseExecutionAddress (EIP-55 checksum when mixed case).
func addressError(field, v string) *FieldError {
	_, err := ethereum.ParseExecutionAddress(v)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ethereum.ErrAddressChecksum):
		return &FieldError{Field: field, Message: "mixed-case address with a bad EIP-55 checksum (check for a typo, or give it in all lower case)"}
	default:
		return &FieldError{Field: field, Message: "must be 0x and 40 hex digits (mixed case must carry a valid EIP-55 checksum)"}
	}
}
