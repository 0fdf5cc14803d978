package engine

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/wire"
)

// Batches (wire/batch.go): several unordered requests of one client under
// one signature, one id and one reply key, for this replica only.
//
// What a replay can do: nothing. A batch names the one replica that may
// answer it, so a replica replaying a client's batch to a fellow replica
// gets a refusal before any item runs (in particular before a FROST nonce
// named by an item is spent). The batch's id is admitted once, so the same
// bytes sent again are refused whole. Items are checked exactly as requests
// of their own (authorization, key usage, the FROST nonce rules of
// nonces.go), their ids by the rules of request ids, and answered one by
// one, so one refused item costs the others nothing; their partial results leave sealed together, to the batch's reply
// key, bound to the batch's hash and this replica's index.

// handleBatch executes a verified batch request (req, whose request hash is
// reqHash) and records each item served in the audit chain.
func (e *Engine) handleBatch(ctx context.Context, req *wire.Request, reqHash [32]byte) (*wire.Response, error) {
	resp := &wire.Response{Replica: e.cfg.Me}
	reject := func(err error) (*wire.Response, error) {
		resp.Error = err.Error()
		return resp, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	var b wire.BatchBody
	if err := app.DecodeStrict(req.Body, &b); err != nil {
		return reject(app.ErrBadBody)
	}
	if b.Replica != e.cfg.Me {
		return reject(fmt.Errorf("%w: batch is for replica %d, this is replica %d", app.ErrBadBody, b.Replica, e.cfg.Me))
	}
	if len(b.Items) == 0 || len(b.Items) > wire.MaxBatchItems {
		return reject(fmt.Errorf("%w: %d items in a batch, allowed 1 to %d", app.ErrBadBody, len(b.Items), wire.MaxBatchItems))
	}
	for i, it := range b.Items {
		if !wire.Batchable(it.Op) {
			return reject(fmt.Errorf("%w: item %d: operation %q cannot be batched", app.ErrBadBody, i, it.Op))
		}
		if !app.ValidRequestID(it.ID) {
			return reject(fmt.Errorf("%w: item %d: id is not 32 lowercase hex digits", app.ErrBadBody, i))
		}
	}
	if err := e.awaitHeight(ctx, req.MinHeight); err != nil {
		return reject(err)
	}
	// The id is used once per client, as by any unordered request; a
	// batch is answered once.
	if err := e.admitID(req.Client, req.ID, reqHash, req.Expires, true); err != nil {
		if r := refused(err); r != nil {
			return reject(r)
		}
		return resp, err
	}
	resp.Items = make([]wire.Response, len(b.Items))
	partials := make([][]byte, len(b.Items))
	hashes := make([][32]byte, len(b.Items))
	sub := *req
	for i := range b.Items {
		it := &b.Items[i]
		ir := &resp.Items[i]
		ir.Replica = e.cfg.Me
		hashes[i] = wire.ItemHash(req.Client, it)
		sub.ID, sub.Op, sub.Body = it.ID, it.Op, it.Body
		var partial []byte
		err := e.admitID(req.Client, it.ID, hashes[i], req.Expires, false)
		if err == nil && it.Op == wire.OpSign {
			partial, err = e.handleSign(ctx, ir, &sub)
		} else if err == nil {
			partial, err = e.evaluate(ctx, ir, &sub)
		}
		if err != nil {
			if r := refused(err); r != nil {
				ir.Error = r.Error()
				continue
			}
			// Internal (context ended, storage): the whole batch fails.
			// Nonces spent by earlier items stay spent; no partial leaves.
			for _, p := range partials {
				clear(p)
			}
			clear(partial)
			return resp, err
		}
		if partial == nil {
			// Every batchable operation answers a partial result.
			return resp, fmt.Errorf("engine: item %d (%s) answered no partial result", i, it.Op)
		}
		partials[i] = partial
	}
	if err := e.sealItems(resp, req, reqHash, b.Items, hashes, partials); err != nil {
		return reject(err)
	}
	resp.Height, _ = e.cfg.App.Committed()
	return resp, nil
}

// sealItems finishes the answer to a batch (an unordered batch or an
// ordered eth2.batch) whose items' answers are in resp.Items: the items'
// partial results (nil for a refused item; cleared here) leave sealed
// together, once, to the batch's reply key, bound to the batch's hash and
// this replica's index, and each item served is recorded in the audit
// chain under its hash. A sealing failure is returned as a refusal reason.
func (e *Engine) sealItems(resp *wire.Response, req *wire.Request, reqHash [32]byte, items []wire.BatchItem, hashes [][32]byte, partials [][]byte) error {
	var bundle []byte
	for _, p := range partials {
		bundle = wire.AppendBundle(bundle, p)
		clear(p)
	}
	sealed, err := wire.SealReply(req.Reply, reqHash, e.cfg.Me, bundle)
	clear(bundle)
	if err != nil {
		return fmt.Errorf("%w: %w", app.ErrMalformed, err)
	}
	resp.Sealed = sealed
	e.recordItems(resp, req, items, hashes)
	return nil
}

// admitID applies the id rules to an unordered request (or a batch item)
// of client with hash: an id is used once per client, by one ordered request
// (its committed result binds the bytes) or by one unordered request or item
// (the same bytes again are a retry, answered again unless once is set). A
// refusal is a refusal (see refused); other errors are internal.
func (e *Engine) admitID(client, id string, hash [32]byte, expires int64, once bool) error {
	if res, err := e.cfg.App.Result(client, id); err != nil || res != nil {
		if err != nil {
			return err
		}
		return refuse(fmt.Errorf("%w: %s", app.ErrIDReused, id))
	}
	if err := e.replay.admit(client, id, hash, expires, time.Now().Unix(), once); err != nil {
		return refuse(err)
	}
	return nil
}

// batchResultHashes decodes the items of a committed ordered batch and
// returns them with their wire.ItemHash, checking that the committed result
// has one item result per item, each bound to that item's hash.
func batchResultHashes(req *wire.Request, res *app.Result) ([]wire.BatchItem, [][32]byte, error) {
	var b wire.OrderedBatchBody
	if err := app.DecodeStrict(req.Body, &b); err != nil || len(b.Items) != len(res.Items) {
		return nil, nil, fmt.Errorf("engine: committed %s result does not match its request", req.Op)
	}
	hashes := make([][32]byte, len(b.Items))
	for i := range b.Items {
		hashes[i] = wire.ItemHash(req.Client, &b.Items[i])
		if !bytes.Equal(res.Items[i].Request, hashes[i][:]) {
			return nil, nil, fmt.Errorf("engine: committed %s item %d does not match its request", req.Op, i)
		}
	}
	return b.Items, hashes, nil
}

// keyGenBatchAnswer answers a committed keys.gen.batch (wire/batch.go):
// for each item, the key the log created or the item's refusal, as a
// keys.gen of its own is answered. Key data is public: nothing is sealed.
// Each item served is recorded in the audit chain under its wire.ItemHash.
func (e *Engine) keyGenBatchAnswer(resp *wire.Response, req *wire.Request, res *app.Result) (*wire.Response, error) {
	items, hashes, err := batchResultHashes(req, res)
	if err != nil {
		return resp, err
	}
	resp.Items = make([]wire.Response, len(items))
	for i := range res.Items {
		r, ir := &res.Items[i], &resp.Items[i]
		ir.Replica, ir.Height = e.cfg.Me, r.Height
		switch {
		case r.Code != 0:
			ir.Error = r.Error
		case r.Key == nil:
			return resp, fmt.Errorf("engine: committed keys.gen item %d without a key", i)
		default:
			ir.Key = r.Key
		}
	}
	e.recordItems(resp, req, items, hashes)
	return resp, nil
}

// recordItems records each item of a batch that was served (its answer in
// resp.Items carries no error) in the audit chain under its hash.
func (e *Engine) recordItems(resp *wire.Response, req *wire.Request, items []wire.BatchItem, hashes [][32]byte) {
	if e.cfg.Audit == nil {
		return
	}
	for i, it := range items {
		if resp.Items[i].Error == "" {
			e.record(req.Client, it.Op, it.Body, hashes[i], &resp.Items[i])
		}
	}
}
