package bitcoin

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// TestUTXOsOfBtcd: the multi-address listing on btcd finds payments to derived addresses and, after
// every chain event (mempool payment, block, a spend of a listed output in the mempool and mined, a
// run of blocks longer than it follows), gives exactly what a fresh full scan gives; with the chain
// unchanged it asks no scan.
func TestUTXOsOfBtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sa := newKeySigner(t)
	a, err := NewWallet("key-a", sa.xonly(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	env := startRegtest(t, ctx, a)
	priv, root := randomRoot(t)
	hw, err := NewWallet("hd", root.PublicKey()[1:], Regtest)
	if err != nil {
		t.Fatal(err)
	}
	if err := hw.SetRoot(root); err != nil {
		t.Fatal(err)
	}
	var addrs []btcutil.Address
	for i := range uint32(12) {
		ad, err := hw.AddPath([]uint32{0, i})
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ad)
	}
	pay := func(to btcutil.Address, v int64) {
		t.Helper()
		us, err := env.backend.UTXOs(ctx, a.Address())
		if err != nil {
			t.Fatal(err)
		}
		sp, err := a.BuildSpend(SpendRequest{UTXOs: us, Outputs: []Output{{Address: to, Value: v}}, FeeRate: SatPerVByte(2), MinConf: 1})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := a.Sign(ctx, sa, sp.Packet)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.backend.Broadcast(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	mine := func(n uint32) {
		t.Helper()
		if _, err := env.node.Generate(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var extra []btcutil.Address // handed out later: the set grows
	for i := range uint32(3) {
		ad, err := hw.AddPath([]uint32{0, 20 + i})
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, ad)
	}
	// check lists with the long-lived backend and with a fresh one (full scan) and compares.
	check := func(step string, want int) []UTXO {
		t.Helper()
		got, err := UTXOsOf(ctx, env.backend, addrs)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		fresh, err := NewRPC(RPCConfig{URL: env.node.RPCURL, User: env.node.User, Pass: env.node.Pass, Timeout: 20 * time.Second, Retry: DefaultRetry})
		if err != nil {
			t.Fatal(err)
		}
		full, err := UTXOsOf(ctx, fresh, addrs)
		if err != nil {
			t.Fatalf("%s: full scan: %v", step, err)
		}
		if len(got) != len(full) || len(got) != want {
			t.Fatalf("%s: %d outputs, a full scan finds %d, want %d", step, len(got), len(full), want)
		}
		for i := range got {
			if got[i].OutPoint != full[i].OutPoint || got[i].Value != full[i].Value || got[i].Confirmations != full[i].Confirmations ||
				string(got[i].PkScript) != string(full[i].PkScript) || got[i].Coinbase != full[i].Coinbase {
				t.Fatalf("%s: output %d is %+v, a full scan says %+v", step, i, got[i], full[i])
			}
		}
		return got
	}
	check("empty", 0)
	pay(addrs[3], 5_000)
	check("mempool payment", 1)
	check("unchanged", 1)
	mine(1)
	check("mined", 1)
	pay(addrs[11], 7_000)
	pay(addrs[3], 8_000)
	pay(extra[0], 9_000) // not listed yet
	check("two more payments", 3)
	mine(2)
	us := check("two blocks", 3)
	// Spend one listed output (0/3's first) to a foreign address: in the mempool, then mined.
	if err := hw.SetChange([]uint32{0, 7}); err != nil {
		t.Fatal(err)
	}
	sp, err := hw.BuildSpend(SpendRequest{UTXOs: us[:1], Outputs: []Output{{Address: a.Address(), Value: 1_000}}, FeeRate: SatPerVByte(2), MinConf: 1})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := hw.Sign(ctx, localPathSigner{priv: priv, root: root}, sp.Packet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.backend.Broadcast(ctx, tx); err != nil {
		t.Fatal(err)
	}
	check("spent in the mempool, change to 0/7", 3)
	mine(1)
	check("spend mined", 3)
	if n := env.backend.fullScans.Load(); n != 1 {
		t.Fatalf("%d full scans, want 1 (the first listing; then only touched addresses)", n)
	}
	// The set grows by three addresses, one of them paid before: found, without a full scan.
	addrs = append(addrs, extra...)
	check("grown set", 4)
	check("grown set, unchanged", 4)
	if n := env.backend.fullScans.Load(); n != 1 {
		t.Fatalf("%d full scans after the set grew, want 1", n)
	}
	mine(maxFollowBlocks + 1)
	check("more blocks than followed", 4)
	if n := env.backend.fullScans.Load(); n != 2 {
		t.Fatalf("%d full scans after %d new blocks, want 2", n, maxFollowBlocks+1)
	}
	// A smaller set (no kept subset of it) is listed on its own.
	sub, err := UTXOsOf(ctx, env.backend, addrs[:3])
	if err != nil || len(sub) != 0 {
		t.Fatalf("subset: %+v %v", sub, err)
	}
}

// countingBackend is a Backend without MultiLister: UTXOsOf asks it once per address.
type countingBackend struct {
	Backend
	calls atomic.Int64
	fail  btcutil.Address
}

func (c *countingBackend) UTXOs(ctx context.Context, addr btcutil.Address) ([]UTXO, error) {
	c.calls.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.fail != nil && addr.EncodeAddress() == c.fail.EncodeAddress() {
		return nil, ErrBackend
	}
	s, _ := payToAddr(addr)
	// Every address reports the same outpoint once and one of its own.
	return []UTXO{{OutPoint: wire.OutPoint{Hash: chainhash.Hash{1}}, Value: 1, PkScript: s},
		{OutPoint: wire.OutPoint{Hash: chainhash.Hash{2}, Index: uint32(len(addr.EncodeAddress()) + int(s[5]))}, Value: 2, PkScript: s}}, nil
}

// TestUTXOsOfFallback: a backend without a multi-address call is asked once per address; duplicate
// outpoints are merged; one failing address fails the whole listing; a cancelled context fails it.
func TestUTXOsOfFallback(t *testing.T) {
	_, root := randomRoot(t)
	var addrs []btcutil.Address
	for i := range uint32(30) {
		k, err := DeriveKey(root, []uint32{1, i}, Regtest)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, k.Address())
	}
	be := &countingBackend{}
	us, err := UTXOsOf(context.Background(), be, addrs)
	if err != nil || be.calls.Load() != 30 {
		t.Fatalf("%d calls, %v", be.calls.Load(), err)
	}
	seen := map[wire.OutPoint]bool{}
	for _, u := range us {
		if seen[u.OutPoint] {
			t.Fatal("outpoint listed twice")
		}
		seen[u.OutPoint] = true
	}
	be.fail = addrs[17]
	if _, err := UTXOsOf(context.Background(), be, addrs); !errors.Is(err, ErrBackend) {
		t.Fatalf("one failing address: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := UTXOsOf(ctx, &countingBackend{}, addrs); err == nil {
		t.Fatal("cancelled listing succeeded")
	}
	if us, err := UTXOsOf(context.Background(), be, nil); err != nil || len(us) != 0 {
		t.Fatalf("no addresses: %v %v", us, err)
	}
}
