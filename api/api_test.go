package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/web"
)

// call sends one request to h with token and validates the answer against
// the OpenAPI document (documented routes) and the problem format.
func call(t *testing.T, h http.Handler, method, path, token string, body any, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}
	req, err := http.NewRequest(method, path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	rec := serve(h, req)
	res := rec.Result()
	b := rec.Body.Bytes()
	if res.StatusCode >= 400 {
		checkProblem(t, res.StatusCode, res.Header, b)
	}
	// 500 is undocumented on purpose: it only happens on a bug (a recovered
	// panic or an unexpected error).
	if _, _, err := mustRouter().FindRoute(req); err == nil && res.StatusCode != 500 {
		checkResponse(t, req, raw, res.StatusCode, res.Header, b)
	}
	return res.StatusCode, res.Header, b
}

func mustRouter() interface {
	FindRoute(*http.Request) (any, map[string]string, error)
} {
	r, _ := specOnce()
	return routerAdapter{r}
}

// checkProblem asserts body is a problem document matching status.
func checkProblem(t testing.TB, status int, hdr http.Header, body []byte) *Problem {
	t.Helper()
	if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("status %d: content type %q, want application/problem+json (body %.200s)", status, ct, body)
		return nil
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Errorf("status %d: problem is not JSON: %v", status, err)
		return nil
	}
	kind, ok := strings.CutPrefix(p.Type, ProblemBase)
	if _, known := problemTitles[kind]; !ok || !known {
		t.Errorf("problem type %q is not one of the stable types", p.Type)
	}
	if p.Status != status || p.Title == "" {
		t.Errorf("problem status %d / title %q, HTTP status %d", p.Status, p.Title, status)
	}
	return &p
}

func problemType(t *testing.T, body []byte) (string, []FieldError) {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a problem: %s", body)
	}
	return strings.TrimPrefix(p.Type, ProblemBase), p.Errors
}

func TestAuthAndScopes(t *testing.T) {
	h := newTestHandler(t, newFakeWallets(), Config{})
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"healthz without token", "GET", "/healthz", "", nil, 200},
		{"no token", "GET", "/v1/wallets", "", nil, 401},
		{"unknown token", "GET", "/v1/wallets", "vhsm_nope", nil, 401},
		{"read lists", "GET", "/v1/wallets", fakeRead, nil, 200},
		{"read cannot send", "POST", "/v1/wallets/" + fakeBTC + "/transactions", fakeRead, map[string]any{"outputs": []any{}}, 403},
		{"spend cannot list tokens", "GET", "/v1/tokens", fakeSpend, nil, 403},
		{"spend cannot create keys", "POST", "/v1/keys", fakeSpend, map[string]any{"key_id": "x", "scheme": "bls"}, 403},
		{"admin lists tokens", "GET", "/v1/tokens", fakeAdmin, nil, 200},
		{"metrics needs a token", "GET", "/metrics", "", nil, 401},
		{"metrics with read", "GET", "/metrics", fakeRead, nil, 200},
		{"openapi with read", "GET", "/openapi.json", fakeRead, nil, 200},
		{"readyz with read", "GET", "/readyz", fakeRead, nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := call(t, h, tc.method, tc.path, tc.token, tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, body)
			}
			if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
}

func TestMalformedAuthorization(t *testing.T) {
	h := newTestHandler(t, newFakeWallets(), Config{})
	for _, v := range []string{"Basic abc", "Bearer", "Bearer ", "bearer " + strings.Repeat("x", 300), "Bearer a b", "Bearer \x01"} {
		req, _ := http.NewRequest("GET", "/v1/wallets", nil)
		req.Header.Set("Authorization", v)
		rec := serve(h, req)
		if rec.Code != 401 {
			t.Errorf("Authorization %q: status %d, want 401", v, rec.Code)
		}
	}
}

