package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/txscript"
	blst "github.com/supranational/blst/bindings/go"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/wire"
)

var smallPools = &app.PoolConfig{KeyBatch: 4, KeyLow: 1, NonceBatch: 4, NonceLow: 1}

// startFour starts a 4-replica in-process cluster with small pools (the
// test is skipped with -short), dumps its logs if the test fails, and waits
// until it is ready.
func startFour(t *testing.T, ready time.Duration) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	c := StartInProcess(t, t.TempDir(), 4, Options{Pools: smallPools, PhaseTimeout: 2 * time.Second})
	t.Cleanup(func() { dumpLogs(t, c) })
	if err := c.WaitReady(ready); err != nil {
		t.Fatal(err)
	}
	return c
}

func dumpLogs(t *testing.T, c *Cluster) {
	t.Helper()
	if !t.Failed() {
		return
	}
	for i := 1; i <= c.Testnet.N; i++ {
		b, _ := os.ReadFile(filepath.Join(c.Home(i), LogFile))
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		t.Logf("replica %d log tail:\n%s", i, b)
	}
}

func TestInProcessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	dir := t.TempDir()
	c := StartInProcess(t, dir, 4, Options{Pools: smallPools, PhaseTimeout: 2 * time.Second})
	defer dumpLogs(t, c)
	if err := c.WaitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	key, err := cl.GenerateKey(ctx, "cluster-bls", wire.SchemeBLS)
	if err != nil {
		t.Fatalf("keys.gen: %v", err)
	}
	// A replica that has not yet committed the keys.gen block rejects a sign
	// request for the key as "unknown key" (engine prechecks against its
	// local state; reported to the lead): let every replica catch up first.
	if err := c.WaitSynced(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	msg := []byte("cluster test message")
	sig, err := cl.SignBLS(ctx, "cluster-bls", msg)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	verifyBLST(t, key.PublicKey, msg, sig, "before restarts")
	sk, err := cl.GenerateKey(ctx, "cluster-schnorr", wire.SchemeSchnorr)
	if err != nil {
		t.Fatalf("keys.gen schnorr: %v", err)
	}
	// Same race as above.
	if err := c.WaitSynced(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	signSchnorr(ctx, t, cl, sk.PublicKey, "before restarts")
	if _, err := cl.GenerateKey(ctx, "cluster-sym", wire.SchemeSymmetric); err != nil {
		t.Fatalf("keys.gen symmetric: %v", err)
	}
	if err := c.WaitSynced(10 * time.Second); err != nil { // same race as above
		t.Fatal(err)
	}
	ct := encryptDecrypt(ctx, t, cl, nil, "before restarts")

	// One replica restarts: the key is still usable, with the same result
	// (BLS signatures are deterministic).
	c.Restart(2)
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	sig2, err := c.Client().SignBLS(ctx, "cluster-bls", msg)
	if err != nil {
		t.Fatalf("sign after restarting replica 2: %v", err)
	}
	if !bytes.Equal(sig, sig2) {
		t.Fatal("signature changed after a replica restart")
	}
	signSchnorr(ctx, t, c.Client(), sk.PublicKey, "after restarting replica 2")
	encryptDecrypt(ctx, t, c.Client(), ct, "after restarting replica 2")

	// Replica 2 misses blocks (a key generated and used while it is down),
	// comes back, and replays them: with replica 3 then down, ordering and
	// signing need replica 2 (3 of 4 vote; t+1 = 2 partials), including
	// with the key generated while it was away.
	c.Kill(2)
	if _, err := c.Client().GenerateKey(ctx, "cluster-late", wire.SchemeBLS); err != nil {
		t.Fatalf("keys.gen with replica 2 down: %v", err)
	}
	lateSig, err := c.Client().SignBLS(ctx, "cluster-late", msg)
	if err != nil {
		t.Fatalf("sign with replica 2 down: %v", err)
	}
	c.Restart(2)
	if err := c.WaitSynced(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.Kill(3)
	lateKey, err := c.Client().PublicKey(ctx, "cluster-late")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.Client().SignBLS(ctx, "cluster-late", msg); err != nil || !bytes.Equal(again, lateSig) {
		t.Fatalf("sign with the late key after replica 2 caught up and 3 went down: %v", err)
	}
	verifyBLST(t, lateKey.PublicKey, msg, lateSig, "with a key made while replica 2 was down")
	signSchnorr(ctx, t, c.Client(), sk.PublicKey, "after replica 2 caught up, replica 3 down")
	c.Restart(3)
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	// The whole cluster restarts: keys and shares survive.
	c.RestartAll()
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	cl3 := c.Client()
	got, err := cl3.PublicKey(ctx, "cluster-bls")
	if err != nil {
		t.Fatalf("keys.pub after full restart: %v", err)
	}
	if !bytes.Equal(got.PublicKey, key.PublicKey) {
		t.Fatal("public key changed after a full restart")
	}
	sig3, err := cl3.SignBLS(ctx, "cluster-bls", msg)
	if err != nil {
		t.Fatalf("sign after full restart: %v", err)
	}
	if !bytes.Equal(sig, sig3) {
		t.Fatal("signature changed after a full restart")
	}
	verifyBLST(t, key.PublicKey, msg, sig3, "after full restart")
	signSchnorr(ctx, t, cl3, sk.PublicKey, "after full restart")
	encryptDecrypt(ctx, t, cl3, ct, "after full restart")
	if again, err := cl3.SignBLS(ctx, "cluster-late", msg); err != nil || !bytes.Equal(again, lateSig) {
		t.Fatalf("sign with the late key after a full restart: %v", err)
	}
}

// verifyBLST checks an Ethereum BLS signature with supranational/blst, an
// implementation independent of the herumi library the replicas use.
func verifyBLST(t *testing.T, pub, msg, sig []byte, label string) {
	t.Helper()
	pk := new(blst.P1Affine).Uncompress(pub)
	s := new(blst.P2Affine).Uncompress(sig)
	if pk == nil || s == nil || !s.Verify(true, pk, true, msg, []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")) {
		t.Fatalf("blst rejects the bls signature %s", label)
	}
	if s.Verify(true, pk, true, append(msg, '!'), []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")) {
		t.Fatalf("blst accepts the bls signature %s on another message", label)
	}
}

// encryptDecrypt encrypts and decrypts a fresh plaintext with the symmetric
// key, decrypts old (a ciphertext from before, when given), and returns the
// new ciphertext.
func encryptDecrypt(ctx context.Context, t *testing.T, cl *client.Client, old []byte, label string) []byte {
	t.Helper()
	plain := []byte("cluster secret " + label)
	ct, err := cl.Encrypt(ctx, "cluster-sym", plain)
	if err != nil {
		t.Fatalf("encrypt %s: %v", label, err)
	}
	got, err := cl.Decrypt(ctx, "cluster-sym", ct)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypt %s: %v", label, err)
	}
	if old != nil {
		if got, err := cl.Decrypt(ctx, "cluster-sym", old); err != nil || !bytes.Equal(got, []byte("cluster secret before restarts")) {
			t.Fatalf("decrypt an earlier ciphertext %s: %v", label, err)
		}
	}
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 1
	if _, err := cl.Decrypt(ctx, "cluster-sym", bad); err == nil {
		t.Fatalf("a tampered ciphertext decrypted %s", label)
	}
	return ct
}

// signSchnorr signs sha256(label) with the threshold key and checks the
// signature with btcec's independent BIP-340 verifier.
func signSchnorr(ctx context.Context, t *testing.T, cl *client.Client, xonly []byte, label string) {
	t.Helper()
	h := sha256.Sum256([]byte(label))
	sig, err := cl.SignSchnorr(ctx, "cluster-schnorr", h[:], nil)
	if err != nil {
		t.Fatalf("schnorr sign %s: %v", label, err)
	}
	pk, err := schnorr.ParsePubKey(xonly)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		t.Fatal(err)
	}
	if !s.Verify(h[:], pk) {
		t.Fatalf("schnorr signature %s does not verify", label)
	}
	// Taproot (BIP-86): the signature verifies under the output key that
	// btcd's txscript computes, not under the internal key.
	tsig, err := cl.SignSchnorr(ctx, "cluster-schnorr", h[:], &wire.TaprootOption{})
	if err != nil {
		t.Fatalf("taproot sign %s: %v", label, err)
	}
	ts, err := schnorr.ParseSignature(tsig[:])
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Verify(h[:], txscript.ComputeTaprootKeyNoScript(pk)) || ts.Verify(h[:], pk) {
		t.Fatalf("taproot signature %s does not verify under the output key only", label)
	}
}

func TestProcessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vhsm and starts a 4-process cluster")
	}
	bin := BuildBinary(t)
	// Replica 3's p2p port is taken before its first start: the child
	// exits, and the cluster starts again on fresh ports.
	take, taken := takePortOnce(t, 3, true)
	c := StartProcesses(t, t.TempDir(), 4, bin, Options{Pools: smallPools, beforeStart: take})
	defer dumpLogs(t, c)
	if rc, err := layout.LoadReplicaConfig(c.Home(3)); err != nil || "tcp://"+*taken == rc.P2PListen {
		t.Fatalf("replica 3 on the taken port %s: %v", *taken, err)
	}
	if err := c.WaitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	cl := c.Client()
	if _, err := cl.GenerateKey(ctx, "proc-bls", wire.SchemeBLS); err != nil {
		t.Fatalf("keys.gen: %v", err)
	}
	if err := c.WaitSynced(10 * time.Second); err != nil { // see TestInProcessCluster
		t.Fatal(err)
	}
	msg := []byte("process cluster")
	sig, err := cl.SignBLS(ctx, "proc-bls", msg)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}

	// f = 1 crashed replica: the others still order and sign.
	c.Kill(3)
	sig2, err := c.Client().SignBLS(ctx, "proc-bls", []byte("with replica 3 down"))
	if err != nil {
		t.Fatalf("sign with replica 3 killed: %v", err)
	}
	if len(sig2) == 0 {
		t.Fatal("empty signature")
	}
	c.Restart(3)
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	// A frozen replica is as good as a crashed one; after SIGCONT it
	// catches up.
	if err := c.Pause(2); err != nil {
		t.Fatal(err)
	}
	sig3, err := c.Client().SignBLS(ctx, "proc-bls", msg)
	if err != nil {
		t.Fatalf("sign with replica 2 paused: %v", err)
	}
	if !bytes.Equal(sig, sig3) {
		t.Fatal("signature differs")
	}
	if err := c.Resume(2); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}
