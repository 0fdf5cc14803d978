package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// opsSeen returns the operations of the requests replica received, in
// order, and their reply keys.
func (fc *fakeCluster) opsSeen(replica int) (ops []string, replies [][]byte) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, signed := range fc.seen[replica] {
		var sr wire.SignedRequest
		var req wire.Request
		if json.Unmarshal(signed, &sr) != nil || json.Unmarshal(sr.Request, &req) != nil {
			continue
		}
		ops, replies = append(ops, req.Op), append(replies, req.Reply)
	}
	return ops, replies
}

// TestLoneRequestUnbatched: a signing, encryption or decryption request
// made while no other is on its way leaves as an ordinary signed request,
// the same bytes (one reply key) to every replica asked; requests made
// while it is on its way leave in batches; every caller gets a valid
// signature, and the count of requests on their way returns to zero.
func TestLoneRequestUnbatched(t *testing.T) {
	fc, info := blsFake(t, 4, 1, nil, nil)
	inner := fc.getHandler()
	gate := make(chan struct{})
	var once, opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	// Registered after the fake cluster's cleanup, so run before it
	// (cleanups run last first): a failing test must not leave a handler
	// held at the gate, or closing the servers would wait for it forever.
	t.Cleanup(open)
	held := make(chan struct{})
	fc.setHandler(func(replica int, req wire.Request, signed []byte) fakeReply {
		if req.Op == wire.OpSign && len(req.Body) > 0 {
			var b wire.SignBody
			if json.Unmarshal(req.Body, &b) == nil && string(b.Message) == "first" {
				once.Do(func() { close(held) })
				<-gate // hold the lone request until the others are made
			}
		}
		return inner(replica, req, signed)
	})
	c := fc.client()
	c.batchAlone = false
	c.lat.floor.Store(int64(10 * time.Second)) // no hedge while the gate is shut
	ctx := context.Background()
	if _, err := c.keyData(ctx, "eth1"); err != nil {
		t.Fatal(err)
	}
	check := func(msg string, sig []byte, err error) error {
		if err != nil {
			return err
		}
		if ok, _ := VerifyBLS(info.PublicKey, []byte(msg), sig); !ok {
			return errors.New("signature does not verify")
		}
		return nil
	}
	// The key lookup's last answers may still be on their way: a request
	// made meanwhile is not alone.
	for deadline := time.Now().Add(10 * time.Second); c.inflight.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the key lookup's requests stay on their way")
		}
	}
	firstErr := make(chan error, 1)
	go func() {
		sig, err := c.SignBLS(ctx, "eth1", []byte("first"))
		firstErr <- check("first", sig, err)
	}()
	<-held
	const calls = 6
	var wg sync.WaitGroup
	errs := make([]error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("message %d", i)
			sig, err := c.SignBLS(ctx, "eth1", []byte(msg))
			errs[i] = check(msg, sig, err)
		}()
	}
	// The calls need nothing of the held request: they finish while it is
	// on its way. (Waiting instead for them all to be queued at once, as
	// this test did, missed the moment on a loaded machine: the batches
	// had already left and been answered.)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("the calls made while the lone request was held did not finish")
	}
	open()
	if err := <-firstErr; err != nil {
		t.Fatalf("lone request: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	var lone [][]byte
	batched := 0
	for r := 1; r <= 4; r++ {
		ops, replies := fc.opsSeen(r)
		for k, op := range ops {
			switch op {
			case wire.OpSign:
				lone = append(lone, replies[k])
			case wire.OpBatch:
				batched++
			}
		}
	}
	// The lone request went to 2t+1 = 3 replicas (no hedge), with one
	// reply key; the others went in batches.
	if len(lone) != 3 || batched == 0 {
		t.Fatalf("%d lone requests, %d batches", len(lone), batched)
	}
	for _, k := range lone[1:] {
		if string(k) != string(lone[0]) || len(k) != wire.ReplyKeyLen {
			t.Fatal("the lone request's copies differ in reply key")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); c.inflight.Load() != 0 || c.loneToken.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still counted on their way, lone token %d", c.inflight.Load(), c.loneToken.Load())
		}
	}
	// Alone again: no batch.
	for deadline := time.Now().Add(10 * time.Second); c.inflight.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("requests stay on their way")
		}
	}
	before := batched
	sig, err := c.SignBLS(ctx, "eth1", []byte("alone again"))
	if err := check("alone again", sig, err); err != nil {
		t.Fatal(err)
	}
	batched = 0
	for r := 1; r <= 4; r++ {
		ops, _ := fc.opsSeen(r)
		for _, op := range ops {
			if op == wire.OpBatch {
				batched++
			}
		}
	}
	if batched != before {
		t.Fatalf("a lone request was batched (%d batches, %d before)", batched, before)
	}
}

// TestLoneToken: one lone request at a time; the token comes back when
// its holder gives it, not when an older holder does, and a token never
// given back is free again after loneHold.
func TestLoneToken(t *testing.T) {
	c := &Client{}
	a := c.takeLone()
	if a == 0 || c.takeLone() != 0 {
		t.Fatal("the lone token was taken twice")
	}
	c.loneToken.CompareAndSwap(a, 0)
	b := c.takeLone()
	if b == 0 {
		t.Fatal("the lone token did not come back")
	}
	if c.loneToken.CompareAndSwap(a, 0) || c.takeLone() != 0 {
		t.Fatal("an older holder gave back a newer holder's token")
	}
	c.loneToken.Store(time.Now().Add(-loneHold - time.Second).UnixNano())
	if c.takeLone() == 0 {
		t.Fatal("a token never given back stays taken")
	}
}
