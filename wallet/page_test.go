package wallet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// emptyChain is a backend with no UTXOs that knows no transaction.
type emptyChain struct{}

func (emptyChain) UTXOs(context.Context, btcutil.Address) ([]bitcoin.UTXO, error) { return nil, nil }
func (emptyChain) FeeRate(context.Context, int) (bitcoin.FeeRate, error)          { return 1000, nil }
func (emptyChain) Broadcast(context.Context, *btcwire.MsgTx) (chainhash.Hash, error) {
	return chainhash.Hash{}, bitcoin.ErrBackend
}
func (emptyChain) TxStatus(context.Context, chainhash.Hash) (bitcoin.TxStatus, error) {
	return bitcoin.TxStatus{}, bitcoin.ErrNotFound
}

// pageEnv is a store-only service with one Bitcoin wallet on emptyChain.
func pageEnv(t *testing.T) (*Service, *testClock, string) {
	t.Helper()
	s, clk := storeOnly(t)
	s.cfg.Bitcoin = map[string]bitcoin.Backend{"regtest": emptyChain{}}
	bw := testWallet(t)
	pub := hex.EncodeToString(bw.w.OutputKey().SerializeCompressed()[1:])
	_, err := s.st.q().exec(context.Background(), `INSERT INTO wallets (`+walletCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, '', 0, NULL, ?)`,
		bw.r.w.ID, KindBitcoin, "regtest", "vw-1", pub, bw.r.w.Address, "", clk.t.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, bw.r.w.ID
}

func insertTx(t *testing.T, s *Service, walletID string, n int, created int64) string {
	t.Helper()
	id := fmt.Sprintf("tx_%024x", n)
	_, err := s.st.q().exec(context.Background(), `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, status, outputs, created_at, updated_at)
		VALUES (?, ?, ?, '', ?, ?, '[]', ?, ?)`, id, walletID, "k"+id, originSend, StatusBroadcast, created, created)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestTransactionsPage walks a history with ties in created_at, while new
// transactions are recorded between pages: every transaction present at
// the start is returned exactly once, in the order of Transactions, and
// none recorded later appears on a later page.
func TestTransactionsPage(t *testing.T) {
	ctx := context.Background()
	s, _, wid := pageEnv(t)
	for i := 1; i <= 11; i++ {
		insertTx(t, s, wid, i, int64(1000+i/3)) // ties: 3 rows share a time
	}
	all, err := s.Transactions(ctx, wid)
	if err != nil || len(all) != 11 {
		t.Fatalf("all: %d %v", len(all), err)
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("pagination does not end")
		}
		p, err := s.TransactionsPage(ctx, wid, TxPageRequest{Limit: 4, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Transactions) > 4 {
			t.Fatalf("page of %d", len(p.Transactions))
		}
		for _, x := range p.Transactions {
			got = append(got, x.ID)
		}
		// Newer transactions arrive meanwhile.
		insertTx(t, s, wid, 100+page, int64(5000+page))
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(got) != len(all) {
		t.Fatalf("paged %d transactions, want %d: %v", len(got), len(all), got)
	}
	for i := range all {
		if got[i] != all[i].ID {
			t.Fatalf("position %d: %s, want %s", i, got[i], all[i].ID)
		}
	}
	// Exactly one page when it fits; no cursor.
	p, err := s.TransactionsPage(ctx, wid, TxPageRequest{Limit: MaxPageLimit})
	if err != nil || p.NextCursor != "" || len(p.Transactions) != 11+3 {
		t.Fatalf("one page: %d %q %v", len(p.Transactions), p.NextCursor, err)
	}
	for _, bad := range []TxPageRequest{{Limit: -1}, {Limit: MaxPageLimit + 1}, {Cursor: "x"}, {Cursor: encodeCursor(cursorPos{1, "tx_1"})},
		{Cursor: strings.Repeat("A", 200)}} {
		if _, err := s.TransactionsPage(ctx, wid, bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.TransactionsPage(ctx, "w_000000000000000000000099", TxPageRequest{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown wallet: %v", err)
	}
}

// FuzzDecodeCursor: a cursor from outside either decodes to a position
// that encodes back to the same cursor, or is ErrInvalid.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(cursorPos{created: 1765000000000000000, id: "tx_0123456789abcdef01234567"}))
	f.Add(encodeCursor(cursorPos{created: 0, id: "tx_000000000000000000000000"}))
	f.Add("")
	f.Add("aDEuMDEu")
	f.Add("aDEuLTEudHhfMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3")
	f.Fuzz(func(t *testing.T, c string) {
		p, err := decodeCursor(c)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if p.created < 0 {
			t.Fatalf("negative position %d", p.created)
		}
		if back := encodeCursor(p); back != c {
			t.Fatalf("cursor %q decodes to %+v, which encodes to %q", c, p, back)
		}
	})
}
