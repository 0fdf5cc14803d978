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

// TestUTXOsOfBtcd: the multi-address listing on btcd finds payments to derived addresses, keeps the
// last scan only while the chain state is unchanged, and sees a new mempool payment and a new block
// at once (the state key changes).
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
	_, root := randomRoot(t)
	var addrs []btcutil.Address
	for i := range uint32(12) {
		k, err := DeriveKey(root, []uint32{0, i}, Regtest)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, k.Address())
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
	pay(addrs[3], 5_000)
	us, err := UTXOsOf(ctx, env.backend, addrs)
	if err != nil || len(us) != 1 || us[0].Value != 5_000 || us[0].Confirmations != 0 {
		t.Fatalf("mempool payment: %+v %v", us, err)
	}
	// Unchanged chain: the same answer (from the kept scan).
	again, err := UTXOsOf(ctx, env.backend, addrs)
	if err != nil || len(again) != 1 || again[0].OutPoint != us[0].OutPoint || again[0].Confirmations != 0 {
		t.Fatalf("unchanged chain: %+v %v", again, err)
	}
	// A block: confirmations change.
	if _, err := env.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	us, err = UTXOsOf(ctx, env.backend, addrs)
	if err != nil || len(us) != 1 || us[0].Confirmations != 1 {
		t.Fatalf("after a block: %+v %v", us, err)
	}
	// A second mempool payment to another address of the set.
	pay(addrs[11], 7_000)
	us, err = UTXOsOf(ctx, env.backend, addrs)
	if err != nil || len(us) != 2 {
		t.Fatalf("second payment: %+v %v", us, err)
	}
	// Another address set is scanned on its own.
	us, err = UTXOsOf(ctx, env.backend, addrs[:3])
	if err != nil || len(us) != 0 {
		t.Fatalf("subset: %+v %v", us, err)
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
