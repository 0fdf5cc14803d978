package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/web"
)

// fakeAPI is an in-memory stand-in for the REST API (package api), enough
// to drive every view of the UI in a unit test of this package. The
// end-to-end test (e2e_test.go) runs the same flows against the real API.
type fakeAPI struct {
	token string

	mu          sync.Mutex
	wallets     []wallet.Wallet
	validators  map[string]wallet.Validator
	txs         map[string][]wallet.Transaction
	sends       []sendCall // every POST .../transactions
	failNext    int        // answer the next non-dry-run sends with 503
	deposit     []byte     // one deposit entry (JSON object)
	idemCreates map[string]string
}

type sendCall struct {
	key  string
	body wallet.SendRequest
	raw  string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	data, err := os.ReadFile("../chains/ethereum/testdata/lighthouse-hoodi_first_0_count_2_prefix_0x01_eth1_true-deposit_data-1785211442.json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		t.Fatal(err)
	}
	return &fakeAPI{
		token:       "vhsm_test-token",
		validators:  map[string]wallet.Validator{},
		txs:         map[string][]wallet.Transaction{},
		deposit:     entries[0],
		idemCreates: map[string]string{},
	}
}

func problem(w http.ResponseWriter, status int, typ, detail string, fields ...[2]string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	p := map[string]any{"type": "https://vhsm.dev/problems/" + typ, "title": http.StatusText(status), "status": status, "detail": detail}
	if len(fields) > 0 {
		var errs []map[string]string
		for _, f := range fields {
			errs = append(errs, map[string]string{"field": f[0], "message": f[1]})
		}
		p["errors"] = errs
	}
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Header.Get("Content-Type") != "application/json" {
		problem(w, 415, "unsupported-media-type", "Content-Type must be application/json")
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		problem(w, 400, "invalid-request", "malformed JSON body: "+err.Error())
		return false
	}
	return true
}

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+f.token {
				problem(w, 401, "unauthorized", "missing or unknown API token")
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			h(w, r)
		}
	}
	find := func(id string) (wallet.Wallet, bool) {
		for _, w := range f.wallets {
			if w.ID == id {
				return w, true
			}
		}
		return wallet.Wallet{}, false
	}
	mux.HandleFunc("GET /v1/wallets", auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, append([]wallet.Wallet{}, f.wallets...))
	}))
	mux.HandleFunc("POST /v1/wallets", auth(func(w http.ResponseWriter, r *http.Request) {
		var req wallet.CreateWalletRequest
		if !f.decode(w, r, &req) {
			return
		}
		if req.Kind != wallet.KindBitcoin {
			problem(w, 400, "invalid-request", "invalid kind", [2]string{"kind", "must be bitcoin"})
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if id, ok := f.idemCreates[key]; ok && key != "" {
			wl, _ := find(id)
			writeJSON(w, 200, wl)
			return
		}
		time.Sleep(300 * time.Millisecond) // the DKG
		n := len(f.wallets) + 1
		wl := wallet.Wallet{ID: fmt.Sprintf("w_%024x", n), Kind: req.Kind, Network: req.Network, KeyID: fmt.Sprintf("wallet-%d", n),
			PublicKey: strings.Repeat("ab", 32), Address: "bcrt1p" + strings.Repeat("q", 52) + fmt.Sprint(n), Label: req.Label, CreatedAt: time.Now()}
		f.wallets = append(f.wallets, wl)
		f.idemCreates[key] = wl.ID
		writeJSON(w, 201, wl)
	}))
	mux.HandleFunc("GET /v1/wallets/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		wl, ok := find(r.PathValue("id"))
		if !ok {
			problem(w, 404, "not-found", "no such wallet")
			return
		}
		writeJSON(w, 200, wl)
	}))
	mux.HandleFunc("GET /v1/wallets/{id}/address/qr.png", auth(func(w http.ResponseWriter, r *http.Request) {
		wl, _ := find(r.PathValue("id"))
		png, err := qrcode.Encode("bitcoin:"+strings.ToUpper(wl.Address), qrcode.Medium, 256)
		if err != nil {
			problem(w, 500, "internal", err.Error())
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	}))
	mux.HandleFunc("GET /v1/wallets/{id}/balance", auth(func(w http.ResponseWriter, r *http.Request) {
		var spent int64
		for _, tx := range f.txs[r.PathValue("id")] {
			spent += tx.Amount + tx.Fee
		}
		conf := int64(150000000) - spent
		writeJSON(w, 200, wallet.Balance{Confirmed: conf, Unconfirmed: 2500, Total: conf + 2500})
	}))
	mux.HandleFunc("GET /v1/wallets/{id}/transactions", auth(func(w http.ResponseWriter, r *http.Request) {
		list := f.txs[r.PathValue("id")]
		out := make([]wallet.Transaction, len(list))
		for i := range list {
			out[len(list)-1-i] = list[i] // newest first
		}
		writeJSON(w, 200, out)
	}))
	mux.HandleFunc("POST /v1/wallets/{id}/transactions", auth(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		raw, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		var req wallet.SendRequest
		if !f.decode(w, r, &req) {
			return
		}
		f.sends = append(f.sends, sendCall{key: r.Header.Get("Idempotency-Key"), body: req, raw: string(raw)})
		if len(req.Outputs) != 1 || !strings.HasPrefix(req.Outputs[0].Address, "bcrt1") {
			problem(w, 400, "invalid-request", "invalid output", [2]string{"outputs[0].address", "not a regtest address"})
			return
		}
		if !req.DryRun && r.Header.Get("Idempotency-Key") == "" {
			problem(w, 400, "invalid-request", "Idempotency-Key header required")
			return
		}
		amount := req.Outputs[0].Amount
		if req.SendMax {
			amount = 150000000 - 1540
		}
		rate := req.FeeRate
		if rate == 0 {
			rate = 7
		}
		tx := wallet.Transaction{ID: fmt.Sprintf("tx_%024x", len(f.sends)), WalletID: id, Status: wallet.StatusBuilt, Direction: "out",
			Outputs: req.Outputs, Amount: amount, Fee: rate * 154, FeeRate: rate, VSize: 154, Inputs: 1,
			Change: 150000000 - amount - rate*154, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if tx.Fee > 5000 && tx.Fee*10 > tx.Amount { // the service's default fee sanity
			tx.HighFee, tx.FeeWarning = true, "the fee of 154000 sat (1000 sat/vB) is 1540.0% of the 10000 sat paid, above the limit of 10%"
			if !req.DryRun && !req.AcceptHighFee {
				problem(w, 422, "high-fee", tx.FeeWarning+"; review it and set accept_high_fee to send anyway")
				return
			}
		}
		if req.DryRun {
			writeJSON(w, 200, tx)
			return
		}
		if f.failNext > 0 {
			f.failNext--
			problem(w, 503, "unavailable", "HSM quorum unreachable; retry later")
			return
		}
		for _, old := range f.txs[id] {
			if old.ID == r.Header.Get("Idempotency-Key") {
				writeJSON(w, 200, old)
				return
			}
		}
		tx.Status = wallet.StatusBroadcast
		tx.TxID = fmt.Sprintf("%064x", len(f.sends))
		f.txs[id] = append(f.txs[id], tx)
		go func() { // confirmed a little later, as the tracker would
			time.Sleep(1500 * time.Millisecond)
			f.mu.Lock()
			defer f.mu.Unlock()
			for i := range f.txs[id] {
				if f.txs[id][i].TxID == tx.TxID {
					f.txs[id][i].Status = wallet.StatusConfirmed
					f.txs[id][i].Confirmations = 1
				}
			}
		}()
		writeJSON(w, 201, tx)
	}))
	mux.HandleFunc("POST /v1/validators", auth(func(w http.ResponseWriter, r *http.Request) {
		var req wallet.CreateValidatorRequest
		if !f.decode(w, r, &req) {
			return
		}
		if _, err := ethereum.ParseExecutionAddress(req.WithdrawalAddress); err != nil {
			problem(w, 400, "invalid-request", "invalid withdrawal address", [2]string{"withdrawal_address", err.Error()})
			return
		}
		time.Sleep(300 * time.Millisecond)
		n := len(f.wallets) + 1
		v := wallet.Validator{Wallet: wallet.Wallet{ID: fmt.Sprintf("w_%024x", n), Kind: wallet.KindValidator, Network: req.Network,
			KeyID: fmt.Sprintf("val-%d", n), PublicKey: strings.Repeat("a1", 48), Label: req.Label, CreatedAt: time.Now()},
			WithdrawalAddress: req.WithdrawalAddress, Compounding: req.Compounding}
		f.wallets = append(f.wallets, v.Wallet)
		f.validators[v.ID] = v
		writeJSON(w, 201, v)
	}))
	mux.HandleFunc("GET /v1/validators/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		v, ok := f.validators[r.PathValue("id")]
		if !ok {
			problem(w, 404, "not-found", "no such validator")
			return
		}
		writeJSON(w, 200, v)
	}))
	mux.HandleFunc("POST /v1/validators/{id}/deposit-data", auth(func(w http.ResponseWriter, r *http.Request) {
		var req wallet.DepositDataRequest
		if !f.decode(w, r, &req) {
			return
		}
		if req.AmountGwei != 32*ethereum.GweiPerETH {
			problem(w, 400, "invalid-request", "invalid amount", [2]string{"amount_gwei", "must be 32 ETH for 0x01 credentials"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.deposit)
	}))
	mux.HandleFunc("POST /v1/validators/{id}/exit", auth(func(w http.ResponseWriter, r *http.Request) {
		var req wallet.ExitRequest
		if !f.decode(w, r, &req) {
			return
		}
		writeJSON(w, 200, map[string]any{
			"message":   map[string]string{"epoch": fmt.Sprint(req.Epoch), "validator_index": fmt.Sprint(req.ValidatorIndex)},
			"signature": "0x" + strings.Repeat("b2", 96),
		})
	}))
	mux.Handle("/", web.Handler())
	return mux
}

// TestUIWithFakeAPI drives every view in Chromium against the fake API:
// sign in (refused, then accepted), create a wallet, receive, balance,
// send with review, a failed confirm retried with the same Idempotency-Key,
// history, validator creation, deposit download, exit, sign out.
func TestUIWithFakeAPI(t *testing.T) {
	f := newFakeAPI(t)
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	s := newSession(t, srv.URL, 60*time.Second)
	const short = 10 * time.Second

	// Sign in: a wrong token is refused, the right one kept in sessionStorage only.
	s.step("sign-in page", short, chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)))
	s.shot("sign in")
	s.step("wrong token", short, chromedp.SendKeys(chromedp.CSS(`input[name=token]`), "nope"), chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("refusal", ".alert", "refused", short)
	s.shot("sign in refused")
	s.step("right token", short,
		chromedp.SetValue(chromedp.CSS(`input[name=token]`), f.token),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("wallet list", "h1", "Wallets", short)
	if got := eval[string](s, `sessionStorage.getItem('vhsm.token')`); got != f.token {
		t.Errorf("sessionStorage token = %q", got)
	}
	if got := eval[int](s, `localStorage.length`); got != 0 {
		t.Errorf("localStorage has %d items", got)
	}
	if u := eval[string](s, `location.href`); strings.Contains(u, f.token) {
		t.Errorf("token in URL %s", u)
	}
	s.waitText("empty list", "main", "No wallets yet", short)
	s.shot("wallets empty")

	// Create a Bitcoin wallet.
	s.step("new wallet form", short, chromedp.Click(chromedp.CSS(`a[href="#/new/bitcoin"]`)), chromedp.WaitVisible(chromedp.CSS(`input[name=label]`)))
	s.step("fill", short, chromedp.SendKeys(chromedp.CSS(`input[name=label]`), `<b>Savings</b> & "co"`), setSelect(`select[name=network]`, "regtest"))
	s.shot("create bitcoin wallet")
	s.step("create", short, chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("DKG progress", ".progress-slot", "Creating the key with the replicas", short)
	s.shot("create progress")
	s.waitText("wallet view", "#receive-address", "bcrt1p", short)
	if got := s.text("h1"); got != `<b>Savings</b> & "co"` {
		t.Errorf("label shown as %q (must be text, not HTML)", got)
	}
	s.waitJS("QR code", `document.querySelector('.qr img') && document.querySelector('.qr img').naturalWidth > 0`, short)
	s.waitText("balance", "#balance", "1.5 BTC", short)
	if got := s.text(".bal-confirmed dd"); !strings.Contains(got, "1.5 BTC") || !strings.Contains(got, "150\u202f000\u202f000 sats") {
		t.Errorf("confirmed balance shown as %q", got)
	}
	s.shot("wallet receive and balance")

	// Send: bad amount refused locally, then review and confirm.
	s.step("bad amount", short,
		chromedp.SendKeys(chromedp.CSS(`form.send input[name=address]`), "bcrt1qdest"+strings.Repeat("x", 30)),
		chromedp.SendKeys(chromedp.CSS(`form.send input[name=amount]`), "0.000000001"),
		chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
	s.waitText("decimal error", "form.send .alert", "more than 8 decimal places", short)
	s.step("server validation", short,
		chromedp.SetValue(chromedp.CSS(`form.send input[name=address]`), "tb1qwrongnetwork0000000000000"),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=amount]`), "0.1"),
		chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
	s.waitText("field error", "form.send .alert", "not a regtest address", short)
	if got := s.text("form.send .alert"); !strings.Contains(got, "outputs[0].address") {
		t.Errorf("field name not shown: %q", got)
	}
	s.shot("send validation error")
	dest := "bcrt1qdest" + strings.Repeat("x", 30)
	f.mu.Lock()
	f.failNext = 1
	f.mu.Unlock()
	s.step("review", short,
		chromedp.SetValue(chromedp.CSS(`form.send input[name=address]`), dest),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=amount]`), "0.29000001"),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=fee_rate]`), "3"),
		chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
	s.waitText("preview", "#send-preview", "Total leaving the wallet", short)
	preview := s.text("#send-preview")
	for _, want := range []string{"0.29000001 BTC", "462 sats", "154 vB", "0.29000463 BTC", "1.20999537 BTC"} {
		if !strings.Contains(preview, want) {
			t.Errorf("preview lacks %q: %s", want, preview)
		}
	}
	s.shot("send review")
	s.step("confirm (fails)", short, chromedp.Click(chromedp.ID("confirm-send")))
	s.waitText("retry offered", "#confirm-send", "Retry send", short)
	s.shot("send failed retry")
	s.step("retry", short, chromedp.Click(chromedp.ID("confirm-send")))
	s.waitText("sent", "#send-result", "Sent.", short)
	s.shot("send done")
	s.waitJS("confirmed in history", `document.querySelector('#history tr[data-status="confirmed"]')`, short)
	s.shot("history confirmed")
	s.setViewport(390, 844)
	s.shot("wallet on a phone")
	if w := eval[int](s, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("page is %d px wide on a 390 px screen (horizontal scrolling)", w)
	}
	s.setViewport(1280, 900)

	f.mu.Lock()
	sends := append([]sendCall(nil), f.sends...)
	f.mu.Unlock()
	var dry, real []sendCall
	for _, c := range sends {
		if c.body.DryRun {
			dry = append(dry, c)
		} else {
			real = append(real, c)
		}
	}
	if len(real) != 2 {
		t.Fatalf("%d confirmed send requests, want 2 (a failure and its retry)", len(real))
	}
	if real[0].key == "" || real[0].key != real[1].key {
		t.Errorf("retry Idempotency-Keys %q, %q: want the same non-empty key", real[0].key, real[1].key)
	}
	if real[0].body.Outputs[0].Amount != 29000001 || real[0].body.FeeRate != 3 || real[0].body.Outputs[0].Address != dest {
		t.Errorf("send body %s", real[0].raw)
	}
	for _, c := range dry {
		if c.key != "" {
			t.Errorf("dry run sent an Idempotency-Key")
		}
	}

	// A second send (in sats, fee estimate) gets a fresh key and pays the reviewed rate.
	s.step("second send", short,
		chromedp.SetValue(chromedp.CSS(`form.send input[name=address]`), dest),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=amount]`), "12345"),
		setSelect(`form.send select[name=unit]`, "sat"),
		chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
	s.waitText("preview 2", "#send-preview", "0.00012345 BTC", short)
	s.step("confirm 2", short, chromedp.Click(chromedp.ID("confirm-send")))
	s.waitText("sent 2", "#send-result", "Sent.", short)
	f.mu.Lock()
	last := f.sends[len(f.sends)-1]
	f.mu.Unlock()
	if last.key == "" || last.key == real[0].key || last.body.Outputs[0].Amount != 12345 || last.body.FeeRate != 7 || last.body.AcceptHighFee {
		t.Errorf("second send: key %q body %s", last.key, last.raw)
	}

	// A high fee: the review shows the service's warning, and confirming
	// after it sends accept_high_fee.
	s.step("high fee review", short,
		chromedp.SetValue(chromedp.CSS(`form.send input[name=address]`), dest),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=amount]`), "10000"),
		setSelect(`form.send select[name=unit]`, "sat"),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=fee_rate]`), "1000"),
		chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
	s.waitText("fee warning", "#fee-warning", "1540.0% of the 10000 sat paid", short)
	s.waitText("send anyway", "#confirm-send", "Send anyway (high fee)", short)
	s.shot("send high fee warning")
	s.step("confirm high fee", short, chromedp.Click(chromedp.ID("confirm-send")))
	s.waitText("sent 3", "#send-result", "Sent.", short)
	f.mu.Lock()
	last = f.sends[len(f.sends)-1]
	f.mu.Unlock()
	if last.body.DryRun || !last.body.AcceptHighFee || last.body.FeeRate != 1000 {
		t.Errorf("high-fee send body %s", last.raw)
	}

	// Validator: create, download deposit data, sign an exit.
	s.step("new validator", short, chromedp.Navigate(srv.URL+"/#/new/validator"), chromedp.WaitVisible(chromedp.CSS(`input[name=withdrawal_address]`)))
	s.step("fill validator", short,
		chromedp.SendKeys(chromedp.CSS(`input[name=label]`), "Validator one"),
		setSelect(`select[name=network]`, "hoodi"),
		chromedp.SendKeys(chromedp.CSS(`input[name=withdrawal_address]`), "0x12"),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("address check", ".alert", "40 hexadecimal digits", short)
	s.step("fix address", short,
		chromedp.SetValue(chromedp.CSS(`input[name=withdrawal_address]`), "0x"+strings.Repeat("1f", 20)))
	s.shot("create validator")
	s.step("create validator", short, chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("validator view", "#validator-pubkey", "a1a1", short)
	s.shot("validator")
	s.step("deposit", short, chromedp.Click(chromedp.ID("download-deposit")))
	s.waitText("deposit done", "#deposit-result", "Downloaded", short)
	name, data := s.waitDownload(`^deposit_data-hoodi-.*\.json$`, short)
	entries, err := ethereum.ParseDepositFile(data)
	if err != nil || len(entries) != 1 {
		t.Errorf("downloaded %s does not parse as a deposit file: %v (%d entries)", name, err, len(entries))
	}
	s.shot("deposit downloaded")
	s.step("exit", short,
		chromedp.SendKeys(chromedp.CSS(`input[name=validator_index]`), "18446744073709551615"),
		chromedp.SendKeys(chromedp.CSS(`input[name=epoch]`), "194048"),
		chromedp.Click(chromedp.ID("create-exit")))
	s.waitText("exit shown", "#exit-result", `"validator_index": "18446744073709551615"`, short)
	s.step("download exit", short, chromedp.Click(chromedp.ID("download-exit")))
	_, exitJSON := s.waitDownload(`^exit-hoodi-18446744073709551615-194048\.json$`, short)
	var exit ethereum.SignedVoluntaryExit
	if err := json.Unmarshal(exitJSON, &exit); err != nil || exit.Message.ValidatorIndex != 18446744073709551615 {
		t.Errorf("exit download: %v %s", err, exitJSON)
	}
	s.shot("exit signed")

	// The list shows both; signing out clears the token.
	s.step("list", short, chromedp.Navigate(srv.URL+"/#/wallets"))
	s.waitJS("two wallets", `document.querySelectorAll('a.wallet-link').length === 2`, short)
	s.shot("wallets list")
	s.step("sign out", short, chromedp.Click(chromedp.ID("signout")))
	s.waitText("signed out", "#flash", "Signed out", short)
	if got := eval[string](s, `String(sessionStorage.getItem('vhsm.token'))`); got != "null" {
		t.Errorf("token kept after sign out: %q", got)
	}
	s.shot("signed out")
}

// TestAmountParsing checks the exact decimal parsing of amount.js in the
// browser: no float rounding, clear refusals.
func TestAmountParsing(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	s := newSession(t, srv.URL, 30*time.Second)
	type result struct {
		Ok  string `json:"ok"`
		Err string `json:"err"`
	}
	cases := []struct {
		in, unit, want, errHas string
	}{
		{"0.1", "btc", "10000000", ""},
		{"0.29000001", "btc", "29000001", ""},
		{"1.1", "btc", "110000000", ""},
		{"20999999.99999999", "btc", "2099999999999999", ""},
		{"21000000", "btc", "2100000000000000", ""},
		{".5", "btc", "50000000", ""},
		{"3.", "btc", "300000000", ""},
		{" 0.00000001 ", "btc", "1", ""},
		{"1_000", "sat", "1000", ""},
		{"0.000000001", "btc", "", "more than 8 decimal places"},
		{"21000000.00000001", "btc", "", "21 million"},
		{"0", "btc", "", "greater than zero"},
		{"-1", "btc", "", "must be a number"},
		{"1e3", "btc", "", "must be a number"},
		{"1,5", "btc", "", "must be a number"},
		{"", "btc", "", "Enter"},
		{".", "btc", "", "must be a number"},
		{"1.5", "sat", "", "whole number"},
		{"2100000000000001", "sat", "", "too large"},
		{"NaN", "sat", "", "whole number"},
	}
	for _, c := range cases {
		expr := fmt.Sprintf(`import('/js/amount.js').then(m => { try { return {ok: m.parseSats(%q, %q).toString()}; } catch (e) { return {err: e.message}; } })`, c.in, c.unit)
		r := eval[result](s, expr)
		if r.Ok != c.want || (c.errHas == "") != (r.Err == "") || !strings.Contains(r.Err, c.errHas) {
			t.Errorf("parseSats(%q, %s) = %+v, want %q / error with %q", c.in, c.unit, r, c.want, c.errHas)
		}
	}
	for _, c := range []struct{ sats, want string }{{"1", "0.00000001"}, {"100000000", "1.0"}, {"2099999999999999", "20999999.99999999"}, {"29000463", "0.29000463"}, {"-5", "-0.00000005"}} {
		got := eval[string](s, fmt.Sprintf(`import('/js/amount.js').then(m => m.formatBTC(%sn))`, c.sats))
		if got != c.want {
			t.Errorf("formatBTC(%s) = %q, want %q", c.sats, got, c.want)
		}
	}
	if got := eval[string](s, `import('/js/amount.js').then(m => m.parseDecimal('32.000000001', 9, 'x').toString())`); got != "32000000001" {
		t.Errorf("gwei parse = %s", got)
	}
}
