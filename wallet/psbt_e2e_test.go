package wallet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
)

// localSigner signs with a local key (the other party of a joint PSBT).
type localSigner struct{ priv *btcec.PrivateKey }

func (k localSigner) SignTaproot(_ context.Context, _ string, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	sig, err := schnorr.Sign(txscript.TweakTaprootPrivKey(*k.priv, merkleRoot), sighash[:])
	if err != nil {
		return [64]byte{}, err
	}
	var out [64]byte
	copy(out[:], sig.Serialize())
	return out, nil
}

// failSigning is an HSM whose Taproot signing fails (quorum lost).
type failSigning struct{ wallet.HSM }

func (failSigning) SignTaproot(context.Context, string, [32]byte, []byte) ([64]byte, error) {
	return [64]byte{}, client.ErrNoQuorum
}

// psbtEnv is one cluster + btcd for the PSBT and fee tests.
type psbtEnv struct {
	env *wallettest.Env
	svc *wallet.Service
}

func (p *psbtEnv) chainWallet(t *testing.T, w *wallet.Wallet) *bitcoin.Wallet {
	t.Helper()
	pub, _ := hex.DecodeString(w.PublicKey)
	bw, err := bitcoin.NewWallet(w.KeyID, pub, bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	return bw
}

func (p *psbtEnv) confirmedUTXO(t *testing.T, ctx context.Context, w *bitcoin.Wallet) bitcoin.UTXO {
	t.Helper()
	us, err := p.env.Backend.UTXOs(ctx, w.Address())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Confirmations > 0 {
			return u
		}
	}
	t.Fatal("no confirmed utxo")
	return bitcoin.UTXO{}
}

func encodePSBT(t *testing.T, p *psbt.Packet) string {
	t.Helper()
	s, err := p.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lockCount(t *testing.T, ctx context.Context, svc *wallet.Service, id string) int {
	t.Helper()
	us, err := svc.UTXOs(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range us {
		if u.Locked {
			n++
		}
	}
	return n
}

// TestPSBTHonestSigning runs on a real 4-replica cluster and btcd regtest:
// lying witness_utxo amounts and unknown inputs are refused naming the
// input with nothing locked; an honest PSBT comes back signed (tap_key_sig)
// and finalizes with btcutil/psbt into a transaction btcd mines; a joint
// PSBT is signed partially, finished by the other signer and mined; v2
// PSBTs are refused; the fee sanity review refuses a high fee unless
// accepted.
func TestPSBTHonestSigning(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replica cluster and btcd")
	}
	env := wallettest.Start(t)
	p := &psbtEnv{env: env, svc: env.Service}
	t.Run("UnderstatedAmount", p.testUnderstated)
	t.Run("HonestFinalizes", p.testHonest)
	t.Run("Partial", p.testPartial)
	t.Run("Version2", p.testVersion2)
	t.Run("FeeSanity", p.testFeeSanity)
}

func (p *psbtEnv) testUnderstated(t *testing.T) {
	ctx := ctxT(t, 3*time.Minute)
	a := p.env.FundedWallet("liar-target", 200_000)
	b := p.env.FundedWallet("liar-dest")
	aw := p.chainWallet(t, a)
	u := p.confirmedUTXO(t, ctx, aw)
	dest, _ := bitcoin.ParseAddress(b.Address, bitcoin.Regtest)
	destScript, _ := txscript.PayToAddrScript(dest)
	// The attack: pay 99,500 sat and claim the input is worth
	// 100,000 (a 500 sat fee); it is worth 200,000 (a 100,500 sat fee).
	pkt, err := psbt.New([]*btcwire.OutPoint{&u.OutPoint}, []*btcwire.TxOut{btcwire.NewTxOut(99_500, destScript)}, 2, 0, []uint32{bitcoin.SequenceRBF})
	if err != nil {
		t.Fatal(err)
	}
	pkt.Inputs[0].WitnessUtxo = btcwire.NewTxOut(100_000, aw.PkScript())
	before, _ := p.svc.Transactions(ctx, a.ID)
	_, err = p.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, pkt), AcceptHighFee: true})
	if !errors.Is(err, wallet.ErrInvalid) || !strings.Contains(err.Error(), "input 0") || !strings.Contains(err.Error(), "200000") {
		t.Fatalf("understated amount: %v", err)
	}
	// An input of the wallet's script that does not exist.
	fake := btcwire.OutPoint{Hash: chainhash.Hash{0xde, 0xad}, Index: 1}
	pkt2, _ := psbt.New([]*btcwire.OutPoint{&u.OutPoint, &fake}, []*btcwire.TxOut{btcwire.NewTxOut(150_000, destScript)}, 2, 0, []uint32{bitcoin.SequenceRBF, bitcoin.SequenceRBF})
	pkt2.Inputs[0].WitnessUtxo = btcwire.NewTxOut(u.Value, aw.PkScript())
	pkt2.Inputs[1].WitnessUtxo = btcwire.NewTxOut(50_000, aw.PkScript())
	if _, err := p.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, pkt2)}); !errors.Is(err, wallet.ErrInvalid) || !strings.Contains(err.Error(), "input 1") {
		t.Fatalf("unknown input: %v", err)
	}
	after, _ := p.svc.Transactions(ctx, a.ID)
	if n := lockCount(t, ctx, p.svc, a.ID); n != 0 || len(after) != len(before) {
		t.Fatalf("after refusals: %d locked, %d→%d transactions", n, len(before), len(after))
	}
	// The coins are free: a normal send right away succeeds and is mined.
	tx, err := p.svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 50_000}}, FeeRate: 2})
	if err != nil || tx.Status != wallet.StatusBroadcast {
		t.Fatalf("send after the refusal: %+v %v", tx, err)
	}
	p.env.Mine(1)
	if err := p.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.svc.GetTransaction(ctx, a.ID, tx.ID); got.Status != wallet.StatusConfirmed {
		t.Fatalf("send not mined: %+v", got)
	}
}

