package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/vhsm/vhsm/replica/wire"
)

// Batching (wire/batch.go). Signing, encryption and decryption requests in
// flight at the same time (a service with many callers sharing one client)
// are gathered per replica: while a batch is on its way to a replica, the
// next requests for it wait in its queue and leave together in the next
// batch: one id, one signature, one reply key and one
// sealed answer for all of them, instead of one each. A request made while
// no other is on its way is not batched at all (newSignedRequest: one
// signed request for every replica it goes to; WithBatchingAlways sends it
// as a batch of one); one made while others are waits for no timer: it
// leaves with the next batch, so batching adds no wait, it only groups
// what would otherwise queue behind the replica's CPU anyway.
//
// Everything above this file still sees one answer per replica per request:
// a batch's answer is split into the items' answers, each opened already
// (outgoing.open accepts them as they are), and a failed or malformed batch
// answer counts as that replica's failure or malformed answer for every
// item in it. Hedges and FROST retries send an item to other replicas,
// where it joins their batches.

// maxBatchesInFlight is how many batches one replica has on their way at
// once: the next one fills while they are being answered. One per replica
// measured best (64 callers, 4 replicas on 2 cores: 827–1,152 Schnorr
// signatures/s against 488–932 with two and 558–738 with four, runs
// alternated): the batches are larger, and t+1 replicas each working on one
// batch already keep the cores busy.
const maxBatchesInFlight = 1

// batchBudget bounds the encoded items of one batch: the replica reads at
// most wire.MaxRequestBytes of the signed request, in which the request's
// JSON is base64 (4/3 as long), with room for the batch's own fields.
const batchBudget = wire.MaxRequestBytes*3/4 - 2048

// maxItemBytes bounds the body of one batched request.
const maxItemBytes = batchBudget - 64

// itemCost is an item's share of batchBudget: its body, operation and
// JSON punctuation.
func itemCost(it *wire.BatchItem) int { return len(it.Body) + len(it.Op) + len(it.ID) + 32 }

// batcher gathers the batched requests for one replica.
type batcher struct {
	c  *Client
	rc *replicaConn

	mu      sync.Mutex
	queue   []*batchPending
	running int // goroutines sending batches (at most maxBatchesInFlight)
}

// batchPending is one request waiting for its answer from the batcher's
// replica.
type batchPending struct {
	ctx  context.Context
	item *wire.BatchItem
	done chan answer // buffered: the sender never blocks on a caller gone
}

// send sends out to rc: on its own, or as an item of rc's next batch.
func (c *Client) send(ctx context.Context, rc *replicaConn, out *outgoing) answer {
	if out.ordered != nil {
		return c.sendOrdered(ctx, rc, out.ordered)
	}
	if out.item == nil {
		return rc.post(ctx, out.signed)
	}
	return c.batchers[rc.index-1].do(ctx, out.item)
}

