package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/audit"
	"github.com/vhsm/vhsm/replica/wire"
)

// Audit (issue 14): every request this replica served successfully is
// appended to its audit chain ([Config.Audit], replica/audit) after it is
// answered, off the log; [Engine.RunAudit] commits the chain's head through
// the log at least once per second while there are new records, after an
// fsync that covers them. The audit operations (wire.OpAuditRecords,
// wire.OpAuditHeads) are answered here.

// AuditInterval is how often RunAudit syncs the chain and, when it grew,
// commits its head.
const AuditInterval = time.Second

// auditResend is how long a broadcast head may stay uncommitted before the
// same head is broadcast again.
const auditResend = 5 * time.Second

// ErrAuditOff: the replica keeps no audit chain (Config.Audit is nil).
var ErrAuditOff = errors.New("engine: audit log not configured")

// Handle executes a whole signed request (the JSON of a wire.SignedRequest)
// and returns this replica's response. On refusal the response has Error
// set and the error wraps ErrRejected; other errors are internal (context
// ended, storage failure) and the response still names the replica. Every
// request answered successfully is recorded in the audit chain.
func (e *Engine) Handle(ctx context.Context, signedRequest []byte) (*wire.Response, error) {
	// The request is decoded here for dispatch and for its record only;
	// the handlers verify it.
	sr, req := peek(signedRequest)
	var resp *wire.Response
	var err error
	if req != nil && (req.Op == wire.OpAuditRecords || req.Op == wire.OpAuditHeads) {
		resp, err = e.handleAudit(ctx, signedRequest)
	} else {
		resp, err = e.handle(ctx, signedRequest)
	}
	// A batch's items are recorded one by one, by handleBatch,
	// eth2BatchAnswer and keyGenBatchAnswer.
	if err == nil && resp != nil && resp.Error == "" && req != nil && req.Op != wire.OpBatch && wire.OrderedBatchItemOp(req.Op) == "" && e.cfg.Audit != nil {
		e.record(req.Client, req.Op, req.Body, wire.RequestHash(sr.Request), resp)
	}
	return resp, err
}

// peek decodes a signed request and its request without verifying them,
// or returns nil.
func peek(signedRequest []byte) (*wire.SignedRequest, *wire.Request) {
	var sr wire.SignedRequest
	var req wire.Request
	if len(signedRequest) > 2*wire.MaxRequestBytes || json.Unmarshal(signedRequest, &sr) != nil || json.Unmarshal(sr.Request, &req) != nil {
		return nil, nil
	}
	return &sr, &req
}

// record appends a served request (or a batch's item: hash is then its
// wire.ItemHash) to the audit chain. The handler verified the request.
func (e *Engine) record(client, op string, reqBody json.RawMessage, hash [32]byte, resp *wire.Response) {
	var body struct {
		KeyID   string `json:"key_id"`
		Message []byte `json:"message"`
		Input   []byte `json:"input"`
	}
	_ = json.Unmarshal(reqBody, &body) // bodies without these fields leave them empty
	en := audit.Entry{
		Time: time.Now().UnixMilli(), Client: client, Op: op,
		Request: hash,
	}
	switch op {
	case wire.OpKeyGen, wire.OpKeyDisable, wire.OpKeyGrant, wire.OpKeyPub, wire.OpSign, wire.OpEncrypt, wire.OpDecrypt, wire.OpAuditRecords, wire.OpKeyValidator, wire.OpEth2Sign:
		en.KeyID = body.KeyID
	}
	switch op {
	case wire.OpSign:
		d := sha256.Sum256(body.Message)
		en.Message = d[:]
	case wire.OpEncrypt, wire.OpDecrypt:
		d := sha256.Sum256(body.Input)
		en.Message = d[:]
	case wire.OpEth2Sign:
		var b wire.Eth2SignBody
		if json.Unmarshal(reqBody, &b) == nil {
			d := sha256.Sum256(b.Request)
			en.Message = d[:]
		}
	}
	// The server writes json.Marshal of this very response.
	out, err := json.Marshal(resp)
	if err != nil {
		return
	}
	en.Result = sha256.Sum256(out)
	if _, err := e.cfg.Audit.Append(en); err != nil {
		e.cfg.Log.Warn("audit_append_failed", "op", op, "err", err)
	}
}

