package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
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

	mu             sync.Mutex
	wallets        []fakeWallet
	validators     map[string]wallet.Validator
	txs            map[string][]fakeTx
	sends          []sendCall // every POST .../transactions
	failNext       int        // answer the next non-dry-run sends with 503
	deposit        []byte     // one deposit entry (JSON object)
	idemCreates    map[string]string
	creates        []fakeCreateWallet       // every POST /v1/wallets body
	addresses      map[string][]fakeAddress // wallet id → receive addresses handed out, in order
	bumps          []bumpCall               // every POST …/bump
	holdConfirm    bool                     // sends stay broadcast (unconfirmed) until cleared
	notAdmin       bool                     // the token lacks the admin scope (slashing export 403)
	exports        []string                 // every slashing export query
	historyQueries []string                 // every GET …/transactions query
}

type sendCall struct {
	key  string
	body fakeSendRequest
	raw  string
}

type bumpCall struct {
	key, tx string
	feeRate int64
}

// The shapes below follow the OpenAPI documents of the branches that add
// the routes (r3-btchd addresses/descriptor, r3-btcrbf bump, r3-btcpsbt
// fee sanity and estimates, r3-btcrec recovery); they embed this
// branch's wallet types and add the new fields, which shadow the embedded
// ones once those types gain them.

// fakeWallet is a wallet with the optional recovery path (Wallet.recovery).
type fakeWallet struct {
	wallet.Wallet
	Recovery *fakeRecovery `json:"recovery,omitempty"`
}

type fakeRecovery struct {
	XPub       string `json:"xpub"`
	Older      int64  `json:"older"`
	Descriptor string `json:"descriptor"`
}

// fakeCreateWallet is CreateWalletRequest with recovery: {xpub, older}.
type fakeCreateWallet struct {
	wallet.CreateWalletRequest
	Recovery *struct {
		XPub  string `json:"xpub"`
		Older int64  `json:"older"`
	} `json:"recovery,omitempty"`
}

// fakeSendRequest is SendRequest with accept_high_fee.
type fakeSendRequest struct {
	wallet.SendRequest
	AcceptHighFee bool `json:"accept_high_fee,omitempty"`
}

// fakeTx is Transaction with the fee review (high_fee, fee_warning) and
// fee-bump links (replaces, replaced_by).
type fakeTx struct {
	wallet.Transaction
	HighFee    bool   `json:"high_fee,omitempty"`
	FeeWarning string `json:"fee_warning,omitempty"`
	Replaces   string `json:"replaces,omitempty"`
	ReplacedBy string `json:"replaced_by,omitempty"`
}

// fakeAddress is a WalletAddress of GET/POST …/addresses.
type fakeAddress struct {
	Address   string    `json:"address"`
	Branch    string    `json:"branch"`
	Index     int       `json:"index"`
	Path      string    `json:"path"`
	Used      bool      `json:"used"`
	CreatedAt time.Time `json:"created_at"`
}

