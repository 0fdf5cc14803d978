package wallet_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
)

// TestRecoveryWallet creates a wallet with a recovery path on a real
// cluster and btcd: its address is the recovery output of its threshold key
// (not the BIP-86 one), its descriptor derives that address, bad recovery
// settings are refused and store nothing, a send is signed by the cluster
// on the key path (merkle root of the leaf) and mined, and after N blocks
// the recovery key alone sweeps the change, with no replica involved.
func TestRecoveryWallet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replica cluster and btcd")
	}
	env := wallettest.Start(t)
	ctx := ctxT(t, 4*time.Minute)
	svc := env.Service
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	master, err := hdkeychain.NewMaster(seed, bitcoin.Regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := master.Derive(hdkeychain.HardenedKeyStart + 86)
	if err != nil {
		t.Fatal(err)
	}
	acctPub, _ := acct.Neuter()
	xpub := acctPub.String()
	fp := hex.EncodeToString(btcutil.Hash160(mustPub(t, master))[:4])
	origin := "[" + fp + "/86']" + xpub
	mainMaster, _ := hdkeychain.NewMaster(seed, bitcoin.Mainnet.Params)
	mainPub, _ := mainMaster.Neuter()

	before, err := svc.ListWallets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, rec := range map[string]*wallet.RecoveryRequest{
		"xprv":          {XPub: acct.String(), Older: 10},
		"older 0":       {XPub: xpub, Older: 0},
		"older 65536":   {XPub: xpub, Older: 65536},
		"mainnet xpub":  {XPub: mainPub.String(), Older: 10},
		"path":          {XPub: xpub + "/0", Older: 10},
		"wildcard":      {XPub: xpub + "/*", Older: 10},
		"hex key":       {XPub: strings.Repeat("ab", 32), Older: 10},
		"empty":         {Older: 10},
		"garbage":       {XPub: "tpubnonsense", Older: 10},
		"too long xpub": {XPub: strings.Repeat("x", 300), Older: 10},
	} {
		_, err := svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Recovery: rec})
		if !errors.Is(err, wallet.ErrInvalid) {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(err.Error(), acct.String()) {
			t.Fatalf("%s: error contains the private key", name)
		}
	}
	if after, _ := svc.ListWallets(ctx); len(after) != len(before) {
		t.Fatal("a refused request stored a wallet")
	}

	const older = 4
	req := wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: "with recovery",
		Recovery: &wallet.RecoveryRequest{XPub: origin, Older: older}, IdempotencyKey: "rec-1"}
	w, err := svc.CreateWallet(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if w.Recovery == nil || w.Recovery.XPub != origin || w.Recovery.Older != older {
		t.Fatalf("recovery %+v", w.Recovery)
	}
	// The same idempotency key with another recovery path is a conflict;
	// with the same request it is the same wallet.
	req2 := req
	req2.Recovery = &wallet.RecoveryRequest{XPub: origin, Older: older + 1}
	if _, err := svc.CreateWallet(ctx, req2); !errors.Is(err, wallet.ErrConflict) {
		t.Fatalf("changed recovery under the same key: %v", err)
	}
	if again, err := svc.CreateWallet(ctx, req); err != nil || again.ID != w.ID || again.Address != w.Address {
		t.Fatalf("retry: %+v %v", again, err)
	}
	pub, _ := hex.DecodeString(w.PublicKey)
	plain, err := bitcoin.TaprootAddress(pub, bitcoin.Regtest)
	if err != nil || plain.EncodeAddress() == w.Address {
		t.Fatal("the recovery wallet's address is the BIP-86 one")
	}
	want := "tr(" + w.PublicKey + ",and_v(v:pk(" + origin + "/0/0),older(4)))#"
	if !strings.HasPrefix(w.Recovery.Descriptor, want) {
		t.Fatalf("descriptor %s, want prefix %s", w.Recovery.Descriptor, want)
	}
	d, err := bitcoin.ParseRecoveryDescriptor(w.Recovery.Descriptor, bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Output(0)
	if err != nil {
		t.Fatal(err)
	}
	// Derived independently: hdkeychain for xpub/0/0, txscript for the tree.
	c0, _ := acctPub.Derive(0)
	c00, _ := c0.Derive(0)
	rk, _ := c00.ECPubKey()
	leaf, _ := bitcoin.NewRecoveryLeaf(rk, older)
	if !bytes.Equal(out.Leaf.Script(), leaf.Script()) {
		t.Fatal("descriptor's recovery key is not xpub/0/0")
	}
	if addr, _ := out.Address(bitcoin.Regtest); addr.EncodeAddress() != w.Address {
		t.Fatalf("descriptor derives %s, wallet shows %s", addr, w.Address)
	}
	if got, err := svc.GetWallet(ctx, w.ID); err != nil || got.Recovery == nil || got.Recovery.Descriptor != w.Recovery.Descriptor {
		t.Fatalf("get wallet: %+v %v", got, err)
	}

	// Fund, then a key-path send signed by the cluster.
	env.Fund(w.Address, 200_000)
	env.Mine(1)
	dest, _ := btcutil.NewAddressWitnessPubKeyHash(bytes.Repeat([]byte{5}, 20), bitcoin.Regtest.Params)
	tx, err := svc.Send(ctx, w.ID, wallet.SendRequest{Outputs: []wallet.Output{{Address: dest.EncodeAddress(), Amount: 50_000}}, FeeRate: 2})
	if err != nil {
		t.Fatalf("key-path send: %v", err)
	}
	env.Mine(1)
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.GetTransaction(ctx, w.ID, tx.ID); err != nil || got.Status != wallet.StatusConfirmed {
		t.Fatalf("send: %+v %v", got, err)
	}
	// A second service on the same database sees the same recovery wallet.
	svc2 := env.OpenService(nil)
	bal, err := svc2.Balance(ctx, w.ID)
	if err != nil || bal.Confirmed != tx.Change {
		t.Fatalf("balance after send: %+v %v (change %d)", bal, err, tx.Change)
	}

	// The change went to the fresh change address 1/0, which carries the
	// recovery leaf of xpub/1/0: the ranged change descriptor derives it.
	desc, err := svc.Descriptors(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc.Change, "/1/*,and_v(v:pk("+origin+"/1/*),older(4)))#") {
		t.Fatalf("change descriptor %s", desc.Change)
	}
	cd, err := bitcoin.ParseRecoveryDescriptor(desc.Change, bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	cout, err := cd.Output(0)
	if err != nil {
		t.Fatal(err)
	}
	caddr, _ := cout.Address(bitcoin.Regtest)
	// The recovery key alone sweeps the change once it is N blocks deep.
	env.Mine(older - 1)
	utxos, err := env.Backend.UTXOs(ctx, caddr)
	if err != nil || len(utxos) != 1 || utxos[0].Value != tx.Change {
		t.Fatalf("change utxos at 1/0 %v %v", utxos, err)
	}
	sw, err := bitcoin.BuildSweep(bitcoin.SweepRequest{
		Inputs:      []bitcoin.SweepInput{{UTXO: utxos[0], Output: cout, KeyPath: cd.Recovery.Path(0)}},
		Destination: dest, FeeRate: bitcoin.SatPerVByte(2)})
	if err != nil {
		t.Fatal(err)
	}
	key, err := bitcoin.NewRecoveryKeyFromExtended(acct)
	if err != nil {
		t.Fatal(err)
	}
	if err := bitcoin.SignSweep(sw, key); err != nil {
		t.Fatal(err)
	}
	txid, err := env.Backend.Broadcast(ctx, sw.Tx)
	if err != nil {
		t.Fatalf("recovery sweep: %v", err)
	}
	env.Mine(1)
	h, _ := chainhash.NewHashFromStr(txid.String())
	if v, err := env.Node.Client.GetRawTransactionVerbose(h); err != nil || v.Confirmations < 1 {
		t.Fatalf("sweep not mined: %v", err)
	}
}

func mustPub(t *testing.T, k *hdkeychain.ExtendedKey) []byte {
	t.Helper()
	p, err := k.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	return p.SerializeCompressed()
}

func mustAddr(t *testing.T, s string) btcutil.Address {
	t.Helper()
	a, err := bitcoin.ParseAddress(s, bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
