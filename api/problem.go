package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/wallet"
)

// ProblemBase prefixes every problem type URI.
const ProblemBase = "https://vhsm.dev/problems/"

// Problem types (the last segment of the type URI). They are stable: a
// client may switch on them.
const (
	ProblemInvalid          = "invalid-request"
	ProblemNotFound         = "not-found"
	ProblemMethod           = "method-not-allowed"
	ProblemConflict         = "conflict"
	ProblemInsufficient     = "insufficient-funds"
	ProblemUnsupported      = "unsupported"
	ProblemRejected         = "rejected"
	ProblemUnauthorized     = "unauthorized"
	ProblemForbidden        = "forbidden"
	ProblemRateLimited      = "rate-limited"
	ProblemTooLarge         = "payload-too-large"
	ProblemUnsupportedMedia = "unsupported-media-type"
	ProblemUnavailable      = "unavailable"
	ProblemInternal         = "internal"
	// ProblemHighFee: the review flagged the fee (above the configured
	// share of the amount or the absolute cap); resend with
	// "accept_high_fee": true to go on.
	ProblemHighFee = "high-fee"
)

// problemTitles gives each problem type its status and title.
var problemTitles = map[string]struct {
	status int
	title  string
}{
	ProblemInvalid:          {http.StatusBadRequest, "Invalid request"},
	ProblemNotFound:         {http.StatusNotFound, "Not found"},
	ProblemMethod:           {http.StatusMethodNotAllowed, "Method not allowed"},
	ProblemConflict:         {http.StatusConflict, "Conflict"},
	ProblemInsufficient:     {http.StatusUnprocessableEntity, "Insufficient funds"},
	ProblemUnsupported:      {http.StatusUnprocessableEntity, "Unsupported operation"},
	ProblemRejected:         {http.StatusUnprocessableEntity, "Rejected"},
	ProblemUnauthorized:     {http.StatusUnauthorized, "Unauthorized"},
	ProblemForbidden:        {http.StatusForbidden, "Forbidden"},
	ProblemRateLimited:      {http.StatusTooManyRequests, "Too many requests"},
	ProblemTooLarge:         {http.StatusRequestEntityTooLarge, "Payload too large"},
	ProblemUnsupportedMedia: {http.StatusUnsupportedMediaType, "Unsupported media type"},
	ProblemUnavailable:      {http.StatusServiceUnavailable, "Service unavailable"},
	ProblemInternal:         {http.StatusInternalServerError, "Internal error"},
	ProblemHighFee:          {http.StatusUnprocessableEntity, "Fee above the sanity limit"},
}

// FieldError is one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// newProblem returns a problem of kind (a Problem* constant) with detail.
func newProblem(kind, detail string) *Problem {
	t, ok := problemTitles[kind]
	if !ok {
		kind, t = ProblemInternal, problemTitles[ProblemInternal]
	}
	return &Problem{Type: ProblemBase + kind, Title: t.title, Status: t.status, Detail: detail}
}

// invalid returns an invalid-request problem listing fields.
func invalid(detail string, fields ...FieldError) *Problem {
	p := newProblem(ProblemInvalid, detail)
	p.Errors = fields
	return p
}

// Error makes *Problem an error, so handlers can return one.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// writeProblem writes p as application/problem+json. extra, when not nil,
// is merged in as extension members.
func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem, extra map[string]any) {
	if r != nil {
		p.Instance = r.URL.Path
		if len(p.Instance) > 200 {
			p.Instance = p.Instance[:200]
		}
		p.Instance = strings.ToValidUTF8(p.Instance, "?")
		p.RequestID = requestIDFrom(r.Context())
	}
	var body []byte
	if extra != nil {
		m := map[string]any{}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(p)
		var base map[string]any
		_ = json.Unmarshal(b, &base)
		for k, v := range base {
			m[k] = v
		}
		body, _ = json.Marshal(m)
	} else {
		body, _ = json.Marshal(p)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Disposition")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// problemOf maps an error from the wallet service or the HSM client to a
// problem. Only the sentinel-wrapping errors' messages are shown; anything
// else becomes a generic internal error (the caller logs it).
func problemOf(err error) (p *Problem, known bool) {
	var pr *Problem
	if errors.As(err, &pr) {
		return pr, true
	}
	msg := clientMessage(err)
	switch {
	case errors.Is(err, wallet.ErrHighFee):
		return newProblem(ProblemHighFee, msg), true
	case errors.Is(err, wallet.ErrInvalid):
		return newProblem(ProblemInvalid, msg), true
	case errors.Is(err, wallet.ErrNotFound):
		return newProblem(ProblemNotFound, msg), true
	case errors.Is(err, wallet.ErrConflict):
		return newProblem(ProblemConflict, msg), true
	case errors.Is(err, wallet.ErrInsufficient):
		return newProblem(ProblemInsufficient, msg), true
	case errors.Is(err, wallet.ErrUnavailable):
		return newProblem(ProblemUnavailable, msg), true
	case errors.Is(err, wallet.ErrRejected):
		return newProblem(ProblemRejected, msg), true
	case errors.Is(err, wallet.ErrUnauthorized):
		return newProblem(ProblemUnauthorized, "the token is unknown, revoked or expired"), true
	case errors.Is(err, wallet.ErrForbidden):
		return newProblem(ProblemForbidden, msg), true
	case errors.Is(err, wallet.ErrUnsupported):
		return newProblem(ProblemUnsupported, msg), true
	}
	// The HSM client (raw key routes).
	var rej *client.RejectedError
	switch {
	case errors.As(err, &rej):
		reason := strings.ToLower(rej.Reason)
		switch {
		case strings.Contains(reason, "unknown key"):
			return newProblem(ProblemNotFound, "no such key"), true
		case strings.Contains(reason, "already exists"):
			return newProblem(ProblemConflict, "a key with this id already exists"), true
		case strings.Contains(reason, "unauthorized"):
			return newProblem(ProblemForbidden, "the service's HSM client may not use this key"), true
		case strings.Contains(reason, "disabled"):
			return newProblem(ProblemRejected, "the key is disabled"), true
		}
		return newProblem(ProblemRejected, "the HSM refused the request: "+rej.Reason), true
	case errors.Is(err, client.ErrInvalidArgument):
		return newProblem(ProblemInvalid, msg), true
	case errors.Is(err, client.ErrScheme):
		return newProblem(ProblemInvalid, "the key's scheme does not support this operation"), true
	case errors.Is(err, client.ErrDecrypt):
		return newProblem(ProblemInvalid, "the ciphertext does not decrypt under this key (malformed, forged or made under another key)"), true
	case errors.Is(err, client.ErrNoQuorum):
		return newProblem(ProblemUnavailable, "not enough HSM replicas answered; retry later"), true
	}
	return newProblem(ProblemInternal, "internal error; the request id is in the server log"), false
}

// clientMessage is the message of a wallet error with the package prefix
// removed ("wallet: invalid request: amount ..." → "amount ...").
func clientMessage(err error) string {
	s := err.Error()
	for _, sentinel := range []error{wallet.ErrInvalid, wallet.ErrNotFound, wallet.ErrConflict, wallet.ErrInsufficient,
		wallet.ErrUnavailable, wallet.ErrRejected, wallet.ErrUnauthorized, wallet.ErrForbidden, wallet.ErrUnsupported, wallet.ErrHighFee} {
		prefix := sentinel.Error() + ": "
		if i := strings.Index(s, prefix); i >= 0 {
			return s[i+len(prefix):]
		}
	}
	return s
}
