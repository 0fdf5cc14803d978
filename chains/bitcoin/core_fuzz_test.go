package bitcoin

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
)

// FuzzDescriptorChecksum: a checksum is produced exactly for descriptors of BIP-380 characters, it
// verifies with the independent descsum_check, and changing one checksum character breaks it.
func FuzzDescriptorChecksum(f *testing.F) {
	for _, s := range []string{"raw(deadbeef)", "addr(bcrt1pfeesnyr2tx)", "", "Ü", "tr(a,{pk(b),pk(c)})", "#", "\x00"} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, s string, pos uint8) {
		cs, err := DescriptorChecksum(s)
		valid := true
		for i := 0; i < len(s); i++ {
			if !strings.ContainsRune(descInputCharset, rune(s[i])) || s[i] >= 0x80 {
				valid = false
			}
		}
		if (err == nil) != valid {
			t.Fatalf("DescriptorChecksum(%q) error %v, charset-valid %t", s, err, valid)
		}
		if err != nil {
			return
		}
		if len(cs) != 8 || !descsumCheck(s+"#"+cs) {
			t.Fatalf("checksum %q of %q does not verify", cs, s)
		}
		b := []byte(cs)
		i := int(pos) % 8
		b[i] = descChecksumCharset[(strings.IndexByte(descChecksumCharset, b[i])+1)%32]
		if descsumCheck(s + "#" + string(b)) {
			t.Fatalf("altered checksum %q of %q verifies", b, s)
		}
	})
}

// FuzzParseBTCAmount: whatever is accepted is in range and equals the decimal value of the text
// exactly (checked with math/big), and Core's own formatting of it parses back to the same amount.
func FuzzParseBTCAmount(f *testing.F) {
	for _, s := range []string{"0.29000000", "20999999.99999999", "1e-8", "-1", "0.000000001", "21000000.00000001", "00.1", "7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseBTCAmount([]byte(s))
		if err != nil {
			return
		}
		if v < 0 || v > btcutil.MaxSatoshi {
			t.Fatalf("%q → %d out of range", s, v)
		}
		r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
		if !ok || r.Cmp(big.NewRat(v, 1e8)) != 0 {
			t.Fatalf("%q → %d sat, decimal value %v", s, v, r)
		}
		back, err := parseBTCAmount(fmt.Appendf(nil, "%d.%08d", v/1e8, v%1e8))
		if err != nil || back != v {
			t.Fatalf("%d: round trip %d %v", v, back, err)
		}
	})
}

// coreFuzzServer answers each JSON-RPC method, on any path, with the body registered for it.
type coreFuzzServer struct {
	mu     sync.Mutex
	bodies map[string]string
}