func TestValidationProblems(t *testing.T) {
	fw := newFakeWallets()
	h := newTestHandler(t, fw, Config{MaxBodyBytes: 4096, RateLimit: RateLimit{Burst: 100}})
	send := "/v1/wallets/" + fakeBTC + "/transactions"
	okOut := []map[string]any{{"address": fw.wallets[fakeBTC].Address, "amount": 10000}}
	blsChange := "/v1/keys/k-bls/bls-to-execution-change"
	okTo, okCreds := "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x00"+strings.Repeat("11", 31)
	for _, tc := range []struct {
		name      string
		path      string
		body      any
		hdr       []string
		want      int
		kind      string
		wantField string
	}{
		{"unknown field", send, map[string]any{"outputs": okOut, "bogus": 1}, []string{"Idempotency-Key", "k1"}, 400, ProblemInvalid, "bogus"},
		{"malformed json", send, `{"outputs":`, []string{"Idempotency-Key", "k1"}, 400, ProblemInvalid, "body"},
		{"trailing data", send, `{"outputs":[]} {}`, nil, 400, ProblemInvalid, "body"},
		{"wrong type", send, `{"outputs":[{"address":"x","amount":"10"}]}`, nil, 400, ProblemInvalid, ""},
		{"overflow", send, `{"outputs":[{"address":"x","amount":1e30}]}`, nil, 400, ProblemInvalid, ""},
		{"empty outputs", send, map[string]any{"outputs": []any{}}, []string{"Idempotency-Key", "k1"}, 400, ProblemInvalid, "outputs"},
		{"bad address", send, map[string]any{"outputs": []map[string]any{{"address": "bc1qnotregtest", "amount": 1000}}}, []string{"Idempotency-Key", "k1"}, 400, ProblemInvalid, "outputs[0].address"},
		{"mainnet address on regtest", send, map[string]any{"outputs": []map[string]any{{"address": "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", "amount": 1000}}}, []string{"Idempotency-Key", "k1"}, 400, ProblemInvalid, "outputs[0].address"},
		{"negative amount", send, map[string]any{"outputs": []map[string]any{{"address": fw.wallets[fakeBTC].Address, "amount": -5}}}, []string{"Idempotency-Key", "k1"}, 400, ProblemInvalid, "outputs[0].amount"},
		{"fee rate", send, map[string]any{"outputs": okOut, "fee_rate": 1_000_000}, []string{"Idempotency-Key", "k1"}, 400, ProblemInvalid, "fee_rate"},
		{"missing idempotency key", send, map[string]any{"outputs": okOut}, nil, 400, ProblemInvalid, "Idempotency-Key"},
		{"bad idempotency key", send, map[string]any{"outputs": okOut}, []string{"Idempotency-Key", "a b"}, 400, ProblemInvalid, "Idempotency-Key"},
		{"dry run needs no key", send, map[string]any{"outputs": okOut, "dry_run": true}, nil, 200, "", ""},
		{"send ok", send, map[string]any{"outputs": okOut}, []string{"Idempotency-Key", "k1"}, 201, "", ""},
		{"content type", send, map[string]any{"outputs": okOut}, []string{"Content-Type", "text/plain"}, 415, ProblemUnsupportedMedia, ""},
		{"no content type", send, map[string]any{"outputs": okOut}, []string{"Content-Type", ""}, 415, ProblemUnsupportedMedia, ""},
		{"too large", send, `{"note":"` + strings.Repeat("a", 5000) + `"}`, nil, 413, ProblemTooLarge, ""},
		{"bad wallet id", "/v1/wallets/w%20x/balance", nil, nil, 400, ProblemInvalid, "id"},
		{"unknown wallet", "/v1/wallets/w_ffffffffffffffffffffffff", nil, nil, 404, ProblemNotFound, ""},
		{"unknown route", "/v1/nope", nil, nil, 404, ProblemNotFound, ""},
		{"validator address", "/v1/validators", map[string]any{"network": "hoodi", "withdrawal_address": "0x12"}, nil, 400, ProblemInvalid, "withdrawal_address"},
		{"psbt not base64", "/v1/wallets/" + fakeBTC + "/psbt/sign", map[string]any{"psbt": "!!"}, nil, 400, ProblemInvalid, "psbt"},
		{"sign both encodings", "/v1/keys/k-schnorr/sign", map[string]any{"message": "aGk=", "message_hex": "00"}, nil, 400, ProblemInvalid, "message"},
		{"sign bad root", "/v1/keys/k-schnorr/sign", map[string]any{"message_hex": "00", "merkle_root": "00"}, nil, 400, ProblemInvalid, "merkle_root"},
		{"sign unknown key", "/v1/keys/nokey/sign", map[string]any{"message_hex": "00"}, nil, 404, ProblemNotFound, ""},
		{"decrypt forged", "/v1/keys/k-sym/decrypt", map[string]any{"ciphertext": "eHl6"}, nil, 400, ProblemInvalid, ""},
		{"key exists", "/v1/keys", map[string]any{"key_id": "k-bls", "scheme": "bls"}, nil, 409, ProblemConflict, ""},
		{"key scheme", "/v1/keys", map[string]any{"key_id": "k2", "scheme": "rsa"}, nil, 400, ProblemInvalid, "scheme"},
		{"token scopes", "/v1/tokens", map[string]any{"name": "x", "scopes": []string{"root"}}, nil, 400, ProblemInvalid, "scopes[0]"},
		{"deposit empty body", "/v1/validators/" + fakeVal + "/deposit-data", nil, nil, 200, "", ""},
		{"exit on bitcoin wallet", "/v1/validators/" + fakeBTC + "/exit", map[string]any{"validator_index": 1, "epoch": 2}, nil, 404, ProblemNotFound, ""},
		{"address of validator", "/v1/wallets/" + fakeVal + "/address", nil, nil, 422, ProblemUnsupported, ""},
		{"exit empty body", "/v1/validators/" + fakeVal + "/exit", map[string]any{}, nil, 400, ProblemInvalid, "validator_index"},
		{"exit without epoch", "/v1/validators/" + fakeVal + "/exit", map[string]any{"validator_index": 0}, nil, 400, ProblemInvalid, "epoch"},
		{"exit index 0 epoch 0 given", "/v1/validators/" + fakeVal + "/exit", map[string]any{"validator_index": 0, "epoch": 0}, nil, 200, "", ""},
		{"bls change empty", blsChange, map[string]any{}, nil, 400, ProblemInvalid, "withdrawal_credentials"},
		{"bls change no network", blsChange, map[string]any{"validator_index": 1, "to_execution_address": okTo, "withdrawal_credentials": okCreds}, nil, 400, ProblemInvalid, "network"},
		{"bls change unknown network", blsChange, map[string]any{"network": "nonet", "validator_index": 1, "to_execution_address": okTo, "withdrawal_credentials": okCreds}, nil, 400, ProblemInvalid, "network"},
		{"bls change no index", blsChange, map[string]any{"network": "hoodi", "to_execution_address": okTo, "withdrawal_credentials": okCreds}, nil, 400, ProblemInvalid, "validator_index"},
		{"bls change checksum", blsChange, map[string]any{"network": "hoodi", "validator_index": 1, "to_execution_address": "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "withdrawal_credentials": okCreds}, nil, 400, ProblemInvalid, "to_execution_address"},
		{"bls change zero address", blsChange, map[string]any{"network": "hoodi", "validator_index": 1, "to_execution_address": "0x" + strings.Repeat("00", 20), "withdrawal_credentials": okCreds}, nil, 400, ProblemInvalid, "to_execution_address"},
		{"bls change bad credentials", blsChange, map[string]any{"network": "hoodi", "validator_index": 1, "to_execution_address": okTo, "withdrawal_credentials": "0x12"}, nil, 400, ProblemInvalid, "withdrawal_credentials"},
		{"bls change credentials of another key", blsChange, map[string]any{"network": "hoodi", "validator_index": 1, "to_execution_address": okTo, "withdrawal_credentials": okCreds}, nil, 400, ProblemInvalid, "withdrawal_credentials"},
		{"bls change managed key", "/v1/keys/" + wallet.WalletKeyPrefix + "x/bls-to-execution-change", map[string]any{}, nil, 403, ProblemForbidden, ""},
		{"validator address checksum", "/v1/validators", map[string]any{"network": "hoodi", "withdrawal_address": "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}, nil, 400, ProblemInvalid, "withdrawal_address"},
		{"validator address lower case", "/v1/validators", map[string]any{"network": "hoodi", "withdrawal_address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}, nil, 201, "", ""},
		{"validator address checksummed", "/v1/validators", map[string]any{"network": "hoodi", "withdrawal_address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}, nil, 201, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.body == nil && !strings.Contains(tc.path, "deposit-data") {
				method = "GET"
			}
			code, _, body := call(t, h, method, tc.path, fakeAdmin, tc.body, tc.hdr...)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, body)
			}
			if tc.kind == "" {
				return
			}
			kind, fields := problemType(t, body)
			if kind != tc.kind {
				t.Errorf("type %s, want %s", kind, tc.kind)
			}
			if tc.wantField != "" {
				found := false
				for _, f := range fields {
					found = found || f.Field == tc.wantField
				}
				if !found {
					t.Errorf("errors %+v do not name %s", fields, tc.wantField)
				}
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
		kind string
	}{
		{fmt.Errorf("create: %w: label too long", wallet.ErrInvalid), 400, ProblemInvalid},
		{fmt.Errorf("%w: no wallet", wallet.ErrNotFound), 404, ProblemNotFound},
		{fmt.Errorf("%w: idempotency key reused", wallet.ErrConflict), 409, ProblemConflict},
		{fmt.Errorf("%w: need 5000 sat", wallet.ErrInsufficient), 422, ProblemInsufficient},
		{fmt.Errorf("%w: btcd unreachable", wallet.ErrUnavailable), 503, ProblemUnavailable},
		{fmt.Errorf("%w: bad-txns", wallet.ErrRejected), 422, ProblemRejected},
		{fmt.Errorf("%w: validator wallet", wallet.ErrUnsupported), 422, ProblemUnsupported},
		{fmt.Errorf("%w: admin", wallet.ErrForbidden), 403, ProblemForbidden},
		{errors.New("disk on fire"), 500, ProblemInternal},
	} {
		fw := newFakeWallets()
		fw.err = tc.err
		h := newTestHandler(t, fw, Config{})
		// The balance route documents every status but 409; the mapping is
		// the same for every route.
		path := "/v1/wallets/" + fakeBTC + "/balance"
		if tc.want == 409 {
			path = "/v1/wallets"
		}
		method := "GET"
		var body any
		if tc.want == 409 {
			method, body = "POST", map[string]any{"kind": "bitcoin", "network": "regtest"}
		}
		code, hdr, resp := call(t, h, method, path, fakeAdmin, body)
		if code != tc.want {
			t.Errorf("%v: status %d, want %d", tc.err, code, tc.want)
			continue
		}
		kind, _ := problemType(t, resp)
		if kind != tc.kind {
			t.Errorf("%v: type %s, want %s", tc.err, kind, tc.kind)
		}
		if tc.want == 500 && strings.Contains(string(resp), "fire") {
			t.Errorf("internal error leaked to the client: %s", resp)
		}
		if tc.want == 503 && hdr.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	m := NewMetrics(nil)
	h := newTestHandler(t, newFakeWallets(), Config{RateLimit: RateLimit{Rate: 1, Burst: 3}, Now: clock, Metrics: m})
	for i := 0; i < 3; i++ {
		if code, _, body := call(t, h, "GET", "/v1/wallets", fakeRead, nil); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	code, hdr, _ := call(t, h, "GET", "/v1/wallets", fakeRead, nil)
	if code != 429 || hdr.Get("Retry-After") != "1" {
		t.Fatalf("4th request: status %d Retry-After %q, want 429 and 1", code, hdr.Get("Retry-After"))
	}
	// Another token has its own bucket.
	if code, _, _ := call(t, h, "GET", "/v1/wallets", fakeAdmin, nil); code != 200 {
		t.Fatalf("other token limited too: %d", code)
	}
	now = now.Add(time.Second)
	if code, _, _ := call(t, h, "GET", "/v1/wallets", fakeRead, nil); code != 200 {
		t.Fatalf("after refill: %d", code)
	}
	code, _, body := call(t, h, "GET", "/metrics", fakeAdmin, nil)
	if code != 200 || !strings.Contains(string(body), "vhsm_api_rate_limited_total 1") ||
		!strings.Contains(string(body), `vhsm_api_requests_total{method="GET",route="/v1/wallets",status="429"} 1`) {
		t.Fatalf("metrics do not show the rejection:\n%s", body)
	}
}

func TestFailedAuthLimited(t *testing.T) {
	h := newTestHandler(t, newFakeWallets(), Config{})
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		code, _, _ := call(t, h, "GET", "/v1/wallets", fmt.Sprintf("vhsm_guess%d", i), nil)
		limited = code == 429
	}
	if !limited {
		t.Fatal("40 failed authentications from one address were never limited")
	}
	// Another address is not affected.
	req, _ := http.NewRequest("GET", "/v1/wallets", nil)
	req.Header.Set("Authorization", "Bearer "+fakeRead)
	req.RemoteAddr = "127.0.0.2:1234"
	if rec := serve(h, req); rec.Code != 200 {
		t.Fatalf("other address: %d", rec.Code)
	}
}

func TestPanicRecovered(t *testing.T) {
	fw := newFakeWallets()
	fw.panicOn = "ListWallets"
	m := NewMetrics(nil)
	h := newTestHandler(t, fw, Config{Metrics: m})
	code, _, body := call(t, h, "GET", "/v1/wallets", fakeRead, nil)
	if code != 500 || strings.Contains(string(body), "fake panic") {
		t.Fatalf("status %d body %s", code, body)
	}
	_, _, mb := call(t, h, "GET", "/metrics", fakeRead, nil)
	if !strings.Contains(string(mb), "vhsm_api_panics_total 1") {
		t.Fatal("panic not counted")
	}
}

func TestReadyz(t *testing.T) {
	hsm := &fakeHSM{ready: 1}
	h := newTestHandler(t, newFakeWallets(), Config{HSM: hsm})
	code, hdr, body := call(t, h, "GET", "/readyz", fakeRead, nil)
	if code != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), `"ready_replicas":1`) {
		t.Fatalf("1 of 4 ready: %d %s", code, body)
	}
	hsm.ready = 2 // t+1 = 2
	if code, _, body := call(t, h, "GET", "/readyz", fakeRead, nil); code != 200 {
		t.Fatalf("2 of 4 ready: %d %s", code, body)
	}
}

func TestWebMounted(t *testing.T) {
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("web:" + r.URL.Path)) })
	h := newTestHandler(t, newFakeWallets(), Config{Web: web})
	for path, want := range map[string]string{"/": "web:/", "/app.js": "web:/app.js"} {
		rec := serve(h, httptestRequest("GET", path))
		if rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("%s: %d %q", path, rec.Code, rec.Body)
		}
	}
	// API paths are never handed to the web handler.
	if rec := serve(h, httptestRequest("GET", "/v1/nope")); rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("/v1/nope: %d", rec.Code)
	}
}

