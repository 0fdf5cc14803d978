package web_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/chromedp/chromedp"

	"github.com/vhsm/vhsm/api"
	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
	"github.com/vhsm/vhsm/web"
)

// TestEndToEnd is what a user does, in a real Chromium, against the real
// stack: a 4-replica vhsm cluster, btcd on regtest, the wallet service,
// the REST API and the web wallet served by one httptest server. Sign in,
// create a Bitcoin wallet, fund its address on regtest, see the balance,
// send with a fee preview and confirmation, mine, see the transaction
// confirmed in history (and on the node); create a validator, download its
// deposit data (verified with chains/ethereum) and sign an exit (verified
// too). A screenshot of each view is saved.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replica cluster, btcd and Chromium")
	}
	start := time.Now()
	env := wallettest.Start(t, wallettest.Options{Track: true})
	t.Logf("environment up in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	secret, _, err := env.Service.CreateToken(ctx, "web-e2e", []string{wallet.ScopeAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Wallets: env.Service, HSM: env.HSM, Web: web.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	const short = 15 * time.Second
	const slow = 60 * time.Second // key generation, signing

	// The flows of routes other branches add (fresh addresses, descriptors,
	// fee estimates, fee bumps, recovery, slashing protection) run once the
	// API's OpenAPI document has them.
	var doc struct {
		Paths      map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	has := func(path string) bool {
		_, ok := doc.Paths[path]
		if !ok {
			t.Logf("the API has no %s yet: its web flow is not run", path)
		}
		return ok
	}
	hasAddresses, hasDescriptor, hasEstimates := has("/v1/wallets/{id}/addresses"), has("/v1/wallets/{id}/descriptor"), has("/v1/fee-estimates")
	hasBump, hasSlashing := has("/v1/wallets/{id}/transactions/{tx}/bump"), has("/v1/eth/slashing-protection/export")
	_, hasRecovery := doc.Components.Schemas["RecoveryRequest"]
	total := 150 * time.Second
	if hasRecovery {
		total += 60 * time.Second // one more wallet
	}
	s := newSession(t, srv.URL, total)

	// Sign in.
	s.step("sign-in page", short, chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)))
	s.shot("sign in")
	s.step("sign in", short,
		chromedp.SendKeys(chromedp.CSS(`input[name=token]`), secret),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("wallet list", "main", "No wallets yet", short)
	s.shot("wallets empty")

	// Create a Bitcoin wallet on regtest.
	s.step("new wallet form", short, chromedp.Click(chromedp.CSS(`a[href="#/new/bitcoin"]`)), chromedp.WaitVisible(chromedp.CSS(`input[name=label]`)))
	s.step("create wallet", short,
		chromedp.SendKeys(chromedp.CSS(`input[name=label]`), "E2E savings"),
		setSelect(`select[name=network]`, "regtest"),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.shot("creating wallet")
	s.waitText("receive address", "#receive-address", "bcrt1p", slow)
	addr := strings.TrimSpace(s.text("#receive-address"))
	if _, err := bitcoin.ParseAddress(addr, bitcoin.Regtest); err != nil {
		t.Fatalf("receive address %q: %v", addr, err)
	}
	s.waitJS("QR code", `document.querySelector('.qr img') && document.querySelector('.qr img').naturalWidth > 0`, short)
	s.waitText("zero balance", ".bal-total dd", "0.0 BTC", short)
	s.shot("wallet new")

	// Fund it: unconfirmed first, then confirmed.
	fundTx := env.Fund(addr, 50_000_000, 20_000_000)
	s.waitText("unconfirmed funds", ".bal-unconfirmed dd", "0.7 BTC", short)
	s.shot("wallet funded unconfirmed")
	env.Mine(1)
	s.waitText("confirmed funds", ".bal-confirmed dd", "0.7 BTC", short)
	s.shot("wallet funded confirmed")

	if hasAddresses {
		// A fresh receive address, listed unused, then used once paid.
		s.step("new address", short, chromedp.Click(chromedp.ID("new-address")))
		s.waitJS("fresh address", `document.querySelector('#receive-address').textContent.trim() !== `+jsString(addr)+` && document.querySelector('#receive-address').dataset.path === '0/0'`, short)
		fresh := strings.TrimSpace(s.text("#receive-address"))
		if _, err := bitcoin.ParseAddress(fresh, bitcoin.Regtest); err != nil || !strings.HasPrefix(fresh, "bcrt1p") {
			t.Fatalf("fresh address %q: %v", fresh, err)
		}
		s.waitJS("fresh address listed unused", `document.querySelector('#addresses tr[data-path="0/0"][data-used="false"][data-address=`+jsString(fresh)+`]')`, short)
		env.Fund(fresh, 1_000_000)
		env.Mine(1)
		s.waitText("fresh address funds", ".bal-confirmed dd", "0.71 BTC", slow)
		s.waitJS("fresh address used", `document.querySelector('#addresses tr[data-path="0/0"][data-used="true"]')`, slow)
		s.shot("fresh address used")
	}
	if hasDescriptor {
		s.waitJS("descriptors", `/^tr\(\[[0-9a-f]{8}\][tx]pub[1-9A-HJ-NP-Za-km-z]+\/0\/\*\)#[0-9a-z]{8}$/.test(document.querySelector('#desc-receive') ? document.querySelector('#desc-receive').textContent : '')`, short)
		s.waitJS("change descriptor", `/\/1\/\*\)#/.test(document.querySelector('#desc-change').textContent)`, short)
	}
	if hasEstimates {
		s.waitJS("fee estimates", `document.querySelector('#fee-estimates button[data-target="1"]')`, short)
	}

	// Send 0.12345678 BTC to an address outside the wallet at 3 sat/vB.
	destAddr, err := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), bitcoin.Regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	dest := destAddr.EncodeAddress()
	// A mainnet address is refused by the API with a per-field problem.
	s.step("wrong network", short,
		chromedp.SendKeys(chromedp.CSS(`form.send input[name=address]`), "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
		chromedp.SendKeys(chromedp.CSS(`form.send input[name=amount]`), "0.12345678"),
		chromedp.SendKeys(chromedp.CSS(`form.send input[name=fee_rate]`), "3"),
		chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
	s.waitText("address problem", "form.send .alert", "outputs[0].address", short)
	s.shot("send refused address")
	s.step("review send", short,
		chromedp.SetValue(chromedp.CSS(`form.send input[name=address]`), dest),
		chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
	s.waitText("fee preview", "#send-preview", "Total leaving the wallet", slow)
	preview := s.text("#send-preview")
	if !strings.Contains(preview, "0.12345678 BTC") || !strings.Contains(preview, "3 sat/vB") {
		t.Errorf("preview: %s", preview)
	}
	s.shot("send review")
	s.step("confirm send", short, chromedp.Click(chromedp.ID("confirm-send")))
	s.waitText("sent", "#send-result", "Sent.", slow)
	s.shot("send broadcast")
	txid := strings.TrimSpace(s.text("#send-result code.txid"))
	if hasBump {
		// Bump the unconfirmed send: a rate not above the original is
		// refused with the API's detail; 10 sat/vB replaces it, and the
		// replacement is what gets mined.
		bumpBtn := `#history tr[data-txid="` + txid + `"] button.bump`
		s.waitJS("bump offered", `document.querySelector('`+bumpBtn+`')`, short)
		s.step("open bump", short, chromedp.Click(chromedp.CSS(bumpBtn)))
		s.waitJS("bump form", `document.querySelector('#bump-form input[name=bump_fee_rate]')`, short)
		s.step("bump too low", short, chromedp.SetValue(chromedp.CSS(`#bump-form input[name=bump_fee_rate]`), "3"), chromedp.Click(chromedp.ID("bump-submit")))
		s.waitText("bump refused", "#bump-form .alert", "fee_rate", slow)
		s.step("bump", short, chromedp.SetValue(chromedp.CSS(`#bump-form input[name=bump_fee_rate]`), "10"), chromedp.Click(chromedp.ID("bump-submit")))
		s.waitText("bumped", "#bump-result", "Fee bumped.", slow)
		s.shot("fee bumped")
		orig := txid
		txid = strings.TrimSpace(s.text("#bump-result code.txid"))
		if txid == "" || txid == orig {
			t.Fatalf("replacement txid %q (original %s)", txid, orig)
		}
		s.waitJS("original replaced", `document.querySelector('#history tr[data-txid="`+orig+`"][data-status="replaced"]')`, short)
	}
	hash, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatalf("txid on the page %q: %v", txid, err)
	}
	env.Mine(1)
	s.waitJS("confirmed in history", `document.querySelector('#history tr[data-txid="`+txid+`"][data-status="confirmed"]')`, 30*time.Second)
	s.waitJS("funding in history", `document.querySelector('#history tr[data-txid="`+fundTx+`"]')`, short)
	if got := s.text(`#history tr[data-txid="` + fundTx + `"]`); !strings.Contains(got, "Received") || !strings.Contains(got, "0.7 BTC") {
		t.Errorf("funding row: %q", got)
	}
	s.shot("history confirmed")

	// The node has it, confirmed, paying exactly what was typed.
	got, err := env.Node.Client.GetRawTransactionVerbose(hash)
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	if got.Confirmations < 1 {
		t.Errorf("node: %d confirmations", got.Confirmations)
	}
	paid := false
	for _, o := range got.Vout {
		if o.ScriptPubKey.Address == dest && o.Value == 0.12345678 {
			paid = true
		}
	}
	if !paid {
		t.Errorf("node: tx %s does not pay 0.12345678 BTC to %s: %+v", txid, dest, got.Vout)
	}
	if fundTx == txid {
		t.Fatal("the page shows the funding transaction")
	}

	if hasEstimates {
		// 1,000 sat/vB on a 10,000 sat payment: the review flags the fee, the
		// send waits for the acceptance and goes with accept_high_fee.
		s.step("high-fee review", short,
			chromedp.SetValue(chromedp.CSS(`form.send input[name=address]`), dest),
			chromedp.SetValue(chromedp.CSS(`form.send input[name=amount]`), "0.0001"),
			chromedp.SetValue(chromedp.CSS(`form.send input[name=fee_rate]`), "1000"),
			chromedp.Click(chromedp.CSS(`form.send button[type=submit]`)))
		s.waitJS("fee warning", `document.querySelector('#fee-warning') && document.querySelector('#confirm-send').disabled`, slow)
		s.shot("high fee warning")
		s.step("accept high fee", short, chromedp.Click(chromedp.CSS(`#fee-warning input[name=accept_high_fee]`)), chromedp.Click(chromedp.ID("confirm-send")))
		s.waitText("high-fee sent", "#send-result", "Sent.", slow)
		highTx := strings.TrimSpace(s.text("#send-result code.txid"))
		s.waitJS("high-fee send in history", `document.querySelector('#history tr[data-txid="`+highTx+`"]')`, short)
	}

	// Validator: create, download deposit data, sign an exit.
	net, err := ethereum.NetworkByName("hoodi")
	if err != nil {
		t.Fatal(err)
	}
	s.step("new validator", short, chromedp.Navigate(srv.URL+"/#/new/validator"), chromedp.WaitVisible(chromedp.CSS(`input[name=withdrawal_address]`)))
	s.step("create validator", short,
		chromedp.SendKeys(chromedp.CSS(`input[name=label]`), "E2E validator"),
		setSelect(`select[name=network]`, "hoodi"),
		chromedp.SendKeys(chromedp.CSS(`input[name=withdrawal_address]`), "0x"+strings.Repeat("5a", 20)),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	s.waitText("validator view", "#validator-pubkey", "", slow)
	s.waitJS("validator key", `document.querySelector('#validator-pubkey') && document.querySelector('#validator-pubkey').textContent.length >= 96`, slow)
	pubHex := strings.TrimPrefix(strings.TrimSpace(s.text("#validator-pubkey")), "0x")
	s.shot("validator")
	if hasSlashing {
		// Nothing signed yet: no record. An admin imports an EIP-3076 file
		// for this validator; the page then shows the highest slot and
		// epochs the replicas keep, and the export downloads the file.
		s.waitJS("slashing record", `document.querySelector('#slashing-slot') || document.querySelector('#slashing .alert')`, slow)
		if got := s.text("#slashing"); !strings.Contains(got, "no block signed") || !strings.Contains(got, "no attestation signed") {
			t.Errorf("slashing protection of a new validator: %s", got)
		}
		gvr := "0x" + hex.EncodeToString(net.GenesisValidatorsRoot[:])
		file := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + gvr + `"},"data":[{"pubkey":"0x` + pubHex +
			`","signed_blocks":[{"slot":"100"},{"slot":"205"}],"signed_attestations":[{"source_epoch":"5","target_epoch":"6"},{"source_epoch":"6","target_epoch":"7"}]}]}`
		req, err := http.NewRequest("POST", srv.URL+"/v1/eth/slashing-protection/import?network=hoodi", strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("slashing-protection import: %d %s", resp.StatusCode, body)
		}
		valHash := eval[string](s, `location.hash`)
		s.step("validator again", short, chromedp.Navigate(srv.URL+"/#/wallets"), chromedp.Navigate(srv.URL+"/"+valHash))
		s.waitJS("imported record", `document.querySelector('#slashing-slot') && document.querySelector('#slashing-slot').dataset.value === '205'`, slow)
		if src, tgt := s.text("#slashing-source"), s.text("#slashing-target"); src != "6" || tgt != "7" {
			t.Errorf("slashing record source %q target %q, want 6 7", src, tgt)
		}
		s.shot("validator slashing protection")
		s.step("export slashing protection", short, chromedp.Click(chromedp.ID("export-slashing")))
		s.waitText("slashing exported", "#slashing-export-result", "Downloaded", slow)
		_, exported := s.waitDownload(`^slashing-protection-hoodi-\d+\.json$`, short)
		var ic struct {
			Metadata struct {
				Version string `json:"interchange_format_version"`
				GVR     string `json:"genesis_validators_root"`
			} `json:"metadata"`
			Data []struct {
				Pubkey string `json:"pubkey"`
			} `json:"data"`
		}
		if err := json.Unmarshal(exported, &ic); err != nil || ic.Metadata.Version != "5" || !strings.EqualFold(ic.Metadata.GVR, gvr) ||
			!slices.ContainsFunc(ic.Data, func(d struct {
				Pubkey string `json:"pubkey"`
			}) bool {
				return strings.EqualFold(d.Pubkey, "0x"+pubHex)
			}) {
			t.Errorf("interchange file %s: %v", exported, err)
		}
	}
	s.step("download deposit", short, chromedp.Click(chromedp.ID("download-deposit")))
	s.waitText("deposit downloaded", "#deposit-result", "Downloaded", slow)
	name, data := s.waitDownload(`^deposit_data-hoodi-.*\.json$`, short)
	entries, err := ethereum.ParseDepositFile(data)
	if err != nil || len(entries) != 1 {
		t.Fatalf("%s: %v (%d entries)", name, err, len(entries))
	}
	if err := entries[0].Verify(net); err != nil {
		t.Errorf("deposit does not verify: %v", err)
	}
	if hex.EncodeToString(entries[0].Pubkey[:]) != pubHex || entries[0].Amount != 32*ethereum.GweiPerETH {
		t.Errorf("deposit pubkey %x amount %d, page shows %s", entries[0].Pubkey[:], entries[0].Amount, pubHex)
	}
	s.shot("deposit downloaded")
	s.step("sign exit", short,
		chromedp.SendKeys(chromedp.CSS(`input[name=validator_index]`), "1234"),
		chromedp.SendKeys(chromedp.CSS(`input[name=epoch]`), "5678"),
		chromedp.Click(chromedp.ID("create-exit")))
	s.waitText("exit shown", "#exit-result", `"validator_index": "1234"`, slow)
	s.step("download exit", short, chromedp.Click(chromedp.ID("download-exit")))
	_, exitJSON := s.waitDownload(`^exit-hoodi-1234-5678\.json$`, short)
	var exit ethereum.SignedVoluntaryExit
	if err := json.Unmarshal(exitJSON, &exit); err != nil {
		t.Fatalf("exit JSON: %v", err)
	}
	if err := exit.Verify(net, entries[0].Pubkey); err != nil || exit.Message.ValidatorIndex != 1234 || exit.Message.Epoch != 5678 {
		t.Errorf("exit: %+v does not verify: %v", exit.Message, err)
	}
	s.shot("exit signed")

	wallets := 2
	if hasRecovery {
		// A wallet with a recovery key (a tpub made here) shows its policy.
		seed := make([]byte, 32)
		seed[0] = 7
		master, err := hdkeychain.NewMaster(seed, bitcoin.Regtest.Params)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := master.Neuter()
		if err != nil {
			t.Fatal(err)
		}
		s.step("new wallet with recovery", short, chromedp.Navigate(srv.URL+"/#/new/bitcoin"), chromedp.WaitVisible(chromedp.CSS(`input[name=label]`)))
		s.step("create with recovery", short,
			chromedp.SendKeys(chromedp.CSS(`input[name=label]`), "E2E cold"),
			setSelect(`select[name=network]`, "regtest"),
			chromedp.Click(chromedp.CSS(`input[name=recovery]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name=recovery_xpub]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=recovery_xpub]`), pub.String()),
			chromedp.SendKeys(chromedp.CSS(`input[name=recovery_older]`), "144"),
			chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
		s.waitText("recovery shown", "#recovery-older", "144 blocks", slow)
		s.waitText("recovery descriptor", "#recovery-descriptor", "older(144)", short)
		s.shot("wallet with recovery")
		wallets++
	}

	s.step("list", short, chromedp.Navigate(srv.URL+"/#/wallets"))
	s.waitJS("all wallets", fmt.Sprintf(`document.querySelectorAll('a.wallet-link').length === %d`, wallets), short)
	s.shot("wallets list")
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
