package api

import (
	"net/http"
	"strconv"

	"github.com/vhsm/vhsm/wallet"
)

// Fee bumps, history pages and webhooks (wallet/bump.go,
// wallet/history_page.go, wallet/webhooks.go).

// bumpBody is the body of POST …/transactions/{tx}/bump.
type bumpBody struct {
	FeeRate *int64 `json:"fee_rate"`
}

func (s *server) bump(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	txID, err := pathID(r, "tx")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	key, err := idempotencyKey(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body bumpBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.FeeRate == nil {
		s.fail(w, r, invalid("fee_rate is required", FieldError{Field: "fee_rate", Message: "required: the new fee rate in sat/vB, above the original's"}))
		return
	}
	tx, err := s.w.Bump(r.Context(), id, txID, wallet.BumpRequest{FeeRate: *body.FeeRate, IdempotencyKey: key})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tx)
}

// pageQuery reads ?limit= and ?cursor=; paged reports whether either was
// given (without them the history is the legacy full array).
func pageQuery(r *http.Request) (req wallet.TxPageRequest, paged bool, err error) {
	q := r.URL.Query()
	for _, name := range []string{"limit", "cursor"} {
		if len(q[name]) > 1 {
			return req, false, invalid(name+" is given more than once", FieldError{Field: name, Message: "given more than once"})
		}
	}
	if v, ok := q["limit"]; ok {
		paged = true
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > wallet.MaxPageLimit {
			return req, false, invalid("limit is out of range", FieldError{Field: "limit", Message: "must be an integer from 1 to " + strconv.Itoa(wallet.MaxPageLimit)})
		}
		req.Limit = n
	}
	if v, ok := q["cursor"]; ok {
		paged = true
		if len(v[0]) == 0 || len(v[0]) > 256 {
			return req, false, invalid("cursor is malformed", FieldError{Field: "cursor", Message: "must be a next_cursor value"})
		}
		req.Cursor = v[0]
	}
	return req, paged, nil
}

func (s *server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var req wallet.CreateWebhookRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	if !validID(req.WalletID) {
		errs = append(errs, FieldError{Field: "wallet_id", Message: "required: a wallet id"})
	}
	if req.URL == "" {
		errs = append(errs, FieldError{Field: "url", Message: "required: an http or https URL"})
	}
	if len(req.Events) == 0 {
		errs = append(errs, FieldError{Field: "events", Message: "required: some of received, confirmed, sent, failed"})
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid("the webhook request is invalid", errs...))
		return
	}
	hook, err := s.w.CreateWebhook(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // the answer carries the secret
	writeJSON(w, http.StatusCreated, hook)
}

func (s *server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	walletID := r.URL.Query().Get("wallet_id")
	if walletID != "" && !validID(walletID) {
		s.fail(w, r, invalid("wallet_id is malformed", FieldError{Field: "wallet_id", Message: "must be a wallet id"}))
		return
	}
	hooks, err := s.w.ListWebhooks(r.Context(), walletID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if hooks == nil {
		hooks = []wallet.Webhook{}
	}
	writeJSON(w, http.StatusOK, hooks)
}

func (s *server) getWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hook, err := s.w.GetWebhook(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hook)
}

func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.w.DeleteWebhook(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) webhookDeliveries(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ds, err := s.w.WebhookDeliveries(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ds == nil {
		ds = []wallet.WebhookDelivery{}
	}
	writeJSON(w, http.StatusOK, ds)
}
