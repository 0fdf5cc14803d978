package api

import (
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
	} else if _, err := ethereum.ParseExecutionAddress(req.WithdrawalAddress); err != nil {
		errs = append(errs, FieldError{Field: "withdrawal_address", Message: "must be a 0x-prefixed 20-byte hex address (EIP-55 checksum honoured when mixed case)"})
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

func (s *server) exit(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req wallet.ExitRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	if req.ValidatorIndex > maxExitIndex {
		errs = append(errs, FieldError{Field: "validator_index", Message: "out of range"})
	}
	if req.Epoch > maxExitIndex {
		errs = append(errs, FieldError{Field: "epoch", Message: "out of range"})
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
