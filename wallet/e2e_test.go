package wallet_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
)

// flaky wraps a real backend: it can refuse to reach the node for
// broadcasts (a transient failure) and can report a fake UTXO.
type flaky struct {
	bitcoin.Backend
	failBroadcast atomic.Bool
	fake          atomic.Pointer[bitcoin.UTXO]
}

func (f *flaky) Broadcast(ctx context.Context, tx *btcwire.MsgTx) (chainhash.Hash, error) {
	if f.failBroadcast.Load() {
		return chainhash.Hash{}, bitcoin.ErrBackend
	}
	return f.Backend.Broadcast(ctx, tx)
}

func (f *flaky) UTXOs(ctx context.Context, addr btcutil.Address) ([]bitcoin.UTXO, error) {
	us, err := f.Backend.UTXOs(ctx, addr)
	if u := f.fake.Load(); u != nil && err == nil {
		us = append(us, *u)
	}
	return us, err
}

// suite is the backend-independent end-to-end suite: it runs against a
// Service on SQLite and, when PostgreSQL is available, on PostgreSQL.
type suite struct {
	env *wallettest.Env
	svc *wallet.Service
	raw *sql.DB // direct access to the same database (tamper tests)
	pg  bool
	fl  *flaky
	// a second service on the same database with a flaky backend
	svc2 *wallet.Service
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestEndToEnd runs the suite on a real 4-replica cluster and btcd regtest,
// first with SQLite, then with PostgreSQL (if initdb/pg_ctl are available).
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replica cluster and btcd")
	}
	start := time.Now()
	env := wallettest.Start(t)
	t.Logf("environment up in %v", time.Since(start).Round(time.Millisecond))
	raw, err := sql.Open("sqlite", "file:"+env.DBPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	s := &suite{env: env, svc: env.Service, raw: raw}
	s.fl = &flaky{Backend: env.Backend}
	s.svc2 = env.OpenService(func(c *wallet.Config) { c.Bitcoin["regtest"] = s.fl })
	t.Run("sqlite", s.run)
	t.Run("sqlite-file", func(t *testing.T) { testSQLiteFile(t, env) })
	// Last, because it stops replicas of the shared cluster.
	defer t.Run("hsm-outage", s.testHSMOutage)

	dsn, stop := startPostgres(t)
	if dsn == "" {
		return
	}
	t.Cleanup(stop)
	pgRaw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgRaw.Close() })
	ps := &suite{env: env, raw: pgRaw, pg: true, fl: &flaky{Backend: env.Backend}}
	ps.svc = env.OpenService(func(c *wallet.Config) { c.Database = dsn })
	ps.svc2 = env.OpenService(func(c *wallet.Config) { c.Database = dsn; c.Bitcoin["regtest"] = ps.fl })
	t.Run("postgres", ps.run)
}

func (s *suite) run(t *testing.T) {
	steps := []struct {
		name string
		f    func(*testing.T)
	}{
		{"CreateWallet", s.testCreateWallet},
		{"CreateCrashWindow", s.testCreateCrashWindow},
		{"SendConfirm", s.testSendConfirm},
		{"DryRun", s.testDryRun},
		{"Idempotent", s.testIdempotent},
		{"Concurrent", s.testConcurrent},
		{"BroadcastResume", s.testBroadcastResume},
		{"Rejected", s.testRejected},
		{"PSBT", s.testPSBT},
		{"Track", s.testTrack},
		{"Validator", s.testValidator},
		{"Tokens", s.testTokens},
		{"Metadata", s.testMetadata},
		{"Reopen", s.testReopen},
	}
	for _, st := range steps {
		start := time.Now()
		ok := t.Run(st.name, st.f)
		t.Logf("%s: %v", st.name, time.Since(start).Round(time.Millisecond))
		if !ok {
			return
		}
	}
}

func (s *suite) newWallet(t *testing.T, label string, amounts ...int64) *wallet.Wallet {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	w, err := s.svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: label})
	if err != nil {
		t.Fatalf("create wallet: %v", err)
	}
	if len(amounts) > 0 {
		s.env.Fund(w.Address, amounts...)
		s.env.Mine(1)
	}
	return w
}

func (s *suite) testCreateWallet(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	req := wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "savings €", IdempotencyKey: "create-1"}
	w, err := s.svc.CreateWallet(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.ID, "w_") || len(w.ID) != 26 || w.Label != req.Label || w.Kind != wallet.KindBitcoin {
		t.Fatalf("wallet: %+v", w)
	}
	pub, _ := hex.DecodeString(w.PublicKey)
	want, err := bitcoin.TaprootAddress(pub, bitcoin.Regtest)
	if err != nil || want.EncodeAddress() != w.Address {
		t.Fatalf("address %s, want BIP-86 address %v (%v)", w.Address, want, err)
	}
	info, err := s.env.HSM.PublicKey(ctx, w.KeyID)
	if err != nil || !bytes.Equal(info.PublicKey, pub) || info.Scheme != "schnorr" {
		t.Fatalf("HSM key: %+v %v", info, err)
	}
	again, err := s.svc.CreateWallet(ctx, req)
	if err != nil || again.ID != w.ID || again.KeyID != w.KeyID {
		t.Fatalf("retry: %+v %v, want %s", again, err, w.ID)
	}
	other := req
	other.Label = "different"
	if _, err := s.svc.CreateWallet(ctx, other); !errors.Is(err, wallet.ErrConflict) {
		t.Fatalf("same key, different request: %v, want ErrConflict", err)
	}
	for _, bad := range []wallet.CreateWalletRequest{
		{Kind: "dogecoin", Network: "regtest"},
		{Kind: wallet.KindBitcoin, Network: "mainnet"},
		{Kind: wallet.KindBitcoin, Network: "regtest", Label: strings.Repeat("x", 101)},
		{Kind: wallet.KindBitcoin, Network: "regtest", Label: "a\x00b"},
	} {
		if _, err := s.svc.CreateWallet(ctx, bad); !errors.Is(err, wallet.ErrInvalid) {
			t.Fatalf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
	got, err := s.svc.GetWallet(ctx, w.ID)
	if err != nil || got.Label != req.Label || got.Address != w.Address {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.svc.GetWallet(ctx, "w_000000000000000000000000"); !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("unknown wallet: %v", err)
	}
	if _, err := s.svc.GetWallet(ctx, "'; DROP TABLE wallets; --"); !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("garbage id: %v", err)
	}
	addr, err := s.svc.Address(ctx, w.ID)
	if err != nil || addr != w.Address {
		t.Fatalf("address: %s %v", addr, err)
	}
	list, err := s.svc.ListWallets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range list {
		found = found || x.ID == w.ID && x.Label == req.Label
	}
	if !found {
		t.Fatalf("list misses %s", w.ID)
	}
}