// handleAudit answers the audit operations: a replica's own records (admin
// clients only) and the committed heads (any registered client).
func (e *Engine) handleAudit(ctx context.Context, signedRequest []byte) (*wire.Response, error) {
	resp := &wire.Response{Replica: e.cfg.Me}
	reject := func(err error) (*wire.Response, error) {
		resp.Error = err.Error()
		return resp, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	_, req, client, err := e.verified(ctx, signedRequest)
	if err != nil {
		if r := refused(err); r != nil {
			return reject(r)
		}
		return resp, err
	}
	switch req.Op {
	case wire.OpAuditRecords:
		if !client.Admin {
			return reject(fmt.Errorf("%w: audit records are for admin clients", app.ErrUnauthorized))
		}
		var b wire.AuditRecordsBody
		if err := decodeStrictJSON(req.Body, &b); err != nil || b.Limit < 0 || b.Limit > wire.MaxAuditLimit || len(b.KeyID) > wire.MaxKeyIDLen {
			return reject(app.ErrBadBody)
		}
		if e.cfg.Audit == nil {
			return reject(ErrAuditOff)
		}
		if b.Limit == 0 {
			b.Limit = wire.MaxAuditLimit
		}
		recs, last, err := e.cfg.Audit.Query(audit.Query{Since: b.Since, KeyID: b.KeyID, After: b.After, Limit: b.Limit})
		if err != nil {
			return resp, err
		}
		ans := &wire.AuditAnswer{Records: make([]wire.AuditRecord, len(recs)), Last: last}
		for i := range recs {
			ans.Records[i] = recs[i].Wire()
		}
		resp.Audit = ans
	case wire.OpAuditHeads:
		var b wire.AuditHeadsBody
		if err := decodeStrictJSON(req.Body, &b); err != nil || b.Replica < 1 || b.Replica > e.cfg.App.Genesis().N || b.Limit < 0 || b.Limit > wire.MaxAuditLimit {
			return reject(app.ErrBadBody)
		}
		if b.Limit == 0 {
			b.Limit = wire.MaxAuditLimit
		}
		heads, height, err := e.cfg.App.AuditHeads(b.Replica, b.After, b.Limit)
		if err != nil {
			return resp, err
		}
		resp.Height = height
		resp.Audit = &wire.AuditAnswer{Heads: heads}
	default:
		return reject(app.ErrBadOp)
	}
	return resp, nil
}

// decodeStrictJSON decodes JSON rejecting unknown fields and trailing data.
func decodeStrictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// RunAudit commits the audit chain's head through the log until ctx ends:
// every AuditInterval it fsyncs the records appended since the last round
// and, when the durable chain is ahead of this replica's latest committed
// head, broadcasts the head in a replica transaction of kind "audit". On
// return the chain is synced. Without Config.Audit it returns at once.
func (e *Engine) RunAudit(ctx context.Context) error {
	if e.cfg.Audit == nil {
		return nil
	}
	// Rounds start on whole multiples of AuditInterval of the wall clock,
	// so that the replicas' head transactions (clocks in step, as block
	// times require anyway) reach the log together and share a block,
	// instead of costing a block each.
	tick := time.NewTimer(untilNextTick(time.Now()))
	defer tick.Stop()
	c := &auditCommitter{e: e}
	c.checkCommitted()
	for {
		select {
		case <-ctx.Done():
			if _, err := e.cfg.Audit.Sync(); err != nil {
				return fmt.Errorf("audit sync: %w", err)
			}
			return nil
		case <-tick.C:
			tick.Reset(untilNextTick(time.Now()))
		}
		if err := c.round(ctx); err != nil && ctx.Err() == nil {
			e.cfg.Log.Warn("audit_commit_failed", "err", err)
		}
	}
}

// untilNextTick is the time from now to the next whole multiple of
// AuditInterval (a full interval when now is on one).
func untilNextTick(now time.Time) time.Duration {
	return now.Truncate(AuditInterval).Add(AuditInterval).Sub(now)
}

// auditCommitter is RunAudit's state: the head last broadcast.
type auditCommitter struct {
	e      *Engine
	sent   uint64
	sentAt time.Time
	behind bool // reported that the chain is behind the committed head
}

// checkCommitted reports a chain that ends before this replica's latest
// committed head: records the log has vouched for are gone (a lost or
// truncated chain file). The chain is kept and appended to; clients see
// the failure when they verify it.
func (c *auditCommitter) checkCommitted() {
	e := c.e
	latest, err := e.cfg.App.AuditLatest(e.cfg.Me)
	if err != nil {
		return
	}
	if last := e.cfg.Audit.Last(); latest.Seq > last.Seq && !c.behind {
		c.behind = true
		e.cfg.Log.Error("audit_chain_behind_committed_head", "last", last.Seq, "committed", latest.Seq)
	}
}

// round syncs the chain and broadcasts its head when it is new.
func (c *auditCommitter) round(ctx context.Context) error {
	e := c.e
	cp, err := e.cfg.Audit.Sync()
	if err != nil {
		return err
	}
	if cp.Seq == 0 {
		return nil
	}
	latest, err := e.cfg.App.AuditLatest(e.cfg.Me)
	if err != nil {
		return err
	}
	if cp.Seq <= latest.Seq || cp.Seq == c.sent && time.Since(c.sentAt) < auditResend {
		return nil
	}
	tx, err := app.SignAuditTx(e.cfg.App.Genesis().Cluster, e.cfg.Me, e.cfg.SignKey, app.AuditPayload{Seq: cp.Seq, Head: cp.Head[:]})
	if err != nil {
		return err
	}
	c.sent, c.sentAt = cp.Seq, time.Now()
	if err := e.cfg.Broadcast.BroadcastTx(ctx, tx); err != nil {
		return fmt.Errorf("broadcast audit head %d: %w", cp.Seq, err)
	}
	return nil
}