func httptestRequest(method, path string) *http.Request {
	req, _ := http.NewRequest(method, path, nil)
	return req
}

func TestTokensAndKeysFlow(t *testing.T) {
	h := newTestHandler(t, newFakeWallets(), Config{})
	code, _, body := call(t, h, "POST", "/v1/tokens", fakeAdmin, map[string]any{"name": "ci", "scopes": []string{"read"}, "ttl_seconds": 3600})
	if code != 201 {
		t.Fatalf("create token: %d %s", code, body)
	}
	var ct struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	_ = json.Unmarshal(body, &ct)
	if code, _, _ := call(t, h, "GET", "/v1/wallets", ct.Secret, nil); code != 200 {
		t.Fatalf("new token refused: %d", code)
	}
	if code, _, body := call(t, h, "DELETE", "/v1/tokens/"+ct.ID, fakeAdmin, nil); code != 204 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _, _ := call(t, h, "GET", "/v1/wallets", ct.Secret, nil); code != 401 {
		t.Fatalf("revoked token accepted: %d", code)
	}
	code, _, body = call(t, h, "POST", "/v1/keys/k-sym/encrypt", fakeSpend, map[string]any{"plaintext": "aGVsbG8="})
	if code != 200 {
		t.Fatalf("encrypt: %d %s", code, body)
	}
	var enc encryptResponse
	_ = json.Unmarshal(body, &enc)
	code, _, body = call(t, h, "POST", "/v1/keys/k-sym/decrypt", fakeSpend, map[string]any{"ciphertext": enc.Ciphertext})
	if code != 200 || !strings.Contains(string(body), `"plaintext":"aGVsbG8="`) {
		t.Fatalf("decrypt: %d %s", code, body)
	}
	if code, _, body := call(t, h, "GET", "/v1/wallets/"+fakeBTC+"/address/qr.png", fakeRead, nil); code != 200 || !bytes.HasPrefix(body, []byte("\x89PNG")) {
		t.Fatalf("qr: %d", code)
	}
	if code, _, body := call(t, h, "GET", "/v1/wallets/"+fakeBTC+"/address/qr.png?address=bc1qsomeoneelse", fakeRead, nil); code != 400 || !strings.Contains(string(body), "not one of this wallet's addresses") {
		t.Fatalf("qr of another address: %d %s", code, body)
	}
}

