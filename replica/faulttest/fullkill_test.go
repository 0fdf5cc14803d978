package faulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

// TestFullClusterKill SIGKILLs every replica while keys are being generated
// and signatures made, then restarts them all: every key a client was told
// exists still exists with the same public key, no key id appears twice,
// and across every signature produced in the test no two distinct messages
// share an R (no nonce reused, including nonces consumed by requests cut
// off by the crash). Issue 4, scenario 4.
func TestFullClusterKill(t *testing.T) {
	c := startCluster(t, loadPools)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cl := c.Client()
	sk, err := cl.GenerateKey(ctx, "crash-schnorr", wire.SchemeSchnorr)
	if err != nil {
		t.Fatalf("keys.gen: %v", err)
	}
	if err := c.WaitSynced(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	sigs := newSigLog()
	pubs := map[string][]byte{"crash-schnorr": sk.PublicKey}

	// In flight at the crash: key generations and signatures, with a
	// short client timeout so that cut-off requests end quickly.
	short := clientWith(t, c, "4s")
	var mu sync.Mutex
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	const gens, signs = 4, 6
	for i := range gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("crash-gen-%d", i)
			scheme := []string{wire.SchemeSchnorr, wire.SchemeBLS}[i%2]
			started <- struct{}{}
			k, err := short.GenerateKey(ctx, id, scheme)
			if err == nil {
				mu.Lock()
				pubs[id] = k.PublicKey
				mu.Unlock()
			}
		}()
	}
	for i := range signs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := msgHash(fmt.Sprintf("in flight %d", i))
			started <- struct{}{}
			sig, err := short.SignSchnorr(ctx, "crash-schnorr", msg, nil)
			if err == nil {
				if err := sigs.add("crash-schnorr", sk.PublicKey, msg, sig); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for range gens + signs {
		<-started
	}
	time.Sleep(50 * time.Millisecond) // requests reach the replicas
	for i := 1; i <= n; i++ {
		c.Kill(i)
	}
	wg.Wait()
	t.Logf("before the crash: %d keys confirmed, %d signatures", len(pubs), sigs.n)

	for i := 1; i <= n; i++ {
		c.Restart(i)
	}
	if err := c.WaitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSynced(20 * time.Second); err != nil {
		t.Fatal(err)
	}

	// No key lost: every confirmed key has its public key; no duplicate id.
	keys, err := cl.ListKeys(ctx)
	if err != nil {
		t.Fatalf("keys.list after restart: %v", err)
	}
	listed := map[string][]byte{}
	for _, k := range keys {
		if _, dup := listed[k.KeyID]; dup {
			t.Fatalf("key id %s listed twice", k.KeyID)
		}
		listed[k.KeyID] = k.PublicKey
	}
	for id, pub := range pubs {
		if got, ok := listed[id]; !ok || !bytes.Equal(got, pub) {
			t.Fatalf("key %s lost or changed after the crash", id)
		}
	}
	// A generation cut off by the crash either happened or can be redone,
	// never twice: asking again yields the key or "key already exists".
	for i := range gens {
		id := fmt.Sprintf("crash-gen-%d", i)
		scheme := []string{wire.SchemeSchnorr, wire.SchemeBLS}[i%2]
		k, err := cl.GenerateKey(ctx, id, scheme)
		switch {
		case err == nil:
			if _, ok := listed[id]; ok {
				t.Fatalf("key %s generated twice", id)
			}
			pubs[id] = k.PublicKey
		case errors.Is(err, client.ErrRejected):
			// The crash may have left the request in a block committed
			// after the listing above: the key must exist now.
			k, perr := cl.PublicKey(ctx, id)
			if perr != nil {
				t.Fatalf("key %s rejected (%v) but keys.pub fails: %v", id, err, perr)
			}
			if old, ok := pubs[id]; ok && !bytes.Equal(old, k.PublicKey) {
				t.Fatalf("key %s changed", id)
			}
			pubs[id] = k.PublicKey
		default:
			t.Fatalf("keys.gen %s after restart: %v", id, err)
		}
	}

	// Every key signs after the restart; Schnorr signatures join the log,
	// including the messages whose signing was cut off.
	for i := range signs + 3 {
		msg := msgHash(fmt.Sprintf("in flight %d", i))
		sig, err := signSchnorrRetry(ctx, cl, "crash-schnorr", msg)
		if err != nil {
			t.Fatalf("sign after restart: %v", err)
		}
		if err := sigs.add("crash-schnorr", sk.PublicKey, msg, sig); err != nil {
			t.Fatal(err)
		}
	}
	for i := range gens {
		id := fmt.Sprintf("crash-gen-%d", i)
		msg := msgHash("after restart " + id)
		if i%2 == 0 {
			sig, err := signSchnorrRetry(ctx, cl, id, msg)
			if err != nil {
				t.Fatalf("sign %s: %v", id, err)
			}
			if err := sigs.add(id, pubs[id], msg, sig); err != nil {
				t.Fatal(err)
			}
			continue
		}
		sig, err := cl.SignBLS(ctx, id, msg)
		if err != nil || !verifyBLS(pubs[id], msg, sig) {
			t.Fatalf("bls %s after restart: %v", id, err)
		}
	}
	// Final listing: still no duplicate id, every key present.
	final := map[string]bool{}
	for _, id := range keyIDs(ctx, t, cl) {
		if final[id] {
			t.Fatalf("key id %s listed twice", id)
		}
		final[id] = true
	}
	for id := range pubs {
		if !final[id] {
			t.Fatalf("key %s missing from the final listing", id)
		}
	}
	t.Logf("%d schnorr signatures checked, no R shared by two messages", sigs.n)
}
