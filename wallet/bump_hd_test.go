package wallet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/bitcoin/hd"
)

// hdSigner signs for children of a local BIP-32 root (hdkeychain), as the
// replicas do for the threshold key: child key, then the BIP-341 tweak.
type hdSigner struct{ root *hdkeychain.ExtendedKey }

func (h hdSigner) SignTaproot(ctx context.Context, id string, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	return h.SignTaprootPath(ctx, id, nil, sighash, merkleRoot)
}

func (h hdSigner) SignTaprootPath(_ context.Context, _ string, path []uint32, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	k := h.root
	for _, i := range path {
		var err error
		if k, err = k.Derive(i); err != nil {
			return [64]byte{}, err
		}
	}
	priv, err := k.ECPrivKey()
	if err != nil {
		return [64]byte{}, err
	}
	sig, err := schnorr.Sign(txscript.TweakTaprootPrivKey(*priv, merkleRoot), sighash[:])
	if err != nil {
		return [64]byte{}, err
	}
	var out [64]byte
	copy(out[:], sig.Serialize())
	return out, nil
}

// TestPlanBumpHD: a bump of an HD wallet with a recovery path whose
// original spends derived address 0/0 and has no change adds a confirmed
// output of another derived address (0/1) and a change output at the
// fresh change address 1/0 (with its recovery leaf), marks the change as
// new (claimed with the replacement), annotates every input with its path
// and merkle root, and the PSBT signs (each input for its own key) into a
// transaction the script engine accepts. An input lock whose script is not
// the wallet's is refused.
func TestPlanBumpHD(t *testing.T) {
	ctx := context.Background()
	s, _ := storeOnly(t)
	bw := testWallet(t)
	seed := sha256.Sum256([]byte("wallet unit test")) // testWallet's key
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	var cc [32]byte
	copy(cc[:], bytes.Repeat([]byte{7}, 32))
	root, err := hd.NewRoot(priv.PubKey().SerializeCompressed(), cc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bw.w.SetRoot(root); err != nil {
		t.Fatal(err)
	}
	rec, _ := hdkeychain.NewMaster(bytes.Repeat([]byte{3}, 32), bitcoin.Regtest.Params)
	recPub, _ := rec.Neuter()
	rp, err := parseRecovery(&RecoveryRequest{XPub: recPub.String(), Older: 10}, bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	bw.hd = &hdState{root: root, net: bitcoin.Regtest, rp: rp, keys: map[[2]uint32]*bitcoin.DerivedKey{}}
	k00, _ := bw.hd.key(0, 0)
	k01, _ := bw.hd.key(0, 1)
	k10, _ := bw.hd.key(1, 0)
	if err := bw.w.AddKeys(k00, k01); err != nil {
		t.Fatal(err)
	}
	if len(k00.MerkleRoot()) != 32 {
		t.Fatal("derived key without the recovery leaf")
	}

	orig, otx, vals := bumpCase(t, bw, []int64{20_000}, 19_000, 0)
	for op, l := range vals {
		vals[op] = lockedOutput{value: l.value, script: k00.PkScript()}
	}
	// The original's input as an output of a funding transaction, for the
	// script engine.
	prev := btcwire.NewTxOut(20_000, k00.PkScript())
	added := bitcoin.UTXO{OutPoint: btcwire.OutPoint{Hash: chainhash.Hash{0xb1}}, Value: 30_000, PkScript: k01.PkScript(), Confirmations: 5}
	bw.be = utxoChain{us: []bitcoin.UTXO{added}}
	p, err := s.planBump(ctx, bw, orig, otx, vals, nil, bitcoin.SatPerVByte(20))
	if err != nil {
		t.Fatal(err)
	}
	checkBIP125(t, orig, otx, p, bitcoin.SatPerVByte(20))
	if len(p.added) != 1 || p.changeIndex != 1 || !p.newChange || bw.change == nil ||
		!bytes.Equal(p.pkt.UnsignedTx.TxOut[1].PkScript, k10.PkScript()) {
		t.Fatalf("new change: %+v", p)
	}
	for i, want := range []*bitcoin.DerivedKey{k00, k01} {
		in := p.pkt.Inputs[i]
		if !bytes.Equal(in.WitnessUtxo.PkScript, want.PkScript()) || !bytes.Equal(in.TaprootMerkleRoot, want.MerkleRoot()) ||
			len(in.TaprootBip32Derivation) != 1 || !slices.Equal(in.TaprootBip32Derivation[0].Bip32Path, want.Path()) {
			t.Fatalf("input %d: %+v", i, in)
		}
	}
	if out := p.pkt.Outputs[1]; len(out.TaprootTapTree) == 0 || len(out.TaprootBip32Derivation) != 1 ||
		!slices.Equal(out.TaprootBip32Derivation[0].Bip32Path, []uint32{1, 0}) {
		t.Fatalf("change output: %+v", out)
	}
	// Signed for each input's own path and merkle root (the chain wallet
	// verifies every signature and runs the script engine).
	xprv := hdkeychain.NewExtendedKey(bitcoin.Regtest.Params.HDPrivateKeyID[:], priv.Serialize(), cc[:], []byte{0, 0, 0, 0}, 0, 0, true)
	res, err := bw.w.SignPSBT(ctx, hdSigner{root: xprv}, p.pkt)
	if err != nil || res.Tx == nil {
		t.Fatalf("sign: %+v %v", res, err)
	}
	fetch := txscript.NewMultiPrevOutFetcher(map[btcwire.OutPoint]*btcwire.TxOut{
		otx.TxIn[0].PreviousOutPoint: prev, added.OutPoint: btcwire.NewTxOut(added.Value, added.PkScript)})
	for i := range res.Tx.TxIn {
		po := fetch.FetchPrevOutput(res.Tx.TxIn[i].PreviousOutPoint)
		vm, err := txscript.NewEngine(po.PkScript, res.Tx, i, txscript.StandardVerifyFlags, nil, txscript.NewTxSigHashes(res.Tx, fetch), po.Value, fetch)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
	// A lock whose script is not one of the wallet's addresses.
	for op, l := range vals {
		vals[op] = lockedOutput{value: l.value, script: otx.TxOut[0].PkScript}
	}
	if _, err := s.planBump(ctx, bw, orig, otx, vals, nil, bitcoin.SatPerVByte(20)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("foreign input script: %v", err)
	}
}
