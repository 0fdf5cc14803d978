package bitcoin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// twoPartyPSBT builds a PSBT spending one output of a (input 0) and one of b (input 1), paying
// 150 000 sat to a third party, with witness_utxo on both inputs.
func twoPartyPSBT(t *testing.T, a, b testWallet) *psbt.Packet {
	t.Helper()
	ops := []*wire.OutPoint{{Hash: chainhash.Hash{0xa1}, Index: 0}, {Hash: chainhash.Hash{0xb1}, Index: 3}}
	pkt, err := psbt.New(ops, []*wire.TxOut{wire.NewTxOut(150_000, nil)}, 2, 0,
		[]uint32{SequenceRBF, SequenceRBF})
	if err != nil {
		t.Fatal(err)
	}
	pkt.UnsignedTx.TxOut[0].PkScript = mustScript(t, otherAddrs(t)["p2wpkh"])
	pkt.Inputs[0].WitnessUtxo = wire.NewTxOut(80_000, a.w.PkScript())
	pkt.Inputs[1].WitnessUtxo = wire.NewTxOut(71_000, b.w.PkScript())
	return pkt
}

func mustScript(t *testing.T, addr btcutil.Address) []byte {
	t.Helper()
	s, err := txscript.PayToAddrScript(addr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(t *testing.T, p *psbt.Packet) string {
	t.Helper()
	s, err := p.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSignPSBTPartial: two wallets each sign their own input of one PSBT, in either order. The
// first leaves the other's input byte-for-byte untouched and reports the transaction incomplete; the
// second completes it; the signed PSBT finalizes with btcutil/psbt and every witness verifies.
func TestSignPSBTPartial(t *testing.T) {
	a, b := newTestWallet(t), newTestWallet(t)
	ctx := context.Background()
	for _, order := range [][2]testWallet{{a, b}, {b, a}} {
		first, second := order[0], order[1]
		pkt := twoPartyPSBT(t, a, b)
		plan, err := first.w.PlanPSBT(pkt)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if first.w == b.w {
			want = 1
		}
		if !slices.Equal(plan.Own, []int{want}) || !slices.Equal(plan.Foreign, []int{1 - want}) || plan.In != 151_000 || plan.Out != 150_000 {
			t.Fatalf("plan: %+v", plan)
		}
		if CompleteWhenSigned(pkt, plan) {
			t.Fatal("complete with the other input unsigned")
		}
		before := pkt.Inputs[1-want]
		res, err := first.w.SignPSBT(ctx, first.signer, pkt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Tx != nil || !slices.Equal(res.Signed, []int{want}) {
			t.Fatalf("first signer: tx %v signed %v", res.Tx != nil, res.Signed)
		}
		in := res.Packet.Inputs[want]
		if len(in.TaprootKeySpendSig) != 64 || !bytes.Equal(in.TaprootInternalKey, first.signer.xonly()) || len(in.FinalScriptWitness) != 0 {
			t.Fatalf("own input after signing: %+v", in)
		}
		other := res.Packet.Inputs[1-want]
		if len(other.TaprootKeySpendSig) != 0 || len(other.TaprootInternalKey) != 0 || other.WitnessUtxo != before.WitnessUtxo {
			t.Fatalf("other input touched: %+v", other)
		}
		// The PSBT travels as base64 to the second signer.
		pkt2, plan2, err := second.w.ImportPartialPSBT([]byte(b64(t, res.Packet)), true)
		if err != nil {
			t.Fatal(err)
		}
		if !CompleteWhenSigned(pkt2, plan2) {
			t.Fatal("not complete once the second signer signs")
		}
		res2, err := second.w.SignPSBT(ctx, second.signer, pkt2)
		if err != nil {
			t.Fatal(err)
		}
		if res2.Tx == nil || !slices.Equal(res2.Signed, []int{1 - want}) {
			t.Fatalf("second signer: tx %v signed %v", res2.Tx != nil, res2.Signed)
		}
		// A finalizer nobody here wrote: btcutil/psbt.
		fin, err := psbt.NewFromRawBytes(bytes.NewReader([]byte(b64(t, res2.Packet))), true)
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
		if tx.TxHash() != res2.Tx.TxHash() || tx.WitnessHash() != res2.Tx.WitnessHash() {
			t.Fatal("btcutil's finalization differs from the returned transaction")
		}
		verifyTx(t, tx, []*wire.TxOut{pkt.Inputs[0].WitnessUtxo, pkt.Inputs[1].WitnessUtxo})
	}
}

// verifyTx runs every input's script with txscript.
func verifyTx(t *testing.T, tx *wire.MsgTx, prev []*wire.TxOut) {
	t.Helper()
	m := map[wire.OutPoint]*wire.TxOut{}
	for i, in := range tx.TxIn {
		m[in.PreviousOutPoint] = prev[i]
	}
	f := txscript.NewMultiPrevOutFetcher(m)
	for i := range tx.TxIn {
		vm, err := txscript.NewEngine(prev[i].PkScript, tx, i, txscript.StandardVerifyFlags, nil, txscript.NewTxSigHashes(tx, f), prev[i].Value, f)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Execute(); err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
}

// TestSignPSBTSighash: SIGHASH_ALL is signed (65-byte signature ending in 0x01, valid on chain
// rules); every other hash type on an own input is refused naming the input; a foreign input's hash
// type is not ours to judge.
func TestSignPSBTSighash(t *testing.T) {
	tw := newTestWallet(t)
	sp := buildForImport(t, tw)
	sp.Packet.Inputs[1].SighashType = txscript.SigHashAll
	res, err := tw.w.SignPSBT(context.Background(), tw.signer, sp.Packet)
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Packet.Inputs[1].TaprootKeySpendSig; len(s) != 65 || s[64] != byte(txscript.SigHashAll) {
		t.Fatalf("SIGHASH_ALL signature: %x", s)
	}
	if len(res.Packet.Inputs[0].TaprootKeySpendSig) != 64 || res.Tx == nil {
		t.Fatal("SIGHASH_DEFAULT input or transaction missing")
	}
	verifyTx(t, res.Tx, []*wire.TxOut{sp.Packet.Inputs[0].WitnessUtxo, sp.Packet.Inputs[1].WitnessUtxo})
	for _, ht := range []txscript.SigHashType{txscript.SigHashNone, txscript.SigHashSingle,
		txscript.SigHashAll | txscript.SigHashAnyOneCanPay, txscript.SigHashDefault | txscript.SigHashAnyOneCanPay, 0x04} {
		sp := buildForImport(t, tw)
		sp.Packet.Inputs[1].SighashType = ht
		_, err := tw.w.SignPSBT(context.Background(), tw.signer, sp.Packet)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Index != 1 || !errors.Is(err, ErrForeignPSBT) {
			t.Errorf("sighash 0x%x: %v", uint32(ht), err)
		}
	}
	other := newTestWallet(t)
	pkt := twoPartyPSBT(t, tw, other)
	pkt.Inputs[1].SighashType = txscript.SigHashSingle | txscript.SigHashAnyOneCanPay
	if _, err := tw.w.PlanPSBT(pkt); err != nil {
		t.Fatalf("foreign input's hash type refused: %v", err)
	}
}

// TestPlanPSBTNonWitnessUTXO: an input carrying only non_witness_utxo is accepted when that
// transaction hashes to the outpoint and has the output, and its witness_utxo is filled in when
// signed; otherwise it is refused naming the input.
func TestPlanPSBTNonWitnessUTXO(t *testing.T) {
	tw := newTestWallet(t)
	prev := wire.NewMsgTx(2)
	prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{5}}, Sequence: wire.MaxTxInSequenceNum})
	prev.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	prev.AddTxOut(wire.NewTxOut(90_000, tw.w.PkScript()))
	mk := func(op wire.OutPoint, nw *wire.MsgTx) *psbt.Packet {
		pkt, err := psbt.New([]*wire.OutPoint{&op}, []*wire.TxOut{wire.NewTxOut(80_000, tw.w.PkScript())}, 2, 0, []uint32{SequenceRBF})
		if err != nil {
			t.Fatal(err)
		}
		pkt.Inputs[0].NonWitnessUtxo = nw
		return pkt
	}
	good := mk(wire.OutPoint{Hash: prev.TxHash(), Index: 1}, prev)
	res, err := tw.w.SignPSBT(context.Background(), tw.signer, good)
	if err != nil {
		t.Fatal(err)
	}
	if w := res.Packet.Inputs[0].WitnessUtxo; w == nil || w.Value != 90_000 || res.Tx == nil {
		t.Fatalf("witness utxo not filled or tx missing: %+v", w)
	}
	verifyTx(t, res.Tx, []*wire.TxOut{prev.TxOut[1]})
	other := prev.Copy()
	other.TxOut[1].Value = 900_000 // a different transaction claiming more
	for name, pkt := range map[string]*psbt.Packet{
		"txid mismatch": mk(wire.OutPoint{Hash: prev.TxHash(), Index: 1}, other),
		"index missing": mk(wire.OutPoint{Hash: prev.TxHash(), Index: 7}, prev),
		"witness_utxo disagrees": func() *psbt.Packet {
			p := mk(wire.OutPoint{Hash: prev.TxHash(), Index: 1}, prev)
			p.Inputs[0].WitnessUtxo = wire.NewTxOut(9_000_000, tw.w.PkScript())
			return p
		}(),
	} {
		_, err := tw.w.PlanPSBT(pkt)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Index != 0 || !errors.Is(err, ErrForeignPSBT) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPlanPSBTRefusals: nothing of the wallet's to sign, and own inputs carrying foreign data.
func TestPlanPSBTRefusals(t *testing.T) {
	a, b := newTestWallet(t), newTestWallet(t)
	pkt := twoPartyPSBT(t, a, b)
	if _, err := newTestWallet(t).w.PlanPSBT(pkt); !errors.Is(err, ErrForeignPSBT) {
		t.Fatalf("no own input: %v", err)
	}
	for name, edit := range map[string]func(p *psbt.Packet){
		"already signed":  func(p *psbt.Packet) { p.Inputs[0].TaprootKeySpendSig = make([]byte, 64) },
		"merkle root":     func(p *psbt.Packet) { p.Inputs[0].TaprootMerkleRoot = make([]byte, 32) },
		"other internal":  func(p *psbt.Packet) { p.Inputs[0].TaprootInternalKey = b.signer.xonly() },
		"no utxo at all":  func(p *psbt.Packet) { p.Inputs[0].WitnessUtxo = nil },
		"duplicate input": func(p *psbt.Packet) { p.UnsignedTx.TxIn[1].PreviousOutPoint = p.UnsignedTx.TxIn[0].PreviousOutPoint },
	} {
		pkt := twoPartyPSBT(t, a, b)
		edit(pkt)
		if _, err := a.w.PlanPSBT(pkt); !errors.Is(err, ErrForeignPSBT) {
			t.Errorf("%s: %v", name, err)
		}
	}
	pkt = twoPartyPSBT(t, a, b)
	pkt.Inputs[1].WitnessUtxo.Value = 1000 // outputs now exceed inputs
	if _, err := a.w.PlanPSBT(pkt); !errors.Is(err, ErrForeignPSBT) {
		t.Fatalf("negative fee: %v", err)
	}
}

// bip370V2 builds a version 2 PSBT (BIP-370) spending op: no global unsigned transaction, but
// PSBT_GLOBAL_TX_VERSION, _FALLBACK_LOCKTIME, _INPUT_COUNT, _OUTPUT_COUNT and PSBT_GLOBAL_VERSION = 2
// globals, PSBT_IN_PREVIOUS_TXID/_OUTPUT_INDEX/_WITNESS_UTXO per input and PSBT_OUT_AMOUNT/_SCRIPT
// per output.
func bip370V2(op wire.OutPoint, prev *wire.TxOut, value int64, script []byte) []byte {
	var b bytes.Buffer
	kv := func(key []byte, val []byte) {
		wire.WriteVarBytes(&b, 0, key)
		wire.WriteVarBytes(&b, 0, val)
	}
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	b.Write([]byte("psbt\xff"))
	kv([]byte{0x02}, u32(2))    // PSBT_GLOBAL_TX_VERSION
	kv([]byte{0x03}, u32(0))    // PSBT_GLOBAL_FALLBACK_LOCKTIME
	kv([]byte{0x04}, []byte{1}) // PSBT_GLOBAL_INPUT_COUNT (compact size)
	kv([]byte{0x05}, []byte{1}) // PSBT_GLOBAL_OUTPUT_COUNT
	kv([]byte{0xfb}, u32(2))    // PSBT_GLOBAL_VERSION
	b.WriteByte(0)
	kv([]byte{0x0e}, op.Hash[:])    // PSBT_IN_PREVIOUS_TXID
	kv([]byte{0x0f}, u32(op.Index)) // PSBT_IN_OUTPUT_INDEX
	var wu bytes.Buffer
	wire.WriteTxOut(&wu, 0, 0, prev)
	kv([]byte{0x01}, wu.Bytes()) // PSBT_IN_WITNESS_UTXO
	kv([]byte{0x10}, u32(SequenceRBF))
	b.WriteByte(0)
	kv([]byte{0x03}, binary.LittleEndian.AppendUint64(nil, uint64(value))) // PSBT_OUT_AMOUNT
	kv([]byte{0x04}, script)                                               // PSBT_OUT_SCRIPT
	b.WriteByte(0)
	return b.Bytes()
}

// TestPSBTVersion2Refused: a BIP-370 version 2 PSBT is refused with ErrPSBTVersion (binary and
// base64), where btcutil/psbt alone would give an unhelpful parse error; a version 0 PSBT with an
// explicit PSBT_GLOBAL_VERSION 0 is accepted.
func TestPSBTVersion2Refused(t *testing.T) {
	tw := newTestWallet(t)
	v2 := bip370V2(wire.OutPoint{Hash: chainhash.Hash{3}, Index: 1}, wire.NewTxOut(50_000, tw.w.PkScript()), 40_000, tw.w.PkScript())
	if _, err := psbt.NewFromRawBytes(bytes.NewReader(v2), false); err == nil {
		t.Fatal("btcutil/psbt parsed a v2 PSBT; the refusal may be unnecessary")
	}
	if v, err := PSBTVersion(v2, false); err != nil || v != 2 {
		t.Fatalf("version: %d %v", v, err)
	}
	for _, in := range []struct {
		data []byte
		b64  bool
	}{{v2, false}, {[]byte(base64.StdEncoding.EncodeToString(v2)), true}} {
		_, _, err := tw.w.ImportPartialPSBT(in.data, in.b64)
		if !errors.Is(err, ErrPSBTVersion) || !bytes.Contains([]byte(err.Error()), []byte("convert to v0")) {
			t.Fatalf("v2 (base64 %v): %v", in.b64, err)
		}
	}
	// Version 0, explicitly.
	sp := buildForImport(t, tw)
	raw := serialize(t, sp.Packet, false)
	// btcutil/psbt wants PSBT_GLOBAL_UNSIGNED_TX first: put the version right after it.
	r := bytes.NewReader(raw[5+2:]) // magic, key length 1, key 0x00
	n, err := wire.ReadVarInt(r, 0)
	if err != nil {
		t.Fatal(err)
	}
	end := len(raw) - r.Len() + int(n)
	var v0 bytes.Buffer
	v0.Write(raw[:end])
	wire.WriteVarBytes(&v0, 0, []byte{0xfb})
	wire.WriteVarBytes(&v0, 0, []byte{0, 0, 0, 0})
	v0.Write(raw[end:])
	if v, err := PSBTVersion(v0.Bytes(), false); err != nil || v != 0 {
		t.Fatalf("explicit v0 version: %d %v", v, err)
	}
	if _, _, err := tw.w.ImportPartialPSBT(v0.Bytes(), false); err != nil {
		t.Fatalf("explicit v0: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("psbt"), []byte("psbt\xff\x01"), []byte("psbt\xff\x01\xfb\x02\x00"), []byte("psbt\xff\xfd\xff\xff")} {
		if _, err := PSBTVersion(bad, false); !errors.Is(err, ErrForeignPSBT) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// FuzzImportPartialPSBT: the decode path (version scan, BIP-174 parse, plan) never panics; what it
// accepts is version 0, names a spent output for every input, and plans to sign only outputs paying
// the wallet's script.
func FuzzImportPartialPSBT(f *testing.F) {
	s := newKeySigner(f)
	w, err := NewWallet("k", s.xonly(), Regtest)
	if err != nil {
		f.Fatal(err)
	}
	tw := testWallet{w: w, signer: s}
	sp, err := w.BuildSpend(SpendRequest{UTXOs: []UTXO{tw.utxo(1, 60_000, 1), tw.utxo(2, 50_000, 1)},
		Outputs: []Output{{Address: w.Address(), Value: 100_000}}, FeeRate: 2000})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	sp.Packet.Serialize(&buf)
	f.Add(buf.Bytes())
	f.Add(bip370V2(wire.OutPoint{Index: 1}, wire.NewTxOut(5000, w.PkScript()), 4000, w.PkScript()))
	f.Add([]byte("psbt\xff\x01\xfb\x04\x00\x00\x00\x00\x00"))
	// A joint PSBT: the wallet's input and another key's input, unsigned and with the other signed.
	{
		o := newKeySigner(f)
		ow, err := NewWallet("o", o.xonly(), Regtest)
		if err != nil {
			f.Fatal(err)
		}
		ops := []*wire.OutPoint{{Hash: chainhash.Hash{0xa1}}, {Hash: chainhash.Hash{0xb1}, Index: 3}}
		pkt, err := psbt.New(ops, []*wire.TxOut{wire.NewTxOut(150_000, append([]byte{0, 20}, make([]byte, 20)...))}, 2, 0, []uint32{SequenceRBF, SequenceRBF})
		if err != nil {
			f.Fatal(err)
		}
		pkt.Inputs[0].WitnessUtxo = wire.NewTxOut(80_000, w.PkScript())
		pkt.Inputs[1].WitnessUtxo = wire.NewTxOut(71_000, ow.PkScript())
		var b1 bytes.Buffer
		pkt.Serialize(&b1)
		f.Add(b1.Bytes())
		res, err := ow.SignPSBT(context.Background(), o, pkt)
		if err != nil {
			f.Fatal(err)
		}
		var b2 bytes.Buffer
		res.Packet.Serialize(&b2)
		f.Add(b2.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, verr := PSBTVersion(data, false)
		pkt, plan, err := w.ImportPartialPSBT(data, false)
		if err != nil {
			return
		}
		if verr != nil || v != 0 {
			t.Fatalf("accepted version %d (%v)", v, verr)
		}
		if len(plan.Prevouts) != len(pkt.UnsignedTx.TxIn) || len(plan.Own) == 0 {
			t.Fatal("plan does not cover the inputs")
		}
		for _, i := range plan.Own {
			if !bytes.Equal(plan.Prevouts[i].PkScript, w.PkScript()) {
				t.Fatalf("plans to sign foreign input %d", i)
			}
		}
		if plan.Out > plan.In {
			t.Fatal("negative fee accepted")
		}
		// Signing and the completeness check never panic on what was
		// accepted (foreign inputs reach btcutil's finalizer and txscript).
		CompleteWhenSigned(pkt, plan)
		res, err := w.SignPSBT(context.Background(), s, pkt)
		if err != nil {
			return
		}
		for _, i := range res.Signed {
			if len(res.Packet.Inputs[i].TaprootKeySpendSig) < 64 {
				t.Fatalf("input %d reported signed without a signature", i)
			}
		}
	})
}