// testCreateCrashWindow: the process dies after the HSM generated the key
// but before the wallet row was written; the retry reuses the key.
func (s *suite) testCreateCrashWindow(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	crash := errors.New("simulated crash")
	var crashedKey string
	wallet.SetAfterKeyGen(s.svc, func(keyID string) error { crashedKey = keyID; return crash })
	req := wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", IdempotencyKey: "crash-1"}
	if _, err := s.svc.CreateWallet(ctx, req); !errors.Is(err, crash) {
		wallet.SetAfterKeyGen(s.svc, nil)
		t.Fatalf("first attempt: %v", err)
	}
	wallet.SetAfterKeyGen(s.svc, nil)
	w, err := s.svc.CreateWallet(ctx, req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if w.KeyID != crashedKey {
		t.Fatalf("retry uses key %s, the crashed attempt generated %s", w.KeyID, crashedKey)
	}
	info, err := s.env.HSM.PublicKey(ctx, w.KeyID)
	if err != nil || hex.EncodeToString(info.PublicKey) != w.PublicKey {
		t.Fatalf("wallet key %s: %v", w.KeyID, err)
	}
}

func (s *suite) testSendConfirm(t *testing.T) {
	ctx := ctxT(t, 3*time.Minute)
	a := s.newWallet(t, "alice", 100_000, 100_000)
	b := s.newWallet(t, "bob")
	bal, err := s.svc.Balance(ctx, a.ID)
	if err != nil || bal.Confirmed != 200_000 || bal.Total != 200_000 || bal.Locked != 0 {
		t.Fatalf("balance: %+v %v", bal, err)
	}
	tx, err := s.svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 30_000}}, FeeRate: 3, Note: "rent"})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if tx.Status != wallet.StatusBroadcast || tx.Amount != 30_000 || tx.Inputs != 1 || tx.Change != 100_000-30_000-tx.Fee ||
		tx.FeeRate != 3 || tx.Fee != 3*tx.VSize || tx.Note != "rent" || tx.RawTx == "" || tx.Direction != "out" {
		t.Fatalf("sent: %+v", tx)
	}
	h, _ := chainhash.NewHashFromStr(tx.TxID)
	if _, err := s.env.Node.Client.GetRawTransaction(h); err != nil {
		t.Fatalf("node does not know %s: %v", tx.TxID, err)
	}
	us, err := s.svc.UTXOs(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.TxID == tx.TxID && u.Locked {
			t.Fatalf("change output locked: %+v", u)
		}
	}
	if err := s.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.svc.GetTransaction(ctx, a.ID, tx.ID); got.Status != wallet.StatusBroadcast {
		t.Fatalf("before mining: %s", got.Status)
	}
	s.env.Mine(1)
	if err := s.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.svc.GetTransaction(ctx, a.ID, tx.ID)
	if err != nil || got.Status != wallet.StatusConfirmed || got.Confirmations != 1 || got.BlockHeight == 0 {
		t.Fatalf("after mining: %+v %v", got, err)
	}
	byTxid, err := s.svc.GetTransaction(ctx, a.ID, tx.TxID)
	if err != nil || byTxid.ID != tx.ID {
		t.Fatalf("by txid: %+v %v", byTxid, err)
	}
	var locks int
	s.raw.QueryRow(`SELECT COUNT(*) FROM utxo_locks WHERE tx_id = '` + tx.ID + `'`).Scan(&locks)
	if locks != 0 {
		t.Fatalf("%d locks left after confirmation", locks)
	}
	hist, err := s.svc.Transactions(ctx, b.ID)
	if err != nil || len(hist) != 1 || hist[0].Direction != "in" || hist[0].Amount != 30_000 || hist[0].TxID != tx.TxID || hist[0].Status != wallet.StatusConfirmed {
		t.Fatalf("bob's history: %+v %v", hist, err)
	}
	hist, err = s.svc.Transactions(ctx, a.ID)
	if err != nil || len(hist) != 2 || hist[0].ID != tx.ID {
		t.Fatalf("alice's history (newest first): %+v %v", hist, err)
	}
	bb, err := s.svc.Balance(ctx, b.ID)
	if err != nil || bb.Confirmed != 30_000 {
		t.Fatalf("bob's balance: %+v %v", bb, err)
	}
	// Validation: wrong network, dust, fee bounds, note length, send_max misuse.
	for _, bad := range []wallet.SendRequest{
		{},
		{Outputs: []wallet.Output{{Address: "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", Amount: 1000}}},
		{Outputs: []wallet.Output{{Address: b.Address, Amount: 329}}},
		{Outputs: []wallet.Output{{Address: b.Address, Amount: -5}}},
		{Outputs: []wallet.Output{{Address: b.Address, Amount: 1000}}, FeeRate: 1_000_000},
		{Outputs: []wallet.Output{{Address: b.Address, Amount: 1000}}, Note: strings.Repeat("n", 501)},
		{Outputs: []wallet.Output{{Address: b.Address, Amount: 1000}}, SendMax: true},
		{Outputs: []wallet.Output{{Address: "not an address", Amount: 1000}}},
	} {
		if _, err := s.svc.Send(ctx, a.ID, bad); !errors.Is(err, wallet.ErrInvalid) {
			t.Fatalf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 10_000_000}}}); !errors.Is(err, wallet.ErrInsufficient) {
		t.Fatalf("too much: %v", err)
	}
}