func (p *psbtEnv) testHonest(t *testing.T) {
	ctx := ctxT(t, 3*time.Minute)
	a := p.env.FundedWallet("honest", 80_000)
	b := p.env.FundedWallet("honest-dest")
	aw := p.chainWallet(t, a)
	u := p.confirmedUTXO(t, ctx, aw)
	dest, _ := bitcoin.ParseAddress(b.Address, bitcoin.Regtest)
	sp, err := aw.BuildSpend(bitcoin.SpendRequest{UTXOs: []bitcoin.UTXO{u}, Outputs: []bitcoin.Output{{Address: dest, Value: 30_000}}, FeeRate: bitcoin.SatPerVByte(3), MinConf: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A foreign tool's PSBT: SIGHASH_ALL asked explicitly, no internal key.
	sp.Packet.Inputs[0].SighashType = txscript.SigHashAll
	sp.Packet.Inputs[0].TaprootInternalKey = nil
	signed, err := p.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, sp.Packet)})
	if err != nil || signed.Status != wallet.StatusSigned || signed.RawTx == "" || signed.PSBT == "" || !slices.Equal(signed.SignedInputs, []int{0}) {
		t.Fatalf("signed: %+v %v", signed, err)
	}
	if signed.Fee != sp.Fee || signed.Amount != 30_000 {
		t.Fatalf("review: fee %d amount %d, want %d 30000", signed.Fee, signed.Amount, sp.Fee)
	}
	back, err := psbt.NewFromRawBytes(strings.NewReader(signed.PSBT), true)
	if err != nil {
		t.Fatal(err)
	}
	in := back.Inputs[0]
	if len(in.TaprootKeySpendSig) != 65 || in.TaprootKeySpendSig[64] != byte(txscript.SigHashAll) || !bytes.Equal(in.TaprootInternalKey, mustHex(t, a.PublicKey)) {
		t.Fatalf("signed PSBT input: sig %x internal key %x", in.TaprootKeySpendSig, in.TaprootInternalKey)
	}
	if err := psbt.MaybeFinalizeAll(back); err != nil {
		t.Fatal(err)
	}
	tx, err := psbt.Extract(back)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tx.Serialize(&buf)
	if hex.EncodeToString(buf.Bytes()) != signed.RawTx {
		t.Fatal("btcutil's finalization differs from raw_tx")
	}
	// Broadcast by someone else; Refresh notices it on chain.
	if _, err := p.env.Backend.Broadcast(ctx, tx); err != nil {
		t.Fatalf("btcd refused the finalized PSBT: %v", err)
	}
	p.env.Mine(1)
	if err := p.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := p.svc.GetTransaction(ctx, a.ID, signed.ID)
	if err != nil || got.Status != wallet.StatusConfirmed || got.PSBT == "" {
		t.Fatalf("after mining: %+v %v", got, err)
	}
}

