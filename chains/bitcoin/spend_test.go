package bitcoin

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

type testWallet struct {
	w      *Wallet
	signer *keySigner
}

func newTestWallet(t *testing.T) testWallet {
	t.Helper()
	s := newKeySigner(t)
	w, err := NewWallet("key-1", s.xonly(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	return testWallet{w: w, signer: s}
}

func (tw testWallet) utxo(i byte, value, conf int64) UTXO {
	return UTXO{OutPoint: wire.OutPoint{Hash: chainhash.Hash{i}, Index: uint32(i)}, Value: value, PkScript: tw.w.PkScript(), Confirmations: conf}
}

func otherAddrs(t *testing.T) map[string]btcutil.Address {
	t.Helper()
	pkh, _ := btcutil.NewAddressPubKeyHash(make([]byte, 20), Regtest.Params)
	sh, _ := btcutil.NewAddressScriptHashFromHash(make([]byte, 20), Regtest.Params)
	wpkh, _ := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), Regtest.Params)
	wsh, _ := btcutil.NewAddressWitnessScriptHash(make([]byte, 32), Regtest.Params)
	tr, err := TaprootAddress(newKeySigner(t).xonly(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]btcutil.Address{"p2pkh": pkh, "p2sh": sh, "p2wpkh": wpkh, "p2wsh": wsh, "p2tr": tr}
}

// signAndCheck signs sp and checks that the predicted vsize is the signed transaction's and that the
// fee is exactly inputs − outputs.
func signAndCheck(t *testing.T, tw testWallet, sp *Spend) *wire.MsgTx {
	t.Helper()
	before := tw.signer.calls
	tx, err := tw.w.Sign(context.Background(), tw.signer, sp.Packet)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if got := tw.signer.calls - before; got != len(tx.TxIn) {
		t.Fatalf("signer asked %d times for %d inputs", got, len(tx.TxIn))
	}
	w := blockchain.GetTransactionWeight(btcutil.NewTx(tx))
	if (w+3)/4 != sp.VSize {
		t.Fatalf("vsize predicted %d, actual %d (weight %d)", sp.VSize, (w+3)/4, w)
	}
	var in, out int64
	for _, pi := range sp.Packet.Inputs {
		in += pi.WitnessUtxo.Value
	}
	for i, o := range tx.TxOut {
		out += o.Value
		if o.Value < DustLimit(o.PkScript) {
			t.Fatalf("output %d is dust", i)
		}
	}
	if in-out != sp.Fee {
		t.Fatalf("fee %d, inputs−outputs %d", sp.Fee, in-out)
	}
	for i, txin := range tx.TxIn {
		if len(txin.Witness) != 1 || len(txin.Witness[0]) != 64 || len(txin.SignatureScript) != 0 {
			t.Fatalf("input %d witness is not one 64-byte signature", i)
		}
		if txin.Sequence != SequenceRBF {
			t.Fatalf("input %d does not signal RBF", i)
		}
	}
	return tx
}

func TestBuildSpendAllAddressTypes(t *testing.T) {
	tw := newTestWallet(t)
	utxos := []UTXO{tw.utxo(1, 100_000, 3), tw.utxo(2, 50_000, 1)}
	for name, addr := range otherAddrs(t) {
		for _, rate := range []FeeRate{1000, 1500, SatPerVByte(7), SatPerVByte(55)} {
			sp, err := tw.w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: addr, Value: 30_000}}, FeeRate: rate, MinConf: 1})
			if err != nil {
				t.Fatalf("%s @%d: %v", name, rate, err)
			}
			if sp.Fee != rate.FeeFor(sp.VSize) || sp.ChangeIndex < 0 {
				t.Fatalf("%s: fee %d vsize %d rate %d change %d", name, sp.Fee, sp.VSize, rate, sp.ChangeIndex)
			}
			if !bytes.Equal(sp.Packet.UnsignedTx.TxOut[sp.ChangeIndex].PkScript, tw.w.PkScript()) {
				t.Fatal("change does not go back to the wallet")
			}
			if len(sp.Packet.UnsignedTx.TxIn) != 1 || sp.Packet.Inputs[0].WitnessUtxo.Value != 100_000 {
				t.Fatal("largest-first should pick the 100 000 sat UTXO alone")
			}
			signAndCheck(t, tw, sp)
		}
	}
}

