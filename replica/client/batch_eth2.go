package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// Ordered batches (wire/batch.go, "Ordered batches of typed Ethereum
// requests" and "Ordered batches of key generations"). A validator client
// asks for its validators' attestations at the same moment of a slot, and a
// wallet service creates keys for many users at once; each request is
// ordered, so each would be a transaction of its own, checked, gossiped and
// ordered on its own, and answered by every replica in a request of its
// own. Block proposals and attestations in flight at the same time are
// gathered here instead into eth2.batch requests, and key generations into
// keys.gen.batch requests (one batcher each): while maxOrderedInFlight
// batches are on their way through the log, the next requests wait in the
// queue and leave together in the next batch, which goes to the replicas
// as ONE transaction. A lone request leaves at once (a batch of one):
// batching adds no wait.
//
// Everything above still sees one answer per replica per request
// (exchangeSettle, partialSpec): a batch's answer from a replica is split
// into its items' answers (splitBatchAnswer). A request is in one batch
// only; whichever replica its round asks, before or after the batch left
// (a hedge), gets that same batch, whose answer then serves every item in
// it.

// maxOrderedInFlight is how many ordered batches are on their way at once.
// A batch takes a block and then its items' partial signatures, which each
// replica makes one after the other; the next batch is ordered meanwhile.
// More batches at once would each be smaller (requests trickle in as the
// callers of a finished batch come back), paying a transaction each for
// no gain: the replicas' CPU is what bounds the rate.
const maxOrderedInFlight = 2

// orderedBatcher gathers a client's ordered requests of one operation.
type orderedBatcher struct {
	op    string     // the batch's operation: wire.OpEth2Batch or wire.OpKeyGenBatch
	first int        // how many replicas a batch goes to first
	lat   *latencies // its items' answer latencies (Client.olat, Client.klat)

	mu      sync.Mutex
	queue   []*orderedItem
	running int   // goroutines sending batches (at most maxOrderedInFlight)
	sending int   // items in the batches on their way
	next    []int // the replicas the next batch goes to first; nil: not chosen yet
}

// orderedItem is one ordered request, sent as an item of one ordered
// batch.
type orderedItem struct {
	q    *orderedBatcher
	item wire.BatchItem

	// Guarded by the batcher's mu.
	ctx    context.Context // its round's caller's
	batch  *orderedBatch   // the batch it left in; nil while queued
	wanted []bool          // replicas its batch goes to when it leaves, by index-1

	answers []chan answer // per replica (index-1), buffered: one answer each
}

// newOrderedRequest returns an ordered request with body, queued in q for
// its next batch, and the replicas its round asks first: those the next
// batch goes to first, q.first of them (each item's round asks the others
// later if it must, and the batch then goes to them too). It returns nil
// when the client does not batch.
func (c *Client) newOrderedRequest(ctx context.Context, q *orderedBatcher, body any) (*outgoing, []int, error) {
	if c.batchers == nil {
		return nil, nil, nil
	}
	var id [16]byte
	if _, err := io.ReadFull(c.rand, id[:]); err != nil {
		return nil, nil, fmt.Errorf("request id: %w", err)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, fmt.Errorf("encode body: %w", err)
	}
	if len(b) > maxItemBytes {
		return nil, nil, fmt.Errorf("%w: request body of %d bytes exceeds %d", ErrInvalidArgument, len(b), maxItemBytes)
	}
	it := newOrderedItem(q, c.n, hex.EncodeToString(id[:]), b)
	q.mu.Lock()
	if q.next == nil {
		q.next = c.pick(q.first, nil)
	}
	first := q.next
	for _, r := range first {
		it.wanted[r-1] = true
	}
	it.ctx = ctx
	q.queue = append(q.queue, it)
	if q.running < maxOrderedInFlight {
		q.running++
		go c.runOrdered(q)
	}
	q.mu.Unlock()
	return &outgoing{ordered: it}, first, nil
}

// newOrderedItem returns the item id with body of a batch of q, for a
// client of n replicas.
func newOrderedItem(q *orderedBatcher, n int, id string, body []byte) *orderedItem {
	it := &orderedItem{q: q, item: wire.BatchItem{ID: id, Op: wire.OrderedBatchItemOp(q.op), Body: body}, wanted: make([]bool, n), answers: make([]chan answer, n)}
	for i := range it.answers {
		it.answers[i] = make(chan answer, 1)
	}
	return it
}

