package bitcoin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/cluster"
	"github.com/vhsm/vhsm/replica/wire"
)

// recoverySetup is a recovery descriptor tr(P, and_v(v:pk(xpub/0/0),older(N))) for an internal key P,
// the wallet of its output and the recovery key.
type recoverySetup struct {
	out    *RecoveryOutput
	wallet *Wallet
	key    *RecoveryKey
	path   []uint32
}

func newRecoverySetup(t *testing.T, keyID string, internalXOnly []byte, older uint16) *recoverySetup {
	t.Helper()
	master := testMaster(t)
	acct, err := master.Derive(hdkeychain.HardenedKeyStart + 86)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseInternalKey(internalXOnly)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := ParseDescKey(neuter(t, acct).String(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rx.Child(false, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	k, err := rk.Key(0)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := NewRecoveryLeaf(k, uint32(older))
	if err != nil {
		t.Fatal(err)
	}
	out, err := NewRecoveryOutput(p, leaf)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewRecoveryWallet(keyID, out, Regtest)
	if err != nil {
		t.Fatal(err)
	}
	key, err := NewRecoveryKeyFromExtended(acct)
	if err != nil {
		t.Fatal(err)
	}
	return &recoverySetup{out: out, wallet: w, key: key, path: rk.Path(0)}
}

// sweepWhenMature broadcasts a recovery sweep of every UTXO of s's output: at N-1 confirmations btcd
// must refuse it (BIP-68 sequence lock not met); after one more block it must accept and mine it.
// The sweep is signed with the recovery key alone.
func sweepWhenMature(t *testing.T, ctx context.Context, env *regtestEnv, s *recoverySetup, older uint16) {
	t.Helper()
	utxos, err := env.backend.UTXOs(ctx, s.wallet.Address())
	if err != nil || len(utxos) == 0 {
		t.Fatalf("recovery utxos: %v (%d)", err, len(utxos))
	}
	minConf := utxos[0].Confirmations
	for _, u := range utxos {
		minConf = min(minConf, u.Confirmations)
	}
	if minConf >= int64(older) {
		t.Fatalf("UTXOs already %d deep; the test needs them younger than %d", minConf, older)
	}
	if minConf < int64(older)-1 {
		if _, err := env.node.Generate(ctx, uint32(int64(older)-1-minConf)); err != nil {
			t.Fatal(err)
		}
	}
	dest, err := btcutil.NewAddressWitnessPubKeyHash(bytes.Repeat([]byte{7}, 20), Regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	build := func() *Sweep {
		utxos, err := env.backend.UTXOs(ctx, s.wallet.Address())
		if err != nil {
			t.Fatal(err)
		}
		var ins []SweepInput
		for _, u := range utxos {
			ins = append(ins, SweepInput{UTXO: u, Output: s.out, KeyPath: s.path})
		}
		sw, err := BuildSweep(SweepRequest{Inputs: ins, Destination: dest, FeeRate: SatPerVByte(2)})
		if err != nil {
			t.Fatal(err)
		}
		if err := SignSweep(sw, s.key); err != nil {
			t.Fatal(err)
		}
		return sw
	}
	// N-1 confirmations: the next block is at height coin+N-1, one short of the lock.
	early := build()
	_, err = env.backend.Broadcast(ctx, early.Tx)
	var re *RejectError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "sequence locks") {
		t.Fatalf("sweep at %d confirmations: got %v, want btcd's sequence-lock refusal", older-1, err)
	}
	if _, err := env.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sw := build()
	if sw.Tx.TxHash() != early.Tx.TxHash() {
		t.Fatal("the sweep changed between attempts")
	}
	txid, err := env.backend.Broadcast(ctx, sw.Tx)
	if err != nil {
		t.Fatalf("sweep at %d confirmations: %v", older, err)
	}
	if _, err := env.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st, err := env.backend.TxStatus(ctx, txid)
	if err != nil || !st.Confirmed {
		t.Fatalf("sweep not mined: %+v %v", st, err)
	}
	got, err := env.node.Client.GetRawTransactionVerbose(&txid)
	if err != nil {
		t.Fatal(err)
	}
	if int64(got.Vsize) != sw.VSize {
		t.Fatalf("vsize: node %d, predicted %d", got.Vsize, sw.VSize)
	}
	if left, err := env.backend.UTXOs(ctx, s.wallet.Address()); err != nil || len(left) != 0 {
		t.Fatalf("recovery address still holds %d UTXOs (%v)", len(left), err)
	}
	if dutxo, err := env.backend.UTXOs(ctx, dest); err != nil || len(dutxo) != 1 || dutxo[0].Value != sw.Value {
		t.Fatalf("destination: %+v %v", dutxo, err)
	}
}

// keyPathSpend spends from a recovery wallet by the key path (signer tweaks with the leaf's merkle
// root) back to itself and to another address; btcd must mine it.
func keyPathSpend(t *testing.T, ctx context.Context, env *regtestEnv, s *recoverySetup, signer Signer) chainhash.Hash {
	t.Helper()
	if !bytes.Equal(s.wallet.MerkleRoot(), s.out.MerkleRoot[:]) {
		t.Fatal("wallet merkle root")
	}
	utxos, err := env.backend.UTXOs(ctx, s.wallet.Address())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := btcutil.NewAddressWitnessPubKeyHash(bytes.Repeat([]byte{9}, 20), Regtest.Params)
	sp, err := s.wallet.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: other, Value: 1_000_000}}, FeeRate: SatPerVByte(2), MinConf: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range sp.Packet.Inputs {
		if !bytes.Equal(in.TaprootMerkleRoot, s.out.MerkleRoot[:]) {
			t.Fatal("PSBT input without the merkle root")
		}
	}
	tx, err := s.wallet.Sign(ctx, signer, sp.Packet)
	if err != nil {
		t.Fatalf("key-path sign: %v", err)
	}
	txid, err := env.backend.Broadcast(ctx, tx)
	if err != nil {
		t.Fatalf("key-path spend: %v", err)
	}
	if _, err := env.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st, err := env.backend.TxStatus(ctx, txid); err != nil || !st.Confirmed {
		t.Fatalf("key-path spend not mined: %+v %v", st, err)
	}
	return txid
}

// TestRegtestRecoverySweep: an output tr(P, and_v(v:pk(K),older(10))) is funded on btcd regtest; the
// key path (P, tweaked with the leaf's root) spends it back to itself; the recovery sweep signed by K
// alone is refused by btcd at 9 confirmations and accepted and mined at 10.
func TestRegtestRecoverySweep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	funder := newKeySigner(t)
	fw, err := NewWallet("funder", funder.xonly(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	env := startRegtest(t, ctx, fw)
	internal := newKeySigner(t) // stands in for the threshold key here; the cluster test uses a real one
	const older = 10
	s := newRecoverySetup(t, "k", internal.xonly(), older)
	env.sendAndConfirm(t, ctx, fw, funder, []Output{{Address: s.wallet.Address(), Value: 50_000_000}}, SatPerVByte(2))
	keyPathSpend(t, ctx, env, s, internal)
	if internal.calls == 0 {
		t.Fatal("key path not signed")
	}
	sweepWhenMature(t, ctx, env, s, older)
}

// TestRegtestRecoveryCluster: the internal key is a real threshold key of a 4-replica cluster. The
// cluster signs a key-path spend of a recovery-leaf output (SignTaproot with the leaf's merkle root)
// that btcd mines; then the recovery key alone sweeps the change after N blocks, with no replica.
func TestRegtestRecoveryCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd and a replica cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := cluster.StartInProcess(t, t.TempDir(), 4, cluster.Options{Pools: &app.PoolConfig{KeyBatch: 2, KeyLow: 1, NonceBatch: 8, NonceLow: 2}})
	if err := c.WaitReady(3 * time.Minute); err != nil {
		t.Fatal(err)
	}
	hsm := c.Client()
	info, err := hsm.GenerateKey(ctx, "btc-rec", wire.SchemeSchnorr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSynced(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	funder := newKeySigner(t)
	fw, err := NewWallet("funder", funder.xonly(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	env := startRegtest(t, ctx, fw)
	const older = 3
	s := newRecoverySetup(t, "btc-rec", info.PublicKey, older)
	if !bytes.Equal(schnorr.SerializePubKey(s.out.Internal), info.PublicKey) {
		t.Fatal("internal key is not the cluster's")
	}
	env.sendAndConfirm(t, ctx, fw, funder, []Output{{Address: s.wallet.Address(), Value: 20_000_000}}, SatPerVByte(2))
	keyPathSpend(t, ctx, env, s, hsm)
	// The change of the key-path spend is back on the recovery output, 1 confirmation deep.
	sweepWhenMature(t, ctx, env, s, older)
}