func (s *coreFuzzServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Method string `json:"method"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	b := s.bodies[req.Method]
	s.mu.Unlock()
	_, _ = w.Write([]byte(b))
}

// FuzzCoreAnswers feeds arbitrary Bitcoin Core answers (getnetworkinfo, loadwallet, createwallet,
// getwalletinfo, importdescriptors, listunspent, estimatesmartfee, gettransaction) to an RPC that
// detects its node: no panic, and whatever is accepted is in range.
func FuzzCoreAnswers(f *testing.F) {
	s := newKeySigner(f)
	w, err := NewWallet("k", s.xonly(), Regtest)
	if err != nil {
		f.Fatal(err)
	}
	ok := func(res string) string { return `{"result":` + res + `,"error":null,"id":1}` }
	fail := func(code int) string {
		return fmt.Sprintf(`{"result":null,"error":{"code":%d,"message":"m"},"id":1}`, code)
	}
	unspent := ok(`[{"txid":"` + strings.Repeat("11", 32) + `","vout":1,"address":"` + w.Address().EncodeAddress() +
		`","scriptPubKey":"` + fmt.Sprintf("%x", w.PkScript()) + `","amount":0.29000000,"confirmations":3,"spendable":false,"solvable":false,"parent_descs":[],"safe":true}]`)
	info := ok(`{"walletname":"vhsm-watch","private_keys_enabled":false,"descriptors":true}`)
	core := ok(`{"version":270000,"subversion":"/Satoshi:27.0.0/","protocolversion":70016}`)
	f.Add(core, ok(`{"name":"vhsm-watch"}`), fail(-4), info, ok(`[{"success":true}]`), unspent,
		ok(`{"feerate":0.00012345,"blocks":2}`), ok(`{"confirmations":2,"blockhash":"`+strings.Repeat("22", 32)+`","blockheight":9}`))
	f.Add(core, fail(-35), fail(-4), info, ok(`[{"success":false,"error":{"code":-5,"message":"Missing checksum"}}]`),
		strings.Replace(unspent, "0.29000000", "1e300", 1), ok(`{"errors":["Insufficient data or no feerate found"],"blocks":0}`),
		ok(`{"confirmations":-1}`))
	f.Add(core, fail(-18), ok(`{"name":"vhsm-watch"}`), ok(`{"private_keys_enabled":true,"descriptors":true}`), ok(`[]`),
		strings.Replace(unspent, `"confirmations":3`, `"confirmations":-3`, 1), ok(`{"feerate":-1}`), ok(`{"confirmations":1,"blockhash":"zz"}`))
	f.Add(fail(-1), fail(-18), fail(-4), ok(`{}`), ok(`[{"success":true},{"success":true}]`), ok(`[{"txid":"11"}]`), ok(`{"feerate":"0.1"}`), fail(-5))
	f.Add(ok(`{"subversion":"/btcd:0.25.0/"}`), "", "", "", "", "", "", "")
	f.Add(fail(-28), "", "", "", "", "", "", "")
	srv := &coreFuzzServer{}
	url := startFakeHandler(f, srv)
	f.Fuzz(func(t *testing.T, netinfo, load, create, walletInfo, imp, list, fee, gettx string) {
		srv.mu.Lock()
		srv.bodies = map[string]string{"getnetworkinfo": netinfo, "loadwallet": load, "createwallet": create, "getwalletinfo": walletInfo,
			"importdescriptors": imp, "listunspent": list, "estimatesmartfee": fee, "gettransaction": gettx,
			"getrawtransaction": fail(-5)}
		srv.mu.Unlock()
		r, err := NewRPC(RPCConfig{URL: url, User: "u", Pass: "p", Timeout: 2 * time.Second, Retry: Retry{Attempts: 1}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if us, err := r.UTXOs(ctx, w.Address()); err == nil {
			checkUTXOs(t, w, us)
		}
		if fr, err := r.FeeRate(ctx, 3); err == nil && (fr < MinRelayFeeRate || fr > 100_000_000) {
			t.Fatalf("fee rate %d out of range", fr)
		}
		tx := fuzzTx()
		if st, err := r.TxStatus(ctx, tx.TxHash()); err == nil && st.Confirmed && (st.Confirmations < 1 || st.BlockHeight < 0) {
			t.Fatalf("confirmed status out of range: %+v", st)
		}
	})
}

// FuzzCoreParsers feeds one arbitrary JSON result to each Core answer parser directly (no HTTP):
// listunspent, estimatesmartfee, gettransaction and importdescriptors. No panic, and what is accepted
// is in range.
func FuzzCoreParsers(f *testing.F) {
	s := newKeySigner(f)
	w, err := NewWallet("k", s.xonly(), Regtest)
	if err != nil {
		f.Fatal(err)
	}
	script := w.PkScript()
	f.Add(`[{"txid":"` + strings.Repeat("11", 32) + `","vout":1,"scriptPubKey":"` + fmt.Sprintf("%x", script) + `","amount":0.29000000,"confirmations":3}]`)
	f.Add(`{"feerate":0.00012345,"blocks":2}`)
	f.Add(`{"errors":["Insufficient data or no feerate found"],"blocks":0}`)
	f.Add(`{"confirmations":2,"blockhash":"` + strings.Repeat("22", 32) + `","blockheight":9}`)
	f.Add(`[{"success":false,"error":{"code":-5,"message":"Missing checksum"}}]`)
	f.Add(`[{"success":true,"warnings":["w"]}]`)
	f.Fuzz(func(t *testing.T, body string) {
		var items []coreUnspent
		if json.Unmarshal([]byte(body), &items) == nil {
			if us, err := parseCoreUnspent(items, script); err == nil {
				checkUTXOs(t, w, us)
				seen := map[string]bool{}
				for _, u := range us {
					if seen[u.OutPoint.String()] {
						t.Fatalf("duplicate %s accepted", u.OutPoint)
					}
					seen[u.OutPoint.String()] = true
				}
			}
		}
		var est coreSmartFee
		if json.Unmarshal([]byte(body), &est) == nil {
			if rate, _, err := smartFeeRate(est); err == nil && (rate < 0 || rate > btcutil.MaxSatoshi) {
				t.Fatalf("fee rate %d accepted", rate)
			}
		}
		var tx coreWalletTx
		if json.Unmarshal([]byte(body), &tx) == nil {
			if st, err := coreTxStatus(tx); err == nil && st.Confirmed && (st.Confirmations < 1 || st.BlockHeight < 0) {
				t.Fatalf("status out of range: %+v", st)
			}
		}
		var res []coreImportResult
		if json.Unmarshal([]byte(body), &res) == nil && checkImport(res) == nil && (len(res) != 1 || !*res[0].Success) {
			t.Fatalf("import answer %q accepted", body)
		}
	})
}
