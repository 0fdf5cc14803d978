package wallet_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
)

// refusing wraps a real backend and, when armed, refuses every broadcast
// as a node would refuse a replacement paying too little.
type refusing struct {
	bitcoin.Backend
	armed  atomic.Bool
	forget atomic.Pointer[string] // a txid the node no longer knows (replaced or double-spent elsewhere)
}

func (r *refusing) TxStatus(ctx context.Context, h chainhash.Hash) (bitcoin.TxStatus, error) {
	if f := r.forget.Load(); f != nil && *f == h.String() {
		return bitcoin.TxStatus{}, bitcoin.ErrNotFound
	}
	return r.Backend.TxStatus(ctx, h)
}

func (r *refusing) Broadcast(ctx context.Context, tx *btcwire.MsgTx) (chainhash.Hash, error) {
	if r.armed.Load() {
		return chainhash.Hash{}, &bitcoin.RejectError{Code: -26, Reason: "insufficient fee (test)"}
	}
	return r.Backend.Broadcast(ctx, tx)
}

func decodeTx(t *testing.T, rawHex string) *btcwire.MsgTx {
	t.Helper()
	raw, err := hex.DecodeString(rawHex)
	if err != nil {
		t.Fatal(err)
	}
	var tx btcwire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	return &tx
}

func inMempoolOrChain(env *wallettest.Env, txid string) bool {
	h, _ := chainhash.NewHashFromStr(txid)
	_, err := env.Node.Client.GetRawTransaction(h)
	return err == nil
}