// orderedBatch is one ordered batch: its signed request and items, and the
// replicas it was sent to.
type orderedBatch struct {
	c     *Client
	out   *outgoing
	err   error // building the request failed: every answer is this failure
	items []*orderedItem

	mu     sync.Mutex
	posted []bool
	// settled receives one value per post the batcher waits for: whether
	// the replica answered (successfully or with a refusal).
	settled chan bool
}

// sendOrdered returns rc's answer to the queued item it: from the batch
// it left in, which is sent to rc too if it was not yet.
func (c *Client) sendOrdered(ctx context.Context, rc *replicaConn, it *orderedItem) answer {
	q := it.q
	q.mu.Lock()
	b := it.batch
	if b == nil {
		it.wanted[rc.index-1] = true // its batch goes to rc when it leaves
	}
	q.mu.Unlock()
	if b != nil {
		b.post(rc.index)
	}
	select {
	case a := <-it.answers[rc.index-1]:
		return a
	case <-ctx.Done():
		return answer{replica: rc.index, err: ctx.Err()}
	}
}

// runOrdered sends q's batches while requests are queued in it. A batch
// counts as on its way until t+1 replicas answered it (it is then
// committed; the others' answers come soon after and are delivered when
// they do), every replica it was sent to answered or failed, or twice the
// recent p90 of ordered answers passed.
func (c *Client) runOrdered(q *orderedBatcher) {
	for {
		q.mu.Lock()
		// Even batches: the requests waiting or on their way shared among
		// the batches that may be on their way at once. Callers whose
		// batch was answered come back together; one batch taking all of
		// them would leave the other to the stragglers, and each replica
		// signs a batch's items one after the other.
		limit := (len(q.queue) + q.sending + maxOrderedInFlight - 1) / maxOrderedInFlight
		items := takeBatch(&q.queue, limit, func(it *orderedItem) (context.Context, *wire.BatchItem) { return it.ctx, &it.item })
		if len(items) == 0 {
			q.running--
			q.mu.Unlock()
			return
		}
		if len(q.queue) == 0 {
			// The next batch's first replicas are chosen afresh; while
			// requests remain queued, those joining them are asked first
			// by the same replicas, so that their batch goes to 2t+1.
			q.next = nil
		}
		b := &orderedBatch{c: c, items: items, posted: make([]bool, c.n), settled: make(chan bool, c.n)}
		body := wire.OrderedBatchBody{Items: make([]wire.BatchItem, len(items))}
		var to []int
		for i, it := range items {
			body.Items[i] = it.item
			it.batch = b
			for r, w := range it.wanted {
				if w && !b.posted[r] {
					b.posted[r] = true
					to = append(to, r+1)
				}
			}
		}
		// Built while the items are marked sent, so that a replica asked
		// from now on is sent this very batch.
		b.out, b.err = c.newBatchRequest(q.op, body)
		q.sending += len(items)
		q.mu.Unlock()
		for _, r := range to {
			go b.send(r, true)
		}
		// A replica that does not answer holds up the next batch no longer
		// than an ordered round waits for it before asking another.
		stuck := time.NewTimer(2 * q.lat.hedgeDelay())
		answered := 0
	wait:
		for range to {
			select {
			case ok := <-b.settled:
				if ok {
					answered++
				}
				if answered >= c.t+1 {
					break wait
				}
			case <-stuck.C:
				break wait
			}
		}
		stuck.Stop()
		q.mu.Lock()
		q.sending -= len(items)
		q.mu.Unlock()
	}
}

// post sends the batch to replica (1-based) unless it was sent there
// already; a hedge or a retry of an item's round asks another replica.
func (b *orderedBatch) post(replica int) {
	b.mu.Lock()
	if b.posted[replica-1] {
		b.mu.Unlock()
		return
	}
	b.posted[replica-1] = true
	b.mu.Unlock()
	go b.send(replica, false)
}

// send sends the batch to replica and hands each item its answer; counted
// reports the outcome on settled for the batcher's wait.
func (b *orderedBatch) send(replica int, counted bool) {
	var a answer
	if b.err != nil {
		a = answer{replica: replica, err: b.err}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), b.c.timeout)
		a = b.c.replicas[replica-1].post(ctx, b.out.signed)
		cancel()
	}
	for i, ia := range splitBatchAnswer(b.out, a, len(b.items)) {
		select {
		case b.items[i].answers[replica-1] <- ia:
		default: // one answer per replica and item; never blocks
		}
	}
	if counted {
		b.settled <- a.err == nil && !a.bad
	}
}
