package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// fakeEsplora implements the documented Esplora shapes strictly (API_NOTES.md §2): exact methods and
// paths, raw hex bodies for POST /tx, JSON answers with the documented fields. Anything else is 404/405/400.
type fakeEsplora struct {
	mu        sync.Mutex
	addr      string
	utxos     []map[string]any
	tip       int64
	fees      map[string]float64
	mempool   map[chainhash.Hash]*wire.MsgTx
	confirmed map[chainhash.Hash]int64 // txid → block height
	reject    string                   // if set, POST /tx answers 400 with this text
	failNext  int                      // answer 503 to this many requests first
	delay     time.Duration
	requests  int
}

func (f *fakeEsplora) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if d := f.delay; d > 0 {
		f.mu.Unlock()
		time.Sleep(d)
		f.mu.Lock()
	}
	if f.failNext > 0 {
		f.failNext--
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	p := r.URL.Path
	get := func() bool {
		if r.Method != http.MethodGet {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return false
		}
		return true
	}
	writeJSON := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case p == "/address/"+f.addr+"/utxo":
		if get() {
			writeJSON(f.utxos)
		}
	case strings.HasPrefix(p, "/address/"):
		http.Error(w, "Invalid Bitcoin address", http.StatusBadRequest)
	case p == "/blocks/tip/height":
		if get() {
			fmt.Fprintf(w, "%d", f.tip)
		}
	case p == "/fee-estimates":
		if get() {
			writeJSON(f.fees)
		}
	case p == "/tx":
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		raw, err := hex.DecodeString(string(body))
		var tx wire.MsgTx
		if err != nil || tx.Deserialize(bytes.NewReader(raw)) != nil {
			http.Error(w, "sendrawtransaction RPC error: {\"code\":-22,\"message\":\"TX decode failed\"}", http.StatusBadRequest)
			return
		}
		if f.reject != "" {
			http.Error(w, f.reject, http.StatusBadRequest)
			return
		}
		f.mempool[tx.TxHash()] = &tx
		fmt.Fprint(w, tx.TxHash().String())
	case strings.HasPrefix(p, "/tx/") && strings.HasSuffix(p, "/status"):
		if !get() {
			return
		}
		h, err := chainhash.NewHashFromStr(strings.TrimSuffix(strings.TrimPrefix(p, "/tx/"), "/status"))
		if err != nil {
			http.Error(w, "Invalid hex string", http.StatusBadRequest)
			return
		}
		if height, ok := f.confirmed[*h]; ok {
			writeJSON(map[string]any{"confirmed": true, "block_height": height, "block_hash": strings.Repeat("ab", 32), "block_time": 1700000000})
			return
		}
		if _, ok := f.mempool[*h]; ok {
			writeJSON(map[string]any{"confirmed": false})
			return
		}
		http.Error(w, "Transaction not found", http.StatusNotFound)
	default:
		http.NotFound(w, r)
	}
}

// set changes the fake's state under its lock.
func (f *fakeEsplora) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeEsplora) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func startFake(t *testing.T, f *fakeEsplora) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: f}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// startFakeHandler serves h on 127.0.0.1 and returns its URL.
func startFakeHandler(t testing.TB, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func fastRetry(n int) Retry {
	return Retry{Attempts: n, Initial: time.Millisecond, Max: 5 * time.Millisecond}
}

func TestEsplora(t *testing.T) {
	tw := newTestWallet(t)
	ctx := context.Background()
	h1 := strings.Repeat("11", 32)
	f := &fakeEsplora{
		addr: tw.w.Address().EncodeAddress(), tip: 200,
		utxos: []map[string]any{
			{"txid": h1, "vout": 1, "value": 70_000, "status": map[string]any{"confirmed": true, "block_height": 195, "block_hash": strings.Repeat("22", 32), "block_time": 1}},
			{"txid": strings.Repeat("33", 32), "vout": 0, "value": 5_000, "status": map[string]any{"confirmed": false}},
		},
		fees:    map[string]float64{"1": 20.5, "3": 10.2, "6": 5.0, "144": 1.0, "1008": 0.5},
		mempool: map[chainhash.Hash]*wire.MsgTx{}, confirmed: map[chainhash.Hash]int64{},
	}
	srv := startFake(t, f)
	e, err := NewEsplora(srv.URL+"/", nil, 2*time.Second, fastRetry(3))
	if err != nil {
		t.Fatal(err)
	}

	utxos, err := e.UTXOs(ctx, tw.w.Address())
	if err != nil {
		t.Fatal(err)
	}
	if len(utxos) != 2 || utxos[0].Value != 70_000 || utxos[0].Confirmations != 6 || utxos[1].Confirmations != 0 ||
		utxos[0].OutPoint.Index != 1 || utxos[0].OutPoint.Hash.String() != h1 || !bytes.Equal(utxos[0].PkScript, tw.w.PkScript()) {
		t.Fatalf("utxos: %+v", utxos)
	}

	for target, want := range map[int]FeeRate{1: 20500, 2: 20500, 3: 10200, 10: 5000, 500: 1000, 2000: 1000} {
		got, err := e.FeeRate(ctx, target)
		if err != nil || got != want {
			t.Errorf("fee rate for %d blocks: %d %v, want %d", target, got, err, want)
		}
	}

	sp, err := tw.w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: otherAddrs(t)["p2tr"], Value: 20_000}}, FeeRate: 10200, MinConf: 1})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := tw.w.Sign(ctx, tw.signer, sp.Packet)
	if err != nil {
		t.Fatal(err)
	}
	txid, err := e.Broadcast(ctx, tx)
	if err != nil || txid != tx.TxHash() {
		t.Fatalf("broadcast: %v", err)
	}
	if st, err := e.TxStatus(ctx, txid); err != nil || st.Confirmed {
		t.Fatalf("mempool status: %+v %v", st, err)
	}
	f.mu.Lock()
	f.confirmed[txid] = 201
	f.tip = 202
	f.mu.Unlock()
	if st, err := e.TxStatus(ctx, txid); err != nil || !st.Confirmed || st.BlockHeight != 201 || st.Confirmations != 2 {
		t.Fatalf("confirmed status: %+v %v", st, err)
	}
	if _, err := e.TxStatus(ctx, chainhash.Hash{9}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tx: %v", err)
	}

	// Rejection: the server's reason reaches the caller verbatim, and is not retried.
	f.mu.Lock()
	f.reject = `sendrawtransaction RPC error: {"code":-26,"message":"min relay fee not met"}`
	f.requests = 0
	f.mu.Unlock()
	_, err = e.Broadcast(ctx, tx)
	var re *RejectError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "min relay fee not met") || re.Code != 400 {
		t.Fatalf("reject: %v", err)
	}
	if f.count() != 1 {
		t.Fatalf("a rejection was retried (%d requests)", f.count())
	}
}

