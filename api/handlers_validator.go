package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/wallet"
)

func (s *server) createValidator(w http.ResponseWriter, r *http.Request) {
	key, err := idempotencyKey(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body createValidatorBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		s.fail(w, r, err)
		return
	}
	req := body.CreateValidatorRequest
	var errs []FieldError
	if body.Count != nil && (*body.Count < 1 || *body.Count > maxValidatorBatch) {
		errs = append(errs, FieldError{Field: "count", Message: fmt.Sprintf("1 to %d", maxValidatorBatch)})
	}
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
	if body.Count != nil {
		s.createValidators(w, r, req, *body.Count)
		return
	}
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

// createValidatorBody is POST /v1/validators: one validator, or with count
// a batch of them.
type createValidatorBody struct {
	wallet.CreateValidatorRequest
	Count *int `json:"count"`
}

// maxValidatorBatch bounds count; batchWorkers is how many validators of a
// batch are created at once (each key generation is an ordered request).
const (
	maxValidatorBatch = 256
	batchWorkers      = 4
)

// validatorBatch is the answer to POST /v1/validators with a count: the
// validators and the deposit data of all of them, one deposit_data file.
type validatorBatch struct {
	Validators  []wallet.Validator `json:"validators"`
	DepositData json.RawMessage    `json:"deposit_data"`
}

// createValidators creates count validators like createValidator (each a
// validator key in the HSM) and signs a 32 ETH deposit for each (Gwei
// amounts are per validator with deposit-data). With an Idempotency-Key,
// validator i has the key batchIdemKey(k, i), so a retry after a failure
// midway finds the ones already made.
func (s *server) createValidators(w http.ResponseWriter, r *http.Request, req wallet.CreateValidatorRequest, count int) {
	ctx := r.Context()
	vs := make([]wallet.Validator, count)
	entries := make([]ethereum.DepositEntry, count)
	errs := make([]error, count)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(batchWorkers, count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				one := req
				if req.IdempotencyKey != "" {
					one.IdempotencyKey = batchIdemKey(req.IdempotencyKey, i+1)
				}
				if req.Label != "" && count > 1 {
					one.Label = fmt.Sprintf("%s-%d", req.Label, i+1)
				}
				v, err := s.w.CreateValidator(ctx, one)
				if err != nil {
					errs[i] = err
					continue
				}
				vs[i] = *v
				entries[i], errs[i] = s.w.DepositData(ctx, v.ID, wallet.DepositDataRequest{})
			}
		}()
	}
	for i := range count {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	file, err := ethereum.MarshalDepositFile(entries)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, validatorBatch{Validators: vs, DepositData: file})
}

// batchIdemKey derives validator i's idempotency key from a batch's key k:
// longer than any header key (maxIdemKeyLen), so it never equals one.
func batchIdemKey(k string, i int) string {
	d := sha256.Sum256([]byte(k))
	h := hex.EncodeToString(d[:])
	return "vhsm-batch-" + h + h + "-" + strconv.Itoa(i)
}

// maxExitBatch bounds a batch of exits (as maxValidatorBatch bounds count).
const maxExitBatch = maxValidatorBatch

// exitUint is a uint64 field of the exits batch: a decimal string, as the
// beacon API writes them ("123"), or a JSON integer.
type exitUint struct{ v uint64 }

func (u *exitUint) UnmarshalJSON(b []byte) error {
	// An *json.UnmarshalTypeError gets the field's name from encoding/json,
	// so the 400 names it.
	bad := &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[uint64]()}
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return bad
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return bad
	}
	u.v = v
	return nil
}

// exitsItem is one validator of a batch of exits.
type exitsItem struct {
	ID             string    `json:"id"`
	ValidatorIndex *exitUint `json:"validator_index"`
}

// exitsBody is POST /v1/validators/exits: validators (each with its index
// unless the wallet has it recorded) or all, and the exit epoch.
type exitsBody struct {
	Validators []exitsItem `json:"validators"`
	All        bool        `json:"all"`
	Epoch      *exitUint   `json:"epoch"`
}

// exitJob is a validated exit to sign.
type exitJob struct {
	id    string
	index uint64
}