// TestBumpAndChange runs on btcd regtest and a real cluster: spending
// unconfirmed own change (a chain of two sends mined in one block), the
// insufficient-funds breakdown, and BIP-125 fee bumps.
func TestBumpAndChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replica cluster and btcd")
	}
	env := wallettest.Start(t)
	ref := &refusing{Backend: env.Backend}
	svc2 := env.OpenService(func(c *wallet.Config) { c.Bitcoin["regtest"] = ref })
	svc := env.Service
	bob := env.FundedWallet("bob")

	t.Run("ChainOfTwo", func(t *testing.T) {
		ctx := ctxT(t, 3*time.Minute)
		a := env.FundedWallet("chain", 100_000)
		tx1, err := svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: bob.Address, Amount: 30_000}}, FeeRate: 2})
		if err != nil || tx1.Status != wallet.StatusBroadcast || tx1.Change == 0 {
			t.Fatalf("first send: %+v %v", tx1, err)
		}
		// The only output left is tx1's unconfirmed change: trusted.
		tx2, err := svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: bob.Address, Amount: 20_000}}, FeeRate: 2})
		if err != nil || tx2.Status != wallet.StatusBroadcast {
			t.Fatalf("second send on unconfirmed change: %+v %v", tx2, err)
		}
		m := decodeTx(t, tx2.RawTx)
		if len(m.TxIn) != 1 || m.TxIn[0].PreviousOutPoint.Hash.String() != tx1.TxID {
			t.Fatalf("tx2 does not spend tx1's change: %v", m.TxIn[0].PreviousOutPoint)
		}
		// Bumping tx1 would evict tx2: refused.
		if _, err := svc.Bump(ctx, a.ID, tx1.ID, wallet.BumpRequest{FeeRate: 10}); !errors.Is(err, wallet.ErrConflict) || !strings.Contains(err.Error(), tx2.ID) {
			t.Fatalf("bump of a parent with a pending child: %v", err)
		}
		// Untrusted: an unconfirmed payment from someone else is not spent.
		env.Fund(a.Address, 5_000)
		_, err = svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: bob.Address, Amount: 60_000}}, FeeRate: 2})
		if !errors.Is(err, wallet.ErrInsufficient) {
			t.Fatalf("overspend: %v", err)
		}
		want := "confirmed 0, unconfirmed own change " + itoa(tx2.Change) + "); not spendable: unconfirmed from others 5000, immature 0, locked by pending transactions 0"
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("insufficient message %q lacks %q", err, want)
		}
		env.Mine(1)
		if err := svc.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		g1, _ := svc.GetTransaction(ctx, a.ID, tx1.ID)
		g2, _ := svc.GetTransaction(ctx, a.ID, tx2.ID)
		if g1.Status != wallet.StatusConfirmed || g2.Status != wallet.StatusConfirmed || g1.BlockHeight == 0 || g1.BlockHeight != g2.BlockHeight {
			t.Fatalf("not mined in one block: %+v / %+v", g1, g2)
		}
	})

	t.Run("BumpStuck", func(t *testing.T) { testBumpStuck(t, env, svc, svc2, ref) })
	t.Run("BumpStuckPostgres", func(t *testing.T) {
		dsn, stop := startPostgres(t)
		if dsn == "" {
			t.Skip("PostgreSQL not available")
		}
		t.Cleanup(stop)
		ref := &refusing{Backend: env.Backend}
		pg := env.OpenService(func(c *wallet.Config) { c.Database = dsn })
		pg2 := env.OpenService(func(c *wallet.Config) { c.Database = dsn; c.Bitcoin["regtest"] = ref })
		testBumpStuck(t, env, pg, pg2, ref)
	})

	t.Run("Webhooks", func(t *testing.T) { testWebhooks(t, env, nil) })
	t.Run("WebhooksPostgres", func(t *testing.T) {
		dsn, stop := startPostgres(t)
		if dsn == "" {
			t.Skip("PostgreSQL not available")
		}
		t.Cleanup(stop)
		testWebhooks(t, env, func(c *wallet.Config) { c.Database = dsn })
	})

	t.Run("BumpAddsInput", func(t *testing.T) {
		ctx := ctxT(t, 3*time.Minute)
		a := env.FundedWallet("addin", 20_000, 50_000)
		// A PSBT with a short lock holds the 50,000 output while the send
		// takes the 20,000 one; the lock then lapses.
		short := env.OpenService(func(c *wallet.Config) { c.PSBTLockTTL = time.Second })
		p, err := short.BuildPSBT(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: bob.Address, Amount: 1_000}}, FeeRate: 1})
		if err != nil || p.Inputs != 1 {
			t.Fatalf("psbt: %+v %v", p, err)
		}
		// 19,700 of 20,000: the change would be dust, so there is none.
		orig, err := svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: bob.Address, Amount: 19_700}}, FeeRate: 1})
		if err != nil || orig.Change != 0 || orig.Status != wallet.StatusBroadcast || orig.Inputs != 1 {
			t.Fatalf("send: %+v %v", orig, err)
		}
		if _, err := svc.Bump(ctx, a.ID, orig.TxID, wallet.BumpRequest{FeeRate: 10}); !errors.Is(err, wallet.ErrInsufficient) {
			t.Fatalf("bump with only a locked output to add: %v", err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			us, err := svc.UTXOs(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			free := false
			for _, u := range us {
				free = free || u.Value == 50_000 && !u.Locked
			}
			if free {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the PSBT lock did not lapse")
			}
			time.Sleep(100 * time.Millisecond)
		}
		nb, err := svc.Bump(ctx, a.ID, orig.TxID, wallet.BumpRequest{FeeRate: 10})
		if err != nil || nb.Inputs != 2 || nb.Change <= 0 || nb.Amount != 19_700 || nb.Fee < 10*nb.VSize || nb.Fee < orig.Fee+nb.VSize {
			t.Fatalf("bump adding an input: %+v %v", nb, err)
		}
		if nb.Change != 20_000+50_000-19_700-nb.Fee {
			t.Fatalf("change %d, fee %d", nb.Change, nb.Fee)
		}
		env.Mine(1)
		if err := svc.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if g, _ := svc.GetTransaction(ctx, a.ID, nb.ID); g.Status != wallet.StatusConfirmed {
			t.Fatalf("replacement: %+v", g)
		}
		if inMempoolOrChain(env, orig.TxID) {
			t.Fatal("the original was mined")
		}
		bal, err := svc.Balance(ctx, a.ID)
		if err != nil || bal.Confirmed != nb.Change || bal.Locked != 0 {
			t.Fatalf("balance after the bump: %+v %v", bal, err)
		}
	})
}

