package wallet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// utxoChain is a backend listing fixed UTXOs.
type utxoChain struct {
	emptyChain
	us []bitcoin.UTXO
}

func (u utxoChain) UTXOs(context.Context, btcutil.Address) ([]bitcoin.UTXO, error) { return u.us, nil }

// bumpCase builds an original transaction of bw: inputs of the given
// values, one recipient output, and a change output (if change > 0).
func bumpCase(t *testing.T, bw *btcWallet, inputs []int64, pay, change int64) (*txRow, *btcwire.MsgTx, map[string]lockedOutput) {
	t.Helper()
	seed := sha256.Sum256([]byte("recipient"))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	rw, err := bitcoin.NewWallet("r", schnorr.SerializePubKey(priv.PubKey()), bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	tx := btcwire.NewMsgTx(2)
	values := map[string]lockedOutput{}
	var in int64
	for i, v := range inputs {
		op := btcwire.OutPoint{Hash: chainhash.Hash{byte(i + 1)}, Index: uint32(i)}
		tx.AddTxIn(&btcwire.TxIn{PreviousOutPoint: op, Sequence: bitcoin.SequenceRBF})
		values[outpointKey(op)] = lockedOutput{value: v} // no script: the base address
		in += v
	}
	tx.AddTxOut(btcwire.NewTxOut(pay, rw.PkScript()))
	if change > 0 {
		tx.AddTxOut(btcwire.NewTxOut(change, bw.w.PkScript()))
	}
	r := &txRow{origin: originSend}
	r.t = Transaction{ID: "tx_00000000000000000000000a", Status: StatusBroadcast, Outputs: []Output{{Address: rw.Address().EncodeAddress(), Amount: pay}},
		Fee: in - pay - change, VSize: bitcoin.VSize(tx)}
	return r, tx, values
}

// checkBIP125 asserts the replacement rules against the original.
func checkBIP125(t *testing.T, orig *txRow, origTx *btcwire.MsgTx, p *bumpPlan, rate bitcoin.FeeRate) {
	t.Helper()
	tx := p.pkt.UnsignedTx
	if got := bitcoin.VSize(tx); got != p.vsize {
		t.Fatalf("vsize %d, recomputed %d", p.vsize, got)
	}
	var in, out int64
	for _, x := range p.pkt.Inputs {
		in += x.WitnessUtxo.Value
	}
	for _, o := range tx.TxOut {
		out += o.Value
	}
	if in-out != p.fee {
		t.Fatalf("fee %d, inputs−outputs %d", p.fee, in-out)
	}
	if p.fee < orig.t.Fee+IncrementalRelayFeeRate.FeeFor(p.vsize) { // rules 3, 4
		t.Fatalf("fee %d < original %d + incremental for %d vB", p.fee, orig.t.Fee, p.vsize)
	}
	if p.fee*1000/p.vsize <= orig.t.Fee*1000/orig.t.VSize || p.fee < rate.FeeFor(p.vsize) { // rule 6, requested rate
		t.Fatalf("fee rate %d/%d not above %d/%d or below the requested rate", p.fee, p.vsize, orig.t.Fee, orig.t.VSize)
	}
	for i, ti := range origTx.TxIn { // the original's inputs, first and in order
		if tx.TxIn[i].PreviousOutPoint != ti.PreviousOutPoint || tx.TxIn[i].Sequence != bitcoin.SequenceRBF {
			t.Fatalf("input %d changed", i)
		}
	}
	if tx.TxOut[0].Value != origTx.TxOut[0].Value || string(tx.TxOut[0].PkScript) != string(origTx.TxOut[0].PkScript) {
		t.Fatal("recipient output changed")
	}
}

func TestPlanBump(t *testing.T) {
	ctx := context.Background()
	s, _ := storeOnly(t)
	bw := testWallet(t)
	seed := sha256.Sum256([]byte("wallet unit test")) // testWallet's key
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	bw.r.w.PublicKey = hex.EncodeToString(schnorr.SerializePubKey(priv.PubKey()))

	// Change pays: it is reduced, nothing else changes.
	orig, otx, vals := bumpCase(t, bw, []int64{100_000}, 40_000, 100_000-40_000-154)
	p, err := s.planBump(ctx, bw, orig, otx, vals, nil, bitcoin.SatPerVByte(5))
	if err != nil {
		t.Fatal(err)
	}
	checkBIP125(t, orig, otx, p, bitcoin.SatPerVByte(5))
	if len(p.added) != 0 || p.changeIndex != 1 || p.fee != 5*p.vsize || p.change != otx.TxOut[1].Value-(p.fee-orig.t.Fee) {
		t.Fatalf("reduced change: %+v", p)
	}
	// Rule 4 dominates: original at 10 sat/vB, bump to 11.
	hi, htx, hvals := bumpCase(t, bw, []int64{100_000}, 40_000, 100_000-40_000-10*154)
	p, err = s.planBump(ctx, bw, hi, htx, hvals, nil, bitcoin.SatPerVByte(11))
	if err != nil {
		t.Fatal(err)
	}
	checkBIP125(t, hi, htx, p, bitcoin.SatPerVByte(11))
	// Not above the original's rate.
	if _, err := s.planBump(ctx, bw, hi, htx, hvals, nil, bitcoin.SatPerVByte(10)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("same rate: %v", err)
	}
	// The change would become dust: dropped, the rest goes to the fee.
	small, stx, svals := bumpCase(t, bw, []int64{20_000}, 19_000, 846)
	p, err = s.planBump(ctx, bw, small, stx, svals, nil, bitcoin.SatPerVByte(5))
	if err != nil {
		t.Fatal(err)
	}
	checkBIP125(t, small, stx, p, bitcoin.SatPerVByte(5))
	if p.changeIndex != -1 || len(p.pkt.UnsignedTx.TxOut) != 1 || p.fee != 1_000 || len(p.added) != 0 {
		t.Fatalf("dropped change: %+v", p)
	}
	// Even without change the fee is short: a confirmed, unlocked wallet
	// output is added with a change output; unconfirmed, locked, immature
	// or foreign outputs are not.
	locked := bitcoin.UTXO{OutPoint: btcwire.OutPoint{Hash: chainhash.Hash{0xa1}}, Value: 900_000, PkScript: bw.w.PkScript(), Confirmations: 5}
	bw.be = utxoChain{us: []bitcoin.UTXO{
		{OutPoint: btcwire.OutPoint{Hash: chainhash.Hash{0xa0}}, Value: 800_000, PkScript: bw.w.PkScript(), Confirmations: 0},
		locked,
		{OutPoint: btcwire.OutPoint{Hash: chainhash.Hash{0xa2}}, Value: 700_000, PkScript: bw.w.PkScript(), Confirmations: 5, Coinbase: true},
		{OutPoint: btcwire.OutPoint{Hash: chainhash.Hash{0xa3}}, Value: 600_000, PkScript: stx.TxOut[0].PkScript, Confirmations: 5},
		{OutPoint: btcwire.OutPoint{Hash: chainhash.Hash{0xa4}}, Value: 30_000, PkScript: bw.w.PkScript(), Confirmations: 2},
	}}
	lk := map[string]lockInfo{outpointKey(locked.OutPoint): {txID: "tx_other"}}
	p, err = s.planBump(ctx, bw, small, stx, svals, lk, bitcoin.SatPerVByte(20))
	if err != nil {
		t.Fatal(err)
	}
	checkBIP125(t, small, stx, p, bitcoin.SatPerVByte(20))
	if len(p.added) != 1 || p.added[0].Value != 30_000 || p.changeIndex != 1 || p.change != 50_000-19_000-p.fee || p.fee != 20*p.vsize {
		t.Fatalf("added input: %+v", p)
	}
	bw.be = utxoChain{}
	if _, err := s.planBump(ctx, bw, small, stx, svals, nil, bitcoin.SatPerVByte(20)); !errors.Is(err, ErrInsufficient) {
		t.Fatalf("nothing to add: %v", err)
	}
	// Outputs that do not match the record, or inputs no longer locked.
	bad := *small
	bad.t.Outputs = []Output{{Address: small.t.Outputs[0].Address, Amount: 18_000}}
	if _, err := s.planBump(ctx, bw, &bad, stx, svals, nil, bitcoin.SatPerVByte(5)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("mismatched outputs: %v", err)
	}
	if _, err := s.planBump(ctx, bw, small, stx, map[string]lockedOutput{}, nil, bitcoin.SatPerVByte(5)); !errors.Is(err, ErrConflict) {
		t.Fatalf("inputs not locked: %v", err)
	}
}

// TestReplaceStates: a replacement accepted marks its original replaced;
// a replacement that fails gives the original its status and its input
// locks back (added inputs are released); a stale fail of a confirmed
// replacement changes nothing.
func TestReplaceStates(t *testing.T) {
	ctx := context.Background()
	s, _, wid := pageEnv(t)
	bw := testWallet(t)
	_, otx, vals := bumpCase(t, bw, []int64{60_000, 50_000}, 40_000, 60_000)
	var buf bytes.Buffer
	if err := otx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	q := s.st.q()
	ins := func(id, status, raw, replaces string) {
		t.Helper()
		if _, err := q.exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, status, outputs, raw_tx, replaces, created_at, updated_at)
			VALUES (?, ?, ?, '', ?, ?, '[]', ?, ?, 1, 1)`, id, wid, "k"+id, originSend, status, raw, replaces); err != nil {
			t.Fatal(err)
		}
	}
	const orig, repl = "tx_00000000000000000000000a", "tx_00000000000000000000000b"
	ins(orig, StatusBroadcast, hex.EncodeToString(buf.Bytes()), "")
	ins(repl, StatusBroadcast, "", orig)
	for op, v := range vals { // the original's locks, moved to the replacement
		q.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, expires_at, created_at) VALUES (?, ?, ?, ?, 0, 1)`, op, wid, repl, v.value)
	}
	q.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, expires_at, created_at) VALUES ('added:0', ?, ?, 5, 0, 1)`, wid, repl)
	r, err := s.txByID(ctx, wid, repl)
	if err != nil {
		t.Fatal(err)
	}
	s.markReplaced(ctx, r)
	o, _ := s.txByID(ctx, wid, orig)
	if o.t.Status != StatusReplaced || o.t.ReplacedBy != repl {
		t.Fatalf("original after the replacement's broadcast: %+v", o.t)
	}
	locksOf := func(id string) int {
		var n int
		q.row(ctx, `SELECT COUNT(*) FROM utxo_locks WHERE tx_id = ?`, id).Scan(&n)
		return n
	}
	// A stale row claiming the replacement failed, while it is confirmed.
	q.exec(ctx, `UPDATE transactions SET status = ? WHERE id = ?`, StatusConfirmed, repl)
	stale := *r
	s.fail(ctx, &stale, "stale")
	if o, _ := s.txByID(ctx, wid, orig); o.t.Status != StatusReplaced {
		t.Fatalf("a confirmed replacement's stale fail revived the original: %+v", o.t)
	}
	// The replacement really fails (dropped, rebroadcast refused).
	q.exec(ctx, `UPDATE transactions SET status = ? WHERE id = ?`, StatusBroadcast, repl)
	for op, v := range vals {
		q.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, expires_at, created_at) VALUES (?, ?, ?, ?, 0, 1) ON CONFLICT (outpoint) DO NOTHING`, op, wid, repl, v.value)
	}
	s.fail(ctx, r, "rejected by the node")
	o, _ = s.txByID(ctx, wid, orig)
	if o.t.Status != StatusBroadcast || o.t.ReplacedBy != "" || locksOf(orig) != 2 || locksOf(repl) != 0 {
		t.Fatalf("after the replacement failed: %+v, locks %d/%d", o.t, locksOf(orig), locksOf(repl))
	}
}
