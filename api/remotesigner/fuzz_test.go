package remotesigner

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzSignRequest drives the sign endpoint with arbitrary identifiers and
// bodies: the answer is always one of the specification's statuses, a
// malformed request never reaches the signer, and nothing panics.
func FuzzSignRequest(f *testing.F) {
	s := newFakeSigner(1)
	pk := pkHex(s.order[0])
	for _, b := range specExamples(f) {
		f.Add(pk, b)
	}
	f.Add(pk, attestation(1, 2))
	f.Add("0x12", []byte(`{}`))
	h := &Handler{Signer: s}
	f.Fuzz(func(t *testing.T, ident string, body []byte) {
		if strings.ContainsAny(ident, "/?#% \r\n\t") || len(ident) > 200 {
			return
		}
		req := httptest.NewRequest("POST", "/api/v1/eth2/sign/x", bytes.NewReader(body))
		req.URL.Path = PathSign + ident
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.mu.Lock()
		s.lastSlot, s.lastTarget = map[[48]byte]uint64{}, map[[48]byte]uint64{}
		before := s.calls
		s.mu.Unlock()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusNotFound, http.StatusPreconditionFailed:
		case http.StatusBadRequest:
			if s.calls != before {
				t.Fatal("a refused request reached the signer")
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzParseAccess: the access-file decoder refuses or accepts without
// panicking, and what it accepts identifies no one without a certificate.
func FuzzParseAccess(f *testing.F) {
	f.Add([]byte(`{"clients":[{"name":"a","cert_sha256":"` + strings.Repeat("ab", 32) + `","all_keys":true}]}`))
	f.Add([]byte(`{"clients":[{"name":"a","cert_sha256":"` + strings.Repeat("ab", 32) + `","pubkeys":["0x` + strings.Repeat("aa", 48) + `"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAccess(data, nil)
		if err != nil {
			return
		}
		if a.Identify(nil) != nil {
			t.Fatal("identified an empty chain")
		}
	})
}