func TestBuildSpendSelection(t *testing.T) {
	tw := newTestWallet(t)
	dest := otherAddrs(t)["p2tr"]
	foreign := tw.utxo(9, 10_000_000, 10)
	foreign.PkScript = []byte{0x51, 0x20, 1}
	immature := tw.utxo(8, 10_000_000, 99)
	immature.Coinbase = true
	mature := tw.utxo(7, 40_000, 100)
	mature.Coinbase = true
	utxos := []UTXO{foreign, immature, mature, tw.utxo(1, 30_000, 1), tw.utxo(2, 20_000, 0)}

	// Needs two inputs: 40 000 (mature coinbase) + 30 000; the unconfirmed, immature and foreign
	// outputs are never picked with MinConf 1.
	sp, err := tw.w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: dest, Value: 60_000}}, FeeRate: SatPerVByte(2), MinConf: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sp.Packet.UnsignedTx.TxIn); n != 2 {
		t.Fatalf("%d inputs, want 2", n)
	}
	for _, in := range sp.Packet.UnsignedTx.TxIn {
		if h := in.PreviousOutPoint.Hash[0]; h != 7 && h != 1 {
			t.Fatalf("picked utxo %d", h)
		}
	}
	signAndCheck(t, tw, sp)

	// Not enough without the unconfirmed one; enough with MinConf 0.
	_, err = tw.w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: dest, Value: 75_000}}, FeeRate: SatPerVByte(2), MinConf: 1})
	if !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("got %v, want ErrInsufficientFunds", err)
	}
	sp, err = tw.w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: dest, Value: 75_000}}, FeeRate: SatPerVByte(2)})
	if err != nil || len(sp.Packet.UnsignedTx.TxIn) != 3 {
		t.Fatalf("minconf 0: %v", err)
	}
	signAndCheck(t, tw, sp)
}

func TestBuildSpendChangeBelowDustGoesToFee(t *testing.T) {
	tw := newTestWallet(t)
	dest := otherAddrs(t)["p2wpkh"]
	rate := SatPerVByte(2)
	// The fee of one input and one P2WPKH output without change comes from a send-max build. Leave
	// 200 sat over it (below the 330 sat P2TR dust limit): the builder must drop the change and pay
	// the 200 sat as fee.
	sp0, err := tw.w.BuildSpend(SpendRequest{UTXOs: []UTXO{tw.utxo(1, 100_000, 1)}, Outputs: []Output{{Address: dest, SendMax: true}}, FeeRate: rate})
	if err != nil {
		t.Fatal(err)
	}
	value := int64(100_000) - sp0.Fee - 200
	sp, err := tw.w.BuildSpend(SpendRequest{UTXOs: []UTXO{tw.utxo(1, 100_000, 1)}, Outputs: []Output{{Address: dest, Value: value}}, FeeRate: rate})
	if err != nil {
		t.Fatal(err)
	}
	if sp.ChangeIndex != -1 || sp.Fee != sp0.Fee+200 || len(sp.Packet.UnsignedTx.TxOut) != 1 {
		t.Fatalf("change %d fee %d, want no change and fee %d", sp.ChangeIndex, sp.Fee, sp0.Fee+200)
	}
	signAndCheck(t, tw, sp)
}

func TestBuildSpendSendMax(t *testing.T) {
	tw := newTestWallet(t)
	addrs := otherAddrs(t)
	utxos := []UTXO{tw.utxo(1, 100_000, 1), tw.utxo(2, 70_000, 5), tw.utxo(3, 1_000, 2)}
	sp, err := tw.w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{
		{Address: addrs["p2pkh"], Value: 20_000}, {Address: addrs["p2tr"], SendMax: true},
	}, FeeRate: SatPerVByte(3), MinConf: 1})
	if err != nil {
		t.Fatal(err)
	}
	tx := signAndCheck(t, tw, sp)
	if len(tx.TxIn) != 3 || sp.ChangeIndex != -1 {
		t.Fatalf("send max: %d inputs, change %d", len(tx.TxIn), sp.ChangeIndex)
	}
	if got, want := tx.TxOut[1].Value, int64(171_000-20_000)-sp.Fee; got != want {
		t.Fatalf("max output %d, want %d", got, want)
	}
}

