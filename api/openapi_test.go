package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
)

// specOnce loads and validates the embedded OpenAPI document once.
var specOnce = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return legacyrouter.NewRouter(doc)
})

func TestOpenAPIDocument(t *testing.T) {
	r, err := specOnce()
	if err != nil {
		t.Fatalf("openapi.json does not load or validate: %v", err)
	}
	doc, _ := openapi3.NewLoader().LoadFromData(OpenAPI)
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi version %q, want 3.1", doc.OpenAPI)
	}
	// Every documented operation is routed by the API (not 404/405 from
	// the router): probe each with no token and expect 401 (or 200 for
	// /healthz).
	h := newTestHandler(t, newFakeWallets(), Config{})
	n := 0
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			p := strings.NewReplacer("{id}", "w_0123456789abcdef01234567", "{tx}", "tx_1").Replace(path)
			req, _ := http.NewRequest(method, p, nil)
			req.RemoteAddr = fmt.Sprintf("127.0.0.%d:1000", n%200+1) // stay under the failed-auth limit
			rec := serve(h, req)
			want := http.StatusUnauthorized
			if path == "/healthz" {
				want = http.StatusOK
			}
			if rec.Code != want {
				t.Errorf("%s %s: status %d, want %d (%s)", method, path, rec.Code, want, rec.Body)
			}
			n++
		}
	}
	_ = r
	if n < 28 {
		t.Errorf("only %d operations documented", n)
	}
}

// checkResponse validates a request and its response against the OpenAPI
// document: the route must be documented, the status listed for it and the
// body must match its schema. A request the API accepted must itself be
// valid per the document.
func checkResponse(t testing.TB, req *http.Request, reqBody []byte, status int, header http.Header, body []byte) {
	t.Helper()
	if err := validateExchange(req, reqBody, status, header, body); err != nil {
		t.Errorf("%s %s → %d: %v\nbody: %.600s", req.Method, req.URL.Path, status, err, body)
	}
}

// validateExchange is checkResponse's check. kin-openapi loads "openapi":
// "3.1.0" documents natively and, for them, validates schemas as JSON
// Schema 2020-12 (openapi3.EnableJSONSchema2020, applied by
// openapi3filter when the document is 3.1), so type arrays such as
// ["array", "null"] are honoured.
func validateExchange(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	router, err := specOnce()
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("not in the OpenAPI document: %w", err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	if !strings.Contains(header.Get("Content-Type"), "json") {
		opts.ExcludeResponseBody = true // PNG, metrics text
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if status < 400 {
		r2 := req.Clone(context.Background())
		r2.Body = io.NopCloser(bytes.NewReader(reqBody))
		in2 := &openapi3filter.RequestValidationInput{Request: r2, PathParams: params, Route: route, Options: opts}
		if err := openapi3filter.ValidateRequest(context.Background(), in2); err != nil {
			return fmt.Errorf("accepted request does not match the document: %w", err)
		}
	}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts,
	}); err != nil {
		return fmt.Errorf("response does not match the document: %w", err)
	}
	return nil
}

// TestOpenAPIValidationCatchesDrift shows that the contract check fails on
// a response that is not what the document says (so a passing contract
// test means something).
func TestOpenAPIValidationCatchesDrift(t *testing.T) {
	req, _ := http.NewRequest("GET", "/v1/wallets/w_1/balance", nil)
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	good := []byte(`{"confirmed":1,"unconfirmed":0,"locked":0,"immature":0,"total":1}`)
	if err := validateExchange(req, nil, 200, hdr, good); err != nil {
		t.Fatalf("valid balance refused: %v", err)
	}
	for name, tc := range map[string]struct {
		status int
		body   string
	}{
		"missing field":        {200, `{"confirmed":1,"unconfirmed":0,"locked":0,"immature":0}`},
		"wrong type":           {200, `{"confirmed":"1","unconfirmed":0,"locked":0,"immature":0,"total":1}`},
		"undocumented status":  {409, `{"type":"https://vhsm.dev/problems/conflict","title":"Conflict","status":409}`},
		"unknown problem type": {404, `{"type":"about:blank","title":"x","status":404}`},
	} {
		ct := hdr
		if tc.status >= 400 {
			ct = http.Header{"Content-Type": []string{"application/problem+json"}}
		}
		if err := validateExchange(req, nil, tc.status, ct, []byte(tc.body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	post, _ := http.NewRequest("POST", "/v1/wallets/w_1/transactions", nil)
	if err := validateExchange(post, []byte(`{"outputs":[],"extra":1}`), 201, hdr, []byte(`{}`)); err == nil {
		t.Error("a request with an unknown field passed request validation")
	}
}

// routerAdapter hides the routers.Route type from call sites.
type routerAdapter struct{ r routers.Router }

func (a routerAdapter) FindRoute(req *http.Request) (any, map[string]string, error) {
	if a.r == nil {
		return nil, nil, io.EOF
	}
	return a.r.FindRoute(req)
}

// TestExitBoundsDocumented: the exit route's bound on validator_index and
// epoch is the documented maximum, and the document refuses a value above it.
func TestExitBoundsDocumented(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	sch := doc.Components.Schemas["ExitRequest"].Value
	for _, f := range []string{"validator_index", "epoch"} {
		p := sch.Properties[f].Value
		if p.Max == nil || *p.Max != float64(maxExitIndex) {
			t.Errorf("ExitRequest.%s: maximum %v, want %d", f, p.Max, int64(maxExitIndex))
		}
		if err := p.VisitJSON(float64(maxExitIndex + 1)); err == nil {
			t.Errorf("ExitRequest.%s: the document accepts 2^40+1", f)
		}
	}
}
