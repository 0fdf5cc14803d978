package bitcoin

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/vhsm/vhsm/chains/bitcoin/btcdtest"
)

// regtestEnv is a btcd regtest node with Taproot active and mature coinbase outputs paid to a wallet.
type regtestEnv struct {
	node    *btcdtest.Node
	backend *RPC
}

// startRegtest starts btcd mining to w, waits for Taproot, and matures at least one coinbase.
func startRegtest(t *testing.T, ctx context.Context, w *Wallet) *regtestEnv {
	t.Helper()
	node := btcdtest.Start(t, w.Address().EncodeAddress())
	if err := node.WaitTaproot(ctx, 1200); err != nil {
		t.Fatalf("taproot activation: %v", err)
	}
	if _, err := node.Generate(ctx, CoinbaseMaturity+1); err != nil {
		t.Fatal(err)
	}
	be, err := NewRPC(RPCConfig{URL: node.RPCURL, User: node.User, Pass: node.Pass, Timeout: 20 * time.Second,
		Retry: DefaultRetry, Fallback: SatPerVByte(2)})
	if err != nil {
		t.Fatal(err)
	}
	return &regtestEnv{node: node, backend: be}
}

// sendAndConfirm builds a spend from w, signs it with signer, broadcasts, mines a block and checks
// confirmations, the outputs and the fee (exact, and within 1 sat/vB of the target).
func (e *regtestEnv) sendAndConfirm(t *testing.T, ctx context.Context, w *Wallet, signer Signer, outs []Output, rate FeeRate) (*wire.MsgTx, *Spend) {
	t.Helper()
	utxos, err := e.backend.UTXOs(ctx, w.Address())
	if err != nil {
		t.Fatalf("utxos: %v", err)
	}
	sp, err := w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: outs, FeeRate: rate, MinConf: 1})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	counter := &countingSigner{inner: signer}
	tx, err := w.Sign(ctx, counter, sp.Packet)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if n := counter.calls.Load(); n != int64(len(tx.TxIn)) {
		t.Fatalf("signer asked %d times for %d inputs", n, len(tx.TxIn))
	}
	weight := blockchain.GetTransactionWeight(btcutil.NewTx(tx))
	if got := (weight + 3) / 4; got != sp.VSize {
		t.Fatalf("vsize: predicted %d, signed tx has %d", sp.VSize, got)
	}
	txid, err := e.backend.Broadcast(ctx, tx)
	if err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	if st, err := e.backend.TxStatus(ctx, txid); err != nil || st.Confirmed {
		t.Fatalf("status before mining: %+v %v", st, err)
	}
	pool, err := e.node.Client.GetRawMempool()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pool, func(h *chainhash.Hash) bool { return *h == txid }) {
		t.Fatalf("tx %s accepted but not in btcd's mempool", txid)
	}
	if _, err := e.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st, err := e.backend.TxStatus(ctx, txid)
	if err != nil || !st.Confirmed || st.Confirmations < 1 {
		t.Fatalf("status after mining: %+v %v", st, err)
	}
	// What the node stored must be what we intended.
	got, err := e.node.Client.GetRawTransaction(&txid)
	if err != nil {
		t.Fatal(err)
	}
	mtx := got.MsgTx()
	if len(mtx.TxOut) != len(sp.Packet.UnsignedTx.TxOut) {
		t.Fatalf("outputs: node has %d, want %d", len(mtx.TxOut), len(sp.Packet.UnsignedTx.TxOut))
	}
	// The requested payments come first, in order, then the change (if any) back to the wallet.
	for i, o := range outs {
		script, err := payToAddr(o.Address)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mtx.TxOut[i].PkScript, script) || (!o.SendMax && mtx.TxOut[i].Value != o.Value) {
			t.Fatalf("output %d does not pay %d sat to %s", i, o.Value, o.Address)
		}
	}
	if sp.ChangeIndex >= 0 {
		c := mtx.TxOut[sp.ChangeIndex]
		if sp.ChangeIndex != len(outs) || c.Value != sp.Change || !bytes.Equal(c.PkScript, w.PkScript()) {
			t.Fatalf("change output %d is not %d sat back to the wallet", sp.ChangeIndex, sp.Change)
		}
	} else if len(mtx.TxOut) != len(outs) {
		t.Fatalf("%d outputs for %d payments and no change", len(mtx.TxOut), len(outs))
	}
	verbose, err := e.node.Client.GetRawTransactionVerbose(&txid)
	if err != nil {
		t.Fatal(err)
	}
	if int64(verbose.Vsize) != sp.VSize || verbose.Confirmations < 1 {
		t.Fatalf("node reports vsize %d and %d confirmations; predicted vsize %d", verbose.Vsize, verbose.Confirmations, sp.VSize)
	}
	var outSum, inSum int64
	for i, o := range mtx.TxOut {
		want := sp.Packet.UnsignedTx.TxOut[i]
		if o.Value != want.Value || !bytes.Equal(o.PkScript, want.PkScript) {
			t.Fatalf("output %d differs from the intended one", i)
		}
		outSum += o.Value
	}
	for i, in := range mtx.TxIn {
		prev, err := e.node.Client.GetRawTransaction(&in.PreviousOutPoint.Hash)
		if err != nil {
			t.Fatal(err)
		}
		po := prev.MsgTx().TxOut[in.PreviousOutPoint.Index]
		if !bytes.Equal(po.PkScript, w.PkScript()) {
			t.Fatalf("input %d does not spend the wallet", i)
		}
		inSum += po.Value
		if in.Sequence != SequenceRBF {
			t.Fatalf("input %d does not signal RBF", i)
		}
	}
	fee := inSum - outSum
	if fee != sp.Fee {
		t.Fatalf("fee on chain %d, computed %d", fee, sp.Fee)
	}
	// Within 1 sat/vB of the target: |fee/vsize − rate| ≤ 1 sat/vB ⇔ |1000·fee − rate·vsize| ≤ 1000·vsize.
	if d := 1000*fee - int64(rate)*sp.VSize; d < 0 || d > 1000*sp.VSize {
		t.Fatalf("fee %d for %d vB is not within 1 sat/vB above %d sat/kvB", fee, sp.VSize, rate)
	}
	return tx, sp
}