// testBumpStuck: a 1 sat/vB send bumped to 5 sat/vB on btcd regtest and
// mined, the original never; refusals; svc2 shares svc's database behind
// the refusing backend ref.
func testBumpStuck(t *testing.T, env *wallettest.Env, svc, svc2 *wallet.Service, ref *refusing) {
	ctx := ctxT(t, 3*time.Minute)
	a, err := svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "stuck"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	env.Fund(a.Address, 100_000)
	env.Mine(1)
	orig, err := svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: bob.Address, Amount: 40_000}}, FeeRate: 1, Note: "invoice 7"})
	if err != nil || orig.Status != wallet.StatusBroadcast {
		t.Fatalf("send: %+v %v", orig, err)
	}
	for _, bad := range []int64{0, 1, -3, 1_000_000} {
		if _, err := svc.Bump(ctx, a.ID, orig.ID, wallet.BumpRequest{FeeRate: bad}); !errors.Is(err, wallet.ErrInvalid) {
			t.Fatalf("fee rate %d: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := svc.Bump(ctx, a.ID, "tx_000000000000000000000000", wallet.BumpRequest{FeeRate: 5}); !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	// The node no longer knows the original (its inputs were spent by
	// another transaction, or it was evicted): refused.
	ref.forget.Store(&orig.TxID)
	_, err = svc2.Bump(ctx, a.ID, orig.ID, wallet.BumpRequest{FeeRate: 4})
	ref.forget.Store(nil)
	if !errors.Is(err, wallet.ErrConflict) || !strings.Contains(err.Error(), "spent elsewhere") {
		t.Fatalf("bump of a transaction gone from the mempool: %v", err)
	}
	// The node refuses the replacement: it fails, the original keeps
	// its inputs and status.
	ref.armed.Store(true)
	bad, err := svc2.Bump(ctx, a.ID, orig.ID, wallet.BumpRequest{FeeRate: 4})
	ref.armed.Store(false)
	if !errors.Is(err, wallet.ErrRejected) || bad == nil || bad.Status != wallet.StatusFailed {
		t.Fatalf("refused replacement: %+v %v", bad, err)
	}
	if g, _ := svc.GetTransaction(ctx, a.ID, orig.ID); g.Status != wallet.StatusBroadcast || g.ReplacedBy != "" {
		t.Fatalf("original after a refused bump: %+v", g)
	}
	us, _ := svc.UTXOs(ctx, a.ID)
	for _, u := range us {
		if u.TxID != orig.TxID && !(u.Locked && u.LockedBy == orig.ID) {
			t.Fatalf("original's input not locked by it after a refused bump: %+v", u)
		}
	}
	// A real bump, with an idempotency key.
	req := wallet.BumpRequest{FeeRate: 5, IdempotencyKey: "bump-1"}
	nb, err := svc.Bump(ctx, a.ID, orig.ID, req)
	if err != nil || nb.Status != wallet.StatusBroadcast || nb.Replaces != orig.ID || nb.Note != "invoice 7" {
		t.Fatalf("bump: %+v %v", nb, err)
	}
	if nb.Fee < orig.Fee+nb.VSize || nb.Fee < 5*nb.VSize || nb.FeeRate <= orig.FeeRate || nb.Amount != orig.Amount ||
		len(nb.Outputs) != 1 || nb.Outputs[0] != orig.Outputs[0] || nb.Change != orig.Change-(nb.Fee-orig.Fee) || nb.Inputs != orig.Inputs {
		t.Fatalf("BIP-125 fees or outputs: orig %+v, replacement %+v", orig, nb)
	}
	again, err := svc.Bump(ctx, a.ID, orig.ID, req)
	if err != nil || again.ID != nb.ID {
		t.Fatalf("retried bump: %+v %v", again, err)
	}
	if _, err := svc.Bump(ctx, a.ID, orig.ID, wallet.BumpRequest{FeeRate: 6, IdempotencyKey: "bump-1"}); !errors.Is(err, wallet.ErrConflict) {
		t.Fatalf("same key, other rate: %v", err)
	}
	g, _ := svc.GetTransaction(ctx, a.ID, orig.ID)
	if g.Status != wallet.StatusReplaced || g.ReplacedBy != nb.ID {
		t.Fatalf("original: %+v", g)
	}
	if _, err := svc.Bump(ctx, a.ID, orig.ID, wallet.BumpRequest{FeeRate: 9}); !errors.Is(err, wallet.ErrConflict) {
		t.Fatalf("bump of a replaced tx: %v", err)
	}
	if inMempoolOrChain(env, orig.TxID) || !inMempoolOrChain(env, nb.TxID) {
		t.Fatalf("mempool: original present %v, replacement present %v", inMempoolOrChain(env, orig.TxID), inMempoolOrChain(env, nb.TxID))
	}
	env.Mine(1)
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	gn, _ := svc.GetTransaction(ctx, a.ID, nb.ID)
	if gn.Status != wallet.StatusConfirmed {
		t.Fatalf("replacement not mined: %+v", gn)
	}
	if inMempoolOrChain(env, orig.TxID) {
		t.Fatal("the original was mined")
	}
	hist, _ := svc.Transactions(ctx, a.ID)
	seen := map[string]string{}
	for _, h := range hist {
		seen[h.ID] = h.Status
	}
	if seen[orig.ID] != wallet.StatusReplaced || seen[nb.ID] != wallet.StatusConfirmed {
		t.Fatalf("history: %v", seen)
	}
	if _, err := svc.Bump(ctx, a.ID, nb.ID, wallet.BumpRequest{FeeRate: 20}); !errors.Is(err, wallet.ErrConflict) {
		t.Fatalf("bump of a confirmed tx: %v", err)
	}
	bh, _ := svc.Transactions(ctx, bob.ID)
	for _, h := range bh {
		if h.TxID == nb.TxID {
			if _, err := svc.Bump(ctx, bob.ID, h.ID, wallet.BumpRequest{FeeRate: 20}); !errors.Is(err, wallet.ErrInvalid) {
				t.Fatalf("bump of a received payment: %v", err)
			}
		}
	}
}

// hookReceiver is a local webhook endpoint that records every attempt and
// fails the attempts it is told to.
type hookReceiver struct {
	mu       sync.Mutex
	attempts []hookAttempt
	failNext int  // fail this many more attempts
	failAll  bool // fail every attempt
}

type hookAttempt struct {
	delivery, event, ts, sig string
	body                     []byte
	ok                       bool
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	a := hookAttempt{delivery: r.Header.Get(wallet.HeaderDeliveryID), event: r.Header.Get(wallet.HeaderEvent),
		ts: r.Header.Get(wallet.HeaderTimestamp), sig: r.Header.Get(wallet.HeaderSignature), body: body, ok: true}
	if h.failAll || h.failNext > 0 {
		h.failNext--
		a.ok = false
	}
	h.attempts = append(h.attempts, a)
	if !a.ok {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitFor returns the attempts of the first delivery of event whose
// transaction satisfies match and that was accepted.
func (h *hookReceiver) waitFor(t *testing.T, event string, match func(wallet.WebhookEvent) bool) (wallet.WebhookEvent, []hookAttempt) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, a := range h.attempts {
			var ev wallet.WebhookEvent
			if a.ok && a.event == event && json.Unmarshal(a.body, &ev) == nil && match(ev) {
				var all []hookAttempt
				for _, b := range h.attempts {
					if b.delivery == a.delivery {
						all = append(all, b)
					}
				}
				h.mu.Unlock()
				return ev, all
			}
		}
		h.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s delivery arrived", event)
	return wallet.WebhookEvent{}, nil
}

func (h *hookReceiver) set(failNext int, failAll bool) {
	h.mu.Lock()
	h.failNext, h.failAll = failNext, failAll
	h.mu.Unlock()
}

// runWorkers runs Track and RunWebhooks on svc until the returned stop.
func runWorkers(svc *wallet.Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); svc.Track(ctx) }()
	go func() { defer wg.Done(); svc.RunWebhooks(ctx) }()
	return func() { cancel(); wg.Wait() }
}

// testWebhooks: received, confirmed, sent events of a wallet on btcd
// regtest reach a local receiver, signed; a failed first attempt is
// retried with the same delivery id; the outbox survives a restart.
func testWebhooks(t *testing.T, env *wallettest.Env, mutate func(*wallet.Config)) {
	ctx := ctxT(t, 4*time.Minute)
	open := func() *wallet.Service {
		return env.OpenService(func(c *wallet.Config) {
			if mutate != nil {
				mutate(c)
			}
			c.PollInterval = 200 * time.Millisecond
			c.Webhooks = wallet.WebhookConfig{AllowPrivate: true, Interval: 100 * time.Millisecond, InitialBackoff: 200 * time.Millisecond, MaxBackoff: time.Second}
		})
	}
	svc := open()
	w, err := svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "hooked"})
	if err != nil {
		t.Fatal(err)
	}
	rcv := &hookReceiver{}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	hook, err := svc.CreateWebhook(ctx, wallet.CreateWebhookRequest{WalletID: w.ID, URL: srv.URL + "/hook?src=vhsm",
		Events: []string{wallet.EventReceived, wallet.EventConfirmed, wallet.EventSent, wallet.EventFailed}})
	if err != nil || !strings.HasPrefix(hook.Secret, "whsec_") || hook.Confirmations != 1 {
		t.Fatalf("create webhook: %+v %v", hook, err)
	}
	if got, err := svc.GetWebhook(ctx, hook.ID); err != nil || got.Secret != "" || got.URL != hook.URL {
		t.Fatalf("get webhook: %+v %v", got, err)
	}
	strict := env.OpenService(mutate) // AllowPrivate false
	for _, bad := range []wallet.CreateWebhookRequest{
		{WalletID: w.ID, URL: "ftp://example.com/x", Events: []string{"sent"}},
		{WalletID: w.ID, URL: "https://user:pw@example.com/x", Events: []string{"sent"}},
		{WalletID: w.ID, URL: "http://127.0.0.1:9/x", Events: []string{"sent"}},
		{WalletID: w.ID, URL: "http://[::1]/x", Events: []string{"sent"}},
		{WalletID: w.ID, URL: "http://169.254.169.254/latest/meta-data", Events: []string{"sent"}},
		{WalletID: w.ID, URL: "http://localhost/x", Events: []string{"sent"}},
		{WalletID: w.ID, URL: "https://example.com/x", Events: []string{"spent"}},
		{WalletID: w.ID, URL: "https://example.com/x", Events: []string{"sent", "sent"}},
		{WalletID: w.ID, URL: "https://example.com/x"},
		{WalletID: w.ID, URL: "https://example.com/x", Events: []string{"confirmed"}, Confirmations: 7},
		{WalletID: w.ID, URL: "example.com/x", Events: []string{"sent"}},
	} {
		if _, err := strict.CreateWebhook(ctx, bad); !errors.Is(err, wallet.ErrInvalid) {
			t.Fatalf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := strict.CreateWebhook(ctx, wallet.CreateWebhookRequest{WalletID: "w_000000000000000000000000", URL: "https://example.com/x", Events: []string{"sent"}}); !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("unknown wallet: %v", err)
	}
	verify := func(atts []hookAttempt) {
		t.Helper()
		for _, a := range atts {
			if err := wallet.VerifyWebhook(hook.Secret, a.ts, a.sig, a.body, time.Now(), 5*time.Minute); err != nil {
				t.Fatalf("delivery %s: %v", a.delivery, err)
			}
			if wallet.VerifyWebhook("whsec_wrong", a.ts, a.sig, a.body, time.Now(), 5*time.Minute) == nil {
				t.Fatal("a wrong secret verifies")
			}
			tampered := append(bytes.Clone(a.body[:len(a.body)-1]), ' ', '}')
			if wallet.VerifyWebhook(hook.Secret, a.ts, a.sig, tampered, time.Now(), 5*time.Minute) == nil {
				t.Fatal("a changed body verifies")
			}
		}
	}
	stop := runWorkers(svc)
	defer func() { stop() }()

	// received, with the first attempt refused by the receiver.
	rcv.set(1, false)
	fund := env.Fund(w.Address, 50_000)
	ev, atts := rcv.waitFor(t, wallet.EventReceived, func(e wallet.WebhookEvent) bool { return e.Transaction.TxID == fund })
	if len(atts) < 2 || atts[0].ok || atts[0].delivery != atts[len(atts)-1].delivery || ev.ID != atts[0].delivery ||
		ev.Transaction.Amount != 50_000 || ev.Transaction.Direction != "in" || ev.WalletID != w.ID || ev.WebhookID != hook.ID {
		t.Fatalf("received: %+v, attempts %+v", ev, atts)
	}
	verify(atts)
	// confirmed, after mining.
	env.Mine(1)
	ev, atts = rcv.waitFor(t, wallet.EventConfirmed, func(e wallet.WebhookEvent) bool { return e.Transaction.TxID == fund })
	if ev.Transaction.Confirmations < 1 || ev.Transaction.Status != wallet.StatusConfirmed {
		t.Fatalf("confirmed: %+v", ev)
	}
	verify(atts)
	// sent, from the send path; the receiver is down and the process
	// stops: the delivery waits in the outbox for the next process.
	rcv.set(0, true)
	tx, err := svc.Send(ctx, w.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: w.Address, Amount: 10_000}}, FeeRate: 2, Note: "secret note"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	var pending wallet.WebhookDelivery
	for pending.ID == "" {
		if time.Now().After(deadline) {
			t.Fatal("the sent event was never attempted")
		}
		ds, err := svc.WebhookDeliveries(ctx, hook.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Event == wallet.EventSent && d.Attempts >= 1 && d.Status == "pending" {
				pending = d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	stop = func() {}
	rcv.set(0, false)
	svc2 := open()
	stop2 := runWorkers(svc2)
	defer stop2()
	ev, atts = rcv.waitFor(t, wallet.EventSent, func(e wallet.WebhookEvent) bool { return e.Transaction.ID == tx.ID })
	if ev.ID != pending.ID || atts[0].ok || !atts[len(atts)-1].ok || strings.Contains(string(atts[0].body), "secret note") {
		t.Fatalf("sent after restart: %+v (pending %+v) attempts %d", ev, pending, len(atts))
	}
	verify(atts)
	// Deleting the webhook stops it.
	if err := svc2.DeleteWebhook(ctx, hook.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc2.GetWebhook(ctx, hook.ID); !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("deleted webhook: %v", err)
	}
	if err := svc2.DeleteWebhook(ctx, hook.ID); !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
