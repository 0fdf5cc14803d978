package wallet_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
)

// TestHDRecoveryComposes runs the round's Bitcoin features together on a
// real 4-replica cluster and btcd regtest, every transaction mined by btcd:
// an HD wallet WITH a recovery path hands out receive addresses 0/0 and 0/1,
// each tr(root/0/i, and_v(v:pk(RXPUB/0/i), older(N))) (checked against
// hdkeychain + txscript and against the wallet's ranged descriptors); both
// are funded and recorded as incoming; a send spends both (each input signed
// for its own path with its own merkle root) with change to the fresh
// change address 1/0 carrying its recovery leaf; the send is bumped (the
// replacement mined, the original never); a PSBT spending the change at
// 1/0 is refused when it understates the amount and signed honestly
// otherwise (tap_bip32_derivation and merkle root in the signed PSBT),
// finalized by btcutil and mined; and once its output at receive address
// 0/2 is N blocks deep the recovery key alone sweeps it by the script path
// (refused by btcd one block earlier).
func TestHDRecoveryComposes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replica cluster and btcd")
	}
	env := wallettest.Start(t)
	ctx := ctxT(t, 6*time.Minute)
	svc := env.Service
	net := bitcoin.Regtest

	// The user's recovery key: an account xprv kept offline, its xpub with
	// key origin given to the wallet.
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	master, _ := hdkeychain.NewMaster(seed, net.Params)
	acct, err := master.Derive(hdkeychain.HardenedKeyStart + 86)
	if err != nil {
		t.Fatal(err)
	}
	acctPub, _ := acct.Neuter()
	fp := hex.EncodeToString(btcutil.Hash160(mustPub(t, master))[:4])
	origin := "[" + fp + "/86']" + acctPub.String()
	const older = 5

	w, err := svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "hd+recovery",
		Recovery: &wallet.RecoveryRequest{XPub: origin, Older: older}})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "bob"})
	if err != nil {
		t.Fatal(err)
	}

	// Descriptors: ranged, with the recovery leaf of the same branch.
	desc, err := svc.Descriptors(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantRecv := "tr([" + desc.Fingerprint + "]" + desc.XPub + "/0/*,and_v(v:pk(" + origin + "/0/*),older(5)))#"
	wantChg := "tr([" + desc.Fingerprint + "]" + desc.XPub + "/1/*,and_v(v:pk(" + origin + "/1/*),older(5)))#"
	if !strings.HasPrefix(desc.Receive, wantRecv) || !strings.HasPrefix(desc.Change, wantChg) {
		t.Fatalf("descriptors:\n%s\n%s", desc.Receive, desc.Change)
	}
	rd, err := bitcoin.ParseRecoveryDescriptor(desc.Receive, net)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := bitcoin.ParseRecoveryDescriptor(desc.Change, net)
	if err != nil {
		t.Fatal(err)
	}
	bd, err := bitcoin.ParseRecoveryDescriptor(desc.Base, net)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := bd.Output(0); descAddr(t, o) != w.Address {
		t.Fatalf("base descriptor %s does not derive the wallet's address %s", desc.Base, w.Address)
	}
	rootPub, err := hdkeychain.NewKeyFromString(desc.XPub)
	if err != nil {
		t.Fatal(err)
	}

	// Receive addresses 0/0 and 0/1.
	var recv []*wallet.Address
	for i := range 2 {
		a, err := svc.NewAddress(ctx, w.ID)
		if err != nil || a.Path != "0/"+string(rune('0'+i)) {
			t.Fatalf("address %d: %+v %v", i, a, err)
		}
		// Derived independently: hdkeychain for both children, txscript
		// for the tree and the tweak.
		if got := independentAddr(t, rootPub, acctPub, 0, uint32(i), older); got != a.Address {
			t.Fatalf("0/%d: wallet %s, hdkeychain+txscript %s", i, a.Address, got)
		}
		if o, _ := rd.Output(uint32(i)); descAddr(t, o) != a.Address {
			t.Fatalf("0/%d: the receive descriptor derives another address", i)
		}
		recv = append(recv, a)
	}
	fund0 := env.Fund(recv[0].Address, 60_000)
	fund1 := env.Fund(recv[1].Address, 60_000)
	env.Mine(1)
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	hist, err := svc.Transactions(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	incoming := map[string]bool{}
	for _, h := range hist {
		if h.Direction == "in" {
			incoming[h.TxID] = true
		}
	}
	if !incoming[fund0] || !incoming[fund1] {
		t.Fatalf("payments to 0/0 and 0/1 not recorded as incoming: %v", incoming)
	}
	if bal, err := svc.Balance(ctx, w.ID); err != nil || bal.Confirmed != 120_000 {
		t.Fatalf("balance %+v %v", bal, err)
	}

	// A send that needs both inputs, at 1 sat/vB; change to 1/0.
	orig, err := svc.Send(ctx, w.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: bob.Address, Amount: 100_000}}, FeeRate: 1})
	if err != nil || orig.Status != wallet.StatusBroadcast || orig.Inputs != 2 || orig.Change <= 0 {
		t.Fatalf("send: %+v %v", orig, err)
	}
	addrs, err := svc.ListAddresses(ctx, w.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(addrs, func(a wallet.Address) bool { return a.Path == "1/0" })
	if i < 0 || !addrs[i].Used {
		t.Fatalf("change address 1/0 not claimed: %+v", addrs)
	}
	change := addrs[i].Address
	if o, _ := cd.Output(0); descAddr(t, o) != change {
		t.Fatal("the change descriptor does not derive 1/0")
	}
	if independentAddr(t, rootPub, acctPub, 1, 0, older) != change {
		t.Fatal("1/0 is not tr(root/1/0, leaf(RXPUB/1/0))")
	}

	// Bump it: the replacement is mined, the original never.
	nb, err := svc.Bump(ctx, w.ID, orig.ID, wallet.BumpRequest{FeeRate: 5})
	if err != nil || nb.Status != wallet.StatusBroadcast || nb.Inputs != 2 || nb.Change != orig.Change-(nb.Fee-orig.Fee) {
		t.Fatalf("bump: %+v %v", nb, err)
	}
	env.Mine(1)
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if g, _ := svc.GetTransaction(ctx, w.ID, nb.ID); g == nil || g.Status != wallet.StatusConfirmed {
		t.Fatalf("replacement not mined: %+v", g)
	}
	if g, _ := svc.GetTransaction(ctx, w.ID, orig.ID); g == nil || g.Status != wallet.StatusReplaced {
		t.Fatalf("original: %+v", g)
	}
	if inMempoolOrChain(env, orig.TxID) {
		t.Fatal("the original was mined")
	}

	// A PSBT (from another tool) spending the change at 1/0.
	cu := changeUTXO(t, env, change, nb.Change)
	dest, _ := bitcoin.ParseAddress(bob.Address, net)
	destScript, _ := txscript.PayToAddrScript(dest)
	r2, err := svc.NewAddress(ctx, w.ID) // 0/2, where the rest goes
	if err != nil || r2.Path != "0/2" {
		t.Fatalf("0/2: %+v %v", r2, err)
	}
	r2Addr, _ := bitcoin.ParseAddress(r2.Address, net)
	r2Script, _ := txscript.PayToAddrScript(r2Addr)
	const pay, fee = 3_000, 500
	rest := cu.Value - pay - fee
	build := func(claimed int64) *psbt.Packet {
		p, err := psbt.New([]*btcwire.OutPoint{&cu.OutPoint}, []*btcwire.TxOut{btcwire.NewTxOut(pay, destScript), btcwire.NewTxOut(rest, r2Script)},
			2, 0, []uint32{bitcoin.SequenceRBF})
		if err != nil {
			t.Fatal(err)
		}
		p.Inputs[0].WitnessUtxo = btcwire.NewTxOut(claimed, bytes.Clone(cu.PkScript))
		return p
	}
	_, err = svc.SignPSBT(ctx, w.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, build(cu.Value-400)), AcceptHighFee: true})
	if !errors.Is(err, wallet.ErrInvalid) || !strings.Contains(err.Error(), "input 0") {
		t.Fatalf("understated amount at 1/0: %v", err)
	}
	signed, err := svc.SignPSBT(ctx, w.ID, wallet.SignPSBTRequest{PSBT: encodePSBT(t, build(cu.Value)), AcceptHighFee: true})
	if err != nil || signed.Status != wallet.StatusSigned || signed.RawTx == "" || !slices.Equal(signed.SignedInputs, []int{0}) {
		t.Fatalf("sign psbt: %+v %v", signed, err)
	}
	back, err := psbt.NewFromRawBytes(strings.NewReader(signed.PSBT), true)
	if err != nil {
		t.Fatal(err)
	}
	in := back.Inputs[0]
	cout, _ := cd.Output(0)
	if len(in.TaprootKeySpendSig) != 64 || !bytes.Equal(in.TaprootMerkleRoot, cout.MerkleRoot[:]) ||
		len(in.TaprootBip32Derivation) != 1 || !slices.Equal(in.TaprootBip32Derivation[0].Bip32Path, []uint32{1, 0}) ||
		!bytes.Equal(in.TaprootInternalKey, schnorr.SerializePubKey(cout.Internal)) {
		t.Fatalf("signed PSBT input: %+v", in)
	}
	if err := psbt.MaybeFinalizeAll(back); err != nil {
		t.Fatal(err)
	}
	ptx, err := psbt.Extract(back)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Backend.Broadcast(ctx, ptx); err != nil {
		t.Fatalf("btcd refused the PSBT spending 1/0: %v", err)
	}
	env.Mine(1)

	// The recovery key alone sweeps 0/2 once N blocks deep; not before.
	ro, err := rd.Output(2)
	if err != nil {
		t.Fatal(err)
	}
	if descAddr(t, ro) != r2.Address {
		t.Fatal("the receive descriptor does not derive 0/2")
	}
	us, err := env.Backend.UTXOs(ctx, r2Addr)
	if err != nil || len(us) != 1 || us[0].Value != rest {
		t.Fatalf("utxos at 0/2: %+v %v", us, err)
	}
	key, err := bitcoin.NewRecoveryKeyFromExtended(acct)
	if err != nil {
		t.Fatal(err)
	}
	sweep := func() *btcwire.MsgTx {
		sw, err := bitcoin.BuildSweep(bitcoin.SweepRequest{
			Inputs:      []bitcoin.SweepInput{{UTXO: us[0], Output: ro, KeyPath: rd.Recovery.Path(2)}},
			Destination: dest, FeeRate: bitcoin.SatPerVByte(2)})
		if err != nil {
			t.Fatal(err)
		}
		if err := bitcoin.SignSweep(sw, key); err != nil {
			t.Fatal(err)
		}
		return sw.Tx
	}
	env.Mine(older - 2) // older-1 confirmations
	if _, err := env.Backend.Broadcast(ctx, sweep()); err == nil {
		t.Fatal("btcd accepted the recovery sweep before N blocks")
	}
	env.Mine(1)
	txid, err := env.Backend.Broadcast(ctx, sweep())
	if err != nil {
		t.Fatalf("recovery sweep of 0/2: %v", err)
	}
	env.Mine(1)
	if v, err := env.Node.Client.GetRawTransactionVerbose(&txid); err != nil || v.Confirmations < 1 {
		t.Fatalf("sweep not mined: %v", err)
	}
}