func (s *suite) testDryRun(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	a := s.newWallet(t, "dry", 50_000)
	before, _ := s.svc.Transactions(ctx, a.ID)
	tx, err := s.svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: a.Address, Amount: 0}}, SendMax: true, DryRun: true, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Status != wallet.StatusBuilt || tx.ID != "" || tx.Change != 0 || tx.Amount != 50_000-tx.Fee || tx.Fee != 2*tx.VSize || tx.RawTx != "" {
		t.Fatalf("dry run: %+v", tx)
	}
	after, _ := s.svc.Transactions(ctx, a.ID)
	us, _ := s.svc.UTXOs(ctx, a.ID)
	if len(after) != len(before) || len(us) != 1 || us[0].Locked {
		t.Fatalf("dry run changed something: %d→%d transactions, utxos %+v", len(before), len(after), us)
	}
}

func (s *suite) testIdempotent(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	a := s.newWallet(t, "idem", 80_000, 80_000)
	req := wallet.SendRequest{Outputs: []wallet.Output{{Address: a.Address, Amount: 10_000}}, FeeRate: 2, IdempotencyKey: "pay-42"}
	first, err := s.svc.Send(ctx, a.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.svc.Send(ctx, a.ID, req)
	if err != nil || second.ID != first.ID || second.TxID != first.TxID || second.RawTx != first.RawTx {
		t.Fatalf("retry: %+v %v, want %s", second, err, first.ID)
	}
	req.Outputs[0].Amount = 11_000
	if _, err := s.svc.Send(ctx, a.ID, req); !errors.Is(err, wallet.ErrConflict) {
		t.Fatalf("same key, different request: %v", err)
	}
	// A crash after the inputs were reserved, before signing: the retry
	// signs the stored transaction (same inputs, same txid).
	crash := errors.New("simulated crash")
	var reserved string
	wallet.SetAfterReserve(s.svc, func(id string) error { reserved = id; return crash })
	creq := wallet.SendRequest{Outputs: []wallet.Output{{Address: a.Address, Amount: 12_000}}, FeeRate: 2, IdempotencyKey: "pay-43"}
	_, err = s.svc.Send(ctx, a.ID, creq)
	wallet.SetAfterReserve(s.svc, nil)
	if !errors.Is(err, crash) {
		t.Fatalf("crashing send: %v", err)
	}
	stored, err := s.svc.GetTransaction(ctx, a.ID, reserved)
	if err != nil || stored.Status != wallet.StatusBuilt {
		t.Fatalf("after the crash: %+v %v", stored, err)
	}
	resumed, err := s.svc2.Send(ctx, a.ID, creq)
	if err != nil || resumed.ID != reserved || resumed.TxID != stored.TxID || resumed.Status != wallet.StatusBroadcast {
		t.Fatalf("resumed: %+v %v (stored %+v)", resumed, err, stored)
	}
	req.Outputs[0].Amount = 10_000
	hist, _ := s.svc.Transactions(ctx, a.ID)
	outs := 0
	for _, h := range hist {
		if h.Direction == "out" {
			outs++
		}
	}
	if outs != 2 {
		t.Fatalf("%d outgoing transactions, want 2", outs)
	}
}

// testConcurrent: four concurrent sends from a wallet with six UTXOs, each
// send needing two of them; no UTXO may be picked twice, and every
// broadcast must be accepted by btcd.
func (s *suite) testConcurrent(t *testing.T) {
	ctx := ctxT(t, 4*time.Minute)
	a := s.newWallet(t, "busy", 50_000, 50_000, 50_000, 50_000, 50_000, 50_000)
	b := s.newWallet(t, "sink")
	var wg sync.WaitGroup
	results := make([]*wallet.Transaction, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := s.svc
			if i%2 == 1 {
				svc = s.svc2 // a second Service on the same database, as a second process would be
			}
			results[i], errs[i] = svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 60_000}}, FeeRate: 2})
		}()
	}
	wg.Wait()
	spent := map[btcwire.OutPoint]string{}
	ok := 0
	for i, tx := range results {
		if errs[i] != nil {
			if !errors.Is(errs[i], wallet.ErrInsufficient) {
				t.Fatalf("send %d: %v", i, errs[i])
			}
			continue
		}
		ok++
		if tx.Status != wallet.StatusBroadcast {
			t.Fatalf("send %d: status %s (%s)", i, tx.Status, tx.Error)
		}
		raw, _ := hex.DecodeString(tx.RawTx)
		var m btcwire.MsgTx
		if err := m.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		for _, in := range m.TxIn {
			if prev, dup := spent[in.PreviousOutPoint]; dup {
				t.Fatalf("outpoint %v spent by %s and %s", in.PreviousOutPoint, prev, tx.ID)
			}
			spent[in.PreviousOutPoint] = tx.ID
		}
		h, _ := chainhash.NewHashFromStr(tx.TxID)
		if _, err := s.env.Node.Client.GetRawTransaction(h); err != nil {
			t.Fatalf("btcd lacks %s: %v", tx.TxID, err)
		}
	}
	if ok < 2 {
		t.Fatalf("only %d of 4 sends succeeded (6 UTXOs pay for 3): %v", ok, errs)
	}
	t.Logf("%d of 4 concurrent sends succeeded, %d distinct inputs", ok, len(spent))
	s.env.Mine(1)
	if err := s.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for i, tx := range results {
		if tx == nil {
			continue
		}
		got, err := s.svc.GetTransaction(ctx, a.ID, tx.ID)
		if err != nil || got.Status != wallet.StatusConfirmed {
			t.Fatalf("send %d after mining: %+v %v", i, got, err)
		}
	}
}

