package bitcoin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
)

// fakeNode answers JSON-RPC 1.0 requests the way btcd does: HTTP 200 with {"result","error","id"};
// basic auth required.
type fakeNode struct {
	mu       sync.Mutex
	handle   func(method string, params []json.RawMessage) (any, *RPCError)
	fail500  int
	requests int
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if f.fail500 > 0 {
		f.fail500--
		http.Error(w, "overloaded", http.StatusInternalServerError)
		return
	}
	var req struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
		ID     any               `json:"id"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	res, rerr := f.handle(req.Method, req.Params)
	out := map[string]any{"result": res, "error": nil, "id": req.ID}
	if rerr != nil {
		out["result"] = nil
		out["error"] = map[string]any{"code": rerr.Code, "message": rerr.Message}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func TestRPCBackend(t *testing.T) {
	ctx := context.Background()
	f := &fakeNode{handle: func(method string, params []json.RawMessage) (any, *RPCError) {
		switch method {
		case "estimatefee":
			return -1.0, nil // btcd on a fresh chain
		case "sendrawtransaction":
			return nil, &RPCError{Code: -25, Message: "TX rejected: transaction already exists"}
		case "getrawtransaction":
			return nil, &RPCError{Code: -5, Message: "No information available about transaction"}
		}
		return nil, &RPCError{Code: -32601, Message: "Method not found"}
	}}
	srv := startFakeHandler(t, f)
	r, err := NewRPC(RPCConfig{URL: srv, User: "u", Pass: "p", Timeout: time.Second, Retry: fastRetry(3), Fallback: 2500})
	if err != nil {
		t.Fatal(err)
	}
	if fr, err := r.FeeRate(ctx, 6); err != nil || fr != 2500 {
		t.Fatalf("fallback fee: %d %v", fr, err)
	}
	noFallback, _ := NewRPC(RPCConfig{URL: srv, User: "u", Pass: "p", Timeout: time.Second, Retry: fastRetry(1)})
	if _, err := noFallback.FeeRate(ctx, 6); !errors.Is(err, ErrBackend) {
		t.Fatalf("no estimate, no fallback: %v", err)
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{})
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	f.mu.Lock()
	f.requests = 0
	f.mu.Unlock()
	_, err = r.Broadcast(ctx, tx)
	var re *RejectError
	if !errors.As(err, &re) || re.Code != -25 || re.Reason != "TX rejected: transaction already exists" {
		t.Fatalf("reject: %v", err)
	}
	f.mu.Lock()
	n := f.requests
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("a rejection was retried (%d requests)", n)
	}
	if _, err := r.TxStatus(ctx, tx.TxHash()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tx: %v", err)
	}

	// HTTP 500 without a JSON-RPC body is transient and retried.
	f.mu.Lock()
	f.fail500, f.requests = 2, 0
	f.mu.Unlock()
	if _, err := r.FeeRate(ctx, 6); err != nil {
		t.Fatalf("after transient errors: %v", err)
	}
	f.mu.Lock()
	n = f.requests
	f.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d requests for two 500s and a success, want 3", n)
	}
	// Bad credentials are not retried.
	bad, _ := NewRPC(RPCConfig{URL: srv, User: "u", Pass: "wrong", Timeout: time.Second, Retry: fastRetry(3)})
	f.mu.Lock()
	f.requests = 0
	f.mu.Unlock()
	if err := bad.Call(ctx, "getblockcount", nil, nil); !errors.Is(err, ErrBackend) {
		t.Fatalf("bad credentials: %v", err)
	}
	f.mu.Lock()
	n = f.requests
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("auth failure retried: %d requests", n)
	}
}
