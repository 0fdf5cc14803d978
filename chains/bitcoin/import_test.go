package bitcoin

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

func buildForImport(t *testing.T, tw testWallet) *Spend {
	t.Helper()
	utxos := []UTXO{tw.utxo(1, 60_000, 1), tw.utxo(2, 50_000, 1)}
	sp, err := tw.w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: otherAddrs(t)["p2wpkh"], Value: 100_000}}, FeeRate: 2000})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func serialize(t *testing.T, p *psbt.Packet, b64 bool) []byte {
	t.Helper()
	if b64 {
		s, err := p.B64Encode()
		if err != nil {
			t.Fatal(err)
		}
		return []byte(s)
	}
	var buf bytes.Buffer
	if err := p.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportPSBT(t *testing.T) {
	tw := newTestWallet(t)
	for _, b64 := range []bool{false, true} {
		sp := buildForImport(t, tw)
		pkt, err := tw.w.ImportPSBT(serialize(t, sp.Packet, b64), b64)
		if err != nil {
			t.Fatalf("own psbt refused: %v", err)
		}
		tx, err := tw.w.Sign(context.Background(), tw.signer, pkt)
		if err != nil {
			t.Fatal(err)
		}
		if tx.TxHash() != sp.Packet.UnsignedTx.TxHash() {
			t.Fatal("imported psbt signs a different transaction")
		}
	}
	// Minimal external PSBT: only witness utxos, no BIP-371 fields.
	sp := buildForImport(t, tw)
	for i := range sp.Packet.Inputs {
		sp.Packet.Inputs[i].TaprootInternalKey = nil
	}
	if _, err := tw.w.ImportPSBT(serialize(t, sp.Packet, false), false); err != nil {
		t.Fatalf("minimal psbt refused: %v", err)
	}
}

func TestImportPSBTRefusals(t *testing.T) {
	tw := newTestWallet(t)
	other := newTestWallet(t)
	tests := []struct {
		name  string
		edit  func(p *psbt.Packet)
		input int // -1: not an input error
	}{
		{"foreign input", func(p *psbt.Packet) { p.Inputs[1].WitnessUtxo.PkScript = other.w.PkScript() }, 1},
		{"missing witness utxo", func(p *psbt.Packet) { p.Inputs[0].WitnessUtxo = nil }, 0},
		{"sighash all", func(p *psbt.Packet) { p.Inputs[0].SighashType = txscript.SigHashAll }, 0},
		{"sighash none", func(p *psbt.Packet) { p.Inputs[1].SighashType = txscript.SigHashNone }, 1},
		{"other internal key", func(p *psbt.Packet) { p.Inputs[0].TaprootInternalKey = other.signer.xonly() }, 0},
		{"merkle root", func(p *psbt.Packet) { p.Inputs[0].TaprootMerkleRoot = make([]byte, 32) }, 0},
		{"already signed", func(p *psbt.Packet) { p.Inputs[1].TaprootKeySpendSig = make([]byte, 64) }, 1},
		{"outputs exceed inputs", func(p *psbt.Packet) { p.UnsignedTx.TxOut[0].Value = 200_000 }, -1},
		{"output sum overflows int64", func(p *psbt.Packet) {
			// 5000 × 21M BTC wraps an int64 sum to a negative number, which would pass "out ≤ in".
			p.UnsignedTx.TxOut = nil
			for range 5000 {
				p.UnsignedTx.AddTxOut(wire.NewTxOut(btcutil.MaxSatoshi, []byte{0x51}))
			}
			p.Outputs = make([]psbt.POutput, len(p.UnsignedTx.TxOut))
		}, -1},
		{"output above 21M BTC", func(p *psbt.Packet) { p.UnsignedTx.TxOut[0].Value = btcutil.MaxSatoshi + 1 }, -1},
		{"duplicate outpoint", func(p *psbt.Packet) {
			p.UnsignedTx.TxIn[1].PreviousOutPoint = p.UnsignedTx.TxIn[0].PreviousOutPoint
		}, 1},
		{"non-witness utxo mismatch", func(p *psbt.Packet) {
			prev := wire.NewMsgTx(2)
			prev.AddTxIn(&wire.TxIn{Sequence: wire.MaxTxInSequenceNum})
			prev.AddTxOut(wire.NewTxOut(60_000, tw.w.PkScript()))
			p.Inputs[0].NonWitnessUtxo = prev // hash differs from the outpoint
		}, 0},
	}
	for _, tc := range tests {
		sp := buildForImport(t, tw)
		tc.edit(sp.Packet)
		var buf bytes.Buffer
		if err := sp.Packet.Serialize(&buf); err != nil {
			t.Fatalf("%s: serialize: %v", tc.name, err)
		}
		_, err := tw.w.ImportPSBT(buf.Bytes(), false)
		if !errors.Is(err, ErrForeignPSBT) {
			t.Errorf("%s: got %v, want ErrForeignPSBT", tc.name, err)
			continue
		}
		var ie *InputError
		if tc.input >= 0 && (!errors.As(err, &ie) || ie.Index != tc.input) {
			t.Errorf("%s: error %v does not name input %d", tc.name, err, tc.input)
		}
	}
	for _, bad := range [][]byte{nil, []byte("psbt"), []byte("cHNidP8="), bytes.Repeat([]byte{0}, maxPSBTSize+1)} {
		if _, err := tw.w.ImportPSBT(bad, false); !errors.Is(err, ErrForeignPSBT) {
			t.Errorf("garbage %.10q: %v", bad, err)
		}
	}
}

func FuzzDecodePSBT(f *testing.F) {
	tw := testWallet{}
	{
		s := newKeySigner(f)
		w, err := NewWallet("k", s.xonly(), Regtest)
		if err != nil {
			f.Fatal(err)
		}
		tw = testWallet{w: w, signer: s}
		utxos := []UTXO{tw.utxo(1, 60_000, 1), tw.utxo(2, 50_000, 1)}
		sp, err := w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: w.Address(), Value: 100_000}}, FeeRate: 2000})
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		if err := sp.Packet.Serialize(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte("psbt\xff\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePSBT(data, false)
		if err != nil {
			return
		}
		// Round trip: serialize → decode → serialize is stable.
		var b1, b2 bytes.Buffer
		if err := p.Serialize(&b1); err != nil {
			return // btcd refuses to serialize some decodable packets; not a crash
		}
		p2, err := DecodePSBT(b1.Bytes(), false)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if err := p2.Serialize(&b2); err != nil || !bytes.Equal(b1.Bytes(), b2.Bytes()) {
			t.Fatalf("round trip not stable: %v", err)
		}
		// Import never panics and never accepts a packet that spends anything but the wallet.
		if q, err := tw.w.ImportPSBT(data, false); err == nil {
			for i, in := range q.Inputs {
				if !bytes.Equal(in.WitnessUtxo.PkScript, tw.w.PkScript()) {
					t.Fatalf("accepted foreign input %d", i)
				}
			}
		}
	})
}