// do queues item for the batcher's replica and waits for its answer.
func (b *batcher) do(ctx context.Context, item *wire.BatchItem) answer {
	p := &batchPending{ctx: ctx, item: item, done: make(chan answer, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, p)
	start := b.running < maxBatchesInFlight
	if start {
		b.running++
	}
	b.mu.Unlock()
	if start {
		go b.run()
	}
	select {
	case a := <-p.done:
		return a
	case <-ctx.Done():
		return answer{replica: b.rc.index, err: ctx.Err()}
	}
}

// run sends batches while requests are queued.
func (b *batcher) run() {
	for {
		b.mu.Lock()
		items := takeBatch(&b.queue, wire.MaxBatchItems, func(p *batchPending) (context.Context, *wire.BatchItem) { return p.ctx, p.item })
		if len(items) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.flush(items)
	}
}

// takeBatch removes the next batch from the front of queue: the requests
// whose callers still wait (the others are dropped), at most limit (and
// wire.MaxBatchItems) of them within batchBudget. of gives a queued
// request's caller context and item.
func takeBatch[T any](queue *[]T, limit int, of func(T) (context.Context, *wire.BatchItem)) []T {
	var items []T
	size := 0
	for len(*queue) > 0 && len(items) < min(limit, wire.MaxBatchItems) {
		p := (*queue)[0]
		ctx, it := of(p)
		if ctx.Err() != nil {
			*queue = (*queue)[1:] // its caller has given up
			continue
		}
		cost := itemCost(it)
		if len(items) > 0 && size+cost > batchBudget {
			break
		}
		items = append(items, p)
		size += cost
		*queue = (*queue)[1:]
	}
	if len(*queue) == 0 {
		*queue = nil
	}
	return items
}

// flush sends one batch and hands every item its answer.
func (b *batcher) flush(items []*batchPending) {
	c, replica := b.c, b.rc.index
	out, err := c.newBatch(replica, items)
	if err != nil {
		// Nothing was sent; the callers see a failure at this replica.
		for _, p := range items {
			p.done <- answer{replica: replica, err: err}
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for i, a := range splitBatchAnswer(out, b.rc.post(ctx, out.signed), len(items)) {
		items[i].done <- a
	}
}

// splitBatchAnswer splits one replica's answer a to the batch out, of n
// items, into the items' answers, each opened (outgoing.open accepts them
// as they are). A failed, refused or malformed batch answer is that for
// every item.
func splitBatchAnswer(out *outgoing, a answer, n int) []answer {
	replica := a.replica
	answers := make([]answer, n)
	all := func(a answer) []answer {
		for i := range answers {
			answers[i] = a
		}
		return answers
	}
	if a.err != nil || a.bad {
		return all(a)
	}
	resp := a.resp
	if resp.Error != "" {
		// The batch itself was refused (client, signature, expiry, min
		// height): so is each of its requests.
		return all(answer{replica: replica, resp: &wire.Response{Replica: replica, Error: resp.Error}})
	}
	bad := answer{replica: replica, bad: true}
	if out.reply == nil {
		// A batch without a reply key (keys.gen.batch): every item's
		// answer is public and in the clear, nothing is sealed.
		if len(resp.Items) != n || len(resp.Partial) != 0 || len(resp.Sealed) != 0 {
			return all(bad)
		}
		for i := range answers {
			ir := resp.Items[i]
			if ir.Replica != replica || len(ir.Sealed) != 0 || len(ir.Partial) != 0 || len(ir.Items) != 0 {
				answers[i] = bad
			} else {
				answers[i] = answer{replica: replica, resp: &ir}
			}
		}
		return answers
	}
	if len(resp.Items) != n || len(resp.Partial) != 0 || len(resp.Sealed) == 0 {
		return all(bad)
	}
	bundle, err := wire.OpenReply(out.reply, out.hash, replica, resp.Sealed)
	if err != nil {
		return all(bad)
	}
	parts, err := wire.SplitBundle(bundle, n)
	if err != nil {
		return all(bad)
	}
	for i := range answers {
		ir := resp.Items[i]
		switch {
		case ir.Replica != replica || len(ir.Sealed) != 0 || len(ir.Partial) != 0 || len(ir.Items) != 0:
			answers[i] = bad
		case ir.Error != "":
			if parts[i] != nil {
				answers[i] = bad // a refusal carries no result
			} else {
				answers[i] = answer{replica: replica, resp: &ir}
			}
		case parts[i] == nil:
			answers[i] = bad
		default:
			ir.Partial = parts[i]
			answers[i] = answer{replica: replica, resp: &ir}
		}
	}
	return answers
}

// newBatch builds and signs the batch of items for replica, with a fresh
// reply key.
func (c *Client) newBatch(replica int, items []*batchPending) (*outgoing, error) {
	bb := wire.BatchBody{Replica: replica, Items: make([]wire.BatchItem, len(items))}
	for i, p := range items {
		bb.Items[i] = *p.item
	}
	return c.newBatchRequest(wire.OpBatch, bb)
}

// newBatchRequest builds and signs a batch request (op OpBatch,
// OpEth2Batch or OpKeyGenBatch) with body, a fresh id and, for a batch
// whose answers are sealed (wire.NeedsReply), a fresh reply key.
func (c *Client) newBatchRequest(op string, body any) (*outgoing, error) {
	var id [16]byte
	if _, err := io.ReadFull(c.rand, id[:]); err != nil {
		return nil, fmt.Errorf("request id: %w", err)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	out := &outgoing{}
	r := wire.Request{
		ID:      hex.EncodeToString(id[:]),
		Client:  c.id,
		Op:      op,
		Expires: c.now().Add(requestValidity).Unix(),
		Cluster: c.cluster,
		Body:    b,
	}
	if wire.NeedsReply(op) {
		if out.reply, err = wire.NewReplyKey(c.rand); err != nil {
			return nil, err
		}
		r.Reply = out.reply.PublicKey().Bytes()
	}
	if op == wire.OpBatch {
		// Unordered: what this client saw committed must be applied first.
		r.MinHeight = c.minHeight.Load()
	}
	if err := c.sign(r, out); err != nil {
		return nil, err
	}
	return out, nil
}
