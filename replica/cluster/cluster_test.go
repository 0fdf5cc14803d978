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

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

var smallPools = &app.PoolConfig{KeyBatch: 4, KeyLow: 1, NonceBatch: 4, NonceLow: 1}

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
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
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
	sk, err := cl.GenerateKey(ctx, "cluster-schnorr", wire.SchemeSchnorr)
	if err != nil {
		t.Fatalf("keys.gen schnorr: %v", err)
	}
	// Same race as above.
	if err := c.WaitSynced(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	signSchnorr(ctx, t, cl, sk.PublicKey, "before restarts")

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
	signSchnorr(ctx, t, cl3, sk.PublicKey, "after full restart")
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
}

func TestProcessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vhsm and starts a 4-process cluster")
	}
	bin := BuildBinary(t)
	c := StartProcesses(t, t.TempDir(), 4, bin, Options{Pools: smallPools})
	defer dumpLogs(t, c)
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
