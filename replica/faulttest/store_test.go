package faulttest

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/cluster"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/wire"
)

// TestDamagedShareStore restarts one replica with its sealed store
// (HOME/secrets) deleted, then another with its key and nonce share records
// corrupted. The first refuses to start with a clear error; the second
// refuses every operation needing a damaged share instead of signing with
// garbage (no replica is ever named a culprit). The cluster keeps serving
// throughout. Issue 4, scenario 5.
func TestDamagedShareStore(t *testing.T) {
	c := startCluster(t, loadPools)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var culpritMu sync.Mutex
	var culprits []string
	cl := clientWith(t, c, "", client.WithCulpritHandler(func(op string, cs []client.Culprit) {
		culpritMu.Lock()
		defer culpritMu.Unlock()
		for _, x := range cs {
			culprits = append(culprits, op+": "+x.String())
		}
	}))
	sk, err := cl.GenerateKey(ctx, "store-schnorr", wire.SchemeSchnorr)
	if err != nil {
		t.Fatalf("keys.gen: %v", err)
	}
	bk, err := cl.GenerateKey(ctx, "store-bls", wire.SchemeBLS)
	if err != nil {
		t.Fatalf("keys.gen: %v", err)
	}
	if _, err := cl.GenerateKey(ctx, "store-sym", wire.SchemeSymmetric); err != nil {
		t.Fatalf("keys.gen: %v", err)
	}
	if err := c.WaitSynced(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	ct, err := cl.Encrypt(ctx, "store-sym", []byte("sealed payload"))
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	sigs := newSigLog()
	serves := func(label string) {
		t.Helper()
		for i := range 2 {
			msg := msgHash(fmt.Sprintf("%s %d", label, i))
			sig, err := signSchnorrRetry(ctx, cl, "store-schnorr", msg)
			if err != nil {
				t.Fatalf("%s: schnorr: %v", label, err)
			}
			if err := sigs.add("store-schnorr", sk.PublicKey, msg, sig); err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			bsig, err := cl.SignBLS(ctx, "store-bls", msg)
			if err != nil || !verifyBLS(bk.PublicKey, msg, bsig) {
				t.Fatalf("%s: bls: %v", label, err)
			}
		}
		pt, err := cl.Decrypt(ctx, "store-sym", ct)
		if err != nil || string(pt) != "sealed payload" {
			t.Fatalf("%s: decrypt: %v", label, err)
		}
		culpritMu.Lock()
		defer culpritMu.Unlock()
		if len(culprits) > 0 {
			t.Fatalf("%s: replicas answered wrong: %v", label, culprits)
		}
	}
	serves("healthy")

	t.Run("deleted", func(t *testing.T) {
		const r = 4
		secrets := filepath.Join(c.Home(r), layout.SecretsDir)
		c.Kill(r)
		backup := secrets + ".bak"
		if err := os.Rename(secrets, backup); err != nil {
			t.Fatal(err)
		}
		c.Restart(r)
		logged := waitLog(t, c, r, "vhsm: replica: sealed secrets unavailable", 30*time.Second)
		t.Logf("replica %d refuses to start: %s", r, logged)
		if st := cl.Status(ctx)[r-1]; st.Ready {
			t.Fatalf("replica %d ready without its secrets", r)
		}
		serves("replica 4 without secrets")
		c.Kill(r)
		if err := os.RemoveAll(secrets); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(backup, secrets); err != nil {
			t.Fatal(err)
		}
		c.Restart(r)
		if err := c.WaitReady(60 * time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("corrupted", func(t *testing.T) {
		defer func() {
			// Nothing secret reached a log: not the plaintext, the client's
			// key, nor a sealing key.
			acfg, err := client.Load(c.ClientPath)
			if err != nil {
				t.Fatal(err)
			}
			assertNoSecretsLogged(t, c, []byte("sealed payload"), acfg.PrivateKey)
		}()
		const r = 3
		c.Kill(r)
		damaged := corruptShares(t, filepath.Join(c.Home(r), layout.SecretsDir))
		t.Logf("corrupted %d share records of replica %d", damaged, r)
		c.Restart(r)
		if err := c.WaitReadyOf(60*time.Second, 1, 2, 4); err != nil {
			t.Fatal(err)
		}
		// Replica 3 opens its store as it catches up and finds the damage.
		var st client.ReplicaStatus
		for deadline := time.Now().Add(60 * time.Second); ; {
			st = cl.Status(ctx)[r-1]
			if strings.Contains(st.Error, "share store damaged") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d never reported its damaged store: ready=%v error=%q", r, st.Ready, st.Error)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("replica %d status with corrupted shares: ready=%v error=%q", r, st.Ready, st.Error)
		serves("replica 3 with corrupted shares")

		// The damaged replica's own answer: a rejection naming the share,
		// never a partial.
		raw := newRawClient(t, c)
		admin := raw.cfg
		key := adminKey(t, admin)
		for _, keyID := range []string{"store-schnorr", "store-bls"} {
			var body []byte
			if keyID == "store-schnorr" {
				body = raw.frostSign(t, key, admin.ClientID, keyID, msgHash("raw after corruption"), r, 1)
			} else {
				body = sign(t, key, request(t, admin.Cluster, admin.ClientID, wire.OpSign, time.Now().Add(time.Minute), wire.SignBody{KeyID: keyID, Message: msgHash("raw after corruption")}))
			}
			answers := raw.post(body)
			a := answers[r]
			if a.err == nil && len(a.resp.Partial) > 0 {
				t.Fatalf("replica %d produced a partial for %s from corrupted shares", r, keyID)
			}
			t.Logf("replica %d on %s: http %d, error %q (%v)", r, keyID, a.status, a.resp.Error, a.err)
			ok := 0
			for i, a := range answers {
				if i != r && a.err == nil && len(a.resp.Partial) > 0 {
					ok++
				}
			}
			if want := map[string]int{"store-schnorr": 1, "store-bls": 2}[keyID]; ok < want {
				t.Fatalf("%s: only %d healthy replicas answered a partial", keyID, ok)
			}
		}
		// Having met a damaged record, the replica reports itself not
		// ready, with the reason, so operators see it.
		if st := cl.Status(ctx)[r-1]; st.Ready || !strings.Contains(st.Error, "share store damaged") {
			t.Fatalf("replica %d after reading a corrupted share: ready=%v error=%q", r, st.Ready, st.Error)
		}
	})
}

// corruptShares flips one ciphertext byte in every key or nonce share
// record ("dkg/SESSION" or "dkg/SESSION/SLOT") of the sealed store dir and returns how many
// it damaged.
func corruptShares(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), "r-")
		if !ok {
			continue
		}
		name, ok = strings.CutSuffix(name, ".sealed")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(name)
		if err != nil || !strings.HasPrefix(string(raw), "dkg/") || strings.HasSuffix(string(raw), "/complete") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-20] ^= 0x01 // inside the ciphertext or tag
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no share records found to corrupt")
	}
	return n
}

// waitLog waits until replica i's log contains want and returns that line.
func waitLog(t *testing.T, c *cluster.Cluster, i int, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var b []byte
	for time.Now().Before(deadline) {
		var err error
		b, err = os.ReadFile(filepath.Join(c.Home(i), cluster.LogFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, want) {
				return line
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	t.Fatalf("replica %d log has no %q after %v; tail:\n%s", i, want, timeout, b)
	return ""
}

// adminKey returns the Ed25519 key of a client configuration.
func adminKey(t *testing.T, cfg *client.Config) ed25519.PrivateKey {
	t.Helper()
	if len(cfg.PrivateKey) != 32 {
		t.Fatal("config has no Ed25519 seed")
	}
	return ed25519.NewKeyFromSeed(cfg.PrivateKey)
}
