package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/bitcoin/btcdtest"
)

func testHDMaster(t *testing.T) *hdkeychain.ExtendedKey {
	t.Helper()
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	m, err := hdkeychain.NewMaster(seed, bitcoin.Regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func xpubOf(t *testing.T, k *hdkeychain.ExtendedKey) string {
	t.Helper()
	p, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return p.String()
}

// TestRecoverCommandRegtest drives vhsm recover against a real btcd: four
// recovery-leaf outputs of an HD wallet (receive 0 and 5, change 2 and the
// base address) are funded; before N blocks the command finds them locked and sweeps nothing;
// a key file readable by others is refused; after N blocks --dry-run signs
// without broadcasting, and the real run broadcasts a sweep that btcd mines,
// paying the destination exactly what the command reported.
func TestRecoverCommandRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	funder := newBTCKey(t, bitcoin.Regtest)
	node := btcdtest.Start(t, funder.addr.EncodeAddress())
	if err := node.WaitTaproot(ctx, 1200); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Generate(ctx, 105); err != nil {
		t.Fatal(err)
	}
	const older = 5
	internalXpub := xpubOf(t, testHDMaster(t)) // stands in for the wallet's threshold xpub
	recMaster := testHDMaster(t)
	acct, err := recMaster.Derive(hdkeychain.HardenedKeyStart + 86)
	if err != nil {
		t.Fatal(err)
	}
	recXpub := xpubOf(t, acct)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "recovery.key")
	if err := os.WriteFile(keyFile, []byte(acct.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	descs, err := recoverDescriptors(recoverOptions{internal: internalXpub, recoveryXP: recXpub, older: older}, bitcoin.Regtest)
	if err != nil || len(descs) != 3 { // receive, change, base
		t.Fatalf("descriptors: %v", err)
	}
	var descTexts []string
	for _, d := range descs {
		s, err := d.String()
		if err != nil {
			t.Fatal(err)
		}
		descTexts = append(descTexts, s)
	}
	// Fund receive 0 and 5, change 2 and the base address from four coinbase outputs.
	coinbase := func(height int64) (wire.OutPoint, *wire.TxOut) {
		h, err := node.Client.GetBlockHash(height)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := node.Client.GetBlock(h)
		if err != nil {
			t.Fatal(err)
		}
		return wire.OutPoint{Hash: blk.Transactions[0].TxHash(), Index: 0}, blk.Transactions[0].TxOut[0]
	}
	var funded int64
	for i, at := range []struct{ branch, index uint32 }{{0, 0}, {0, 5}, {1, 2}, {2, 0}} {
		out, err := descs[at.branch].Output(at.index)
		if err != nil {
			t.Fatal(err)
		}
		op, prev := coinbase(int64(i + 1))
		tx, _ := funder.spend(t, op, prev, out.PkScript, 1_000, false)
		if _, err := node.Client.SendRawTransaction(tx, true); err != nil {
			t.Fatalf("fund: %v", err)
		}
		funded += prev.Value - 1_000
	}
	if _, err := node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	dest := newBTCKey(t, bitcoin.Regtest)
	rpc := []string{"--network", "regtest", "--rpc", node.RPCURL, "--rpc-user", node.User, "--rpc-pass", node.Pass}
	cfg := filepath.Join(dir, "no-client.json")
	recoverArgs := func(extra ...string) []string {
		a := append([]string{"recover"}, rpc...)
		a = append(a, "--key-file", keyFile, "--to", dest.addr.EncodeAddress(), "--fee-rate", "2")
		return append(a, extra...)
	}
	withDescs := func(extra ...string) []string {
		a := recoverArgs()
		for _, d := range descTexts {
			a = append(a, "--descriptor", d)
		}
		return append(a, extra...)
	}

	// One confirmation: everything is locked for N-1 more blocks.
	_, err = runJSON(t, cfg, withDescs("--dry-run")...)
	if err == nil || !strings.Contains(err.Error(), "still locked") || !strings.Contains(err.Error(), "unlocks in 4 blocks") {
		t.Fatalf("before N blocks: %v", err)
	}
	// A key file others can read is refused.
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, []byte(acct.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runJSON(t, cfg, append(withDescs(), "--key-file", loose)...)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), acct.String()) {
		t.Fatalf("loose key file: %v", err)
	}

	if _, err := node.Generate(ctx, older-1); err != nil {
		t.Fatal(err)
	}
	// --dry-run: signed, reported, not broadcast.
	obj, err := runJSON(t, cfg, withDescs("--dry-run")...)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if obj["broadcast"] != false || len(obj["sweep"].([]any)) != 4 || len(obj["locked"].([]any)) != 0 || obj["raw_tx"] == "" {
		t.Fatalf("dry run result %v", obj)
	}
	if int64(obj["total_sat"].(float64)) != funded {
		t.Fatalf("total %v, funded %d", obj["total_sat"], funded)
	}
	if pool, _ := node.Client.GetRawMempool(); len(pool) != 0 {
		t.Fatal("--dry-run broadcast")
	}
	// The real sweep, the wallet given by its keys rather than descriptors.
	obj, err = runJSON(t, cfg, recoverArgs("--internal", internalXpub, "--recovery-xpub", recXpub, "--older", "5")...)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	if obj["broadcast"] != true || len(obj["sweep"].([]any)) != 4 {
		t.Fatalf("recover result %v", obj)
	}
	txid, err := chainhash.NewHashFromStr(obj["txid"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	got, err := node.Client.GetRawTransactionVerbose(txid)
	if err != nil || got.Confirmations < 1 {
		t.Fatalf("sweep not mined: %v", err)
	}
	mtx, err := node.Client.GetRawTransaction(txid)
	if err != nil {
		t.Fatal(err)
	}
	tx := mtx.MsgTx()
	if len(tx.TxIn) != 4 || len(tx.TxOut) != 1 || !bytes.Equal(tx.TxOut[0].PkScript, dest.pkScript(t)) ||
		tx.TxOut[0].Value != int64(obj["value_sat"].(float64)) || funded-tx.TxOut[0].Value != int64(obj["fee_sat"].(float64)) {
		t.Fatalf("mined sweep does not match the report %v", obj)
	}
	for _, in := range tx.TxIn {
		if in.Sequence != older || len(in.Witness) != 3 {
			t.Fatal("input is not a recovery script-path spend")
		}
	}
	// Nothing is left to sweep.
	if _, err := runJSON(t, cfg, withDescs("--dry-run")...); err == nil || !strings.Contains(err.Error(), "no coins found") {
		t.Fatalf("after the sweep: %v", err)
	}
}

// TestRecoverRefusesBadInput: input errors are reported before any backend
// is contacted, and no private key is accepted where a public one belongs.
func TestRecoverRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	m := testHDMaster(t)
	keyFile := filepath.Join(dir, "k")
	if err := os.WriteFile(keyFile, []byte(m.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	xpub := xpubOf(t, m)
	dest := newBTCKey(t, bitcoin.Regtest).addr.EncodeAddress()
	base := []string{"recover", "--rpc", "http://127.0.0.1:1", "--key-file", keyFile, "--to", dest}
	cases := map[string][]string{
		"no wallet":        base,
		"xprv as xpub":     append(append([]string{}, base...), "--internal", xpub, "--recovery-xpub", m.String(), "--older", "5"),
		"older too big":    append(append([]string{}, base...), "--internal", xpub, "--recovery-xpub", xpub, "--older", "70000"),
		"both forms":       append(append([]string{}, base...), "--internal", xpub, "--descriptor", "tr(x)"),
		"bad descriptor":   append(append([]string{}, base...), "--descriptor", "tr("+xpub+")"),
		"no key file":      {"recover", "--to", dest, "--internal", xpub, "--recovery-xpub", xpub, "--older", "5"},
		"mainnet dest":     {"recover", "--key-file", keyFile, "--to", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "--internal", xpub, "--recovery-xpub", xpub, "--older", "5"},
		"public key file":  {"recover", "--key-file", writeFile(t, dir, "pub", xpub), "--to", dest, "--internal", xpub, "--recovery-xpub", xpub, "--older", "5"},
		"garbage key file": {"recover", "--key-file", writeFile(t, dir, "junk", "not a key"), "--to", dest, "--internal", xpub, "--recovery-xpub", xpub, "--older", "5"},
	}
	for name, args := range cases {
		_, err := runJSON(t, filepath.Join(dir, "none.json"), args...)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), m.String()) {
			t.Fatalf("%s: error contains the private key", name)
		}
		if strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s: contacted the backend before refusing: %v", name, err)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
