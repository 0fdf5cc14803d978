package bitcoin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// TestRegtestPartialPSBT: on btcd regtest, wallet a (mined to) pays b; then a PSBT spends one output
// of each. a signs its input, b signs its input of the PSBT a returned, btcutil/psbt finalizes the
// result and btcd accepts and mines it. gettxout answers what the wallet checks foreign inputs with,
// and the fee estimate on regtest is the fallback, marked so.
func TestRegtestPartialPSBT(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, b := newTestWallet(t), newTestWallet(t)
	env := startRegtest(t, ctx, a.w)
	// A fresh regtest node has seen no transactions: btcd has no estimate and the fallback is
	// returned, marked as such.
	est, err := env.backend.FeeEstimate(ctx, 6)
	if err != nil || !est.Fallback || est.Rate != SatPerVByte(2) {
		t.Fatalf("regtest fee estimate: %+v %v", est, err)
	}
	_, sp := env.sendAndConfirm(t, ctx, a.w, a.signer, []Output{{Address: b.w.Address(), Value: 30_000_000}}, SatPerVByte(2))

	// gettxout: the payment to b, its exact amount and script; a made-up outpoint is ErrNotFound.
	payOp := wire.OutPoint{Hash: sp.Packet.UnsignedTx.TxHash(), Index: 0}
	got, err := env.backend.TxOut(ctx, payOp)
	if err != nil || got.Value != 30_000_000 || !bytes.Equal(got.PkScript, b.w.PkScript()) {
		t.Fatalf("gettxout: %+v %v", got, err)
	}
	if _, err := env.backend.TxOut(ctx, wire.OutPoint{Hash: chainhash.Hash{1}, Index: 0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown outpoint: %v", err)
	}
	if _, err := env.backend.TxOut(ctx, wire.OutPoint{Hash: payOp.Hash, Index: 9}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("index out of range: %v", err)
	}

	// One input of each wallet.
	ua, err := env.backend.UTXOs(ctx, a.w.Address())
	if err != nil {
		t.Fatal(err)
	}
	var aIn *UTXO
	for i := range ua {
		if ua[i].Confirmations > CoinbaseMaturity {
			aIn = &ua[i]
			break
		}
	}
	if aIn == nil {
		t.Fatal("no mature output of a")
	}
	ops := []*wire.OutPoint{&aIn.OutPoint, &payOp}
	outs := []*wire.TxOut{wire.NewTxOut(aIn.Value+30_000_000-2_000, a.w.PkScript())}
	pkt, err := psbt.New(ops, outs, 2, 0, []uint32{SequenceRBF, SequenceRBF})
	if err != nil {
		t.Fatal(err)
	}
	pkt.Inputs[0].WitnessUtxo = wire.NewTxOut(aIn.Value, a.w.PkScript())
	pkt.Inputs[1].WitnessUtxo = got
	resA, err := a.w.SignPSBT(ctx, a.signer, pkt)
	if err != nil || resA.Tx != nil {
		t.Fatalf("a signs: %v (complete %v)", err, resA != nil && resA.Tx != nil)
	}
	b64A, err := resA.Packet.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	pktB, _, err := b.w.ImportPartialPSBT([]byte(b64A), true)
	if err != nil {
		t.Fatal(err)
	}
	resB, err := b.w.SignPSBT(ctx, b.signer, pktB)
	if err != nil || resB.Tx == nil {
		t.Fatalf("b signs: %v", err)
	}
	b64B, err := resB.Packet.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	fin, err := psbt.NewFromRawBytes(bytes.NewReader([]byte(b64B)), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := psbt.MaybeFinalizeAll(fin); err != nil {
		t.Fatal(err)
	}
	tx, err := psbt.Extract(fin)
	if err != nil {
		t.Fatal(err)
	}
	txid, err := env.backend.Broadcast(ctx, tx)
	if err != nil {
		t.Fatalf("btcd refused the jointly signed transaction: %v", err)
	}
	if _, err := env.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st, err := env.backend.TxStatus(ctx, txid); err != nil || !st.Confirmed {
		t.Fatalf("not mined: %+v %v", st, err)
	}
	// Spent now: gettxout says so.
	if _, err := env.backend.TxOut(ctx, payOp); !errors.Is(err, ErrNotFound) {
		t.Fatalf("spent output: %v", err)
	}
}

// TestEsploraTxOut: GET /tx/:txid gives amount and script, /outspend/:vout whether it is spent.
func TestEsploraTxOut(t *testing.T) {
	h := chainhash.Hash{7}
	spent := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/tx/" + h.String():
			json.NewEncoder(w).Encode(map[string]any{"txid": h.String(), "vout": []map[string]any{
				{"scriptpubkey": "0014" + "00112233445566778899aabbccddeeff00112233", "value": 12_345}}})
		case "/tx/" + h.String() + "/outspend/0":
			json.NewEncoder(w).Encode(map[string]any{"spent": spent})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	e, err := NewEsplora(srv.URL, nil, 5*time.Second, Retry{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o, err := e.TxOut(ctx, wire.OutPoint{Hash: h, Index: 0})
	if err != nil || o.Value != 12_345 || len(o.PkScript) != 22 {
		t.Fatalf("txout: %+v %v", o, err)
	}
	if _, err := e.TxOut(ctx, wire.OutPoint{Hash: h, Index: 1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing index: %v", err)
	}
	if _, err := e.TxOut(ctx, wire.OutPoint{Hash: chainhash.Hash{8}, Index: 0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tx: %v", err)
	}
	spent = true
	if _, err := e.TxOut(ctx, wire.OutPoint{Hash: h, Index: 0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("spent: %v", err)
	}
	if est, err := e.FeeEstimate(ctx, 6); err == nil || est.Fallback {
		t.Fatalf("fee estimate without /fee-estimates: %+v %v", est, err)
	}
}
