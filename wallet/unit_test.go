package wallet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// testClock is a settable clock.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// storeOnly returns a Service with a SQLite store and no HSM: enough for
// tokens, migrations, validation and locks.
func storeOnly(t testing.TB) (*Service, *testClock) {
	t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, "sqlite:"+filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.db.Close() })
	if err := st.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := &Service{cfg: Config{MinConf: 1, MaxFeeRate: 10000, PSBTLockTTL: time.Hour}, st: st,
		log: slog.New(slog.DiscardHandler), now: clk.now, cache: newLabelCache(4), flows: map[string]*flowLock{}}
	return s, clk
}

// testWallet is a regtest wallet on a fixed key (no HSM).
func testWallet(t testing.TB) *btcWallet {
	t.Helper()
	seed := sha256.Sum256([]byte("wallet unit test"))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	w, err := bitcoin.NewWallet("k", schnorr.SerializePubKey(priv.PubKey()), bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	return &btcWallet{r: &row{w: Wallet{ID: "w_000000000000000000000001", Kind: KindBitcoin, Network: "regtest",
		Address: w.Address().EncodeAddress()}}, w: w, net: bitcoin.Regtest}
}

func TestRebind(t *testing.T) {
	pg := &store{dialect: dialectPostgres}
	if got := pg.rebind(`SELECT a FROM t WHERE x = ? AND y IN (?, ?)`); got != `SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)` {
		t.Fatal(got)
	}
	lite := &store{dialect: dialectSQLite}
	if got := lite.rebind(`x = ?`); got != `x = ?` {
		t.Fatal(got)
	}
}

func TestMigrations(t *testing.T) {
	s, _ := storeOnly(t)
	ctx := context.Background()
	if err := s.st.migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	v, err := s.st.schemaVersion(ctx)
	if err != nil || v != len(migrations) {
		t.Fatalf("version %d %v", v, err)
	}
	var n int
	s.st.q().row(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
	if n != len(migrations) {
		t.Fatalf("%d rows in schema_migrations", n)
	}
	if _, err := s.st.q().exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	if err := s.st.migrate(ctx); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("newer database: %v", err)
	}
	if _, err := openStore(ctx, "sqlite:"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty path: %v", err)
	}
}

// TestLockRace: the outpoint primary key makes the second reservation of
// a UTXO fail as a unique violation (what reserve retries on).
func TestLockRace(t *testing.T) {
	s, _ := storeOnly(t)
	ctx := context.Background()
	q := s.st.q()
	if _, err := q.exec(ctx, `INSERT INTO wallets (`+walletCols+`) VALUES ('w_1', 'bitcoin', 'regtest', 'k', '', '', '', '', 0, NULL, 0)`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"tx_1", "tx_2"} {
		if _, err := q.exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, status, outputs, created_at, updated_at)
			VALUES (?, 'w_1', ?, '', 'send', 'built', '[]', 0, 0)`, id, id); err != nil {
			t.Fatal(err)
		}
	}
	op := btcwire.OutPoint{Hash: chainhash.Hash{1}, Index: 2}
	lock := func(tx string) error {
		return s.st.inTx(ctx, func(q dbq) error {
			_, err := q.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, expires_at, created_at) VALUES (?, 'w_1', ?, 1, 0, 0)`, outpointKey(op), tx)
			return err
		})
	}
	if err := lock("tx_1"); err != nil {
		t.Fatal(err)
	}
	if err := lock("tx_2"); !isUnique(err) {
		t.Fatalf("second lock: %v, want a unique violation", err)
	}
	lk, err := s.locks(ctx, q, "w_1")
	if err != nil || lk[outpointKey(op)].txID != "tx_1" {
		t.Fatalf("locks: %v %v", lk, err)
	}
	// An expired lock no longer counts.
	q.exec(ctx, `UPDATE utxo_locks SET expires_at = 1`)
	if lk, _ := s.locks(ctx, q, "w_1"); len(lk) != 0 {
		t.Fatalf("expired lock still counts: %v", lk)
	}
	// Idempotency keys are unique per wallet.
	_, err = q.exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, status, outputs, created_at, updated_at)
		VALUES ('tx_3', 'w_1', 'tx_1', '', 'send', 'built', '[]', 0, 0)`)
	if !isUnique(err) {
		t.Fatalf("duplicate idempotency key: %v", err)
	}
}

func TestTokensUnit(t *testing.T) {
	s, clk := storeOnly(t)
	ctx := context.Background()
	sec, tok, err := s.CreateToken(ctx, "ci", []string{"spend", "read", "spend"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(sec) != tokenSecretLen || !strings.HasPrefix(sec, "vhsm_") || len(tok.ID) != 20 || strings.Join(tok.Scopes, ",") != "read,spend" {
		t.Fatalf("token %+v (secret length %d)", tok, len(sec))
	}
	got, err := s.Authenticate(ctx, sec)
	if err != nil || got.ID != tok.ID || got.LastUsed == nil || !got.LastUsed.Equal(clk.t) {
		t.Fatalf("auth: %+v %v", got, err)
	}
	clk.t = clk.t.Add(10 * time.Second)
	got, _ = s.Authenticate(ctx, sec)
	if got.LastUsed.Equal(clk.t) {
		t.Fatal("LastUsed written more than once a minute")
	}
	clk.t = clk.t.Add(2 * time.Minute)
	got, _ = s.Authenticate(ctx, sec)
	if !got.LastUsed.Equal(clk.t) {
		t.Fatal("LastUsed not updated after a minute")
	}
	clk.t = clk.t.Add(time.Hour)
	if _, err := s.Authenticate(ctx, sec); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("expired: %v", err)
	}
	sec2, tok2, _ := s.CreateToken(ctx, "x", []string{"admin"}, 0)
	if err := s.RevokeToken(ctx, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, tok2.ID); err != nil {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := s.Authenticate(ctx, sec2); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoked: %v", err)
	}
	for _, bad := range [][]string{nil, {"root"}, {""}} {
		if _, _, err := s.CreateToken(ctx, "n", bad, 0); !errors.Is(err, ErrInvalid) {
			t.Fatalf("scopes %q: %v", bad, err)
		}
	}
	if _, _, err := s.CreateToken(ctx, "", []string{"read"}, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty name: %v", err)
	}
	b, created, err := s.EnsureBootstrapToken(ctx, "admin")
	if err != nil || !created {
		t.Fatal(err)
	}
	if _, created, _ := s.EnsureBootstrapToken(ctx, "admin"); created {
		t.Fatal("bootstrap token created twice")
	}
	if _, _, err := s.createToken(ctx, "admin", []string{"admin"}, 0, true); !errors.Is(err, errBootstrapExists) {
		t.Fatalf("second bootstrap row: %v", err)
	}
	adm, err := s.Authenticate(ctx, b)
	if err != nil || RequireScope(adm, ScopeSpend) != nil {
		t.Fatalf("bootstrap: %+v %v", adm, err)
	}
	var hash string
	s.st.q().row(ctx, `SELECT secret_hash FROM tokens WHERE id = ?`, adm.ID).Scan(&hash)
	if hash != hashSecret(b) || strings.Contains(hash, b[5:]) {
		t.Fatal("secret not stored as its hash")
	}
}

func TestHasScope(t *testing.T) {
	for _, c := range []struct {
		have []string
		want string
		ok   bool
	}{
		{[]string{"read"}, "read", true},
		{[]string{"read"}, "spend", false},
		{[]string{"spend"}, "read", true},
		{[]string{"spend"}, "admin", false},
		{[]string{"admin"}, "spend", true},
		{[]string{"admin"}, "bogus", false},
		{nil, "read", false},
		{[]string{"bogus"}, "read", false},
	} {
		if got := HasScope(Token{Scopes: c.have}, c.want); got != c.ok {
			t.Errorf("HasScope(%v, %s) = %v", c.have, c.want, got)
		}
		if err := RequireScope(Token{Scopes: c.have}, c.want); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrForbidden)) {
			t.Errorf("RequireScope(%v, %s) = %v", c.have, c.want, err)
		}
	}
}

func TestLabelCache(t *testing.T) {
	c := newLabelCache(2)
	c.putBound("ct1", "a", "wallets", "w_1", "label")
	if v, ok := c.get("ct1", "wallets", "w_1", "label"); !ok || v != "a" {
		t.Fatal("cache miss")
	}
	if _, ok := c.get("ct1", "wallets", "w_2", "label"); ok {
		t.Fatal("cached plaintext served for another row")
	}
	if _, ok := c.get("ct1", "wallets", "w_1", "note"); ok {
		t.Fatal("cached plaintext served for another field")
	}
	c.putBound("ct2", "b", "wallets", "w_2", "label")
	c.putBound("ct3", "c", "wallets", "w_3", "label")
	if len(c.m) > 2 {
		t.Fatalf("cache grew to %d", len(c.m))
	}
}

func TestParseSend(t *testing.T) {
	s, _ := storeOnly(t)
	bw := testWallet(t)
	p2wpkh := "bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqdku202"
	ok := []SendRequest{
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 330}}},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 0}}, SendMax: true, FeeRate: 10000},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 1000}, {Address: bw.r.w.Address, Amount: 2000}}, Note: "line\nline"},
	}
	for _, r := range ok {
		if _, err := s.parseSend(bw, originSend, r); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
	many := make([]Output, MaxOutputs+1)
	for i := range many {
		many[i] = Output{Address: bw.r.w.Address, Amount: 1000}
	}
	bad := []SendRequest{
		{},
		{Outputs: many},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 329}}},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 21e14 + 1}}},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 1e15}, {Address: bw.r.w.Address, Amount: 2e15}}},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 1000}}, SendMax: true},
		{Outputs: []Output{{Address: bw.r.w.Address}, {Address: bw.r.w.Address}}, SendMax: true},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 1000}}, FeeRate: -1},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 1000}}, FeeRate: 10001},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 1000}}, Note: "\x07"},
		{Outputs: []Output{{Address: bw.r.w.Address, Amount: 1000}}, IdempotencyKey: "has space"},
		{Outputs: []Output{{Address: "tb1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqp3mvzv", Amount: 1000}}},
		{Outputs: []Output{{Address: p2wpkh, Amount: 293}}},
	}
	for _, r := range bad {
		if _, err := s.parseSend(bw, originSend, r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", r, err)
		}
	}
	a, _ := s.parseSend(bw, originSend, ok[0])
	b, _ := s.parseSend(bw, originPSBT, ok[0])
	c, _ := s.parseSend(bw, originSend, ok[2])
	if a.hash == b.hash || a.hash == c.hash {
		t.Fatal("request digests collide")
	}
}

// FuzzParseSend: send request validation never panics, and what it
// accepts is within bounds.
func FuzzParseSend(f *testing.F) {
	bw := testWallet(f)
	f.Add(bw.r.w.Address, int64(1000), int64(2), "note", false, "key-1", "", int64(0))
	f.Add(bw.r.w.Address, int64(0), int64(0), "", true, "", bw.r.w.Address, int64(5))
	f.Add("bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqdku202", int64(294), int64(10000), "\n", false, "\xff", "x", int64(-1))
	f.Add("", int64(-1), int64(-1), strings.Repeat("é", 501), true, strings.Repeat("k", 256), "bc1q", int64(1<<62))
	s, _ := storeOnly(f)
	f.Fuzz(func(t *testing.T, addr string, amount, rate int64, note string, max bool, idem, addr2 string, amount2 int64) {
		req := SendRequest{Outputs: []Output{{Address: addr, Amount: amount}}, FeeRate: rate, Note: note, SendMax: max, IdempotencyKey: idem}
		if addr2 != "" {
			req.Outputs = append(req.Outputs, Output{Address: addr2, Amount: amount2})
		}
		p, err := s.parseSend(bw, originSend, req)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if rate < 0 || rate > 10000 || len(p.outs) != len(req.Outputs) {
			t.Fatalf("accepted %+v", req)
		}
		for _, o := range req.Outputs {
			if !max && (o.Amount < 294 || o.Amount > 21e14) {
				t.Fatalf("accepted amount %d", o.Amount)
			}
		}
	})
}

// FuzzSignPSBTRequest: the PSBT import path never panics and refuses
// with ErrInvalid.
func FuzzSignPSBTRequest(f *testing.F) {
	bw := testWallet(f)
	sp, err := bw.w.BuildSpend(bitcoin.SpendRequest{
		UTXOs:   []bitcoin.UTXO{{OutPoint: btcwire.OutPoint{Hash: chainhash.Hash{7}, Index: 1}, Value: 100_000, PkScript: bw.w.PkScript(), Confirmations: 3}},
		Outputs: []bitcoin.Output{{Address: bw.w.Address(), Value: 20_000}}, FeeRate: bitcoin.SatPerVByte(2), MinConf: 1})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	sp.Packet.Serialize(&buf)
	good := base64.StdEncoding.EncodeToString(buf.Bytes())
	f.Add(good, "")
	f.Add(" "+good+"\n", "k")
	f.Add(good[:40], "")
	f.Add("cHNidP8BAAoCAAAAAAAAAAAAAA==", "")
	f.Add("", "")
	f.Add("%%%", "a b")
	f.Fuzz(func(t *testing.T, p, idem string) {
		pkt, plan, err := decodePSBTRequest(bw, SignPSBTRequest{PSBT: p, IdempotencyKey: idem})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if len(pkt.Inputs) == 0 || len(pkt.Inputs) != len(pkt.UnsignedTx.TxIn) || len(plan.Prevouts) != len(pkt.Inputs) {
			t.Fatal("accepted a PSBT without matching inputs")
		}
		if len(plan.Own) == 0 || len(plan.Own)+len(plan.Foreign) != len(pkt.Inputs) {
			t.Fatalf("plan does not cover the inputs: own %v foreign %v", plan.Own, plan.Foreign)
		}
		for _, i := range plan.Own {
			if !bytes.Equal(plan.Prevouts[i].PkScript, bw.w.PkScript()) {
				t.Fatal("planned to sign a foreign input")
			}
		}
		for _, i := range plan.Foreign {
			if bytes.Equal(plan.Prevouts[i].PkScript, bw.w.PkScript()) {
				t.Fatal("left an own input unsigned")
			}
		}
	})
}

// FuzzAuthenticate: any presented secret is refused with ErrUnauthorized,
// without panicking, unless it is the real one.
func FuzzAuthenticate(f *testing.F) {
	s, _ := storeOnly(f)
	sec, _, err := s.CreateToken(context.Background(), "t", []string{"read"}, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sec)
	f.Add(sec[:len(sec)-1] + "B")
	f.Add("vhsm_")
	f.Add("")
	f.Add("vhsm_" + strings.Repeat("\x00", 43))
	f.Fuzz(func(t *testing.T, secret string) {
		tok, err := s.Authenticate(context.Background(), secret)
		if secret == sec {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if !errors.Is(err, ErrUnauthorized) || tok.ID != "" {
			t.Fatalf("accepted %q: %+v %v", secret, tok, err)
		}
	})
}

// FuzzFieldChecks: the text, key and id checks never panic and what they
// accept satisfies their contract.
func FuzzFieldChecks(f *testing.F) {
	f.Add("savings", "key-1", "w_0123456789abcdef01234567")
	f.Add("a\x00b", "with space", "w_0123456789ABCDEF01234567")
	f.Add(strings.Repeat("€", 101), strings.Repeat("k", 256), "tx_")
	f.Add("\xff", "é", "'; DROP TABLE wallets; --")
	f.Fuzz(func(t *testing.T, text, key, id string) {
		if checkText("label", text, MaxLabelLen, false) == nil {
			if strings.ContainsAny(text, "\x00\n\r\t") || len([]rune(text)) > MaxLabelLen {
				t.Fatalf("accepted label %q", text)
			}
		}
		if checkIdempotencyKey(key) == nil && (len(key) > MaxIdempotencyKeyLen || strings.ContainsAny(key, " \x00")) {
			t.Fatalf("accepted key %q", key)
		}
		if err := checkID("wallet", "w_", id, 24); err == nil {
			if len(id) != 26 || strings.ToLower(id) != id {
				t.Fatalf("accepted id %q", id)
			}
		} else if !errors.Is(err, ErrNotFound) {
			t.Fatalf("id error %v", err)
		}
		_ = truncate(text, 10)
	})
}
