package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/wallet"
)

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the /readyz answer.
type readiness struct {
	Ready         bool                   `json:"ready"`
	Needed        int                    `json:"needed"`
	ReadyReplicas int                    `json:"ready_replicas"`
	Replicas      []client.ReplicaStatus `json:"replicas"`
}

// readyzTimeout bounds the status round.
const readyzTimeout = 5 * time.Second

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := contextWithTimeout(r, readyzTimeout)
	defer cancel()
	_, t := s.hsm.Threshold()
	sts := s.hsm.Status(ctx)
	rd := readiness{Needed: t + 1, Replicas: sts}
	for _, st := range sts {
		if st.Ready {
			rd.ReadyReplicas++
		}
	}
	rd.Ready = rd.ReadyReplicas >= rd.Needed
	if rd.Ready {
		writeJSON(w, http.StatusOK, rd)
		return
	}
	w.Header().Set("Retry-After", "5")
	p := newProblem(ProblemUnavailable, fmt.Sprintf("%d of %d HSM replicas ready, %d needed", rd.ReadyReplicas, len(sts), rd.Needed))
	writeProblem(w, r, p, map[string]any{"ready": rd.Ready, "needed": rd.Needed, "ready_replicas": rd.ReadyReplicas, "replicas": rd.Replicas})
}

type createTokenRequest struct {
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	TTLSeconds int64    `json:"ttl_seconds"`
}

// createdToken is a token with its secret, shown once.
type createdToken struct {
	wallet.Token
	Secret string `json:"secret"`
}

// maxTTL bounds a token's lifetime (10 years).
const maxTTL = 10 * 365 * 24 * time.Hour

func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var req createTokenRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	switch {
	case strings.TrimSpace(req.Name) == "":
		errs = append(errs, FieldError{Field: "name", Message: "required"})
	case utf8.RuneCountInString(req.Name) > 100:
		errs = append(errs, FieldError{Field: "name", Message: "at most 100 characters"})
	default:
		checkText("name", req.Name, 100, &errs)
	}
	if len(req.Scopes) == 0 {
		errs = append(errs, FieldError{Field: "scopes", Message: "at least one of read, spend, admin"})
	}
	for i, sc := range req.Scopes {
		if (sc != wallet.ScopeRead && sc != wallet.ScopeSpend && sc != wallet.ScopeAdmin) || i >= 3 {
			errs = append(errs, FieldError{Field: fmt.Sprintf("scopes[%d]", i), Message: "must be read, spend or admin (at most 3)"})
			break
		}
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > int64(maxTTL/time.Second) {
		errs = append(errs, FieldError{Field: "ttl_seconds", Message: "from 0 (no expiry) to 315360000 (10 years)"})
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid("the token request is invalid", errs...))
		return
	}
	secret, tok, err := s.w.CreateToken(r.Context(), req.Name, req.Scopes, time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdToken{Token: tok, Secret: secret})
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.w.ListTokens(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ts == nil {
		ts = []wallet.Token{}
	}
	writeJSON(w, http.StatusOK, ts)
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.w.RevokeToken(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
