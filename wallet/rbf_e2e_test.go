package wallet_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
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
	armed atomic.Bool
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

	t.Run("BumpStuck", func(t *testing.T) {
		ctx := ctxT(t, 3*time.Minute)
		a := env.FundedWallet("stuck", 100_000)
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