// exits signs voluntary exits for a batch of validators and answers one
// JSON array of SignedVoluntaryExit (beacon-API JSON, as the single exit
// route and `vhsm broadcast eth` take them), in request order. Everything
// is checked before anything is signed: an unknown id (404), a missing
// index (400), or an index that differs from the recorded one (409) signs
// nothing. With "all", every validator with a recorded index is exited.
func (s *server) exits(w http.ResponseWriter, r *http.Request) {
	var body exitsBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	if body.Epoch == nil {
		errs = append(errs, FieldError{Field: "epoch", Message: "required: the epoch from which the exits are valid"})
	} else if body.Epoch.v > maxExitIndex {
		errs = append(errs, FieldError{Field: "epoch", Message: "out of range"})
	}
	switch {
	case body.All && body.Validators != nil:
		errs = append(errs, FieldError{Field: "all", Message: "give either validators or all, not both"})
	case !body.All && len(body.Validators) == 0:
		errs = append(errs, FieldError{Field: "validators", Message: "required: a non-empty list (or \"all\": true)"})
	case len(body.Validators) > maxExitBatch:
		errs = append(errs, FieldError{Field: "validators", Message: fmt.Sprintf("at most %d per request", maxExitBatch)})
	}
	seen := make(map[string]bool, len(body.Validators))
	for i, it := range body.Validators {
		f := fmt.Sprintf("validators[%d]", i)
		switch {
		case !validID(it.ID):
			errs = append(errs, FieldError{Field: f + ".id", Message: "required: a validator id (1–64 characters of A–Z a–z 0–9 . _ -)"})
		case seen[it.ID]:
			errs = append(errs, FieldError{Field: f + ".id", Message: "validator " + it.ID + " is listed twice"})
		}
		seen[it.ID] = true
		if it.ValidatorIndex != nil && it.ValidatorIndex.v > maxExitIndex {
			errs = append(errs, FieldError{Field: f + ".validator_index", Message: "out of range"})
		}
		if len(errs) > 16 {
			break
		}
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid("the exits request is invalid", errs...))
		return
	}
	jobs, err := s.exitJobs(r, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.signExits(r, jobs, body.Epoch.v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// exitJobs resolves the batch against the wallet without signing.
func (s *server) exitJobs(r *http.Request, body exitsBody) ([]exitJob, error) {
	ctx := r.Context()
	if body.All {
		vs, err := s.w.ListValidators(ctx)
		if err != nil {
			return nil, err
		}
		var jobs []exitJob
		for _, v := range vs {
			if v.ValidatorIndex != nil && *v.ValidatorIndex >= 0 {
				jobs = append(jobs, exitJob{id: v.ID, index: uint64(*v.ValidatorIndex)})
			}
		}
		switch {
		case len(jobs) == 0:
			return nil, invalid("no validator has a recorded index", FieldError{Field: "all",
				Message: "record indices first (PUT /v1/validators/{id}/index) or list validators with their validator_index"})
		case len(jobs) > maxExitBatch:
			return nil, invalid("too many validators for one request", FieldError{Field: "all",
				Message: fmt.Sprintf("%d validators have an index; list them in batches of at most %d", len(jobs), maxExitBatch)})
		}
		return jobs, nil
	}
	// Look the validators up batchWorkers at a time (each may be an HSM
	// round trip), then judge them in request order.
	vs := make([]*wallet.Validator, len(body.Validators))
	errs := make([]error, len(body.Validators))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(batchWorkers, len(vs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				vs[i], errs[i] = s.w.GetValidator(ctx, body.Validators[i].ID)
			}
		}()
	}
	for i := range vs {
		work <- i
	}
	close(work)
	wg.Wait()
	jobs := make([]exitJob, len(body.Validators))
	for i, it := range body.Validators {
		f := fmt.Sprintf("validators[%d]", i)
		v, err := vs[i], errs[i]
		if errors.Is(err, wallet.ErrNotFound) {
			p := newProblem(ProblemNotFound, fmt.Sprintf("%s: no validator %q", f, it.ID))
			p.Errors = []FieldError{{Field: f + ".id", Message: "no such validator"}}
			return nil, p
		}
		if err != nil {
			return nil, err
		}
		switch {
		case it.ValidatorIndex == nil && v.ValidatorIndex == nil:
			return nil, invalid(f+": validator "+it.ID+" has no recorded index", FieldError{Field: f + ".validator_index",
				Message: "required: this validator has no recorded index"})
		case it.ValidatorIndex == nil:
			jobs[i] = exitJob{id: it.ID, index: uint64(*v.ValidatorIndex)}
		case v.ValidatorIndex != nil && uint64(*v.ValidatorIndex) != it.ValidatorIndex.v:
			p := newProblem(ProblemConflict, fmt.Sprintf("%s: validator %s has index %d, not %d (an admin can correct it)",
				f, it.ID, *v.ValidatorIndex, it.ValidatorIndex.v))
			p.Errors = []FieldError{{Field: f + ".validator_index", Message: fmt.Sprintf("recorded index is %d", *v.ValidatorIndex)}}
			return nil, p
		default:
			jobs[i] = exitJob{id: it.ID, index: it.ValidatorIndex.v}
		}
	}
	return jobs, nil
}

// signExits signs the jobs, batchWorkers at a time; any failure fails the
// whole batch (no partial answer).
func (s *server) signExits(r *http.Request, jobs []exitJob, epoch uint64) ([]ethereum.SignedVoluntaryExit, error) {
	ctx := r.Context()
	out := make([]ethereum.SignedVoluntaryExit, len(jobs))
	errs := make([]error, len(jobs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(batchWorkers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out[i], errs[i] = s.w.Exit(ctx, jobs[i].id, wallet.ExitRequest{ValidatorIndex: jobs[i].index, Epoch: epoch})
			}
		}()
	}
	for i := range jobs {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("validators[%d] (%s): %w", i, jobs[i].id, err)
		}
	}
	return out, nil
}