func TestCulpritMetric(t *testing.T) {
	m := NewMetrics(nil)
	h := newTestHandler(t, newFakeWallets(), Config{Metrics: m})
	m.ObserveCulprits("sign.schnorr", []client.Culprit{{Replica: 3, Reason: client.ReasonInvalidPartial}})
	_, _, body := call(t, h, "GET", "/metrics", fakeRead, nil)
	if want := `vhsm_hsm_culprits_total{op="sign.schnorr",reason="invalid partial",replica="3"} 1`; !strings.Contains(string(body), want) {
		t.Fatalf("metrics lack %s", want)
	}
}

// TestUnknownPathsAreProblems: with the real web wallet mounted, its pages
// are served, and every other unknown path (any method) is problem+json,
// never the web handler's plain-text 404/405.
func TestUnknownPathsAreProblems(t *testing.T) {
	h := newTestHandler(t, newFakeWallets(), Config{Web: web.Handler()})
	for _, path := range []string{"/", "/index.html"} {
		rec := serve(h, httptestRequest("GET", path))
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s", path, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"POST", "/foo", 404}, {"GET", "/foo", 404}, {"DELETE", "/nope/x", 404}, {"PUT", "/v2/wallets", 404},
		{"POST", "/", 405}, {"PATCH", "/index.html", 405},
	} {
		rec := serve(h, httptestRequest(c.method, c.path))
		if rec.Code != c.code || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %q, want %d problem+json", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), c.code)
		}
		if c.code == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, rec.Header().Get("Allow"))
		}
	}
}