// countingSigner counts the calls to the signer it wraps.
type countingSigner struct {
	inner Signer
	calls atomic.Int64
}

func (c *countingSigner) SignTaproot(ctx context.Context, keyID string, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	c.calls.Add(1)
	return c.inner.SignTaproot(ctx, keyID, sighash, merkleRoot)
}

// runSpendFlow is the end-to-end flow with any Signer for wallet a: a → b (P2TR, with change back to
// a), b → a (with change back to b), send-max from b to a P2WPKH address. The real cluster signer can
// be plugged in by calling it with a wallet of the cluster's group key.
func runSpendFlow(t *testing.T, ctx context.Context, env *regtestEnv, a *Wallet, signerA Signer, b *Wallet, signerB Signer, p2wpkh btcutil.Address) {
	t.Helper()
	// 60 BTC is more than one 50 BTC coinbase: at least two inputs, one signer call each.
	tx1, sp1 := env.sendAndConfirm(t, ctx, a, signerA, []Output{{Address: b.Address(), Value: 6_000_000_000}}, SatPerVByte(5))
	if sp1.ChangeIndex < 0 || sp1.Change <= 0 || len(tx1.TxIn) < 2 {
		t.Fatalf("first spend: %d inputs, change index %d", len(tx1.TxIn), sp1.ChangeIndex)
	}
	_, sp2 := env.sendAndConfirm(t, ctx, b, signerB, []Output{{Address: a.Address(), Value: 40_000_000}}, SatPerVByte(3))
	if sp2.ChangeIndex < 0 {
		t.Fatalf("second spend has no change")
	}
	_, sp3 := env.sendAndConfirm(t, ctx, b, signerB, []Output{{Address: p2wpkh, SendMax: true}}, SatPerVByte(2))
	if sp3.ChangeIndex >= 0 {
		t.Fatalf("send max made change")
	}
	left, err := env.backend.UTXOs(ctx, b.Address())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("after send max wallet b still has %d utxos", len(left))
	}
}

func TestRegtestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sa, sb := newKeySigner(t), newKeySigner(t)
	a, err := NewWallet("key-a", sa.xonly(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewWallet("key-b", sb.xonly(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	env := startRegtest(t, ctx, a)
	if h, err := env.node.Client.GetBlockCount(); err == nil {
		t.Logf("taproot active; chain height %d", h)
	}
	// The RPC backend recognizes a real btcd from its getnetworkinfo answer.
	if k, err := env.backend.Kind(ctx); err != nil || k != NodeBtcd {
		t.Fatalf("node kind %v, %v; want btcd", k, err)
	}
	// The node reports a's coinbase outputs as such, the youngest of them immature.
	utxos, err := env.backend.UTXOs(ctx, a.Address())
	if err != nil {
		t.Fatal(err)
	}
	var mature, immature int
	for _, u := range utxos {
		switch {
		case !u.Coinbase || !bytes.Equal(u.PkScript, a.PkScript()):
			t.Fatalf("unexpected utxo %v", u.OutPoint)
		case u.Confirmations >= CoinbaseMaturity:
			mature++
		default:
			immature++
		}
	}
	if mature == 0 || immature != CoinbaseMaturity-1 {
		t.Fatalf("%d mature and %d immature coinbase outputs", mature, immature)
	}
	p2wpkh, err := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), Regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("spend and back", func(t *testing.T) { runSpendFlow(t, ctx, env, a, sa, b, sb, p2wpkh) })
	t.Run("every address type", func(t *testing.T) {
		// One spend paying P2PKH, P2SH, P2WPKH, P2WSH and P2TR outputs (each just above its dust
		// limit), with change: btcd relays and mines it, and the outputs are what was asked.
		var outs []Output
		for _, name := range []string{"p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr"} {
			addr := otherAddrs(t)[name]
			script, err := payToAddr(addr)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, Output{Address: addr, Value: DustLimit(script)})
		}
		_, sp := env.sendAndConfirm(t, ctx, a, sa, outs, SatPerVByte(4))
		if sp.ChangeIndex != len(outs) {
			t.Fatalf("change index %d, want %d", sp.ChangeIndex, len(outs))
		}
	})
	t.Run("bad signatures rejected", func(t *testing.T) { badSignatureFlow(t, ctx, env, a, sa) })
}

// badSignatureFlow proves that (1) Sign refuses a signature that does not verify, naming the input,
// and (2) with our check bypassed, btcd itself rejects the transaction and its reason reaches the
// caller as a *RejectError.
func badSignatureFlow(t *testing.T, ctx context.Context, env *regtestEnv, a *Wallet, good *keySigner) {
	utxos, err := env.backend.UTXOs(ctx, a.Address())
	if err != nil {
		t.Fatal(err)
	}
	dest, err := TaprootAddress(good.xonly(), Regtest) // any address
	if err != nil {
		t.Fatal(err)
	}
	build := func() *Spend {
		sp, err := a.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: dest, Value: 10_000}}, FeeRate: SatPerVByte(2), MinConf: 1})
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	wrong := &keySigner{priv: good.priv, wrongTweak: true}
	_, err = a.Sign(ctx, wrong, build().Packet)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Index != 0 || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong tweak: got %v, want InputError{0, ErrBadSignature}", err)
	}

	corrupt := func(s [64]byte) [64]byte { s[63] ^= 1; return s }
	for name, sigFn := range map[string]func(h [32]byte) [64]byte{
		"wrong tweak": func(h [32]byte) [64]byte { s, _ := wrong.SignTaproot(ctx, a.KeyID, h, nil); return s },
		"corrupted":   func(h [32]byte) [64]byte { s, _ := good.SignTaproot(ctx, a.KeyID, h, nil); return corrupt(s) },
	} {
		sp := build()
		hashes, err := Sighashes(sp.Packet)
		if err != nil {
			t.Fatal(err)
		}
		sigs := make([][64]byte, len(hashes))
		for i, h := range hashes {
			sigs[i] = sigFn(h)
		}
		if _, err := assemble(sp.Packet, hashes, sigs, a.OutputKey()); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%s: own verification: %v", name, err)
		}
		sp = build()
		tx, err := assemble(sp.Packet, hashes, sigs, nil) // bypass our verification
		if err != nil {
			t.Fatalf("%s: assemble: %v", name, err)
		}
		_, err = env.backend.Broadcast(ctx, tx)
		var re *RejectError
		if !errors.As(err, &re) || !errors.Is(err, ErrRejected) {
			t.Fatalf("%s: broadcast: got %v, want a RejectError", name, err)
		}
		// btcd: "TX rejected: failed to validate input <txid>:0 which references output ..." (script
		// verification failure of the Taproot key-path signature check).
		if r := strings.ToLower(re.Reason); !strings.Contains(r, "failed to validate input") && !strings.Contains(r, "signature") {
			t.Fatalf("%s: reject reason does not mention the signature: %q", name, re.Reason)
		}
		t.Logf("%s: btcd rejected: %s", name, re.Reason)
		if _, err := env.backend.TxStatus(ctx, tx.TxHash()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: rejected tx known to node: %v", name, err)
		}
	}
}
