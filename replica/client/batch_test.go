package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// batchesSeen decodes the batches replica received: the item count of each.
func (fc *fakeCluster) batchesSeen(replica int) []int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var sizes []int
	for _, signed := range fc.seen[replica] {
		var sr wire.SignedRequest
		var req wire.Request
		var b wire.BatchBody
		if json.Unmarshal(signed, &sr) != nil || json.Unmarshal(sr.Request, &req) != nil || req.Op != wire.OpBatch || json.Unmarshal(req.Body, &b) != nil {
			continue
		}
		sizes = append(sizes, len(b.Items))
	}
	return sizes
}

// queued is how many requests wait in the client's batch queues.
func (c *Client) queued() int {
	n := 0
	for _, b := range c.batchers {
		b.mu.Lock()
		n += len(b.queue)
		b.mu.Unlock()
	}
	return n
}

// TestBatchGathersConcurrentRequests: requests that arrive while a
// replica's batches are being answered leave together in its next batch,
// and every caller gets its own valid signature.
func TestBatchGathersConcurrentRequests(t *testing.T) {
	fc, info := blsFake(t, 4, 1, nil, nil)
	inner := fc.getHandler()
	gate := make(chan struct{})
	fc.setHandler(func(replica int, req wire.Request, signed []byte) fakeReply {
		if req.Op == wire.OpSign {
			<-gate // hold the first batches until the others queue up
		}
		return inner(replica, req, signed)
	})
	c := fc.client()
	c.lat.floor.Store(int64(10 * time.Second)) // no hedge while the gate is shut
	ctx := context.Background()
	if _, err := c.keyData(ctx, "eth1"); err != nil {
		t.Fatal(err)
	}
	const calls = 24
	var wg sync.WaitGroup
	errs := make([]error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Appendf(nil, "message %d", i)
			sig, err := c.SignBLS(ctx, "eth1", msg)
			if err == nil {
				if ok, _ := VerifyBLS(info.PublicKey, msg, sig); !ok {
					err = errors.New("signature does not verify")
				}
			}
			errs[i] = err
		}()
	}
	// Every call's 2t+1 = 3 items either wait in a queue or sit in a
	// batch held at a replica: a state that lasts until the gate opens.
	// (Waiting for calls items queued, as before, could wait forever on a
	// loaded machine, when the first batches took more than the rest.)
	sent := func() int {
		n := 0
		for r := 1; r <= 4; r++ {
			for _, k := range fc.batchesSeen(r) {
				n += k
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for sent()+c.queued() < 3*calls {
		if time.Now().After(deadline) {
			t.Fatalf("only %d items queued and %d sent of %d", c.queued(), sent(), 3*calls)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	items, batches, largest := 0, 0, 0
	for r := 1; r <= 4; r++ {
		for _, n := range fc.batchesSeen(r) {
			items += n
			batches++
			largest = max(largest, n)
		}
	}
	if items < calls*2 || largest < 2 || batches >= items {
		t.Fatalf("%d items in %d batches (largest %d): not gathered", items, batches, largest)
	}
}

// TestBatchAnswerChecked: a replica's batch answer that does not fit its
// batch — too few items, a bundle sealed as another replica's or under the
// item's hash, a refused item with a result, an item answered in another
// replica's name, a bundle of another size — makes that replica a culprit,
// and the honest replicas' answers still make the signature.
func TestBatchAnswerChecked(t *testing.T) {
	fc, info := blsFake(t, 9, 2, nil, nil)
	var down atomic.Bool
	inner := fc.getHandler()
	fc.setHandler(func(replica int, req wire.Request, signed []byte) fakeReply {
		if replica == 9 && down.Load() {
			return fakeReply{status: http.StatusServiceUnavailable, raw: []byte("down")}
		}
		return inner(replica, req, signed)
	})
	fc.tamper = func(replica int, resp *wire.Response, bundle, reply []byte, hash [32]byte) []byte {
		switch replica {
		case 1:
			resp.Items = resp.Items[:len(resp.Items)-1]
		case 2:
			resp.Sealed, _ = wire.SealReply(reply, hash, 3, bundle)
		case 3:
			resp.Items[0].Error = "refused, but here is a partial anyway"
		case 4:
			resp.Items[0].Replica = 5
		case 5:
			return wire.AppendBundle(bundle, []byte("extra"))
		case 6:
			resp.Sealed, _ = wire.SealReply(reply, [32]byte{1}, replica, bundle)
		}
		return bundle
	}
	c := fc.client()
	ctx := context.Background()
	msg := []byte("checked batch")
	// With replica 9 down only two honest replicas remain: the call fails
	// after every answer, naming each liar.
	down.Store(true)
	_, err := c.SignBLS(ctx, "eth1", msg)
	var qe *QuorumError
	if !errors.As(err, &qe) {
		t.Fatalf("want a QuorumError, got %v", err)
	}
	named := map[int]bool{}
	for _, x := range qe.Culprits {
		if x.Reason != ReasonMalformed || x.Replica > 6 {
			t.Fatalf("culprit %v", x)
		}
		named[x.Replica] = true
	}
	if len(named) != 6 {
		t.Fatalf("culprits %v, want replicas 1-6", qe.Culprits)
	}
	down.Store(false)
	sig, err := c.SignBLS(ctx, "eth1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifyBLS(info.PublicKey, msg, sig); !ok {
		t.Fatal("signature does not verify")
	}
}