func (p *psbtEnv) testPartial(t *testing.T) {
	ctx := ctxT(t, 3*time.Minute)
	a := p.env.FundedWallet("joint", 70_000)
	aw := p.chainWallet(t, a)
	// The other party: a local key, funded by the faucet.
	var seed [32]byte
	rand.Read(seed[:])
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	other, err := bitcoin.NewWallet("other", schnorr.SerializePubKey(priv.PubKey()), bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	p.env.Fund(other.Address().EncodeAddress(), 40_000)
	p.env.Mine(1)
	ua, uo := p.confirmedUTXO(t, ctx, aw), p.confirmedUTXO(t, ctx, other)
	b := p.env.FundedWallet("joint-dest")
	dest, _ := bitcoin.ParseAddress(b.Address, bitcoin.Regtest)
	destScript, _ := txscript.PayToAddrScript(dest)
	pkt, err := psbt.New([]*btcwire.OutPoint{&ua.OutPoint, &uo.OutPoint},
		[]*btcwire.TxOut{btcwire.NewTxOut(100_000, destScript), btcwire.NewTxOut(9_000, other.PkScript())}, 2, 0,
		[]uint32{bitcoin.SequenceRBF, bitcoin.SequenceRBF})
	if err != nil {
		t.Fatal(err)
	}
	pkt.Inputs[0].WitnessUtxo = btcwire.NewTxOut(ua.Value, aw.PkScript())
	pkt.Inputs[1].WitnessUtxo = btcwire.NewTxOut(uo.Value, other.PkScript())
	// The foreign input's amount is checked too (gettxout).
	lie := *pkt
	lie.Inputs = slices.Clone(pkt.Inputs)
	lie.Inputs[1].WitnessUtxo = btcwire.NewTxOut(uo.Value+1, other.PkScript())
	if _, err := p.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, &lie)}); !errors.Is(err, wallet.ErrInvalid) || !strings.Contains(err.Error(), "input 1") {
		t.Fatalf("lying foreign input: %v", err)
	}
	// Broadcast cannot be asked for while the other input is unsigned.
	if _, err := p.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, pkt), Broadcast: true}); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("broadcast of a partial PSBT: %v", err)
	}
	if n := lockCount(t, ctx, p.svc, a.ID); n != 0 {
		t.Fatalf("%d locked after refusals", n)
	}
	// The HSM fails while signing: the row stays built with its one lock
	// (the other input is not ours to lock), and Refresh does not fail it.
	down := p.env.OpenService(func(c *wallet.Config) { c.HSM = failSigning{c.HSM} })
	if _, err := down.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, pkt)}); !errors.Is(err, wallet.ErrUnavailable) {
		t.Fatalf("signing with the HSM down: %v", err)
	}
	if err := p.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if n := lockCount(t, ctx, p.svc, a.ID); n != 1 {
		t.Fatalf("%d locked after a failed signing and a refresh, want 1", n)
	}
	res, err := p.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, pkt)})
	if err != nil || res.RawTx != "" || !slices.Equal(res.SignedInputs, []int{0}) || res.PSBT == "" || res.Status != wallet.StatusSigned {
		t.Fatalf("partial: %+v %v", res, err)
	}
	if n := lockCount(t, ctx, p.svc, a.ID); n != 1 {
		t.Fatalf("%d locked after partial signing, want 1", n)
	}
	again, err := p.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, pkt), Broadcast: true})
	if !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("broadcast of the stored partial: %+v %v", again, err)
	}
	// The other signer finishes it.
	pkt2, _, err := other.ImportPartialPSBT([]byte(res.PSBT), true)
	if err != nil {
		t.Fatal(err)
	}
	done, err := other.SignPSBT(ctx, localSigner{priv}, pkt2)
	if err != nil || done.Tx == nil {
		t.Fatalf("other signer: %v", err)
	}
	if _, err := p.env.Backend.Broadcast(ctx, done.Tx); err != nil {
		t.Fatalf("btcd refused the jointly signed transaction: %v", err)
	}
	p.env.Mine(1)
	if err := p.svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.svc.GetTransaction(ctx, a.ID, res.ID); got.Status != wallet.StatusConfirmed {
		t.Fatalf("joint tx: %+v", got)
	}
}