const (
	fakeHighFeeShare = 0.10
	fakeHighFeeFloor = 5_000
	fakeHighFeeCap   = 1_000_000
	fakeMaxFeeRate   = 10_000
	fakeHoodiGVR     = "0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f"
	fakeOtherPubkey  = "0xb5" + "00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ff"
)

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
		txs:         map[string][]fakeTx{},
		addresses:   map[string][]fakeAddress{},
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
	find := func(id string) (fakeWallet, bool) {
		for _, w := range f.wallets {
			if w.ID == id {
				return w, true
			}
		}
		return fakeWallet{}, false
	}
	mux.HandleFunc("GET /v1/wallets", auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, append([]fakeWallet{}, f.wallets...))
	}))
	mux.HandleFunc("POST /v1/wallets", auth(func(w http.ResponseWriter, r *http.Request) {
		var req fakeCreateWallet
		if !f.decode(w, r, &req) {
			return
		}
		f.creates = append(f.creates, req)
		if rec := req.Recovery; rec != nil {
			if !strings.HasPrefix(rec.XPub, "tpub") && !strings.Contains(rec.XPub, "]tpub") {
				problem(w, 400, "invalid-request", "invalid recovery key", [2]string{"recovery.xpub", "not an extended public key of regtest (tpub)"})
				return
			}
			if rec.Older < 1 || rec.Older > 65535 {
				problem(w, 400, "invalid-request", "invalid timelock", [2]string{"recovery.older", "must be 1 to 65535 blocks"})
				return
			}
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
		wl := fakeWallet{Wallet: wallet.Wallet{ID: fmt.Sprintf("w_%024x", n), Kind: req.Kind, Network: req.Network, KeyID: fmt.Sprintf("wallet-%d", n),
			PublicKey: strings.Repeat("ab", 32), Address: "bcrt1p" + strings.Repeat("q", 52) + fmt.Sprint(n), Label: req.Label, CreatedAt: time.Now()}}
		if rec := req.Recovery; rec != nil {
			wl.Recovery = &fakeRecovery{XPub: rec.XPub, Older: rec.Older,
				Descriptor: fmt.Sprintf("tr(%s,and_v(v:pk(%s/0/0),older(%d)))#abcd1234", wl.PublicKey, rec.XPub, rec.Older)}
		}
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
		addr := wl.Address
		if a := r.URL.Query().Get("address"); a != "" {
			addr = a // the real API refuses an address that is not the wallet's
		}
		png, err := qrcode.Encode("bitcoin:"+strings.ToUpper(addr), qrcode.Medium, 256)
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
			if tx.Status != "replaced" && tx.Direction != "in" {
				spent += tx.Amount + tx.Fee
			}
		}
		conf := int64(150000000) - spent
		writeJSON(w, 200, wallet.Balance{Confirmed: conf, Unconfirmed: 2500, Total: conf + 2500})
	}))
	mux.HandleFunc("GET /v1/wallets/{id}/transactions", auth(func(w http.ResponseWriter, r *http.Request) {
		list := f.txs[r.PathValue("id")]
		q := r.URL.Query()
		f.historyQueries = append(f.historyQueries, r.URL.RawQuery)
		if !q.Has("limit") && !q.Has("cursor") { // the whole history, newest first
			out := make([]fakeTx, len(list))
			for i := range list {
				out[len(list)-1-i] = list[i]
			}
			writeJSON(w, 200, out)
			return
		}
		// One page (r3-btcrbf TransactionPage): the cursor is the position
		// (oldest first) the next page ends before, so transactions recorded
		// meanwhile never shift later pages.
		limit, end := 50, len(list)
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 500 {
				problem(w, 400, "invalid-request", "limit is out of range", [2]string{"limit", "must be an integer from 1 to 500"})
				return
			}
			limit = n
		}
		if c := q.Get("cursor"); c != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(c, "pos-"))
			if err != nil || !strings.HasPrefix(c, "pos-") || n < 0 || n > len(list) {
				problem(w, 400, "invalid-request", "invalid cursor", [2]string{"cursor", "not a cursor of this history"})
				return
			}
			end = n
		}
		start := max(0, end-limit)
		page := map[string]any{"transactions": []fakeTx{}}
		out := make([]fakeTx, 0, end-start)
		for i := end - 1; i >= start; i-- {
			out = append(out, list[i])
		}
		page["transactions"] = out
		if start > 0 {
			page["next_cursor"] = fmt.Sprintf("pos-%d", start)
		}
		writeJSON(w, 200, page)
	}))
	mux.HandleFunc("POST /v1/wallets/{id}/transactions", auth(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		raw, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		var req fakeSendRequest
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
		if rate > fakeMaxFeeRate {
			problem(w, 400, "invalid-request", "invalid fee rate", [2]string{"fee_rate", "at most 10000 sat/vB"})
			return
		}
		tx := fakeTx{Transaction: wallet.Transaction{ID: fmt.Sprintf("tx_%024x", len(f.sends)), WalletID: id, Status: wallet.StatusBuilt, Direction: "out",
			Outputs: req.Outputs, Amount: amount, Fee: rate * 154, FeeRate: rate, VSize: 154, Inputs: 1,
			Change: 150000000 - amount - rate*154, CreatedAt: time.Now(), UpdatedAt: time.Now()}}
		// The fee review of r3-btcpsbt (wallet.flagFee).
		switch {
		case tx.Fee > fakeHighFeeCap:
			tx.HighFee, tx.FeeWarning = true, fmt.Sprintf("the fee of %d sat is above the cap of %d sat", tx.Fee, fakeHighFeeCap)
		case tx.Amount > 0 && tx.Fee > fakeHighFeeFloor && float64(tx.Fee) > fakeHighFeeShare*float64(tx.Amount):
			tx.HighFee = true
			tx.FeeWarning = fmt.Sprintf("the fee of %d sat (%d sat/vB) is %.1f%% of the %d sat paid, above the limit of %g%%",
				tx.Fee, tx.FeeRate, 100*float64(tx.Fee)/float64(tx.Amount), tx.Amount, 100*fakeHighFeeShare)
		}
		if req.DryRun {
			writeJSON(w, 200, tx)
			return
		}
		if tx.HighFee && !req.AcceptHighFee {
			problem(w, 422, "high-fee", tx.FeeWarning+"; review it and set accept_high_fee to send anyway")
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
		f.confirmLater(id, tx.TxID)
		writeJSON(w, 201, tx)
	}))
	mux.HandleFunc("POST /v1/wallets/{id}/transactions/{tx}/bump", auth(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var req struct {
			FeeRate *int64 `json:"fee_rate"`
		}
		if !f.decode(w, r, &req) {
			return
		}
		f.bumps = append(f.bumps, bumpCall{key: r.Header.Get("Idempotency-Key"), tx: r.PathValue("tx"), feeRate: derefOr(req.FeeRate, -1)})
		if req.FeeRate == nil {
			problem(w, 400, "invalid-request", "fee_rate is required", [2]string{"fee_rate", "required: the new fee rate in sat/vB, above the original's"})
			return
		}
		list := f.txs[id]
		i := -1
		for j := range list {
			if list[j].ID == r.PathValue("tx") || list[j].TxID == r.PathValue("tx") {
				i = j
			}
		}
		if i < 0 {
			problem(w, 404, "not-found", "no transaction "+r.PathValue("tx")+" in wallet "+id)
			return
		}
		orig := list[i]
		rate := *req.FeeRate
		switch {
		case rate < 1 || rate > fakeMaxFeeRate:
			problem(w, 400, "invalid-request", fmt.Sprintf("fee_rate must be between 1 and %d sat/vB", fakeMaxFeeRate))
			return
		case orig.Status == wallet.StatusConfirmed:
			problem(w, 409, "conflict", orig.ID+" is already confirmed")
			return
		case orig.ReplacedBy != "":
			problem(w, 409, "conflict", orig.ID+" was already replaced by "+orig.ReplacedBy+"; bump that one")
			return
		case rate <= orig.FeeRate:
			problem(w, 400, "invalid-request", fmt.Sprintf("fee_rate must be above the original's %d.000 sat/vB", orig.FeeRate))
			return
		}
		nt := orig
		nt.ID = fmt.Sprintf("tx_%024x", 1000+len(f.bumps))
		nt.TxID = fmt.Sprintf("%064x", 1000+len(f.bumps))
		nt.FeeRate, nt.Fee = rate, rate*orig.VSize
		nt.Change = orig.Change - (nt.Fee - orig.Fee)
		nt.Replaces, nt.CreatedAt, nt.UpdatedAt = orig.ID, time.Now(), time.Now()
		list[i].Status, list[i].ReplacedBy = "replaced", nt.ID
		f.txs[id] = append(list, nt)
		f.confirmLater(id, nt.TxID)
		writeJSON(w, 201, nt)
	}))
	mux.HandleFunc("POST /v1/wallets/{id}/addresses", auth(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if _, ok := find(id); !ok {
			problem(w, 404, "not-found", "no such wallet")
			return
		}
		var req struct{}
		if !f.decode(w, r, &req) {
			return
		}
		list := f.addresses[id]
		unused := 0
		for _, a := range list {
			if !a.Used {
				unused++
			}
		}
		if unused >= 20 {
			problem(w, 409, "conflict", "the last 20 receive addresses handed out are all unused (gap limit); use one of them first")
			return
		}
		i := len(list)
		a := fakeAddress{Address: fmt.Sprintf("bcrt1p%s%04d", strings.Repeat("r", 52), i), Branch: "receive", Index: i, Path: fmt.Sprintf("0/%d", i), CreatedAt: time.Now()}
		f.addresses[id] = append(list, a)
		writeJSON(w, 201, a)
	}))
	mux.HandleFunc("GET /v1/wallets/{id}/addresses", auth(func(w http.ResponseWriter, r *http.Request) {
		wl, ok := find(r.PathValue("id"))
		if !ok {
			problem(w, 404, "not-found", "no such wallet")
			return
		}
		out := []fakeAddress{{Address: wl.Address, Branch: "base", Path: "", Used: len(f.txs[wl.ID]) > 0, CreatedAt: wl.CreatedAt}}
		out = append(out, f.addresses[wl.ID]...)
		n := 0
		for _, tx := range f.txs[wl.ID] { // each send's change went to a fresh change address
			if tx.Status != "replaced" && tx.Direction != "in" {
				out = append(out, fakeAddress{Address: fmt.Sprintf("bcrt1p%s%04d", strings.Repeat("c", 52), n), Branch: "change", Index: n,
					Path: fmt.Sprintf("1/%d", n), Used: true, CreatedAt: tx.CreatedAt})
				n++
			}
		}
		writeJSON(w, 200, out)
	}))
	mux.HandleFunc("GET /v1/wallets/{id}/descriptor", auth(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := find(r.PathValue("id")); !ok {
			problem(w, 404, "not-found", "no such wallet")
			return
		}
		writeJSON(w, 200, map[string]any{
			"receive": "tr([" + fakeFingerprint + "]" + fakeTpub + "/0/*)#rcv0chk1", "change": "tr([" + fakeFingerprint + "]" + fakeTpub + "/1/*)#chg0chk1",
			"base": "tr([" + fakeFingerprint + "]" + fakeTpub + ")#bas0chk1", "xpub": fakeTpub, "fingerprint": fakeFingerprint, "gap_limit": 20,
		})
	}))
	mux.HandleFunc("GET /v1/fee-estimates", auth(func(w http.ResponseWriter, r *http.Request) {
		if n := r.URL.Query().Get("network"); n != "" && n != "regtest" {
			problem(w, 404, "not-found", fmt.Sprintf("bitcoin network %q is not configured", n))
			return
		}
		writeJSON(w, 200, map[string]any{"network": "regtest", "max_fee_rate": fakeMaxFeeRate, "high_fee_share": fakeHighFeeShare, "high_fee_floor": fakeHighFeeFloor, "high_fee_cap": fakeHighFeeCap,
			"estimates": []map[string]any{{"target_blocks": 1, "fee_rate": 25, "source": "fallback"}, {"target_blocks": 6, "fee_rate": 12, "source": "fallback"},
				{"target_blocks": 144, "fee_rate": 2, "source": "fallback"}}})
	}))
	mux.HandleFunc("GET /v1/eth/slashing-protection/export", auth(func(w http.ResponseWriter, r *http.Request) {
		f.exports = append(f.exports, r.URL.RawQuery)
		if f.notAdmin {
			problem(w, 403, "forbidden", "this token lacks the admin scope")
			return
		}
		if r.URL.Query().Get("network") != "hoodi" {
			problem(w, 400, "invalid-request", "unknown network", [2]string{"network", "unknown network"})
			return
		}
		minimal := r.URL.Query().Get("minimal") == "true"
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="slashing-protection-hoodi.json"`)
		_, _ = w.Write(fakeInterchange(minimal))
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
		f.wallets = append(f.wallets, fakeWallet{Wallet: v.Wallet})
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

const (
	fakeFingerprint = "1f2e3d4c"
	fakeTpub        = "tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp"
)

// confirmLater marks a broadcast send confirmed a little later, as the
// tracker would, unless holdConfirm is set then.
func (f *fakeAPI) confirmLater(walletID, txid string) {
	go func() {
		time.Sleep(1500 * time.Millisecond)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.holdConfirm {
			return
		}
		for i := range f.txs[walletID] {
			if f.txs[walletID][i].TxID == txid && f.txs[walletID][i].Status == wallet.StatusBroadcast {
				f.txs[walletID][i].Status = wallet.StatusConfirmed
				f.txs[walletID][i].Confirmations = 1
			}
		}
	}()
}

func derefOr(p *int64, d int64) int64 {
	if p == nil {
		return d
	}
	return *p
}

// fakeInterchange is an EIP-3076 file of hoodi with two validators: the
// fake's validator key (a1…) with several blocks and attestations, and
// another. minimal keeps per validator the highest slot and epochs only.
func fakeInterchange(minimal bool) []byte {
	type block struct {
		Slot        string `json:"slot"`
		SigningRoot string `json:"signing_root,omitempty"`
	}
	type att struct {
		Source      string `json:"source_epoch"`
		Target      string `json:"target_epoch"`
		SigningRoot string `json:"signing_root,omitempty"`
	}
	type entry struct {
		Pubkey       string  `json:"pubkey"`
		Blocks       []block `json:"signed_blocks"`
		Attestations []att   `json:"signed_attestations"`
	}
	root := func(b byte) string { return "0x" + strings.Repeat(fmt.Sprintf("%02x", b), 32) }
	data := []entry{
		{Pubkey: "0x" + strings.Repeat("a1", 48),
			Blocks:       []block{{"81920", root(1)}, {"18446744073709551000", root(2)}, {"90001", root(3)}},
			Attestations: []att{{"2559", "2560", root(4)}, {"2561", "2562", root(5)}, {"2560", "2561", root(6)}}},
		{Pubkey: fakeOtherPubkey, Blocks: []block{{"999999", root(7)}}, Attestations: []att{{"9000", "9001", root(8)}}},
	}
	if minimal {
		data[0].Blocks = []block{{Slot: "18446744073709551000"}}
		data[0].Attestations = []att{{Source: "2561", Target: "2562"}}
		data[1].Blocks = []block{{Slot: "999999"}}
		data[1].Attestations = []att{{Source: "9000", Target: "9001"}}
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]string{"interchange_format_version": "5", "genesis_validators_root": fakeHoodiGVR}, "data": data})
	return b
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
	walletID := strings.TrimPrefix(eval[string](s, `location.hash`), "#/wallets/")

	// Receive: each click hands out a fresh address (POST …/addresses); the
	// list shows it unused, then used once a payment is seen.
	s.waitJS("base address listed", `document.querySelector('#addresses tr[data-branch="base"]')`, short)
	s.step("new address", short, chromedp.Click(chromedp.ID("new-address")))
	s.waitText("fresh address 0/0", "#receive-address", "bcrt1p"+strings.Repeat("r", 52)+"0000", short)
	s.waitJS("QR of the fresh address", `document.querySelector('img[data-address="bcrt1p`+strings.Repeat("r", 52)+`0000"]')`, short)
	s.waitJS("0/0 listed unused", `document.querySelector('#addresses tr[data-path="0/0"][data-used="false"]')`, short)
	s.step("another new address", short, chromedp.Click(chromedp.ID("new-address")))
	s.waitText("fresh address 0/1", "#receive-address", strings.Repeat("r", 52)+"0001", short)
	if got := s.text("#receive-note"); !strings.Contains(got, "path 0/1") {
		t.Errorf("receive note %q", got)
	}
	f.mu.Lock()
	if n := len(f.addresses[walletID]); n != 2 {
		t.Errorf("%d addresses handed out, want 2", n)
	}
	f.addresses[walletID][0].Used = true
	for i := 2; i <= 20; i++ { // fill the gap limit: 0/1 … 0/20 unused
		f.addresses[walletID] = append(f.addresses[walletID], fakeAddress{Address: fmt.Sprintf("bcrt1p%s%04d", strings.Repeat("r", 52), i), Branch: "receive", Index: i, Path: fmt.Sprintf("0/%d", i), CreatedAt: time.Now()})
	}
	f.mu.Unlock()
	s.step("new address at the gap limit", short, chromedp.Click(chromedp.ID("new-address")))
	s.waitText("gap limit refusal", ".receive .alert", "gap limit", short)
	s.waitJS("0/0 listed used", `document.querySelector('#addresses tr[data-path="0/0"][data-used="true"] .badge.used')`, short)
	if got := s.text("#receive-address"); !strings.HasSuffix(strings.TrimSpace(got), "0001") {
		t.Errorf("a refused hand-out changed the shown address to %q", got)
	}
	s.shot("receive fresh address and list")
	f.mu.Lock()
	f.addresses[walletID] = f.addresses[walletID][:2]
	f.mu.Unlock()

	// Descriptors with copy: the Clipboard API, and the selection fallback.
	s.waitText("receive descriptor", "#desc-receive", "tr(["+fakeFingerprint+"]"+fakeTpub+"/0/*)#rcv0chk1", short)
	eval[bool](s, `(() => { navigator.clipboard.writeText = (t) => { window.copiedText = t; return Promise.resolve(); }; return true; })()`)
	s.step("copy descriptor", short, chromedp.Click(chromedp.ID("copy-desc-receive")))
	s.waitJS("copied", `window.copiedText === document.querySelector('#desc-receive').textContent && document.querySelector('#copy-desc-receive').dataset.result === 'Copied'`, short)
	eval[bool](s, `(() => { navigator.clipboard.writeText = () => Promise.reject(new DOMException('denied', 'NotAllowedError')); return true; })()`)
	s.step("copy descriptor (refused)", short, chromedp.Click(chromedp.ID("copy-desc-change")))
	s.waitJS("selected instead", `window.getSelection().toString() === document.querySelector('#desc-change').textContent && document.querySelector('#copy-desc-change').dataset.result`, short)
	s.shot("descriptors")

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
	if last.key == "" || last.key == real[0].key || last.body.Outputs[0].Amount != 12345 || last.body.FeeRate != 7 {
		t.Errorf("second send: key %q body %s", last.key, last.raw)
	}

	// Fee estimates next to the fee-rate field; picking one fills it.
	s.waitText("fee estimates", "#fee-estimates", "~1 hour: 12 sat/vB", short)
	s.waitText("fallback marked", "#fee-estimates .fee-fallback", "not market data", short)
	s.step("pick an estimate", short, chromedp.Click(chromedp.CSS(`#fee-estimates button[data-target="6"]`)))
	if got := eval[string](s, `document.querySelector('form.send input[name=fee_rate]').value`); got != "12" {
		t.Errorf("fee rate after picking the 6-block estimate: %q", got)
	}

	// A high fee is flagged: confirming needs the explicit acceptance, and
	// the send then carries accept_high_fee.
	s.step("high-fee review", short,
		chromedp.SetValue(chromedp.CSS(`form.send input[name=address]`), dest),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=amount]`), "10000"),
		setSelect(`form.send select[name=unit]`, "sat"),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=fee_rate]`), "100"),
		chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
	s.waitText("fee warning", "#fee-warning", "above the limit of 10%", short)
	if !eval[bool](s, `document.querySelector('#confirm-send').disabled`) {
		t.Errorf("confirm enabled before the high fee is accepted")
	}
	s.shot("high fee warning")
	s.step("accept the fee", short, chromedp.Click(chromedp.CSS(`#fee-warning input[name=accept_high_fee]`)))
	s.waitJS("confirm enabled", `!document.querySelector('#confirm-send').disabled`, short)
	s.step("confirm high fee", short, chromedp.Click(chromedp.ID("confirm-send")))
	s.waitText("high-fee sent", "#send-result", "Sent.", short)
	f.mu.Lock()
	last = f.sends[len(f.sends)-1]
	prev := f.sends[len(f.sends)-2]
	f.mu.Unlock()
	if !last.body.AcceptHighFee || last.body.FeeRate != 100 || last.body.Outputs[0].Amount != 10000 || !strings.Contains(last.raw, `"accept_high_fee":true`) {
		t.Errorf("high-fee send body %s", last.raw)
	}
	if !prev.body.DryRun || prev.body.AcceptHighFee {
		t.Errorf("the review should be a dry run without accept_high_fee: %s", prev.raw)
	}
	f.mu.Lock()
	highID := f.txs[walletID][len(f.txs[walletID])-1].ID
	f.mu.Unlock()
	s.waitJS("high-fee send confirmed", fmt.Sprintf(`document.querySelector('#history tr[data-id=%q][data-status="confirmed"]')`, highID), short)

	// Bump fee on a send that stays unconfirmed: a refused rate shows the
	// API's detail; a higher one replaces it.
	f.mu.Lock()
	f.holdConfirm = true
	f.mu.Unlock()
	s.step("stuck send", short,
		chromedp.SetValue(chromedp.CSS(`form.send input[name=address]`), dest),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=amount]`), "0.01"),
		setSelect(`form.send select[name=unit]`, "btc"),
		chromedp.SetValue(chromedp.CSS(`form.send input[name=fee_rate]`), "2"),
		chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
	s.waitText("stuck preview", "#send-preview", "308 sats", short)
	s.step("confirm stuck", short, chromedp.Click(chromedp.ID("confirm-send")))
	s.waitText("stuck sent", "#send-result", "Sent.", short)
	f.mu.Lock()
	stuck := f.txs[walletID][len(f.txs[walletID])-1]
	f.mu.Unlock()
	bumpBtn := fmt.Sprintf(`#history tr[data-id=%q] button.bump`, stuck.ID)
	s.waitJS("bump offered", `document.querySelector('`+bumpBtn+`')`, short)
	if n := eval[int](s, `document.querySelectorAll('#history button.bump').length`); n != 1 {
		t.Errorf("%d bump buttons, want 1 (only the unconfirmed send)", n)
	}
	s.step("open bump", short, chromedp.Click(chromedp.CSS(bumpBtn)))
	s.waitJS("bump form", `document.querySelector('#bump-form input[name=bump_fee_rate]')`, short)
	if got := eval[string](s, `document.querySelector('#bump-form input[name=bump_fee_rate]').value`); got != "25" {
		t.Errorf("suggested bump rate %q, want the next-block estimate 25", got)
	}
	s.step("bump too low", short,
		chromedp.SetValue(chromedp.CSS(`#bump-form input[name=bump_fee_rate]`), "2"),
		chromedp.Click(chromedp.ID("bump-submit")))
	s.waitText("bump refused", "#bump-form .alert", "fee_rate must be above the original's 2.000 sat/vB", short)
	s.shot("bump refused")
	s.step("bump", short,
		chromedp.SetValue(chromedp.CSS(`#bump-form input[name=bump_fee_rate]`), "30"),
		chromedp.Click(chromedp.ID("bump-submit")))
	s.waitText("bumped", "#bump-result", "Fee bumped.", short)
	if got := s.text("#bump-result"); !strings.Contains(got, "4 620 sats (30 sat/vB)") {
		t.Errorf("bump result %q", got)
	}
	s.waitJS("original replaced", fmt.Sprintf(`document.querySelector('#history tr[data-id=%q][data-status="replaced"]')`, stuck.ID), short)
	s.waitText("replacement listed", "#history", "fee bump of", short)
	s.shot("bumped")
	f.mu.Lock()
	bumps := append([]bumpCall(nil), f.bumps...)
	f.holdConfirm = false
	f.mu.Unlock()
	if len(bumps) != 2 || bumps[0].tx != stuck.ID || bumps[1].tx != stuck.ID || bumps[0].feeRate != 2 || bumps[1].feeRate != 30 {
		t.Errorf("bump calls %+v", bumps)
	} else if bumps[0].key == "" || bumps[1].key == "" || bumps[0].key == bumps[1].key {
		t.Errorf("bump Idempotency-Keys %q, %q: want two different non-empty keys", bumps[0].key, bumps[1].key)
	}

	// A wallet with a recovery path: explained, checked locally (a private
	// key is refused before anything is sent), shown on the wallet.
	s.step("new wallet with recovery", short, chromedp.Navigate(srv.URL+"/#/new/bitcoin"), chromedp.WaitVisible(chromedp.CSS(`input[name=label]`)))
	if got := s.text("#recovery-explain"); !strings.Contains(got, "recovery key alone can spend") {
		t.Errorf("recovery explanation %q", got)
	}
	if !eval[bool](s, `document.querySelector('input[name=recovery_xpub]').offsetParent === null`) {
		t.Errorf("recovery inputs shown before the box is ticked")
	}
	s.step("fill recovery", short,
		chromedp.SendKeys(chromedp.CSS(`input[name=label]`), "Cold"),
		setSelect(`select[name=network]`, "regtest"),
		chromedp.Click(chromedp.CSS(`input[name=recovery]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=recovery_xpub]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=recovery_xpub]`), "tprv8ZgxMBicQKsPd9TeAdPADNnSyH9SSUUbTVeFszDE23Ki6TBB5nCefAdHkK8Fm3qMQR6sHwA56zqRmKmxnHk37JkiFzvncDqoKmPWubu7hDF"),
		chromedp.SendKeys(chromedp.CSS(`input[name=recovery_older]`), "70000"),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("private key refused", "main form .alert", "private key", short)
	s.step("public key, too long a timelock", short,
		chromedp.SetValue(chromedp.CSS(`input[name=recovery_xpub]`), "["+fakeFingerprint+"/86h/1h/0h]"+fakeTpub),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("timelock refused", "main form .alert", "too large", short)
	eval[bool](s, `(() => { const e = document.querySelector('input[name=recovery_older]'); e.value = '4320'; e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`)
	s.waitText("timelock in days", "#recovery-days", "About 30 days", short)
	s.shot("create with recovery")
	f.mu.Lock()
	createsBefore := len(f.creates)
	f.mu.Unlock()
	if createsBefore != 1 {
		t.Errorf("%d create requests before the recovery form is valid, want 1 (the first wallet)", createsBefore)
	}
	s.step("create with recovery", short, chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("recovery shown", "#recovery-older", "4320 blocks", short)
	s.waitText("recovery descriptor", "#recovery-descriptor", "older(4320)", short)
	s.shot("wallet with recovery")
	f.mu.Lock()
	rc := f.creates[len(f.creates)-1]
	f.mu.Unlock()
	if rc.Recovery == nil || rc.Recovery.XPub != "["+fakeFingerprint+"/86h/1h/0h]"+fakeTpub || rc.Recovery.Older != 4320 {
		t.Errorf("create with recovery sent %+v", rc)
	}

	// History pages: the newest 50, then older ones through the cursor;
	// transactions arriving meanwhile neither hide nor repeat rows.
	coldID := strings.TrimPrefix(eval[string](s, `location.hash`), "#/wallets/")
	receivedTx := func(i int) fakeTx {
		return fakeTx{Transaction: wallet.Transaction{ID: fmt.Sprintf("tx_in%021d", i), WalletID: coldID, TxID: fmt.Sprintf("%064x", 5000+i), Status: wallet.StatusConfirmed,
			Direction: "in", Amount: int64(1000 + i), Confirmations: 3, CreatedAt: time.Now(), UpdatedAt: time.Now()}}
	}
	f.mu.Lock()
	for i := 0; i < 57; i++ {
		f.txs[coldID] = append(f.txs[coldID], receivedTx(i))
	}
	f.mu.Unlock()
	s.waitJS("first page", `document.querySelectorAll('#history tbody tr').length === 50 && !document.querySelector('#load-older').hidden`, short)
	s.step("older page", short, chromedp.Click(chromedp.ID("load-older")))
	s.waitJS("all 57", `document.querySelectorAll('#history tbody tr').length === 57 && document.querySelector('#load-older').hidden`, short)
	f.mu.Lock()
	for i := 57; i < 60; i++ {
		f.txs[coldID] = append(f.txs[coldID], receivedTx(i))
	}
	f.mu.Unlock()
	s.waitJS("60 after new arrivals", `document.querySelectorAll('#history tbody tr').length === 60`, short)
	rows := eval[[]string](s, `[...document.querySelectorAll('#history tbody tr')].map(r => r.dataset.id)`)
	for i, id := range rows {
		if want := fmt.Sprintf("tx_in%021d", 59-i); id != want {
			t.Errorf("history row %d is %s, want %s (newest first, once each)", i, id, want)
			break
		}
	}
	f.mu.Lock()
	queries := append([]string(nil), f.historyQueries...)
	f.mu.Unlock()
	if !slices.Contains(queries, "limit=50&cursor=pos-7") {
		t.Errorf("no older page read through the cursor: %q", queries)
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

	// Its slashing-protection record, from the minimal export filtered by
	// its key (the other validator's higher slot is not shown), and the
	// admin's download of the full interchange file.
	s.waitJS("slashing record", `document.querySelector('#slashing-slot') && document.querySelector('#slashing-slot').dataset.value === '18446744073709551000'`, short)
	if src, tgt := s.text("#slashing-source"), s.text("#slashing-target"); src != "2561" || tgt != "2562" {
		t.Errorf("slashing record source %q target %q, want 2561 2562", src, tgt)
	}
	s.shot("validator")
	s.step("export slashing protection", short, chromedp.Click(chromedp.ID("export-slashing")))
	s.waitText("export done", "#slashing-export-result", "2 validators of hoodi", short)
	_, ic := s.waitDownload(`^slashing-protection-hoodi-\d+\.json$`, short)
	if !bytes.Equal(ic, fakeInterchange(false)) {
		t.Errorf("downloaded interchange differs from the export: %s", ic)
	}
	f.mu.Lock()
	exports := append([]string(nil), f.exports...)
	f.notAdmin = true
	f.mu.Unlock()
	if len(exports) != 2 || exports[0] != "network=hoodi&minimal=true" || exports[1] != "network=hoodi" {
		t.Errorf("export queries %q", exports)
	}
	valHash := eval[string](s, `location.hash`)
	s.step("validator, no admin scope", short, chromedp.Navigate(srv.URL+"/#/wallets"), chromedp.Navigate(srv.URL+"/"+valHash))
	s.waitText("admin needed", "#slashing .alert", "admin token", short)
	if !eval[bool](s, `document.querySelector('#export-slashing').hidden`) {
		t.Errorf("export offered to a token without the admin scope")
	}
	s.setViewport(390, 844)
	s.shot("validator on a phone")
	if w := eval[int](s, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("validator page is %d px wide on a 390 px screen", w)
	}
	s.setViewport(1280, 900)
	s.shot("slashing protection needs admin")
	f.mu.Lock()
	f.notAdmin = false
	f.mu.Unlock()
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
	s.waitJS("three wallets", `document.querySelectorAll('a.wallet-link').length === 3`, short)
	s.shot("wallets list")
	s.step("sign out", short, chromedp.Click(chromedp.ID("signout")))
	s.waitText("signed out", "#flash", "Signed out", short)
	if got := eval[string](s, `String(sessionStorage.getItem('vhsm.token'))`); got != "null" {
		t.Errorf("token kept after sign out: %q", got)
	}
	s.shot("signed out")
}

// TestSlashingRecord checks slashing.js in the browser: a validator's
// record is the maximum over all its entries (EIP-3076 allows several),
// uint64 values stay exact, and malformed files are refused.
func TestSlashingRecord(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	s := newSession(t, srv.URL, 30*time.Second)
	type result struct {
		Found        bool    `json:"found"`
		Blocks       int     `json:"blocks"`
		Attestations int     `json:"attestations"`
		Slot         *string `json:"slot"`
		Source       *string `json:"source"`
		Target       *string `json:"target"`
		Err          string  `json:"err"`
	}
	pk := "0x" + strings.Repeat("a1", 48)
	meta := `"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + fakeHoodiGVR + `"}`
	cases := []struct {
		name, file, pubkey   string
		slot, source, target string // "" for none
		found                bool
		errHas               string
	}{
		{"fake export", string(fakeInterchange(false)), strings.Repeat("a1", 48), "18446744073709551000", "2561", "2562", true, ""},
		{"fake minimal, upper-case key", string(fakeInterchange(true)), strings.ToUpper(pk[2:]), "18446744073709551000", "2561", "2562", true, ""},
		{"two entries merged", `{` + meta + `,"data":[{"pubkey":"` + pk + `","signed_blocks":[{"slot":"5"}],"signed_attestations":[]},{"pubkey":"` + strings.ToUpper(pk) + `","signed_blocks":[{"slot":"7"}],"signed_attestations":[{"source_epoch":"3","target_epoch":"4"}]}]}`, pk, "7", "3", "4", true, ""},
		{"absent", `{` + meta + `,"data":[{"pubkey":"` + fakeOtherPubkey + `","signed_blocks":[{"slot":"9"}]}]}`, pk, "", "", "", false, ""},
		{"no attestations", `{` + meta + `,"data":[{"pubkey":"` + pk + `","signed_blocks":[{"slot":"0"}]}]}`, pk, "0", "", "", true, ""},
		{"numeric slot", `{` + meta + `,"data":[{"pubkey":"` + pk + `","signed_blocks":[{"slot":5}]}]}`, pk, "", "", "", false, "invalid block slot"},
		{"above uint64", `{` + meta + `,"data":[{"pubkey":"` + pk + `","signed_attestations":[{"source_epoch":"18446744073709551616","target_epoch":"1"}]}]}`, pk, "", "", "", false, "invalid source epoch"},
		{"version 4", `{"metadata":{"interchange_format_version":"4"},"data":[]}`, pk, "", "", "", false, "version 4"},
		{"no data", `{` + meta + `}`, pk, "", "", "", false, "Not an EIP-3076"},
		{"bad key", `{` + meta + `,"data":[]}`, "0x1234", "", "", "", false, "Not a BLS public key"},
		{"entry without key", `{` + meta + `,"data":[{"signed_blocks":[]}]}`, pk, "", "", "", false, "without a public key"},
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for _, c := range cases {
		expr := fmt.Sprintf(`import('/js/slashing.js').then(m => { try { return m.slashingRecord(%q, %q); } catch (e) { return {err: e.message}; } })`, c.file, c.pubkey)
		r := eval[result](s, expr)
		if (c.errHas == "") != (r.Err == "") || !strings.Contains(r.Err, c.errHas) {
			t.Errorf("%s: error %q, want one with %q", c.name, r.Err, c.errHas)
			continue
		}
		if c.errHas != "" {
			continue
		}
		if r.Found != c.found || str(r.Slot) != c.slot || str(r.Source) != c.source || str(r.Target) != c.target {
			t.Errorf("%s: %+v (slot %q source %q target %q), want found=%v %q %q %q", c.name, r, str(r.Slot), str(r.Source), str(r.Target), c.found, c.slot, c.source, c.target)
		}
	}
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
