package bitcoin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin/hd"
)

// fakeTrRe is the ranged tr() form the fake understands: tr([8 hex]KEY/N/*) or tr(KEY/N/*).
var fakeTrRe = regexp.MustCompile(`^tr\((?:\[([0-9a-f]{8})\])?([1-9A-HJ-NP-Za-km-z]+)/([0-9]+)/\*\)$`)

// fakeTrAddresses derives the addresses of a ranged tr() descriptor as Bitcoin Core would
// (DescriptorScriptPubKeyMan::TopUp over the range; BIP-86 key-path outputs), with btcutil's
// hdkeychain and txscript, never with this package's hd code. Core requires a range for a ranged
// descriptor imported this way ("Ranged descriptors should not have a label" aside, range [begin,end]
// with end ≥ begin, at most 1e6 apart).
func fakeTrAddresses(body string, rng json.RawMessage) ([]string, *RPCError) {
	m := fakeTrRe.FindStringSubmatch(body)
	if m == nil {
		return nil, rpcErr(-5, "tr(): key '%s' is not valid", body)
	}
	key, err := hdkeychain.NewKeyFromString(m[2])
	if err != nil || key.IsPrivate() || !key.IsForNet(Regtest.Params) {
		return nil, rpcErr(-5, "key '%s' is not valid", m[2])
	}
	if m[1] != "" {
		pub, _ := key.ECPubKey()
		if fp := hex.EncodeToString(btcutil.Hash160(pub.SerializeCompressed())[:4]); key.Depth() == 0 && fp != m[1] {
			return nil, rpcErr(-5, "fake: origin fingerprint %s is not the root's %s", m[1], fp)
		}
	}
	branch, err := strconv.ParseUint(m[3], 10, 31)
	if err != nil {
		return nil, rpcErr(-5, "Key path value %s is out of range", m[3])
	}
	var r [2]int
	if len(rng) == 0 || json.Unmarshal(rng, &r) != nil || r[0] < 0 || r[1] < r[0] || r[1]-r[0] > 1_000_000 {
		return nil, rpcErr(-8, "Descriptor is ranged, please specify the range")
	}
	bk, err := key.Derive(uint32(branch))
	if err != nil {
		return nil, rpcErr(-5, "derive: %v", err)
	}
	var out []string
	for i := r[0]; i <= r[1]; i++ {
		ck, err := bk.Derive(uint32(i))
		if err != nil {
			continue
		}
		pub, _ := ck.ECPubKey()
		a, _ := btcutil.NewAddressTaproot(btcschnorr.SerializePubKey(txscript.ComputeTaprootKeyNoScript(pub)), Regtest.Params)
		out = append(out, a.EncodeAddress())
	}
	return out, nil
}

func randomRoot(t *testing.T) (*btcec.PrivateKey, *hd.ExtendedKey) {
	t.Helper()
	priv, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	var com [66]byte
	rand.Read(com[:])
	pk := priv.PubKey().SerializeCompressed()
	root, err := hd.NewRoot(pk, hd.ChainCode(pk, com[:]))
	if err != nil {
		t.Fatal(err)
	}
	return priv, root
}