func TestEsploraRetriesAndTimeouts(t *testing.T) {
	tw := newTestWallet(t)
	ctx := context.Background()
	f := &fakeEsplora{addr: tw.w.Address().EncodeAddress(), tip: 5, fees: map[string]float64{"2": 3},
		mempool: map[chainhash.Hash]*wire.MsgTx{}, confirmed: map[chainhash.Hash]int64{}}
	srv := startFake(t, f)

	// Two 503s then success: three attempts are enough.
	e, _ := NewEsplora(srv.URL, nil, time.Second, fastRetry(3))
	f.set(func() { f.failNext = 2 })
	if r, err := e.FeeRate(ctx, 2); err != nil || r != 3000 {
		t.Fatalf("after transient errors: %d %v", r, err)
	}
	// Three 503s exhaust three attempts.
	f.set(func() { f.failNext, f.requests = 3, 0 })
	if _, err := e.FeeRate(ctx, 2); !errors.Is(err, ErrBackend) || f.count() != 3 {
		t.Fatalf("exhausted retries: %v after %d requests", err, f.count())
	}
	f.set(func() { f.failNext = 0 })

	// A slow server hits the per-request timeout, which is retried, then fails.
	slow, _ := NewEsplora(srv.URL, nil, 50*time.Millisecond, fastRetry(2))
	f.mu.Lock()
	f.delay, f.requests = 200*time.Millisecond, 0
	f.mu.Unlock()
	start := time.Now()
	if _, err := slow.FeeRate(ctx, 2); !errors.Is(err, ErrBackend) {
		t.Fatalf("timeout: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("timeout not enforced")
	}
	f.mu.Lock()
	f.delay = 0
	f.mu.Unlock()

	// Malformed answers are errors, not guesses.
	f.set(func() { f.fees = map[string]float64{"abc": 1} })
	if _, err := e.FeeRate(ctx, 2); !errors.Is(err, ErrBackend) {
		t.Fatalf("bad fee key: %v", err)
	}
	f.set(func() {
		f.utxos = []map[string]any{{"txid": "zz", "vout": 0, "value": 1, "status": map[string]any{"confirmed": false}}}
	})
	if _, err := e.UTXOs(ctx, tw.w.Address()); !errors.Is(err, ErrBackend) {
		t.Fatalf("bad txid: %v", err)
	}
	f.set(func() {
		f.utxos = []map[string]any{{"txid": strings.Repeat("11", 32), "value": 1, "status": map[string]any{"confirmed": false}}}
	})
	if _, err := e.UTXOs(ctx, tw.w.Address()); !errors.Is(err, ErrBackend) {
		t.Fatalf("missing vout: %v", err)
	}
	if _, err := NewEsplora("ftp://x", nil, time.Second, DefaultRetry); !errors.Is(err, ErrBackend) {
		t.Fatalf("bad url: %v", err)
	}

	// Cancellation stops the backoff.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	long, _ := NewEsplora(srv.URL, nil, time.Second, Retry{Attempts: 5, Initial: time.Hour, Max: time.Hour})
	f.set(func() { f.failNext = 5 })
	if _, err := long.FeeRate(cctx, 2); err == nil {
		t.Fatal("cancelled context succeeded")
	}
}