// testBroadcastResume: the backend is unreachable at broadcast time; the
// signed transaction is kept, and a retry with the same key broadcasts the
// very same transaction instead of building or signing a new one.
func (s *suite) testBroadcastResume(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	a := s.newWallet(t, "resume", 40_000, 40_000)
	req := wallet.SendRequest{Outputs: []wallet.Output{{Address: a.Address, Amount: 5_000}}, FeeRate: 2, IdempotencyKey: "resume-1"}
	s.fl.failBroadcast.Store(true)
	tx, err := s.svc2.Send(ctx, a.ID, req)
	s.fl.failBroadcast.Store(false)
	if err != nil || tx.Status != wallet.StatusSigned || tx.RawTx == "" || tx.Error == "" {
		t.Fatalf("send with backend down: %+v %v", tx, err)
	}
	again, err := s.svc.Send(ctx, a.ID, req) // another process resumes it
	if err != nil || again.ID != tx.ID || again.RawTx != tx.RawTx || again.Status != wallet.StatusBroadcast || again.Error != "" {
		t.Fatalf("resume: %+v %v", again, err)
	}
	// A signed transaction left behind is rebroadcast by Refresh.
	s.fl.failBroadcast.Store(true)
	tx2, err := s.svc2.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: a.Address, Amount: 5_000}}, FeeRate: 2})
	s.fl.failBroadcast.Store(false)
	if err != nil || tx2.Status != wallet.StatusSigned {
		t.Fatalf("second send with backend down: %+v %v", tx2, err)
	}
	if err := s.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := s.svc.GetTransaction(ctx, a.ID, tx2.ID)
	if got.Status != wallet.StatusBroadcast || got.RawTx != tx2.RawTx {
		t.Fatalf("refresh did not rebroadcast: %+v", got)
	}
	h, _ := chainhash.NewHashFromStr(tx2.TxID)
	if _, err := s.env.Node.Client.GetRawTransaction(h); err != nil {
		t.Fatalf("btcd lacks %s: %v", tx2.TxID, err)
	}
}

// testRejected: the node refuses the transaction (it spends an output that
// does not exist); the send fails, its inputs are released.
func (s *suite) testRejected(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	a := s.newWallet(t, "rejected", 20_000)
	w, _ := s.svc.GetWallet(ctx, a.ID)
	addr, _ := bitcoin.ParseAddress(w.Address, bitcoin.Regtest)
	pub, _ := hex.DecodeString(w.PublicKey)
	bw, _ := bitcoin.NewWallet(w.KeyID, pub, bitcoin.Regtest)
	_ = addr
	var h chainhash.Hash
	h[0] = 0x42
	s.fl.fake.Store(&bitcoin.UTXO{OutPoint: btcwire.OutPoint{Hash: h, Index: 7}, Value: 5_000_000, PkScript: bw.PkScript(), Confirmations: 10})
	tx, err := s.svc2.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: a.Address, Amount: 1_000_000}}, FeeRate: 2})
	s.fl.fake.Store(nil)
	if !errors.Is(err, wallet.ErrRejected) || tx == nil || tx.Status != wallet.StatusFailed || tx.Error == "" {
		t.Fatalf("send of a nonexistent output: %+v %v", tx, err)
	}
	var locks int
	s.raw.QueryRow(`SELECT COUNT(*) FROM utxo_locks WHERE tx_id = '` + tx.ID + `'`).Scan(&locks)
	if locks != 0 {
		t.Fatalf("%d locks left after failure", locks)
	}
	got, err := s.svc.GetTransaction(ctx, a.ID, tx.ID)
	if err != nil || got.Status != wallet.StatusFailed {
		t.Fatalf("stored: %+v %v", got, err)
	}
}