// v2PSBT is a BIP-370 version 2 PSBT (no global unsigned transaction).
func v2PSBT(op btcwire.OutPoint, prev *btcwire.TxOut, value int64, script []byte) []byte {
	var b bytes.Buffer
	kv := func(key, val []byte) { btcwire.WriteVarBytes(&b, 0, key); btcwire.WriteVarBytes(&b, 0, val) }
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	b.WriteString("psbt\xff")
	kv([]byte{0x02}, u32(2))    // PSBT_GLOBAL_TX_VERSION
	kv([]byte{0x04}, []byte{1}) // PSBT_GLOBAL_INPUT_COUNT
	kv([]byte{0x05}, []byte{1}) // PSBT_GLOBAL_OUTPUT_COUNT
	kv([]byte{0xfb}, u32(2))    // PSBT_GLOBAL_VERSION
	b.WriteByte(0)
	kv([]byte{0x0e}, op.Hash[:])    // PSBT_IN_PREVIOUS_TXID
	kv([]byte{0x0f}, u32(op.Index)) // PSBT_IN_OUTPUT_INDEX
	var wu bytes.Buffer
	btcwire.WriteTxOut(&wu, 0, 0, prev)
	kv([]byte{0x01}, wu.Bytes()) // PSBT_IN_WITNESS_UTXO
	b.WriteByte(0)
	kv([]byte{0x03}, binary.LittleEndian.AppendUint64(nil, uint64(value))) // PSBT_OUT_AMOUNT
	kv([]byte{0x04}, script)                                               // PSBT_OUT_SCRIPT
	b.WriteByte(0)
	return b.Bytes()
}

func (p *psbtEnv) testVersion2(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	a := p.env.FundedWallet("v2", 30_000)
	aw := p.chainWallet(t, a)
	u := p.confirmedUTXO(t, ctx, aw)
	raw := v2PSBT(u.OutPoint, btcwire.NewTxOut(u.Value, aw.PkScript()), 20_000, aw.PkScript())
	_, err := p.svc.SignPSBT(ctx, a.ID, wallet.SignPSBTRequest{PSBT: base64.StdEncoding.EncodeToString(raw)})
	if !errors.Is(err, wallet.ErrInvalid) || !strings.Contains(err.Error(), "version 2 (BIP-370) is not supported") {
		t.Fatalf("v2: %v", err)
	}
	if n := lockCount(t, ctx, p.svc, a.ID); n != 0 {
		t.Fatalf("%d locked", n)
	}
}

func (p *psbtEnv) testFeeSanity(t *testing.T) {
	ctx := ctxT(t, 3*time.Minute)
	a := p.env.FundedWallet("fees", 500_000)
	b := p.env.FundedWallet("fees-dest")
	// The case: 1,000 sat/vB on a 10,000 sat payment.
	req := wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 10_000}}, FeeRate: 1000, DryRun: true}
	rev, err := p.svc.Send(ctx, a.ID, req)
	if err != nil || !rev.HighFee || !strings.Contains(rev.FeeWarning, "10000 sat paid") {
		t.Fatalf("review: %+v %v", rev, err)
	}
	req.DryRun = false
	if _, err := p.svc.Send(ctx, a.ID, req); !errors.Is(err, wallet.ErrHighFee) || !strings.Contains(err.Error(), "accept_high_fee") {
		t.Fatalf("send without accept_high_fee: %v", err)
	}
	if _, err := p.svc.BuildPSBT(ctx, a.ID, req); !errors.Is(err, wallet.ErrHighFee) {
		t.Fatalf("psbt without accept_high_fee: %v", err)
	}
	if n := lockCount(t, ctx, p.svc, a.ID); n != 0 {
		t.Fatalf("%d locked after refusals", n)
	}
	// A normal fee passes without a flag.
	ok, err := p.svc.Send(ctx, a.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: b.Address, Amount: 10_000}}, FeeRate: 2, DryRun: true})
	if err != nil || ok.HighFee || ok.FeeWarning != "" {
		t.Fatalf("normal fee flagged: %+v %v", ok, err)
	}
	req.AcceptHighFee = true
	tx, err := p.svc.Send(ctx, a.ID, req)
	if err != nil || tx.Status != wallet.StatusBroadcast || !tx.HighFee || tx.FeeRate < 1000 {
		t.Fatalf("accepted high fee: %+v %v", tx, err)
	}
	p.env.Mine(1)
	// Estimates: the three targets, each marked with its source.
	est, err := p.svc.FeeEstimates(ctx, "")
	if err != nil || est.Network != "regtest" || len(est.Estimates) != 3 || est.MaxFeeRate != wallet.MaxFeeRate {
		t.Fatalf("estimates: %+v %v", est, err)
	}
	for i, e := range est.Estimates {
		if e.TargetBlocks != wallet.FeeTargets[i] || e.FeeRate < 1 || (e.Source != "node" && e.Source != "fallback") {
			t.Fatalf("estimate %d: %+v", i, e)
		}
	}
	if _, err := p.svc.FeeEstimates(ctx, "mainnet"); !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("unconfigured network: %v", err)
	}
}
