package api

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vhsm/vhsm/web"
)

// FuzzRouter sends arbitrary methods, paths, headers and bodies to the
// router over fakes: no panic, no 5xx but the documented 503, and every
// error is a valid problem document.
func FuzzRouter(f *testing.F) {
	seeds := []struct{ method, path, ct, idem, token, body string }{
		{"GET", "/v1/wallets", "", "", fakeRead, ""},
		{"POST", "/v1/wallets", "application/json", "k", fakeSpend, `{"kind":"bitcoin","network":"regtest","label":"x"}`},
		{"POST", "/v1/wallets/" + fakeBTC + "/transactions", "application/json", "k1", fakeSpend, `{"outputs":[{"address":"` + fakeAddress() + `","amount":1000}],"fee_rate":2}`},
		{"POST", "/v1/wallets/" + fakeBTC + "/transactions", "application/json", "", fakeSpend, `{"outputs":[{"address":"x","amount":0}],"send_max":true,"dry_run":true}`},
		{"POST", "/v1/wallets/" + fakeBTC + "/psbt", "application/json", "", fakeAdmin, `{"outputs":[{"address":"` + fakeAddress() + `","amount":1e3}]}`},
		{"POST", "/v1/wallets/" + fakeBTC + "/psbt/sign", "application/json", "", fakeAdmin, `{"psbt":"cHNidP8=","broadcast":true}`},
		{"POST", "/v1/validators", "application/json", "", fakeAdmin, `{"network":"hoodi","withdrawal_address":"0x1111111111111111111111111111111111111111"}`},
		{"POST", "/v1/validators/" + fakeVal + "/deposit-data", "", "", fakeAdmin, ``},
		{"POST", "/v1/validators/" + fakeVal + "/exit", "application/json; charset=utf-8", "", fakeAdmin, `{"validator_index":18446744073709551615,"epoch":1}`},
		{"POST", "/v1/keys/k-schnorr/sign", "application/json", "", fakeAdmin, `{"message":"aGk=","taproot":true}`},
		{"POST", "/v1/keys/k-bls/sign", "application/json", "", fakeAdmin, `{"message_hex":"00ff","merkle_root":"` + strings.Repeat("00", 32) + `"}`},
		{"POST", "/v1/keys/k-sym/decrypt", "application/json", "", fakeAdmin, `{"ciphertext":null}`},
		{"POST", "/v1/keys", "application/json", "", fakeAdmin, `{"key_id":"../x","scheme":"bls"}`},
		{"POST", "/v1/tokens", "application/json", "", fakeAdmin, `{"name":"\u0000","scopes":["read","read","read","read"],"ttl_seconds":-1}`},
		{"DELETE", "/v1/tokens/tok_1", "", "", fakeAdmin, ``},
		{"GET", "/v1/wallets/%ff%00/utxos", "", "", fakeRead, ``},
		{"GET", "/v1/wallets/" + fakeBTC + "/address/qr.png?size=99999", "", "", fakeRead, ``},
		{"POST", "/v1/wallets/" + fakeBTC + "/addresses", "application/json", "", fakeSpend, `{"x":1}`},
		{"GET", "/v1/wallets/" + fakeBTC + "/addresses?balance=TRUE", "", "", fakeRead, ``},
		{"GET", "/v1/wallets/" + fakeVal + "/descriptor", "", "", fakeRead, ``},
		{"PATCH", "/healthz", "", "", "", `{}`},
		{"GET", "/readyz", "", "", "", ``},
		{"POST", "/v1/wallets", "application/json", "\x7f", fakeSpend, `[1,2,3]`},
		{"POST", "/foo", "", "", "", ``},
		{"DELETE", "/index.html", "", "", "", ``},
		{"POST", "/v1/wallets/" + fakeBTC + "/transactions", "application/json", "k2", fakeSpend, `{"outputs":[{"address":"` + fakeAddress() + `","amount":1000,"AMOUNT":9}],"fee_rate":2}`},
		{"POST", "/v1/wallets/" + fakeBTC + "/transactions/tx_0123456789abcdef01234567/bump", "application/json", "b1", fakeSpend, `{"fee_rate":5}`},
		{"GET", "/v1/wallets/" + fakeBTC + "/transactions?limit=2&cursor=next", "", "", fakeRead, ``},
		{"POST", "/v1/webhooks", "application/json", "", fakeAdmin, `{"wallet_id":"` + fakeBTC + `","url":"https://example.com/h","events":["sent"]}`},
		{"DELETE", "/v1/webhooks/wh_0123456789abcdef", "", "", fakeAdmin, ``},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.ct, s.idem, s.token, []byte(s.body))
	}
	h := newTestHandler(f, newFakeWallets(), Config{MaxBodyBytes: 1 << 12, RateLimit: RateLimit{Rate: 1e9, Burst: 1 << 30}, Web: web.Handler()})
	f.Fuzz(func(t *testing.T, method, path, ct, idem, token string, body []byte) {
		if !validMethod(method) {
			method = "POST"
		}
		u, err := url.ParseRequestURI("/" + strings.TrimLeft(path, "/"))
		if err != nil {
			return
		}
		req, err := http.NewRequest(method, "http://vhsm.test"+u.RequestURI(), bytes.NewReader(body))
		if err != nil {
			return
		}
		if validHeader(ct) {
			req.Header.Set("Content-Type", ct)
		}
		if validHeader(idem) {
			req.Header.Set("Idempotency-Key", idem)
		}
		if validHeader(token) {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := serve(h, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: status %d: %s", method, path, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			checkProblem(t, rec.Code, rec.Header(), rec.Body.Bytes())
		}
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

func validHeader(v string) bool {
	if v == "" || !utf8.ValidString(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return false
		}
	}
	return true
}
