package wallet_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"

	"github.com/vhsm/vhsm/chains/bitcoin/hd"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
)

// theirAddress derives root/branch/idx from the xpub string with btcutil's hdkeychain and its
// BIP-86 address with txscript: an implementation nobody here wrote.
func theirAddress(t *testing.T, xpub string, branch, idx uint32) string {
	t.Helper()
	k, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil {
		t.Fatal(err)
	}
	if k, err = k.Derive(branch); err == nil {
		k, err = k.Derive(idx)
	}
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := btcutil.NewAddressTaproot(schnorr.SerializePubKey(txscript.ComputeTaprootKeyNoScript(pub)), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// TestAddresses runs the derived-address steps on a real cluster and btcd regtest, on SQLite and
// (when available) PostgreSQL.
func TestAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replica cluster and btcd")
	}
	env := wallettest.Start(t, wallettest.Options{Track: true})
	t.Run("sqlite", func(t *testing.T) { testAddresses(t, env, env.Service) })
	dsn, stop := startPostgres(t)
	if dsn == "" {
		return
	}
	t.Cleanup(stop)
	pg := env.OpenService(func(c *wallet.Config) { c.Database = dsn })
	t.Run("postgres", func(t *testing.T) { testAddresses(t, env, pg) })
}

func testAddresses(t *testing.T, env *wallettest.Env, svc *wallet.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A wallet funded on its base address, as every wallet was before derived addresses.
	w, err := svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "hd-" + fmt.Sprint(time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	env.Fund(w.Address, 30_000)
	d, err := svc.Descriptors(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Descriptors", func(t *testing.T) {
		// Each descriptor carries a valid BIP-380 checksum; the base one describes the wallet's own
		// address (the root key, BIP-86), as hdkeychain + txscript compute it from the xpub.
		for _, desc := range []string{d.Receive, d.Change, d.Base} {
			body, sum, ok := strings.Cut(desc, "#")
			want, err := hd.DescriptorChecksum(body)
			if !ok || err != nil || sum != want {
				t.Fatalf("descriptor %s: checksum %q, want %q (%v)", desc, sum, want, err)
			}
		}
		if d.Base != mustChecksum(t, "tr(["+d.Fingerprint+"]"+d.XPub+")") || d.Receive != mustChecksum(t, "tr(["+d.Fingerprint+"]"+d.XPub+"/0/*)") {
			t.Fatalf("descriptors %+v", d)
		}
		k, err := hdkeychain.NewKeyFromString(d.XPub)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := k.ECPubKey()
		a, _ := btcutil.NewAddressTaproot(schnorr.SerializePubKey(txscript.ComputeTaprootKeyNoScript(pub)), &chaincfg.RegressionNetParams)
		if a.EncodeAddress() != w.Address {
			t.Fatalf("the xpub's own BIP-86 address %s is not the wallet's base address %s", a, w.Address)
		}
	})

	t.Run("HandOut", func(t *testing.T) {
		for i := range uint32(2) {
			a, err := svc.NewAddress(ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a.Branch != wallet.BranchReceive || a.Index != i || a.Path != fmt.Sprintf("0/%d", i) || a.Used {
				t.Fatalf("address %d: %+v", i, a)
			}
			if want := theirAddress(t, d.XPub, 0, i); a.Address != want {
				t.Fatalf("0/%d: %s, hdkeychain + BIP-86 says %s", i, a.Address, want)
			}
		}
	})

	t.Run("FundTwoSpendBoth", func(t *testing.T) {
		env.Fund(theirAddress(t, d.XPub, 0, 0), 40_000)
		env.Fund(theirAddress(t, d.XPub, 0, 1), 50_000)
		env.Mine(1)
		b, err := svc.Balance(ctx, w.ID)
		if err != nil || b.Confirmed != 120_000 {
			t.Fatalf("balance %+v %v, want 120000 confirmed over three addresses", b, err)
		}
		as, err := svc.ListAddresses(ctx, w.ID, true)
		if err != nil || len(as) != 3 {
			t.Fatalf("addresses %+v %v", as, err)
		}
		for i, want := range []int64{30_000, 40_000, 50_000} {
			if as[i].Balance == nil || *as[i].Balance != want || (i > 0 && !as[i].Used) {
				t.Fatalf("address %d: %+v", i, as[i])
			}
		}
		// 100,000 needs all three inputs: base key (no path), 0/0 and 0/1.
		other, err := svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "dest-" + w.ID})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := svc.Send(ctx, w.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: other.Address, Amount: 100_000}}, FeeRate: 2})
		if err != nil {
			t.Fatal(err)
		}
		if tx.Inputs != 3 || tx.Change <= 0 {
			t.Fatalf("send %+v", tx)
		}
		env.Mine(1)
		raw := waitMined(t, env, tx.TxID)
		change := theirAddress(t, d.XPub, 1, 0)
		found := false
		for _, o := range raw.MsgTx().TxOut {
			_, addrs, _, _ := txscript.ExtractPkScriptAddrs(o.PkScript, &chaincfg.RegressionNetParams)
			if len(addrs) == 1 && addrs[0].EncodeAddress() == change && o.Value == tx.Change {
				found = true
			}
			if len(addrs) == 1 && addrs[0].EncodeAddress() == w.Address {
				t.Fatal("change went back to the base address")
			}
		}
		if !found {
			t.Fatalf("no change output to 1/0 (%s)", change)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			b, err := svc.Balance(ctx, w.ID)
			if err == nil && b.Total == tx.Change && b.Locked == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("balance after the send %+v %v, want %d", b, err, tx.Change)
			}
			time.Sleep(100 * time.Millisecond)
		}
		as, _ = svc.ListAddresses(ctx, w.ID, false)
		if last := as[len(as)-1]; last.Branch != wallet.BranchChange || last.Path != "1/0" || !last.Used || last.Address != change {
			t.Fatalf("change address not listed: %+v", last)
		}
		// The next send's change goes to 1/1.
		tx2, err := svc.Send(ctx, w.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: other.Address, Amount: 1_000}}, FeeRate: 2})
		if err != nil {
			t.Fatal(err)
		}
		env.Mine(1)
		raw = waitMined(t, env, tx2.TxID)
		if !paysTo(raw, theirAddress(t, d.XPub, 1, 1)) {
			t.Fatal("second change not to 1/1")
		}
	})

	t.Run("GapLimit", func(t *testing.T) {
		// 0/0 and 0/1 are used; 20 more may be handed out, the 21st is refused.
		var last *wallet.Address
		for range wallet.GapLimit {
			a, err := svc.NewAddress(ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			last = a
		}
		if _, err := svc.NewAddress(ctx, w.ID); !errors.Is(err, wallet.ErrConflict) {
			t.Fatalf("21st unused address: %v", err)
		}
		// Paying the last one (seen by the chain, not yet by the wallet) opens the gap again.
		env.Fund(last.Address, 10_000)
		a, err := svc.NewAddress(ctx, w.ID)
		if err != nil || a.Index != last.Index+1 {
			t.Fatalf("after a payment to %s: %+v %v", last.Path, a, err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		w2, err := svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "conc-" + w.ID})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []uint32
		var wg sync.WaitGroup
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := svc.NewAddress(ctx, w2.ID)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, a.Index)
				mu.Unlock()
			}()
		}
		wg.Wait()
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		for i, v := range got {
			if v != uint32(i) {
				t.Fatalf("indices %v: not 0..11 each once", got)
			}
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		if _, err := svc.NewAddress(ctx, "w_nope"); !errors.Is(err, wallet.ErrNotFound) && !errors.Is(err, wallet.ErrInvalid) {
			t.Fatalf("unknown wallet: %v", err)
		}
		if _, err := svc.Descriptors(ctx, "w_nope"); !errors.Is(err, wallet.ErrNotFound) && !errors.Is(err, wallet.ErrInvalid) {
			t.Fatalf("unknown wallet: %v", err)
		}
	})
}

// waitMined waits until btcd has txid in a block and returns it.
func waitMined(t *testing.T, env *wallettest.Env, txid string) *btcutil.Tx {
	t.Helper()
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		st, err := env.Backend.TxStatus(ctx, *h)
		if err == nil && st.Confirmed {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s not mined: %v", txid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var hexTx string
	if err := env.Backend.Call(ctx, "getrawtransaction", []any{txid, 0}, &hexTx); err != nil {
		t.Fatal(err)
	}
	tx, err := btcutil.NewTxFromBytes(mustHex(t, hexTx))
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func paysTo(tx *btcutil.Tx, addr string) bool {
	for _, o := range tx.MsgTx().TxOut {
		_, addrs, _, _ := txscript.ExtractPkScriptAddrs(o.PkScript, &chaincfg.RegressionNetParams)
		if len(addrs) == 1 && addrs[0].EncodeAddress() == addr {
			return true
		}
	}
	return false
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustChecksum(t *testing.T, desc string) string {
	t.Helper()
	d, err := hd.WithChecksum(desc)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
