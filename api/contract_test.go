package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	blst "github.com/supranational/blst/bindings/go"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
)

// apiClient calls a running API over HTTP and validates every answer
// against the OpenAPI document.
type apiClient struct {
	t    *testing.T
	base string
	seen map[string]bool // "METHOD /template" of every documented route called
}

func (c *apiClient) do(method, path, token string, body any, hdr ...string) (int, http.Header, []byte) {
	c.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if res.StatusCode >= 400 {
		checkProblem(c.t, res.StatusCode, res.Header, b)
	}
	// Validate against the document with the path relative to the server.
	vreq, _ := http.NewRequest(method, path, nil)
	vreq.Header = req.Header.Clone()
	checkResponse(c.t, vreq, raw, res.StatusCode, res.Header, b)
	if router, err := specOnce(); err == nil && c.seen != nil {
		if route, _, err := router.FindRoute(vreq); err == nil {
			c.seen[method+" "+route.Path] = true
		}
	}
	return res.StatusCode, res.Header, b
}

// want calls do and requires status, decoding the JSON answer into out.
func (c *apiClient) want(status int, out any, method, path, token string, body any, hdr ...string) []byte {
	c.t.Helper()
	code, _, b := c.do(method, path, token, body, hdr...)
	if code != status {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

// TestContract exercises every route against a real devnet (4-replica
// cluster, btcd regtest, the real wallet service) through an HTTP server,
// validating each request and response against openapi.json.
func TestContract(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and btcd")
	}
	start := time.Now()
	env := wallettest.Start(t, wallettest.Options{Track: true})
	t.Logf("environment up in %v", time.Since(start).Round(time.Millisecond))
	metrics := NewMetrics(nil)
	h, err := New(Config{Wallets: env.Service, HSM: env.HSM, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	admin, created, err := env.Service.EnsureBootstrapToken(ctx, "contract-admin")
	if err != nil || !created {
		t.Fatalf("bootstrap token: %v (created %v)", err, created)
	}
	seen := map[string]bool{}
	var readTok, spendTok string

	t.Run("service", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		c.want(200, nil, "GET", "/healthz", "", nil)
		var rd readiness
		c.want(200, &rd, "GET", "/readyz", admin, nil)
		if !rd.Ready || rd.ReadyReplicas < 2 || rd.Needed != 2 {
			t.Errorf("readiness %+v", rd)
		}
		b := c.want(200, nil, "GET", "/openapi.json", admin, nil)
		if !bytes.Equal(b, OpenAPI) {
			t.Error("served document differs from the embedded one")
		}
		c.want(401, nil, "GET", "/readyz", "", nil)
	})

	t.Run("tokens", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		var rt, st, tmp createdToken
		c.want(201, &rt, "POST", "/v1/tokens", admin, map[string]any{"name": "reader", "scopes": []string{"read"}})
		c.want(201, &st, "POST", "/v1/tokens", admin, map[string]any{"name": "spender", "scopes": []string{"spend"}, "ttl_seconds": 3600})
		c.want(201, &tmp, "POST", "/v1/tokens", admin, map[string]any{"name": "temp", "scopes": []string{"read"}})
		readTok, spendTok = rt.Secret, st.Secret
		if st.ExpiresAt == nil || !strings.HasPrefix(rt.Secret, "vhsm_") {
			t.Errorf("token records: %+v %+v", rt.Token, st.Token)
		}
		var list []wallet.Token
		b := c.want(200, &list, "GET", "/v1/tokens", admin, nil)
		if len(list) < 4 || strings.Contains(string(b), rt.Secret) {
			t.Errorf("token list: %d tokens (or a secret leaked)", len(list))
		}
		c.want(200, nil, "GET", "/v1/wallets", tmp.Secret, nil)
		c.want(204, nil, "DELETE", "/v1/tokens/"+tmp.ID, admin, nil)
		c.want(401, nil, "GET", "/v1/wallets", tmp.Secret, nil)
		c.want(403, nil, "GET", "/v1/tokens", spendTok, nil)
		c.want(404, nil, "DELETE", "/v1/tokens/tok_ffffffffffffffff", admin, nil)
	})

	var w wallet.Wallet
	t.Run("wallets", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		req := map[string]any{"kind": "bitcoin", "network": "regtest", "label": "contract wallet"}
		c.want(201, &w, "POST", "/v1/wallets", spendTok, req, "Idempotency-Key", "create-1")
		var again wallet.Wallet
		c.want(201, &again, "POST", "/v1/wallets", spendTok, req, "Idempotency-Key", "create-1")
		if again.ID != w.ID || w.Address == "" || w.Label != "contract wallet" {
			t.Fatalf("idempotent create: %+v then %+v", w, again)
		}
		req["label"] = "other"
		c.want(409, nil, "POST", "/v1/wallets", spendTok, req, "Idempotency-Key", "create-1")
		c.want(403, nil, "POST", "/v1/wallets", readTok, req)
		c.want(400, nil, "POST", "/v1/wallets", spendTok, map[string]any{"kind": "bitcoin", "network": "mainnet"}) // not configured
		// A wallet with a recovery path (README "Recovery path").
		recXpub := "tpubD6NzVbkrYhZ4XVPn5tSFsjZbYcAnoDizTifqiqFEU18GcLzJMMPeYkBL1tkPT94oxPpuaWeTrMnCoXqFcAwRUn83HeM9SSwZyeAg3J62ssn"
		var rw wallet.Wallet
		c.want(201, &rw, "POST", "/v1/wallets", spendTok, map[string]any{"kind": "bitcoin", "network": "regtest",
			"recovery": map[string]any{"xpub": recXpub, "older": 144}})
		if rw.Recovery == nil || rw.Recovery.Older != 144 || !strings.Contains(rw.Recovery.Descriptor, ",and_v(v:pk("+recXpub+"/0/0),older(144)))#") {
			t.Fatalf("recovery wallet: %+v", rw.Recovery)
		}
		c.want(400, nil, "POST", "/v1/wallets", spendTok, map[string]any{"kind": "bitcoin", "network": "regtest",
			"recovery": map[string]any{"xpub": recXpub, "older": 0}})
		var list []wallet.Wallet
		c.want(200, &list, "GET", "/v1/wallets", readTok, nil)
		found := false
		for _, x := range list {
			found = found || x.ID == w.ID
		}
		if !found {
			t.Errorf("wallet %s not listed", w.ID)
		}
		var got wallet.Wallet
		c.want(200, &got, "GET", "/v1/wallets/"+w.ID, readTok, nil)
		var addr addressBody
		c.want(200, &addr, "GET", "/v1/wallets/"+w.ID+"/address", readTok, nil)
		if addr.Address != w.Address || got.Address != w.Address {
			t.Errorf("address %q / %q, want %q", addr.Address, got.Address, w.Address)
		}
		if b := c.want(200, nil, "GET", "/v1/wallets/"+w.ID+"/address/qr.png?size=200", readTok, nil); !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Error("qr.png is not a PNG")
		}
		c.want(404, nil, "GET", "/v1/wallets/w_ffffffffffffffffffffffff", readTok, nil)
	})
	if w.ID == "" {
		t.Fatal("no wallet")
	}

	t.Run("fund", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		env.Fund(w.Address, 60_000, 80_000, 100_000)
		env.Mine(1)
		var bal wallet.Balance
		c.want(200, &bal, "GET", "/v1/wallets/"+w.ID+"/balance", readTok, nil)
		if bal.Confirmed != 240_000 {
			t.Fatalf("balance %+v, want 240000 confirmed", bal)
		}
		var us []wallet.UTXO
		c.want(200, &us, "GET", "/v1/wallets/"+w.ID+"/utxos", readTok, nil)
		if len(us) != 3 {
			t.Fatalf("%d utxos, want 3", len(us))
		}
	})

	dest := env.FundedWallet("destination") // another wallet of the same service
	var sent wallet.Transaction
	t.Run("addresses", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		var a wallet.Address
		c.want(201, &a, "POST", "/v1/wallets/"+w.ID+"/addresses", spendTok, nil)
		if a.Path != "0/0" || a.Branch != wallet.BranchReceive || a.Address == w.Address {
			t.Errorf("first receive address %+v", a)
		}
		var b wallet.Address
		c.want(201, &b, "POST", "/v1/wallets/"+w.ID+"/addresses", spendTok, map[string]any{})
		if b.Path != "0/1" || b.Address == a.Address {
			t.Errorf("second receive address %+v", b)
		}
		c.want(403, nil, "POST", "/v1/wallets/"+w.ID+"/addresses", readTok, nil)
		c.want(400, nil, "POST", "/v1/wallets/"+w.ID+"/addresses", spendTok, map[string]any{"branch": "change"})
		if png := c.want(200, nil, "GET", "/v1/wallets/"+w.ID+"/address/qr.png?address="+b.Address, readTok, nil); !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Error("qr.png of a derived address is not a PNG")
		}
		c.want(400, nil, "GET", "/v1/wallets/"+w.ID+"/address/qr.png?address=bcrt1qnotours", readTok, nil)
		var list []wallet.Address
		c.want(200, &list, "GET", "/v1/wallets/"+w.ID+"/addresses?balance=true", readTok, nil)
		if len(list) != 3 || list[0].Branch != wallet.BranchBase || list[0].Balance == nil || list[2].Address != b.Address {
			t.Errorf("address list %+v", list)
		}
		c.want(400, nil, "GET", "/v1/wallets/"+w.ID+"/addresses?balance=maybe", readTok, nil)
		var d wallet.Descriptors
		c.want(200, &d, "GET", "/v1/wallets/"+w.ID+"/descriptor", readTok, nil)
		if !strings.HasPrefix(d.Receive, "tr(["+d.Fingerprint+"]"+d.XPub+"/0/*)#") || !strings.HasPrefix(d.Change, "tr(["+d.Fingerprint+"]"+d.XPub+"/1/*)#") {
			t.Errorf("descriptors %+v", d)
		}
		c.want(404, nil, "GET", "/v1/wallets/w_ffffffffffffffffffffffff/descriptor", readTok, nil)
	})

	t.Run("send", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		req := map[string]any{"outputs": []map[string]any{{"address": dest.Address, "amount": 50_000}}, "fee_rate": 2, "note": "rent"}
		c.want(400, nil, "POST", "/v1/wallets/"+w.ID+"/transactions", spendTok, req) // no Idempotency-Key
		dry := map[string]any{"outputs": req["outputs"], "fee_rate": 2, "dry_run": true}
		var review wallet.Transaction
		c.want(200, &review, "POST", "/v1/wallets/"+w.ID+"/transactions", spendTok, dry)
		if review.Status != wallet.StatusBuilt || review.Fee <= 0 || review.VSize <= 0 {
			t.Errorf("dry run review %+v", review)
		}
		c.want(201, &sent, "POST", "/v1/wallets/"+w.ID+"/transactions", spendTok, req, "Idempotency-Key", "send-1")
		if sent.Status != wallet.StatusBroadcast || sent.TxID == "" || sent.Amount != 50_000 {
			t.Fatalf("send: %+v", sent)
		}
		var retry wallet.Transaction
		c.want(201, &retry, "POST", "/v1/wallets/"+w.ID+"/transactions", spendTok, req, "Idempotency-Key", "send-1")
		if retry.ID != sent.ID || retry.TxID != sent.TxID {
			t.Fatalf("retry created another transaction: %s vs %s", retry.ID, sent.ID)
		}
		c.want(403, nil, "POST", "/v1/wallets/"+w.ID+"/transactions", readTok, req, "Idempotency-Key", "send-2")
		big := map[string]any{"outputs": []map[string]any{{"address": dest.Address, "amount": 1_000_000_000}}}
		_, _, b := c.do("POST", "/v1/wallets/"+w.ID+"/transactions", spendTok, big, "Idempotency-Key", "send-big")
		if kind, _ := problemType(t, b); kind != ProblemInsufficient {
			t.Errorf("overspend: %s", b)
		}
		env.Mine(1)
		deadline := time.Now().Add(30 * time.Second)
		var got wallet.Transaction
		for {
			c.want(200, &got, "GET", "/v1/wallets/"+w.ID+"/transactions/"+sent.ID, readTok, nil)
			if got.Status == wallet.StatusConfirmed || time.Now().After(deadline) {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if got.Status != wallet.StatusConfirmed || got.Confirmations < 1 || got.Note != "rent" {
			t.Fatalf("after a block: %+v", got)
		}
		var hist []wallet.Transaction
		c.want(200, &hist, "GET", "/v1/wallets/"+w.ID+"/transactions", readTok, nil)
		found := false
		for _, x := range hist {
			found = found || x.ID == sent.ID
		}
		if !found {
			t.Errorf("history lacks %s", sent.ID)
		}
	})

	contractBumpWebhooks(t, srv.URL, seen, env, admin, spendTok, readTok, dest) // contract_bump_test.go

	t.Run("psbt", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		req := map[string]any{"outputs": []map[string]any{{"address": dest.Address, "amount": 20_000}}, "fee_rate": 3}
		var built wallet.Transaction
		c.want(201, &built, "POST", "/v1/wallets/"+w.ID+"/psbt", spendTok, req, "Idempotency-Key", "psbt-1")
		if built.Status != wallet.StatusBuilt || built.PSBT == "" {
			t.Fatalf("built: %+v", built)
		}
		var signed wallet.Transaction
		c.want(200, &signed, "POST", "/v1/wallets/"+w.ID+"/psbt/sign", spendTok, map[string]any{"psbt": built.PSBT, "broadcast": true}, "Idempotency-Key", "psbt-sign-1")
		if signed.RawTx == "" || signed.Status != wallet.StatusBroadcast || signed.PSBT == "" || len(signed.SignedInputs) != signed.Inputs {
			t.Fatalf("signed: %+v", signed)
		}
		c.want(400, nil, "POST", "/v1/wallets/"+w.ID+"/psbt/sign", spendTok, map[string]any{"psbt": base64.StdEncoding.EncodeToString([]byte("psbt\xffjunk"))})
		// A BIP-370 version 2 PSBT: a clear 400.
		v2 := "psbt\xff\x01\x02\x04\x02\x00\x00\x00\x01\x04\x01\x00\x01\x05\x01\x00\x01\xfb\x04\x02\x00\x00\x00\x00"
		b := c.want(400, nil, "POST", "/v1/wallets/"+w.ID+"/psbt/sign", spendTok, map[string]any{"psbt": base64.StdEncoding.EncodeToString([]byte(v2))})
		if !strings.Contains(string(b), "version 2 (BIP-370) is not supported") {
			t.Fatalf("v2 answer: %s", b)
		}
		// Fee sanity: 1,000 sat/vB on a 10,000 sat payment needs accept_high_fee.
		fw := env.FundedWallet("contract fees", 400_000)
		high := map[string]any{"outputs": []map[string]any{{"address": dest.Address, "amount": 10_000}}, "fee_rate": 1000, "dry_run": true}
		var rev wallet.Transaction
		c.want(200, &rev, "POST", "/v1/wallets/"+fw.ID+"/transactions", spendTok, high)
		if !rev.HighFee || rev.FeeWarning == "" {
			t.Fatalf("review of a high fee: %+v", rev)
		}
		delete(high, "dry_run")
		b = c.want(422, nil, "POST", "/v1/wallets/"+fw.ID+"/transactions", spendTok, high, "Idempotency-Key", "high-fee-1")
		if !strings.Contains(string(b), "high-fee") || !strings.Contains(string(b), "accept_high_fee") {
			t.Fatalf("high fee refusal: %s", b)
		}
		var est wallet.FeeEstimates
		c.want(200, &est, "GET", "/v1/fee-estimates?network=regtest", readTok, nil)
		if len(est.Estimates) != 3 || est.MaxFeeRate != wallet.MaxFeeRate {
			t.Fatalf("fee estimates: %+v", est)
		}
	})

	t.Run("validators", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		var v wallet.Validator
		req := map[string]any{"network": "hoodi", "label": "val", "withdrawal_address": "0x" + strings.Repeat("ab", 20)}
		c.want(201, &v, "POST", "/v1/validators", spendTok, req, "Idempotency-Key", "val-1")
		var got wallet.Validator
		c.want(200, &got, "GET", "/v1/validators/"+v.ID, readTok, nil)
		var list []wallet.Validator
		c.want(200, &list, "GET", "/v1/validators", readTok, nil)
		if got.ID != v.ID || len(list) == 0 || got.Kind != wallet.KindValidator {
			t.Fatalf("validator %+v, list %d", got, len(list))
		}
		_, hdr, b := c.do("POST", "/v1/validators/"+v.ID+"/deposit-data", spendTok, nil)
		if !strings.HasPrefix(hdr.Get("Content-Disposition"), `attachment; filename="deposit_data-`) {
			t.Errorf("Content-Disposition %q", hdr.Get("Content-Disposition"))
		}
		entries, err := ethereum.ParseDepositFile(b)
		if err != nil || len(entries) != 1 {
			t.Fatalf("deposit file: %v: %s", err, b)
		}
		net, _ := ethereum.NetworkByName("hoodi")
		if err := entries[0].Verify(net); err != nil {
			t.Fatalf("deposit does not verify: %v", err)
		}
		// Required fields are required: {} signs nothing.
		c.want(400, nil, "POST", "/v1/validators/"+v.ID+"/exit", spendTok, map[string]any{})
		var ex ethereum.SignedVoluntaryExit
		c.want(200, &ex, "POST", "/v1/validators/"+v.ID+"/exit", spendTok, map[string]any{"validator_index": 12345, "epoch": 1000})
		// The exit did not fix the index; an admin records it, then exits
		// must name it.
		c.want(200, &got, "GET", "/v1/validators/"+v.ID, readTok, nil)
		if got.ValidatorIndex != nil {
			t.Fatalf("an exit recorded index %d", *got.ValidatorIndex)
		}
		c.want(403, nil, "PUT", "/v1/validators/"+v.ID+"/index", spendTok, map[string]any{"validator_index": 12345})
		c.want(200, &got, "PUT", "/v1/validators/"+v.ID+"/index", admin, map[string]any{"validator_index": 12345})
		if got.ValidatorIndex == nil || *got.ValidatorIndex != 12345 {
			t.Fatalf("after PUT index: %+v", got)
		}
		c.want(409, nil, "POST", "/v1/validators/"+v.ID+"/exit", spendTok, map[string]any{"validator_index": 12346, "epoch": 1000})
		var pub ethereum.Pubkey
		pb, _ := hex.DecodeString(v.PublicKey)
		copy(pub[:], pb)
		if err := ex.Verify(net, pub); err != nil {
			t.Fatalf("exit does not verify: %v", err)
		}
		c.want(404, nil, "GET", "/v1/validators/"+w.ID, readTok, nil)
		// A batch: N validators and one deposit file for all of them.
		var batch struct {
			Validators  []wallet.Validator `json:"validators"`
			DepositData json.RawMessage    `json:"deposit_data"`
		}
		breq := map[string]any{"network": "hoodi", "label": "batch", "withdrawal_address": "0x" + strings.Repeat("ab", 20), "count": 3}
		c.want(201, &batch, "POST", "/v1/validators", spendTok, breq, "Idempotency-Key", "batch-1")
		deps, err := ethereum.ParseDepositFile(batch.DepositData)
		if err != nil || len(deps) != 3 || len(batch.Validators) != 3 {
			t.Fatalf("batch: %d validators, %d deposits, %v", len(batch.Validators), len(deps), err)
		}
		for i, d := range deps {
			if d.Verify(net) != nil || hex.EncodeToString(d.Pubkey[:]) != batch.Validators[i].PublicKey {
				t.Fatalf("batch deposit %d does not verify or is not its validator's", i)
			}
		}
		var again struct {
			Validators []wallet.Validator `json:"validators"`
		}
		c.want(201, &again, "POST", "/v1/validators", spendTok, breq, "Idempotency-Key", "batch-1")
		if len(again.Validators) != 3 || again.Validators[2].ID != batch.Validators[2].ID {
			t.Fatal("a retried batch made new validators")
		}
		breq["count"] = 0
		c.want(400, nil, "POST", "/v1/validators", spendTok, breq)

		// Presigned exits for the whole batch: indices recorded for two,
		// given for the third; each signature checked with blst on a
		// signing root computed here (EIP-7044 domain).
		for i, bv := range batch.Validators[:2] {
			c.want(200, nil, "PUT", "/v1/validators/"+bv.ID+"/index", admin, map[string]any{"validator_index": 500 + i})
		}
		items := []any{
			map[string]any{"id": batch.Validators[0].ID},
			map[string]any{"id": batch.Validators[1].ID, "validator_index": "501"},
			map[string]any{"id": batch.Validators[2].ID, "validator_index": "502"},
		}
		c.want(400, nil, "POST", "/v1/validators/exits", spendTok, map[string]any{"validators": items})
		c.want(404, nil, "POST", "/v1/validators/exits", spendTok, map[string]any{"epoch": "9", "validators": append([]any{map[string]any{"id": "w_nosuchvalidator", "validator_index": "1"}}, items...)})
		c.want(409, nil, "POST", "/v1/validators/exits", spendTok, map[string]any{"epoch": "9", "validators": []any{map[string]any{"id": batch.Validators[1].ID, "validator_index": "777"}}})
		c.want(400, nil, "POST", "/v1/validators/exits", spendTok, map[string]any{"epoch": "9", "validators": []any{map[string]any{"id": batch.Validators[2].ID}}})
		var exits []ethereum.SignedVoluntaryExit
		b = c.want(200, &exits, "POST", "/v1/validators/exits", spendTok, map[string]any{"epoch": "4096", "validators": items})
		if _, err := ethereum.ParseSignedVoluntaryExits(b); err != nil || len(exits) != 3 {
			t.Fatalf("exits file (%d): %v: %s", len(exits), err, b)
		}
		for i, e := range exits {
			if uint64(e.Message.ValidatorIndex) != uint64(500+i) || e.Message.Epoch != 4096 {
				t.Fatalf("exit %d: %+v", i, e.Message)
			}
			var pub ethereum.Pubkey
			pb, _ := hex.DecodeString(batch.Validators[i].PublicKey)
			copy(pub[:], pb)
			root := ethereum.ComputeSigningRoot(e.Message.HashTreeRoot(), net.VoluntaryExitDomain())
			if !blstOK(pub, root, e.Signature) {
				t.Fatalf("exit %d does not verify with blst", i)
			}
			var other ethereum.Pubkey
			pb, _ = hex.DecodeString(batch.Validators[(i+1)%3].PublicKey)
			copy(other[:], pb)
			if blstOK(other, root, e.Signature) {
				t.Fatalf("exit %d verifies under another validator's key", i)
			}
		}
		// Replay: the same request signs the same exits (BLS signatures are
		// unique) and changes nothing.
		if again := c.want(200, nil, "POST", "/v1/validators/exits", spendTok, map[string]any{"epoch": "4096", "validators": items}); !bytes.Equal(again, b) {
			t.Fatalf("a replayed batch answered differently:\n%s\n%s", again, b)
		}
		// all: every validator with a recorded index (v's and the first two of the batch).
		var all []ethereum.SignedVoluntaryExit
		c.want(200, &all, "POST", "/v1/validators/exits", spendTok, map[string]any{"epoch": 4097, "all": true})
		if len(all) != 3 {
			t.Fatalf("all: %d exits", len(all))
		}
	})

	t.Run("slashing protection", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		net, _ := ethereum.NetworkByName("hoodi")
		pk := "0x" + strings.Repeat("a1", 48)
		file := json.RawMessage(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + net.GenesisValidatorsRoot.String() + `"},"data":[{"pubkey":"` + pk + `","signed_blocks":[{"slot":"81"}],"signed_attestations":[{"source_epoch":"3","target_epoch":"4"}]}]}`)
		c.want(403, nil, "POST", "/v1/eth/slashing-protection/import?network=hoodi", spendTok, file)
		c.want(400, nil, "POST", "/v1/eth/slashing-protection/import", admin, file)
		c.want(400, nil, "POST", "/v1/eth/slashing-protection/import?network=mainnet", admin, file) // another chain
		c.want(400, nil, "POST", "/v1/eth/slashing-protection/import?network=hoodi", admin, map[string]any{"metadata": map[string]any{}})
		c.want(200, nil, "POST", "/v1/eth/slashing-protection/import?network=hoodi", admin, file)
		b := c.want(200, nil, "GET", "/v1/eth/slashing-protection/export?network=hoodi&minimal=true", admin, nil)
		if !strings.Contains(string(b), pk) || !strings.Contains(string(b), `"81"`) {
			t.Fatalf("minimal export misses the imported record: %s", b)
		}
		c.want(200, nil, "GET", "/v1/eth/slashing-protection/export?network=hoodi", admin, nil)
		c.want(400, nil, "GET", "/v1/eth/slashing-protection/export?network=hoodi&minimal=maybe", admin, nil)
	})

	t.Run("keys", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		suffix := fmt.Sprintf("%d", time.Now().UnixNano())
		var sk, bk, yk keyBody
		c.want(201, &sk, "POST", "/v1/keys", admin, map[string]any{"key_id": "raw-s-" + suffix, "scheme": "schnorr"})
		c.want(201, &bk, "POST", "/v1/keys", admin, map[string]any{"key_id": "raw-b-" + suffix, "scheme": "bls"})
		c.want(201, &yk, "POST", "/v1/keys", admin, map[string]any{"key_id": "raw-y-" + suffix, "scheme": "symmetric"})
		c.want(409, nil, "POST", "/v1/keys", admin, map[string]any{"key_id": sk.KeyID, "scheme": "schnorr"})
		c.want(403, nil, "POST", "/v1/keys", spendTok, map[string]any{"key_id": "x-" + suffix, "scheme": "schnorr"})
		var keys []keyBody
		c.want(200, &keys, "GET", "/v1/keys", readTok, nil)
		if len(keys) < 3 {
			t.Errorf("%d keys listed", len(keys))
		}
		var one keyBody
		c.want(200, &one, "GET", "/v1/keys/"+sk.KeyID, readTok, nil)
		c.want(404, nil, "GET", "/v1/keys/no-such-key-"+suffix, readTok, nil)

		msg := []byte("contract test message")
		var sig signResponse
		c.want(200, &sig, "POST", "/v1/keys/"+sk.KeyID+"/sign", spendTok, map[string]any{"message": base64.StdEncoding.EncodeToString(msg), "taproot": true})
		pub, _ := hex.DecodeString(sk.PublicKey)
		sb, _ := hex.DecodeString(sig.Signature)
		if ok, err := client.VerifySchnorr(pub, msg, sb, &wire.TaprootOption{}); !ok || err != nil {
			t.Fatalf("taproot signature does not verify: %v", err)
		}
		c.want(200, &sig, "POST", "/v1/keys/"+bk.KeyID+"/sign", spendTok, map[string]any{"message_hex": hex.EncodeToString(msg)})
		bpub, _ := hex.DecodeString(bk.PublicKey)
		sb, _ = hex.DecodeString(sig.Signature)
		if ok, err := client.VerifyBLS(bpub, msg, sb); !ok || err != nil {
			t.Fatalf("BLS signature does not verify: %v", err)
		}
		c.want(400, nil, "POST", "/v1/keys/"+yk.KeyID+"/sign", spendTok, map[string]any{"message_hex": "00"})

		// A BLS-to-execution change with the raw BLS key as withdrawal key.
		var wpub ethereum.Pubkey
		copy(wpub[:], bpub)
		creds := ethereum.BLSCredentials(wpub)
		to := "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
		change := map[string]any{"network": "hoodi", "validator_index": 77, "to_execution_address": to, "withdrawal_credentials": creds.String()}
		var changes []ethereum.SignedBLSToExecutionChange
		c.want(200, &changes, "POST", "/v1/keys/"+bk.KeyID+"/bls-to-execution-change", spendTok, change)
		hoodi, _ := ethereum.NetworkByName("hoodi")
		if len(changes) != 1 || changes[0].Verify(hoodi) != nil || changes[0].Message.ValidatorIndex != 77 ||
			changes[0].Message.FromBLSPubkey != wpub || changes[0].Message.ToExecutionAddress.Checksum() != to {
			t.Fatalf("bls change %+v", changes)
		}
		change["to_execution_address"] = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" // bad EIP-55 checksum
		c.want(400, nil, "POST", "/v1/keys/"+bk.KeyID+"/bls-to-execution-change", spendTok, change)
		change["to_execution_address"] = to
		change["withdrawal_credentials"] = ethereum.ExecutionCredentials(ethereum.ExecutionAddress{1}).String()
		c.want(400, nil, "POST", "/v1/keys/"+bk.KeyID+"/bls-to-execution-change", spendTok, change)
		c.want(403, nil, "POST", "/v1/keys/"+bk.KeyID+"/bls-to-execution-change", readTok, change)
		var enc encryptResponse
		c.want(200, &enc, "POST", "/v1/keys/"+yk.KeyID+"/encrypt", spendTok, map[string]any{"plaintext": base64.StdEncoding.EncodeToString(msg)})
		var dec decryptResponse
		c.want(200, &dec, "POST", "/v1/keys/"+yk.KeyID+"/decrypt", spendTok, map[string]any{"ciphertext": enc.Ciphertext})
		if dec.Plaintext != base64.StdEncoding.EncodeToString(msg) {
			t.Fatal("decrypt round trip failed")
		}
		ct, _ := base64.StdEncoding.DecodeString(enc.Ciphertext)
		ct[len(ct)-1] ^= 1
		c.want(400, nil, "POST", "/v1/keys/"+yk.KeyID+"/decrypt", spendTok, map[string]any{"ciphertext": base64.StdEncoding.EncodeToString(ct)})
	})

	t.Run("metrics", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		b := string(c.want(200, nil, "GET", "/metrics", readTok, nil))
		for _, want := range []string{
			`vhsm_api_requests_total{method="POST",route="/v1/wallets/{id}/transactions",status="201"}`,
			`vhsm_api_request_duration_seconds_bucket{method="GET",route="/v1/wallets/{id}/balance"`,
			`vhsm_api_rate_limited_total 0`,
		} {
			if !strings.Contains(b, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
	// Last, with three of four replicas down (t+1 = 2 needed), readiness
	// fails with a 503 problem that carries the replica statuses.
	t.Run("readyz-unavailable", func(t *testing.T) {
		c := &apiClient{t: t, base: srv.URL, seen: seen}
		for i := 2; i <= 4; i++ {
			env.Cluster.Kill(i)
		}
		code, hdr, b := c.do("GET", "/readyz", readTok, nil)
		var rd readiness
		_ = json.Unmarshal(b, &rd)
		if code != 503 || rd.Ready || rd.ReadyReplicas > 1 || len(rd.Replicas) != 4 || hdr.Get("Retry-After") == "" {
			t.Fatalf("readyz with 3 replicas down: %d %s", code, b)
		}
	})

	// Every documented operation was exercised.
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !seen[method+" "+path] {
				t.Errorf("%s %s was not exercised against the devnet", method, path)
			}
		}
	}
	t.Logf("contract test total %v", time.Since(start).Round(time.Millisecond))
}

// blstOK verifies sig on root under pub with supranational/blst, an
// implementation independent of the herumi code that signed it.
func blstOK(pub ethereum.Pubkey, root ethereum.Root, sig ethereum.Signature) bool {
	pk := new(blst.P1Affine).Uncompress(pub[:])
	s := new(blst.P2Affine).Uncompress(sig[:])
	if pk == nil || s == nil {
		return false
	}
	return s.Verify(true, pk, true, root[:], []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"))
}