func TestBuildSpendRefusals(t *testing.T) {
	tw := newTestWallet(t)
	addrs := otherAddrs(t)
	mainnetAddr, err := TaprootAddress(newKeySigner(t).xonly(), Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	utxos := []UTXO{tw.utxo(1, 100_000, 1)}
	tests := []struct {
		name string
		req  SpendRequest
		want error
	}{
		{"no outputs", SpendRequest{UTXOs: utxos, FeeRate: 1000}, ErrInvalidRequest},
		{"fee below relay", SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: addrs["p2tr"], Value: 1000}}, FeeRate: 999}, ErrInvalidRequest},
		{"dust p2tr", SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: addrs["p2tr"], Value: 329}}, FeeRate: 1000}, ErrDust},
		{"dust p2pkh", SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: addrs["p2pkh"], Value: 545}}, FeeRate: 1000}, ErrDust},
		{"two send max", SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: addrs["p2tr"], SendMax: true}, {Address: addrs["p2wpkh"], SendMax: true}}, FeeRate: 1000}, ErrInvalidRequest},
		{"wrong network", SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: mainnetAddr, Value: 1000}}, FeeRate: 1000}, ErrWrongNetwork},
		{"insufficient", SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: addrs["p2tr"], Value: 99_950}}, FeeRate: 1000}, ErrInsufficientFunds},
		{"no utxos", SpendRequest{Outputs: []Output{{Address: addrs["p2tr"], SendMax: true}}, FeeRate: 1000}, ErrInsufficientFunds},
		{"send max to dust", SpendRequest{UTXOs: []UTXO{tw.utxo(1, 400, 1)}, Outputs: []Output{{Address: addrs["p2tr"], SendMax: true}}, FeeRate: 1000}, ErrInsufficientFunds},
		{"utxo listed twice", SpendRequest{UTXOs: []UTXO{tw.utxo(1, 100_000, 1), tw.utxo(1, 100_000, 1)}, Outputs: []Output{{Address: addrs["p2tr"], SendMax: true}}, FeeRate: 1000}, ErrInvalidRequest},
		{"utxo above 21M BTC", SpendRequest{UTXOs: []UTXO{tw.utxo(1, btcutil.MaxSatoshi+1, 1)}, Outputs: []Output{{Address: addrs["p2tr"], Value: 1000}}, FeeRate: 1000}, ErrInvalidRequest},
		{"nil address", SpendRequest{UTXOs: utxos, Outputs: []Output{{Value: 1000}}, FeeRate: 1000}, ErrInvalidRequest},
		{"negative min conf", SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: addrs["p2tr"], Value: 1000}}, FeeRate: 1000, MinConf: -1}, ErrInvalidRequest},
		{"output above 21M BTC", SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: addrs["p2tr"], Value: btcutil.MaxSatoshi + 1}}, FeeRate: 1000}, ErrInvalidRequest},
	}
	for _, tc := range tests {
		if _, err := tw.w.BuildSpend(tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestDustLimits(t *testing.T) {
	addrs := otherAddrs(t)
	want := map[string]int64{"p2pkh": 546, "p2sh": 540, "p2wpkh": 294, "p2wsh": 330, "p2tr": 330}
	for name, a := range addrs {
		s, err := payToAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		if got := DustLimit(s); got != want[name] {
			t.Errorf("%s: dust %d, want %d", name, got, want[name])
		}
	}
}

// badSigner returns a valid signature except for input badInput, where it flips a bit.
type badSigner struct {
	inner    *keySigner
	n        int
	badInput int
}

func (b *badSigner) SignTaproot(ctx context.Context, id string, h [32]byte, root []byte) ([64]byte, error) {
	s, err := b.inner.SignTaproot(ctx, id, h, root)
	if b.n == b.badInput {
		s[10] ^= 0x40
	}
	b.n++
	return s, err
}

func TestSignRejectsBadSignatureNamingInput(t *testing.T) {
	tw := newTestWallet(t)
	utxos := []UTXO{tw.utxo(1, 10_000, 1), tw.utxo(2, 10_000, 1), tw.utxo(3, 10_000, 1)}
	sp, err := tw.w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: otherAddrs(t)["p2tr"], SendMax: true}}, FeeRate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tw.w.Sign(context.Background(), &badSigner{inner: tw.signer, badInput: 2}, sp.Packet)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Index != 2 || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want InputError{2, ErrBadSignature}", err)
	}
	for i, in := range sp.Packet.Inputs {
		if len(in.FinalScriptWitness) != 0 || len(in.TaprootKeySpendSig) != 0 {
			t.Fatalf("input %d was finalized despite a bad signature", i)
		}
	}
	// The wallet's own key with the wrong tweak is also refused.
	_, err = tw.w.Sign(context.Background(), &keySigner{priv: tw.signer.priv, wrongTweak: true}, sp.Packet)
	if !errors.As(err, &ie) || ie.Index != 0 || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong tweak: %v", err)
	}
	// And then the right signer succeeds on the same packet.
	signAndCheck(t, tw, sp)
}