// TestDescriptorsImportIntoCore: the receive and change descriptors of a tree import into the
// Core-faithful fake's watch-only wallet (checksum checked by its own descsum_check), which derives
// their addresses with hdkeychain + BIP-86; a payment to each address this package derives for 0/i
// and 1/i is then listed by Core's listunspent, and a payment to an address outside the range is not.
func TestDescriptorsImportIntoCore(t *testing.T) {
	ctx := context.Background()
	_, root := randomRoot(t)
	f := newFakeCore()
	srv := startFakeHandler(t, f)
	r := newCoreRPC(t, srv, nil)
	if err := r.ensureWallet(ctx); err != nil {
		t.Fatal(err)
	}
	var reqs []any
	for _, b := range []uint32{hd.ReceiveBranch, hd.ChangeBranch} {
		d, err := hd.Descriptor(root, b, Regtest.Params)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, map[string]any{"desc": d, "timestamp": "now", "range": []int{0, 24}, "active": true, "internal": b == hd.ChangeBranch})
	}
	var res []coreImportResult
	if err := r.walletCall(ctx, "importdescriptors", []any{reqs}, &res); err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if x.Success == nil || !*x.Success {
			t.Fatalf("import %d refused: %+v", i, x.Error)
		}
	}
	var addrs []btcutil.Address
	for _, b := range []uint32{hd.ReceiveBranch, hd.ChangeBranch} {
		for i := range uint32(25) {
			k, err := DeriveKey(root, []uint32{b, i}, Regtest)
			if err != nil {
				t.Fatal(err)
			}
			a := k.Address()
			f.chain[a.EncodeAddress()] = []fakeCoin{{txid: fmt.Sprintf("%02x%062x", b, i), vout: 0, amount: "0.00010000", conf: 3}}
			addrs = append(addrs, a)
		}
	}
	// 0/25 is past the imported range: Core does not watch it.
	out, err := DeriveKey(root, []uint32{0, 25}, Regtest)
	if err != nil {
		t.Fatal(err)
	}
	f.chain[out.Address().EncodeAddress()] = []fakeCoin{{txid: strings.Repeat("ee", 32), vout: 0, amount: "1.00000000", conf: 3}}
	var items []coreUnspent
	if err := r.walletCall(ctx, "listunspent", []any{0, 9999999}, &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 50 {
		t.Fatalf("Core lists %d outputs of the imported descriptors, want 50 (0/0..24 and 1/0..24)", len(items))
	}
	for _, it := range items {
		if it.TxID == strings.Repeat("ee", 32) {
			t.Fatal("an address outside the range is listed")
		}
	}
	// The wallet's multi-address listing agrees (addresses imported by address too).
	us, err := UTXOsOf(ctx, r, addrs)
	if err != nil || len(us) != 50 {
		t.Fatalf("UTXOsOf: %d, %v", len(us), err)
	}
	checkNoViolations(t, f)
	// A tampered checksum is refused by Core.
	d, _ := hd.Descriptor(root, 0, Regtest.Params)
	last := "q"
	if d[len(d)-1] == 'q' {
		last = "p"
	}
	bad := d[:len(d)-1] + last
	res = nil
	if err := r.walletCall(ctx, "importdescriptors", []any{[]any{map[string]any{"desc": bad, "timestamp": "now", "range": []int{0, 1}}}}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Success == nil || *res[0].Success {
		t.Fatal("a descriptor with a wrong checksum was imported")
	}
}

// TestHDSpendSignsEachInputWithItsPath: a wallet with its base address and derived addresses 0/0
// and 0/3 spends one output of each, change to 1/0; each input is signed for its own key (a local
// signer that tweaks the private key by the BIP-32 tweak, then BIP-86) and the transaction passes
// btcd's script engine.
func TestHDSpendSignsEachInputWithItsPath(t *testing.T) {
	priv, root := randomRoot(t)
	w, err := NewWallet("k", root.PublicKey()[1:], Regtest)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetRoot(root); err != nil {
		t.Fatal(err)
	}
	var scripts [][]byte
	scripts = append(scripts, w.PkScript())
	for _, p := range [][]uint32{{0, 0}, {0, 3}, {1, 0}} {
		a, err := w.AddPath(p)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := txscript.PayToAddrScript(a)
		scripts = append(scripts, s)
	}
	if err := w.SetChange([]uint32{1, 0}); err != nil {
		t.Fatal(err)
	}
	var us []UTXO
	for i, s := range scripts[:3] {
		us = append(us, UTXO{OutPoint: wire.OutPoint{Hash: [32]byte{byte(i + 1)}}, Value: 40_000, PkScript: s, Confirmations: 3})
	}
	_, other := randomRoot(t)
	dk, err := DeriveKey(other, []uint32{0, 0}, Regtest)
	if err != nil {
		t.Fatal(err)
	}
	dest := dk.Address()
	sp, err := w.BuildSpend(SpendRequest{UTXOs: us, Outputs: []Output{{Address: dest, Value: 100_000}}, FeeRate: SatPerVByte(2), MinConf: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Packet.UnsignedTx.TxIn) != 3 || sp.ChangeIndex < 0 || string(sp.Packet.UnsignedTx.TxOut[sp.ChangeIndex].PkScript) != string(scripts[3]) {
		t.Fatalf("spend: %d inputs, change %d", len(sp.Packet.UnsignedTx.TxIn), sp.ChangeIndex)
	}
	for _, in := range sp.Packet.Inputs {
		path, ok := w.PathOf(in.WitnessUtxo.PkScript)
		if !ok || (len(path) > 0) != (len(in.TaprootBip32Derivation) == 1) {
			t.Fatalf("input derivation data %+v for path %v", in.TaprootBip32Derivation, path)
		}
	}
	tx, err := w.Sign(context.Background(), localPathSigner{priv: priv, root: root}, sp.Packet)
	if err != nil {
		t.Fatal(err)
	}
	// btcd's script engine checks every input against the output it spends.
	prev := map[wire.OutPoint]*wire.TxOut{}
	for _, u := range us {
		prev[u.OutPoint] = wire.NewTxOut(u.Value, u.PkScript)
	}
	fetch := txscript.NewMultiPrevOutFetcher(prev)
	hashes := txscript.NewTxSigHashes(tx, fetch)
	for i, in := range tx.TxIn {
		po := prev[in.PreviousOutPoint]
		vm, err := txscript.NewEngine(po.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, po.Value, fetch)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Execute(); err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
	// A signer without paths cannot spend derived outputs.
	sp2, _ := w.BuildSpend(SpendRequest{UTXOs: us[1:2], Outputs: []Output{{Address: dest, Value: 10_000}}, FeeRate: SatPerVByte(2), MinConf: 1})
	if _, err := w.Sign(context.Background(), plainSigner{localPathSigner{priv: priv, root: root}}, sp2.Packet); err == nil || !strings.Contains(err.Error(), ErrNoPathSigner.Error()) {
		t.Fatalf("derived input signed without a path signer: %v", err)
	}
	// Inputs of a PSBT claiming another internal key for a derived output are refused.
	sp3, _ := w.BuildSpend(SpendRequest{UTXOs: us[1:2], Outputs: []Output{{Address: dest, Value: 10_000}}, FeeRate: SatPerVByte(2), MinConf: 1})
	sp3.Packet.Inputs[0].TaprootInternalKey = root.PublicKey()[1:]
	if _, err := w.Sign(context.Background(), localPathSigner{priv: priv, root: root}, sp3.Packet); err == nil {
		t.Fatal("a PSBT with the wrong internal key for a derived input was signed")
	}
}

// localPathSigner signs with a private key: for a path, with x + t (t the child's BIP-32 tweak).
type localPathSigner struct {
	priv *btcec.PrivateKey
	root *hd.ExtendedKey
}

func (l localPathSigner) SignTaproot(ctx context.Context, keyID string, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	return l.SignTaprootPath(ctx, keyID, nil, sighash, merkleRoot)
}

func (l localPathSigner) SignTaprootPath(_ context.Context, _ string, path []uint32, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	k := l.priv
	if len(path) > 0 {
		c, err := l.root.Derive(path...)
		if err != nil {
			return [64]byte{}, err
		}
		var x btcec.ModNScalar
		x.Set(&l.priv.Key)
		var tw btcec.ModNScalar
		tb := c.Tweak().Bytes()
		tw.SetByteSlice(tb)
		x.Add(&tw)
		b := x.Bytes()
		k, _ = btcec.PrivKeyFromBytes(b[:])
	}
	sig, err := btcschnorr.Sign(txscript.TweakTaprootPrivKey(*k, merkleRoot), sighash[:])
	if err != nil {
		return [64]byte{}, err
	}
	var out [64]byte
	copy(out[:], sig.Serialize())
	return out, nil
}

// plainSigner hides SignTaprootPath.
type plainSigner struct{ l localPathSigner }

func (p plainSigner) SignTaproot(ctx context.Context, keyID string, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	return p.l.SignTaproot(ctx, keyID, sighash, merkleRoot)
}
