package faulttest

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// TestNonceNeverReused: a FROST nonce signs at most once across a SIGKILL,
// a restart, a restore of one replica's home from an older copy and a
// restore of every home. Nonces live only in a replica process's memory,
// and each start is a new epoch (replica/engine nonces.go), so every
// commitment handed out before a stop is refused after it, whatever was
// restored; only fresh ones sign.
func TestNonceNeverReused(t *testing.T) {
	c := startCluster(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl := c.Client()
	if _, err := cl.GenerateKey(ctx, "nonce-key", wire.SchemeSchnorr); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSynced(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	raw := newRawClient(t, c)
	key := adminKey(t, raw.cfg)
	id := raw.cfg.ClientID

	// sessionWith builds a session whose replica-1 commitment is nc and
	// whose replica-2 commitment is fresh.
	nonceOf := func(i int) wire.NonceCommitment {
		t.Helper()
		req := request(t, raw.cfg.Cluster, id, wire.OpNonces, time.Now().Add(time.Minute), wire.NoncesBody{Count: 1})
		a := raw.post(sign(t, key, req), i)[i]
		if a.err != nil || len(a.resp.Commitments) != 1 {
			t.Fatalf("nonces from replica %d: http %d %q (%v)", i, a.status, a.resp.Error, a.err)
		}
		return a.resp.Commitments[0]
	}
	sessionWith := func(nc wire.NonceCommitment, msg string) []byte {
		other := nonceOf(2)
		req := request(t, raw.cfg.Cluster, id, wire.OpSign, time.Now().Add(time.Minute), wire.SignBody{KeyID: "nonce-key", Message: msgHash(msg), Signers: []wire.SignerCommitment{
			{Replica: 1, Nonce: nc.Nonce, Hiding: nc.Hiding, Binding: nc.Binding},
			{Replica: 2, Nonce: other.Nonce, Hiding: other.Hiding, Binding: other.Binding}}})
		return sign(t, key, req)
	}
	signs := func(nc wire.NonceCommitment, msg string) bool {
		t.Helper()
		a := raw.post(sessionWith(nc, msg), 1)[1]
		if a.err == nil && a.status == http.StatusOK && len(a.resp.Partial) == 32 {
			return true
		}
		if !strings.Contains(a.resp.Error, "unknown or used nonce") {
			t.Fatalf("replica 1: http %d %q (%v)", a.status, a.resp.Error, a.err)
		}
		return false
	}
	waitReady := func(replicas ...int) {
		t.Helper()
		if err := c.WaitReadyOf(90*time.Second, replicas...); err != nil {
			t.Fatal(err)
		}
	}

	// Epoch 1: one nonce signs once; a second message on it is refused.
	used := nonceOf(1)
	if !signs(used, "first") {
		t.Fatal("a fresh nonce did not sign")
	}
	if signs(used, "second") {
		t.Fatal("a used nonce signed a second message")
	}
	unused1 := nonceOf(1)

	// A copy of replica 1's home, taken while it is stopped.
	c.Kill(1)
	backup := t.TempDir()
	copyTree(t, c.Home(1), backup)
	c.Restart(1)
	waitReady(1)
	for name, nc := range map[string]wire.NonceCommitment{"used before the kill": used, "unused before the kill": unused1} {
		if signs(nc, "after kill "+name) {
			t.Fatalf("a nonce %s signed after a SIGKILL and restart", name)
		}
	}

	// Epoch 2, then SIGKILL and a restore of the older copy.
	unused2 := nonceOf(1)
	c.Kill(1)
	restoreTree(t, backup, c.Home(1))
	c.Restart(1)
	waitReady(1)
	for name, nc := range map[string]wire.NonceCommitment{"epoch 1 (used)": used, "epoch 1": unused1, "epoch 2": unused2} {
		if signs(nc, "after restore "+name) {
			t.Fatalf("a nonce of %s signed after restoring an older home", name)
		}
	}

	// Every home restored from copies taken with the cluster stopped.
	unused3 := nonceOf(1)
	backups := map[int]string{}
	for i := 1; i <= c.Testnet.N; i++ {
		c.Kill(i)
	}
	for i := 1; i <= c.Testnet.N; i++ {
		backups[i] = t.TempDir()
		copyTree(t, c.Home(i), backups[i])
	}
	c.RestartAll()
	waitReady(1, 2, 3, 4)
	unused4 := nonceOf(1)
	for i := 1; i <= c.Testnet.N; i++ {
		c.Kill(i)
		restoreTree(t, backups[i], c.Home(i))
	}
	c.RestartAll()
	waitReady(1, 2, 3, 4)
	for name, nc := range map[string]wire.NonceCommitment{"epoch 3": unused3, "epoch 4": unused4, "epoch 1 (used)": used} {
		if signs(nc, "after full restore "+name) {
			t.Fatalf("a nonce of %s signed after restoring every home", name)
		}
	}
	// Fresh nonces still sign, through the client's own sessions too.
	if !signs(nonceOf(1), "fresh") {
		t.Fatal("a fresh nonce did not sign after the restores")
	}
	sig, err := cl.SignSchnorr(ctx, "nonce-key", msgHash("client after restores"), nil)
	if err != nil {
		t.Fatal(err)
	}
	log := newSigLog()
	k, err := cl.PublicKey(ctx, "nonce-key")
	if err != nil {
		t.Fatal(err)
	}
	if err := log.add("nonce-key", k.PublicKey, msgHash("client after restores"), sig); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies directory src into dst (cp -a semantics).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", src, err, out)
	}
}

// restoreTree replaces the contents of dst by those of backup.
func restoreTree(t *testing.T, backup, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	copyTree(t, backup, dst)
}