// descAddr is the address of a descriptor's output.
func descAddr(t *testing.T, o *bitcoin.RecoveryOutput) string {
	t.Helper()
	a, err := o.Address(bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// independentAddr derives tr(root/b/i, and_v(v:pk(rec/b/i),older(n))) with
// hdkeychain and txscript only.
func independentAddr(t *testing.T, root, rec *hdkeychain.ExtendedKey, b, i uint32, n int64) string {
	t.Helper()
	pub := func(k *hdkeychain.ExtendedKey) []byte {
		c, err := k.Derive(b)
		if err == nil {
			c, err = c.Derive(i)
		}
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.ECPubKey()
		if err != nil {
			t.Fatal(err)
		}
		return schnorr.SerializePubKey(p)
	}
	script, err := txscript.NewScriptBuilder().AddData(pub(rec)).AddOp(txscript.OP_CHECKSIGVERIFY).
		AddInt64(n).AddOp(txscript.OP_CHECKSEQUENCEVERIFY).Script()
	if err != nil {
		t.Fatal(err)
	}
	tree := txscript.AssembleTaprootScriptTree(txscript.NewBaseTapLeaf(script))
	root2 := tree.RootNode.TapHash()
	internal, err := schnorr.ParsePubKey(pub(root))
	if err != nil {
		t.Fatal(err)
	}
	q := txscript.ComputeTaprootOutputKey(internal, root2[:])
	a, err := btcutil.NewAddressTaproot(schnorr.SerializePubKey(q), bitcoin.Regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// changeUTXO returns the one unspent output at address addr, of value v.
func changeUTXO(t *testing.T, env *wallettest.Env, addr string, v int64) bitcoin.UTXO {
	t.Helper()
	a, _ := bitcoin.ParseAddress(addr, bitcoin.Regtest)
	us, err := env.Backend.UTXOs(ctxT(t, time.Minute), a)
	if err != nil || len(us) != 1 || us[0].Value != v || us[0].Confirmations < 1 {
		t.Fatalf("utxos at %s: %+v %v (want one of %d)", addr, us, err, v)
	}
	return us[0]
}