func (s *suite) testPSBT(t *testing.T) {
	ctx := ctxT(t, 3*time.Minute)
	a := s.newWallet(t, "cold", 70_000)
	b := s.newWallet(t, "psbt-dest")
	built, err := s.svc.BuildPSBT(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 20_000}}, FeeRate: 2, Note: "psbt note"})
	if err != nil {
		t.Fatal(err)
	}
	if built.Status != wallet.StatusBuilt || built.PSBT == "" || built.RawTx != "" || built.Note != "psbt note" {
		t.Fatalf("built: %+v", built)
	}
	us, _ := s.svc.UTXOs(ctx, a.ID)
	if len(us) != 1 || !us[0].Locked || us[0].LockedBy != built.ID {
		t.Fatalf("utxos while the PSBT is pending: %+v", us)
	}
	bal, _ := s.svc.Balance(ctx, a.ID)
	if bal.Locked != 70_000 || bal.Confirmed != 0 {
		t.Fatalf("balance while the PSBT is pending: %+v", bal)
	}
	if _, err := s.svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 1_000}}}); !errors.Is(err, wallet.ErrInsufficient) {
		t.Fatalf("send while every UTXO is locked: %v", err)
	}
	for _, bad := range []string{"", "bm90IGEgcHNidA==", "%%%", built.PSBT[:len(built.PSBT)/2]} {
		if _, err := s.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: bad}); !errors.Is(err, wallet.ErrInvalid) {
			t.Fatalf("sign %q: %v", bad, err)
		}
	}
	// Another wallet refuses it: not its inputs.
	if _, err := s.svc.SignPSBT(ctx, b.ID, wallet.SignPSBTRequest{PSBT: built.PSBT}); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("foreign wallet: %v", err)
	}
	signed, err := s.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: built.PSBT, Broadcast: true})
	if err != nil || signed.ID != built.ID || signed.Status != wallet.StatusBroadcast || signed.TxID != built.TxID {
		t.Fatalf("sign: %+v %v", signed, err)
	}
	again, err := s.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: built.PSBT, Broadcast: true})
	if err != nil || again.ID != built.ID || again.RawTx != signed.RawTx {
		t.Fatalf("sign twice: %+v %v", again, err)
	}
	s.env.Mine(1)
	if err := s.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := s.svc.GetTransaction(ctx, a.ID, built.ID)
	if got.Status != wallet.StatusConfirmed {
		t.Fatalf("after mining: %+v", got)
	}
	// Sign without broadcasting, then broadcast with a second call.
	d := s.newWallet(t, "two-step", 60_000, 60_000)
	built2, err := s.svc.BuildPSBT(ctx, d.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 10_000}}, FeeRate: 2, IdempotencyKey: "psbt-2"})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.svc.BuildPSBT(ctx, d.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 10_000}}, FeeRate: 2, IdempotencyKey: "psbt-2"}); err != nil || again.ID != built2.ID {
		t.Fatalf("BuildPSBT retry: %+v %v", again, err)
	}
	only, err := s.svc.SignPSBT(ctx, d.ID, wallet.SignPSBTRequest{PSBT: built2.PSBT})
	if err != nil || only.Status != wallet.StatusSigned || only.RawTx == "" {
		t.Fatalf("sign only: %+v %v", only, err)
	}
	if err := s.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.svc.GetTransaction(ctx, d.ID, built2.ID); got.Status != wallet.StatusSigned {
		t.Fatalf("refresh broadcast a PSBT signed without broadcast: %+v", got)
	}
	bc, err := s.svc.SignPSBT(ctx, d.ID, wallet.SignPSBTRequest{PSBT: built2.PSBT, Broadcast: true})
	if err != nil || bc.Status != wallet.StatusBroadcast || bc.RawTx != only.RawTx {
		t.Fatalf("broadcast after signing: %+v %v", bc, err)
	}
	// An externally built PSBT spending the wallet's other output.
	dw, _ := s.svc.GetWallet(ctx, d.ID)
	pub, _ := hex.DecodeString(dw.PublicKey)
	bwal, _ := bitcoin.NewWallet(dw.KeyID, pub, bitcoin.Regtest)
	utxos, err := s.env.Backend.UTXOs(ctx, bwal.Address())
	if err != nil {
		t.Fatal(err)
	}
	var free []bitcoin.UTXO
	for _, u := range utxos {
		if u.Confirmations > 0 {
			free = append(free, u)
		}
	}
	baddr, _ := bitcoin.ParseAddress(b.Address, bitcoin.Regtest)
	ext, err := bwal.BuildSpend(bitcoin.SpendRequest{UTXOs: free, Outputs: []bitcoin.Output{{Address: baddr, Value: 7_000}}, FeeRate: bitcoin.SatPerVByte(3), MinConf: 1})
	if err != nil {
		t.Fatal(err)
	}
	var pbuf bytes.Buffer
	ext.Packet.Serialize(&pbuf)
	imp, err := s.svc.SignPSBT(ctx, d.ID, wallet.SignPSBTRequest{PSBT: base64.StdEncoding.EncodeToString(pbuf.Bytes()), Broadcast: true})
	if err != nil || imp.Status != wallet.StatusBroadcast || imp.Amount != 7_000 || imp.Fee != ext.Fee || imp.Change != ext.Change {
		t.Fatalf("external PSBT: %+v %v", imp, err)
	}
	s.env.Mine(1)
	if err := s.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{built2.ID, imp.ID} {
		if got, _ := s.svc.GetTransaction(ctx, d.ID, id); got.Status != wallet.StatusConfirmed {
			t.Fatalf("%s after mining: %+v", id, got)
		}
	}

	// An abandoned PSBT's locks expire; Refresh fails it and the coins come back.
	short := s.env.OpenService(func(c *wallet.Config) { c.PSBTLockTTL = time.Millisecond; c.Database = s.dsn(t) })
	c := s.newWallet(t, "abandon", 30_000)
	p, err := short.BuildPSBT(ctx, c.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 5_000}}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := short.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = s.svc.GetTransaction(ctx, c.ID, p.ID)
	us, _ = s.svc.UTXOs(ctx, c.ID)
	if got.Status != wallet.StatusFailed || len(us) != 1 || us[0].Locked {
		t.Fatalf("abandoned PSBT: %+v, utxos %+v", got, us)
	}
}