// TestManagedKeysRefused: the raw key routes refuse the keys the wallet
// service manages (wallet/validator keys and the metadata key), even for
// an admin token: raw signing would bypass coin locking and fee bounds or
// sign slashable messages, raw decryption would read stored metadata.
func TestManagedKeysRefused(t *testing.T) {
	h := newTestHandler(t, newFakeWallets(), Config{})
	for _, c := range []struct {
		method, path string
		body         map[string]any
	}{
		{"POST", "/v1/keys/vw-0123456789abcdef01234567/sign", map[string]any{"message_hex": "00"}},
		{"POST", "/v1/keys/vw-0123456789abcdef01234567/encrypt", map[string]any{"plaintext": "aGVsbG8="}},
		{"POST", "/v1/keys/" + wallet.DefaultMetadataKeyID + "/decrypt", map[string]any{"ciphertext": "aGVsbG8="}},
		{"POST", "/v1/keys/" + wallet.DefaultMetadataKeyID + "/encrypt", map[string]any{"plaintext": "aGVsbG8="}},
		{"POST", "/v1/keys", map[string]any{"key_id": "vw-squat", "scheme": "schnorr"}},
	} {
		code, _, body := call(t, h, c.method, c.path, fakeAdmin, c.body)
		if code != 403 || !strings.Contains(string(body), "managed by the wallet service") {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
}

// TestDuplicateJSONKeysRefused: a body naming a field twice (even in
// another case, which encoding/json matches too) is refused instead of
// silently keeping the last value; nested objects and arrays are checked,
// and equal keys in different objects are fine.
func TestDuplicateJSONKeysRefused(t *testing.T) {
	type out struct {
		Address string `json:"address"`
		Amount  int64  `json:"amount"`
	}
	type req struct {
		Outputs []out  `json:"outputs"`
		Note    string `json:"note"`
		Meta    struct {
			A int `json:"a"`
		} `json:"meta"`
	}
	for body, wantDup := range map[string]bool{
		`{"outputs":[{"address":"x","amount":1},{"address":"y","amount":2}],"note":"n","meta":{"a":1}}`: false,
		`{"note":"a","note":"b"}`:                                   true,
		`{"note":"a","NOTE":"b"}`:                                   true,
		`{"outputs":[{"address":"x","amount":1,"Amount":1000}]}`:    true,
		`{"meta":{"a":1},"outputs":[],"meta":{"a":2}}`:              true,
		`{"meta":{"a":1},"outputs":[{"amount":1}],"note":"amount"}`: false,
	} {
		var v req
		err := strictUnmarshal([]byte(body), &v)
		gotDup := err != nil && strings.Contains(err.Error(), "duplicate")
		if gotDup != wantDup {
			t.Errorf("%s: %v", body, err)
		}
	}
}
