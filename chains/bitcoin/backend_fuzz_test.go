package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// fuzzServer answers every request with the body registered for its path (Esplora) or JSON-RPC
// method (btcd), HTTP 200. One server serves all fuzz iterations.
type fuzzServer struct {
	mu     sync.Mutex
	bodies map[string]string
}

func (s *fuzzServer) set(b map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = b
}

func (s *fuzzServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Path
	if r.Method == http.MethodPost && key == "/" {
		var req struct {
			Method string `json:"method"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		key = req.Method
	}
	s.mu.Lock()
	b := s.bodies[key]
	s.mu.Unlock()
	_, _ = w.Write([]byte(b))
}

func fuzzTx() *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{1}}, Sequence: SequenceRBF})
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51, 0x20}))
	return tx
}

// checkUTXOs is what every backend must guarantee about decoded UTXOs, whatever the server said.
func checkUTXOs(t *testing.T, w *Wallet, utxos []UTXO) {
	t.Helper()
	for i, u := range utxos {
		if u.Value < 0 || u.Value > btcutil.MaxSatoshi || u.Confirmations < 0 || !bytes.Equal(u.PkScript, w.PkScript()) {
			t.Fatalf("utxo %d accepted out of range: %+v", i, u)
		}
	}
}

// FuzzEsploraAnswers feeds arbitrary Esplora answers (UTXO list, tip height, fee estimates, tx status,
// broadcast answer) to the client: no panic, and whatever is accepted is in range.
func FuzzEsploraAnswers(f *testing.F) {
	f.Add(`[{"txid":"`+strings.Repeat("11", 32)+`","vout":1,"value":70000,"status":{"confirmed":true,"block_height":195,"block_hash":"`+strings.Repeat("22", 32)+`"}}]`,
		"200", `{"1":20.5,"6":5,"144":1}`, `{"confirmed":true,"block_height":199,"block_hash":"`+strings.Repeat("ab", 32)+`"}`, fuzzTx().TxHash().String())
	f.Add(`[{"txid":"`+strings.Repeat("11", 32)+`","vout":0,"value":1,"status":{"confirmed":true,"block_height":-5}}]`,
		"10", `{"2":1e300}`, `{"confirmed":true,"block_height":-1,"block_hash":"zz"}`, "not a txid")
	f.Add(`[{"txid":"x","value":-1}]`, "-3", `{"0":1}`, `{"confirmed":false}`, "")
	f.Add("", "", "", "", "")
	srv := &fuzzServer{}
	url := startFakeHandler(f, srv)
	e, err := NewEsplora(url, nil, 2*time.Second, Retry{Attempts: 1})
	if err != nil {
		f.Fatal(err)
	}
	s := newKeySigner(f)
	w, err := NewWallet("k", s.xonly(), Regtest)
	if err != nil {
		f.Fatal(err)
	}
	tx := fuzzTx()
	f.Fuzz(func(t *testing.T, utxos, tip, fees, status, broadcast string) {
		srv.set(map[string]string{
			"/address/" + w.Address().EncodeAddress() + "/utxo": utxos,
			"/blocks/tip/height": tip, "/fee-estimates": fees,
			"/tx/" + tx.TxHash().String() + "/status": status, "/tx": broadcast,
		})
		ctx := context.Background()
		if us, err := e.UTXOs(ctx, w.Address()); err == nil {
			checkUTXOs(t, w, us)
			height, err := strconv.ParseInt(strings.TrimSpace(tip), 10, 64)
			for i, u := range us {
				if err != nil || u.Confirmations > height+1 {
					t.Fatalf("utxo %d: %d confirmations at tip %q", i, u.Confirmations, tip)
				}
			}
		}
		if r, err := e.FeeRate(ctx, 3); err == nil && r < MinRelayFeeRate {
			t.Fatalf("fee rate %d below the relay minimum", r)
		}
		if st, err := e.TxStatus(ctx, tx.TxHash()); err == nil && st.Confirmed && (st.Confirmations < 1 || st.BlockHeight < 0) {
			t.Fatalf("confirmed status out of range: %+v", st)
		}
		if h, err := e.Broadcast(ctx, tx); err == nil && h != tx.TxHash() {
			t.Fatalf("broadcast accepted txid %s", h)
		}
	})
}

// FuzzRPCAnswers feeds arbitrary JSON-RPC answers (searchrawtransactions, estimatefee,
// getrawtransaction, getblockheader, sendrawtransaction) to the btcd client: no panic, and whatever is
// accepted is in range.
func FuzzRPCAnswers(f *testing.F) {
	s := newKeySigner(f)
	w, err := NewWallet("k", s.xonly(), Regtest)
	if err != nil {
		f.Fatal(err)
	}
	script := w.PkScript()
	tx := fuzzTx()
	search := `{"result":[{"txid":"` + strings.Repeat("11", 32) + `","confirmations":3,"vin":[{"coinbase":"00"}],"vout":[{"value":50,"n":0,"scriptPubKey":{"hex":"` +
		hex.EncodeToString(script) + `"}}]}],"error":null,"id":1}`
	f.Add(search, `{"result":0.0002,"error":null,"id":1}`,
		`{"result":{"txid":"`+tx.TxHash().String()+`","blockhash":"`+strings.Repeat("33", 32)+`","confirmations":2},"error":null,"id":1}`,
		`{"result":{"height":7},"error":null,"id":1}`, `{"result":"`+tx.TxHash().String()+`","error":null,"id":1}`)
	f.Add(strings.Replace(search, `"value":50`, `"value":1e9`, 1), `{"result":-1,"error":null,"id":1}`,
		`{"result":null,"error":{"code":-5,"message":"No information"},"id":1}`, `{}`,
		`{"result":null,"error":{"code":-26,"message":"min relay fee not met"},"id":1}`)
	f.Add(strings.Replace(search, `"confirmations":3`, `"confirmations":18446744073709551615`, 1), "", "", "", "")
	f.Add(`{"result":[{"txid":"zz"}]}`, `{"result":"x"}`, `{"result":{"blockhash":"zz","confirmations":1}}`, `[]`, `{"result":"00"}`)
	f.Add("", "", "", "", "")
	srv := &fuzzServer{}
	url := startFakeHandler(f, srv)
	r, err := NewRPC(RPCConfig{URL: url, User: "u", Pass: "p", Timeout: 2 * time.Second, Retry: Retry{Attempts: 1}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, searchBody, fee, rawtx, header, send string) {
		srv.set(map[string]string{
			"searchrawtransactions": searchBody, "estimatefee": fee,
			"getrawtransaction": rawtx, "getblockheader": header, "sendrawtransaction": send,
			// btcd v0.24.2's answer, which makes the RPC take the btcd path.
			"getnetworkinfo": `{"result":null,"error":{"code":-1,"message":"Command unimplemented"},"id":1}`,
		})
		ctx := context.Background()
		if us, err := r.UTXOs(ctx, w.Address()); err == nil {
			checkUTXOs(t, w, us)
		}
		if fr, err := r.FeeRate(ctx, 3); err == nil && fr < MinRelayFeeRate {
			t.Fatalf("fee rate %d below the relay minimum", fr)
		}
		if st, err := r.TxStatus(ctx, tx.TxHash()); err == nil && st.Confirmed && (st.Confirmations < 1 || st.BlockHeight < 0) {
			t.Fatalf("confirmed status out of range: %+v", st)
		}
		if h, err := r.Broadcast(ctx, tx); err == nil && h != tx.TxHash() {
			t.Fatalf("broadcast accepted txid %s", h)
		}
	})
}