// testTrack: the Track loop confirms a broadcast transaction without an
// explicit Refresh.
func (s *suite) testTrack(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	tracker := s.env.OpenService(func(c *wallet.Config) { c.Database = s.dsn(t); c.PollInterval = 100 * time.Millisecond })
	tctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); tracker.Track(tctx) }()
	defer func() { cancel(); <-done }()
	a := s.newWallet(t, "tracked", 30_000)
	tx, err := s.svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: a.Address, Amount: 1_000}}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.env.Mine(1)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := s.svc.GetTransaction(ctx, a.ID, tx.ID)
		if err == nil && got.Status == wallet.StatusConfirmed && got.Confirmations >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not confirmed by Track within 20 s: %+v %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testHSMOutage: with f+1 replicas down the HSM cannot sign; Send fails
// with ErrUnavailable and leaves its transaction built with the inputs
// reserved; once the replicas are back, a retry with the same key signs
// and broadcasts that very transaction.
func (s *suite) testHSMOutage(t *testing.T) {
	ctx := ctxT(t, 3*time.Minute)
	a := s.newWallet(t, "outage", 25_000)
	// Signing needs t+1 = 2 live replicas (no log): with three down it fails.
	s.env.Cluster.Kill(2)
	s.env.Cluster.Kill(3)
	s.env.Cluster.Kill(4)
	req := wallet.SendRequest{Outputs: []wallet.Output{{Address: a.Address, Amount: 2_000}}, FeeRate: 2, IdempotencyKey: "outage-1"}
	start := time.Now()
	short, cancel := context.WithTimeout(ctx, 6*time.Second) // a client giving up
	_, err := s.svc.Send(short, a.ID, req)
	cancel()
	t.Logf("send with 3 of 4 replicas down failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, wallet.ErrUnavailable) {
		t.Fatalf("send without quorum: %v, want ErrUnavailable", err)
	}
	hist, _ := s.svc.Transactions(ctx, a.ID)
	var built *wallet.Transaction
	for i := range hist {
		if hist[i].Direction == "out" {
			built = &hist[i]
		}
	}
	// Encryption of the send's metadata needs t+1 replicas too, so the send
	// fails before or after building: either nothing is built and the coin is
	// free, or the built transaction keeps it locked for the retry.
	us, _ := s.svc.UTXOs(ctx, a.ID)
	if len(us) != 1 || (built == nil) == us[0].Locked || (built != nil && built.Status != wallet.StatusBuilt) {
		t.Fatalf("after the failed send: %+v, utxos %+v", built, us)
	}
	s.env.Cluster.Restart(2)
	s.env.Cluster.Restart(3)
	s.env.Cluster.Restart(4)
	if err := s.env.Cluster.WaitReady(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	tx, err := s.svc.Send(ctx, a.ID, req)
	if err != nil || tx.Status != wallet.StatusBroadcast || (built != nil && (tx.ID != built.ID || tx.TxID != built.TxID)) {
		t.Fatalf("retry after recovery: %+v %v (built %+v)", tx, err, built)
	}
}

// dsn returns the database of the suite's service, for another Service.
func (s *suite) dsn(t *testing.T) string {
	if s.pg {
		return pgDSN
	}
	return "sqlite:" + s.env.DBPath
}

func (s *suite) testValidator(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	req := wallet.CreateValidatorRequest{Network: "hoodi", Label: "val-1", WithdrawalAddress: "0x" + strings.Repeat("ab", 20), IdempotencyKey: "val-1"}
	v, err := s.svc.CreateValidator(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind != wallet.KindValidator || len(v.PublicKey) != 96 || v.WithdrawalAddress != req.WithdrawalAddress || v.Compounding {
		t.Fatalf("validator: %+v", v)
	}
	again, err := s.svc.CreateValidator(ctx, req)
	if err != nil || again.ID != v.ID {
		t.Fatalf("retry: %+v %v", again, err)
	}
	// The key is a validator key from its creation: it signs typed
	// requests only (the deposit and exits below), never a bare root.
	if info, err := s.env.HSM.PublicKey(ctx, v.KeyID); err != nil || info.Usage != wire.UsageEth2Validator {
		t.Fatalf("validator key usage %q: %v", info.Usage, err)
	}
	if _, err := s.env.HSM.SignBLS(ctx, v.KeyID, make([]byte, 32)); err == nil || !strings.Contains(err.Error(), "validator key") {
		t.Fatalf("raw signing with a validator key: %v", err)
	}
	for _, bad := range []wallet.CreateValidatorRequest{
		{Network: "hoodi", WithdrawalAddress: "0x1234"},
		{Network: "hoodi"},
		{Network: "nonet", WithdrawalAddress: req.WithdrawalAddress},
	} {
		if _, err := s.svc.CreateValidator(ctx, bad); !errors.Is(err, wallet.ErrInvalid) {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	net, _ := ethereum.NetworkByName("hoodi")
	dep, err := s.svc.DepositData(ctx, v.ID, wallet.DepositDataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dep.Verify(net); err != nil {
		t.Fatalf("deposit does not verify: %v", err)
	}
	if dep.Amount != 32e9 || dep.WithdrawalCredentials.Prefix() != 0x01 || hex.EncodeToString(dep.Pubkey[:]) != v.PublicKey {
		t.Fatalf("deposit: %+v", dep)
	}
	file, err := ethereum.MarshalDepositFile([]ethereum.DepositEntry{dep})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ethereum.ParseDepositFile(file)
	if err != nil || len(parsed) != 1 || parsed[0].Verify(net) != nil {
		t.Fatalf("deposit file round trip: %v", err)
	}
	if _, err := s.svc.DepositData(ctx, v.ID, wallet.DepositDataRequest{AmountGwei: 64e9}); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("64 ETH on 0x01: %v", err)
	}
	ex, err := s.svc.Exit(ctx, v.ID, wallet.ExitRequest{ValidatorIndex: 1234, Epoch: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Verify(net, dep.Pubkey); err != nil || ex.Message.ValidatorIndex != 1234 {
		t.Fatalf("exit: %+v %v", ex, err)
	}
	// An exit does not record the index: a first call with a wrong index
	// must not bind the validator to it.
	if got, err := s.svc.GetValidator(ctx, v.ID); err != nil || got.ValidatorIndex != nil {
		t.Fatalf("after an exit: %+v %v", got, err)
	}
	if _, err := s.svc.Exit(ctx, v.ID, wallet.ExitRequest{ValidatorIndex: 99, Epoch: 5000}); err != nil {
		t.Fatalf("exit with another index before one is recorded: %v", err)
	}
	// An admin records it, then corrects it; exits must use the recorded one.
	for _, idx := range []uint64{99, 1234} {
		if got, err := s.svc.SetValidatorIndex(ctx, v.ID, idx); err != nil || got.ValidatorIndex == nil || *got.ValidatorIndex != int64(idx) {
			t.Fatalf("set index %d: %+v %v", idx, got, err)
		}
	}
	if _, err := s.svc.Exit(ctx, v.ID, wallet.ExitRequest{ValidatorIndex: 99, Epoch: 5000}); !errors.Is(err, wallet.ErrConflict) {
		t.Fatalf("exit with another index: %v", err)
	}
	if _, err := s.svc.Exit(ctx, v.ID, wallet.ExitRequest{ValidatorIndex: 1234, Epoch: 5000}); err != nil {
		t.Fatalf("exit with the recorded index: %v", err)
	}
	got, err := s.svc.GetValidator(ctx, v.ID)
	if err != nil || got.ValidatorIndex == nil || *got.ValidatorIndex != 1234 || got.Label != "val-1" {
		t.Fatalf("get: %+v %v", got, err)
	}
	comp, err := s.svc.CreateValidator(ctx, wallet.CreateValidatorRequest{Network: "hoodi", WithdrawalAddress: req.WithdrawalAddress, Compounding: true})
	if err != nil {
		t.Fatal(err)
	}
	dep2, err := s.svc.DepositData(ctx, comp.ID, wallet.DepositDataRequest{AmountGwei: 64e9})
	if err != nil || dep2.Verify(net) != nil || dep2.WithdrawalCredentials.Prefix() != 0x02 {
		t.Fatalf("compounding deposit: %+v %v", dep2, err)
	}
	if _, err := s.svc.SetValidatorIndex(ctx, comp.ID, 1234); !errors.Is(err, wallet.ErrConflict) {
		t.Fatalf("two validators with one index: %v", err)
	}
	list, _ := s.svc.ListWallets(ctx)
	vals, _ := s.svc.ListValidators(ctx)
	inList := false
	for _, w := range list {
		inList = inList || w.ID == v.ID && w.Kind == wallet.KindValidator
	}
	if !inList || len(vals) < 2 {
		t.Fatalf("validator missing from lists: %d validators", len(vals))
	}
	if _, err := s.svc.Balance(ctx, v.ID); !errors.Is(err, wallet.ErrUnsupported) {
		t.Fatalf("balance of a validator: %v", err)
	}
	if _, err := s.svc.GetValidator(ctx, list[0].ID); list[0].Kind == wallet.KindBitcoin && !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("bitcoin wallet as validator: %v", err)
	}
}

func (s *suite) testTokens(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	boot, created, err := s.svc.EnsureBootstrapToken(ctx, "bootstrap")
	if err != nil || !created || !strings.HasPrefix(boot, "vhsm_") {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	if again, created, err := s.svc.EnsureBootstrapToken(ctx, "bootstrap"); err != nil || created || again != "" {
		t.Fatalf("second bootstrap: %v %v", created, err)
	}
	adm, err := s.svc.Authenticate(ctx, boot)
	if err != nil || !wallet.HasScope(adm, wallet.ScopeAdmin) || !wallet.HasScope(adm, wallet.ScopeRead) {
		t.Fatalf("bootstrap token: %+v %v", adm, err)
	}
	sec, tok, err := s.svc.CreateToken(ctx, "reader", []string{"read"}, time.Hour)
	if err != nil || tok.ExpiresAt == nil {
		t.Fatal(err)
	}
	got, err := s.svc.Authenticate(ctx, sec)
	if err != nil || got.ID != tok.ID || got.LastUsed == nil || wallet.HasScope(got, wallet.ScopeSpend) || !wallet.HasScope(got, wallet.ScopeRead) {
		t.Fatalf("auth: %+v %v", got, err)
	}
	var stored string
	s.raw.QueryRow(`SELECT secret_hash FROM tokens WHERE id = '` + tok.ID + `'`).Scan(&stored)
	if stored == "" || strings.Contains(stored, sec[5:15]) {
		t.Fatalf("token stored as %q", stored)
	}
	for _, bad := range []string{"", sec + "x", sec[:len(sec)-1] + "A", "vhsm_" + strings.Repeat("A", 43), "Bearer " + sec} {
		if bad == sec {
			continue
		}
		if _, err := s.svc.Authenticate(ctx, bad); !errors.Is(err, wallet.ErrUnauthorized) {
			t.Fatalf("auth %q: %v", bad, err)
		}
	}
	if err := s.svc.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Authenticate(ctx, sec); !errors.Is(err, wallet.ErrUnauthorized) {
		t.Fatalf("revoked: %v", err)
	}
	if err := s.svc.RevokeToken(ctx, "tok_0000000000000000"); !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	exp, _, err := s.svc.CreateToken(ctx, "short", []string{"spend"}, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := s.svc.Authenticate(ctx, exp); !errors.Is(err, wallet.ErrUnauthorized) {
		t.Fatalf("expired: %v", err)
	}
	if _, _, err := s.svc.CreateToken(ctx, "x", []string{"root"}, 0); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("bad scope: %v", err)
	}
	list, err := s.svc.ListTokens(ctx)
	if err != nil || len(list) < 3 {
		t.Fatalf("list: %d %v", len(list), err)
	}
}

// testMetadata: labels and notes are not in the database in plaintext, and
// a ciphertext moved to another row does not decrypt there.
func (s *suite) testMetadata(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	secret := "label-" + hex.EncodeToString([]byte(t.Name()))[:16]
	a, err := s.svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: secret})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "other label"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.pg {
		// grep the database files (main file and WAL) for the label and the notes.
		s.raw.Exec(`PRAGMA wal_checkpoint(FULL)`)
		for _, suffix := range []string{"", "-wal"} {
			data, _ := os.ReadFile(s.env.DBPath + suffix)
			for _, needle := range []string{secret, "savings €", "psbt note", "rent", hex.EncodeToString([]byte(secret))} {
				if bytes.Contains(data, []byte(needle)) {
					t.Fatalf("%q found in plaintext in %s", needle, filepath.Base(s.env.DBPath+suffix))
				}
			}
		}
		fi, err := os.Stat(s.env.DBPath)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("database mode %v %v", fi.Mode(), err)
		}
	}
	var n int
	s.raw.QueryRow(`SELECT COUNT(*) FROM wallets WHERE label LIKE '%label-%' OR label LIKE '%savings%'`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d plaintext labels in the wallets table", n)
	}
	// The stored value is a DiSE ciphertext: longer than the label, and
	// its bytes do not contain the label in any plain encoding.
	var stored string
	if err := s.raw.QueryRow(rebind(s.pg, `SELECT label FROM wallets WHERE id = ?`), a.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	ct, err := hex.DecodeString(stored)
	if err != nil || len(ct) <= len(secret)+16 || bytes.Contains(ct, []byte(secret)) || strings.Contains(stored, hex.EncodeToString([]byte(secret))) {
		t.Fatalf("label stored as %q", stored)
	}
	if pt, err := s.env.HSM.Decrypt(ctx, "wallet-metadata", ct); err != nil || !bytes.HasSuffix(pt, []byte(secret)) {
		t.Fatalf("stored label is not a metadata-key ciphertext of the label: %v", err)
	}
	// Swap: copy a's label ciphertext into b's row.
	if _, err := s.raw.Exec(rebind(s.pg, `UPDATE wallets SET label = (SELECT label FROM wallets WHERE id = ?) WHERE id = ?`), a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	fresh := s.env.OpenService(func(c *wallet.Config) { c.Database = s.dsn(t) }) // empty cache
	if _, err := fresh.GetWallet(ctx, b.ID); !errors.Is(err, wallet.ErrRejected) {
		t.Fatalf("swapped label: %v, want ErrRejected", err)
	}
	if _, err := s.svc.GetWallet(ctx, b.ID); !errors.Is(err, wallet.ErrRejected) {
		t.Fatalf("swapped label (cached service): %v, want ErrRejected", err)
	}
	if got, err := fresh.GetWallet(ctx, a.ID); err != nil || got.Label != secret {
		t.Fatalf("original row: %+v %v", got, err)
	}
	// Repair, so that later listings work.
	if _, err := s.raw.Exec(rebind(s.pg, `DELETE FROM wallets WHERE id = ?`), b.ID); err != nil {
		t.Fatal(err)
	}
}

func rebind(pg bool, q string) string {
	if !pg {
		return q
	}
	n := 0
	var b strings.Builder
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + string(rune('0'+n)))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// testReopen: re-opening migrates nothing and keeps everything; a
// database from a newer version is refused.
func (s *suite) testReopen(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	before, err := s.svc.ListWallets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again := s.env.OpenService(func(c *wallet.Config) { c.Database = s.dsn(t) })
	v, err := wallet.SchemaVersion(again)
	if err != nil || v != wallet.Migrations {
		t.Fatalf("schema version %d %v, want %d", v, err, wallet.Migrations)
	}
	after, err := again.ListWallets(ctx)
	if err != nil || len(after) != len(before) {
		t.Fatalf("after re-open: %d wallets (%v), want %d", len(after), err, len(before))
	}
	if _, err := s.raw.Exec(rebind(s.pg, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`), wallet.Migrations+1); err != nil {
		t.Fatal(err)
	}
	defer s.raw.Exec(rebind(s.pg, `DELETE FROM schema_migrations WHERE version = ?`), wallet.Migrations+1)
	cfg := s.env.Config
	cfg.Database = s.dsn(t)
	if svc, err := wallet.Open(ctx, cfg); !errors.Is(err, wallet.ErrUnsupported) {
		if svc != nil {
			svc.Close()
		}
		t.Fatalf("newer schema: %v, want ErrUnsupported", err)
	}
}

// testSQLiteFile: a fresh SQLite database is created with mode 0600.
func testSQLiteFile(t *testing.T, env *wallettest.Env) {
	path := filepath.Join(t.TempDir(), "sub", "w.db")
	env.OpenService(func(c *wallet.Config) { c.Database = path })
	for _, suffix := range []string{"", "-wal"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			if suffix != "" && errors.Is(err, os.ErrNotExist) {
				continue
			}
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v", filepath.Base(path+suffix), fi.Mode().Perm())
		}
	}
}
