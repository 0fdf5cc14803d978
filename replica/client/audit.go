package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vhsm/vhsm/replica/audit"
	"github.com/vhsm/vhsm/replica/wire"
)

// AuditOptions selects the requests [Client.Audit] lists. Every chain is
// fetched and verified whole whatever the options.
type AuditOptions struct {
	// KeyID lists only requests naming this key ("": all).
	KeyID string
	// Since lists only requests served at or after this time (zero: all).
	Since time.Time
}

// AuditReport is the outcome of [Client.Audit].
type AuditReport struct {
	// Replicas holds one verdict per replica, in index order.
	Replicas []ReplicaAudit `json:"replicas"`
	// Requests lists the selected served requests, merged across replicas
	// by request hash, oldest first.
	Requests []AuditedRequest `json:"requests"`
}

// OK reports whether no replica's chain failed. A replica whose chain could
// not be read is not a failure (see [ReplicaAudit.Error]).
func (r *AuditReport) OK() bool {
	for i := range r.Replicas {
		if r.Replicas[i].Failed() {
			return false
		}
	}
	return true
}

// ReplicaAudit is the verdict on one replica's chain.
type ReplicaAudit struct {
	Replica int `json:"replica"`
	// Error is set when the chain or its committed heads could not be read
	// (replica unreachable, refused, too few replicas agreeing on the
	// heads); the chain is then not verified.
	Error string `json:"error,omitempty"`
	// Verdict is the chain's check against the heads committed for it
	// (agreed by t+1 replicas), with the records that disagree with other
	// replicas' records of the same request added as failures.
	audit.Verdict
}

// Failed reports whether the chain was read and some record failed.
func (r *ReplicaAudit) Failed() bool { return len(r.Failures) > 0 }

// AuditedRequest is one served request as recorded by the replicas that
// served it.
type AuditedRequest struct {
	Request []byte    `json:"request"` // wire.RequestHash of the signed request
	Time    time.Time `json:"time"`    // the earliest record's time
	Client  string    `json:"client"`
	KeyID   string    `json:"key_id,omitempty"`
	Op      string    `json:"op"`
	Message []byte    `json:"message,omitempty"` // SHA-256 of the message or DPRF input
	// Replicas lists the replicas that recorded it.
	Replicas []int `json:"replicas"`
}

// Audit fetches every replica's audit chain (audit.records, admin clients
// only) and every replica's committed heads (audit.heads, each agreed by
// t+1 replicas), recomputes each chain and checks it against its committed
// heads: a record missing, altered, reordered or inserted before the last
// committed head is reported with the replica's index and the record's
// seq; records after the last committed head are counted as uncommitted,
// which is not an error. Records of one request hash at several replicas
// must agree on client, key, operation and message hash; a replica whose
// record differs from what the most replicas recorded (or, on a tie, every
// replica of the tie) fails at that seq. A record that failed its own
// chain's check takes no part in that vote.
//
// The error is non-nil only when nothing could be audited (a bad
// argument, the context ended, or no replica's chain could be read, as for
// a client that is not an admin); per-replica problems are in the report.
func (c *Client) Audit(ctx context.Context, opts AuditOptions) (*AuditReport, error) {
	if opts.KeyID != "" && !validID(opts.KeyID) {
		return nil, fmt.Errorf("%w: key id must match [A-Za-z0-9._-]{1,64}", ErrInvalidArgument)
	}
	rep := &AuditReport{Replicas: make([]ReplicaAudit, c.n)}
	// Heads first: a head committed after the records were read could
	// cover records not read yet.
	heads := make([]map[uint64][32]byte, c.n)
	chains := make([][]audit.Record, c.n)
	var wg sync.WaitGroup
	for i := range c.n {
		rep.Replicas[i].Replica = i + 1
		wg.Go(func() {
			h, err := c.auditHeads(ctx, i+1)
			if err != nil {
				rep.Replicas[i].Error = err.Error()
			}
			heads[i] = h
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	malformed := make([][]audit.Failure, c.n)
	for i := range c.n {
		if rep.Replicas[i].Error != "" {
			continue
		}
		wg.Go(func() {
			recs, bad, err := c.auditRecords(ctx, i+1)
			if err != nil {
				rep.Replicas[i].Error = err.Error()
			}
			chains[i], malformed[i] = recs, bad
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	read := 0
	for i := range c.n {
		if rep.Replicas[i].Error != "" {
			continue
		}
		read++
		rep.Replicas[i].Verdict = audit.Verify(chains[i], heads[i])
		rep.Replicas[i].Failures = append(rep.Replicas[i].Failures, malformed[i]...)
	}
	if read == 0 {
		return nil, fmt.Errorf("audit: no replica's chain could be read: %s", rep.Replicas[0].Error)
	}
	rep.Requests = mergeRecords(rep, chains, opts)
	for i := range rep.Replicas {
		f := rep.Replicas[i].Failures
		sort.SliceStable(f, func(a, b int) bool { return f[a].Seq < f[b].Seq })
	}
	return rep, nil
}

// mergeRecords merges the chains by request hash, adds a failure to every
// replica whose record of a request disagrees with the record most
// replicas made of it (to all of them on a tie), and returns the requests
// selected by opts. Records that already failed their own chain's check
// take no part in the vote.
func mergeRecords(rep *AuditReport, chains [][]audit.Record, opts AuditOptions) []AuditedRequest {
	type seen struct {
		replica int
		rec     *audit.Record
	}
	by := map[[32]byte][]seen{}
	bad := map[seen]bool{} // records that already failed their chain's check
	for i := range chains {
		failed := map[uint64]bool{}
		for _, f := range rep.Replicas[i].Failures {
			failed[f.Seq] = true
		}
		for j := range chains[i] {
			r := &chains[i][j]
			by[r.Request] = append(by[r.Request], seen{i + 1, r})
			bad[seen{i + 1, r}] = failed[r.Seq]
		}
	}
	fields := func(r *audit.Record) string {
		return fmt.Sprintf("%q %q %q %x", r.Client, r.KeyID, r.Op, r.Message)
	}
	var out []AuditedRequest
	for h, ss := range by {
		votes := map[string][]int{}
		first := map[string]*audit.Record{}
		for _, s := range ss {
			f := fields(s.rec)
			if first[f] == nil {
				first[f] = s.rec
			}
			if bad[s] {
				continue // does not vote
			}
			if !contains(votes[f], s.replica) {
				votes[f] = append(votes[f], s.replica)
			}
		}
		best, tie := "", false
		for f, reps := range votes {
			switch {
			case best == "" || len(reps) > len(votes[best]):
				best, tie = f, false
			case len(reps) == len(votes[best]):
				tie = true
			}
		}
		if len(votes) > 1 {
			for _, s := range ss {
				if f := fields(s.rec); !bad[s] && (f != best || tie) {
					others := []int{}
					for g, reps := range votes {
						if g != f {
							others = append(others, reps...)
						}
					}
					sortInts(others)
					rep.Replicas[s.replica-1].Failures = append(rep.Replicas[s.replica-1].Failures, audit.Failure{
						Seq:    s.rec.Seq,
						Reason: fmt.Sprintf("request %s recorded differently by replicas %v", hex.EncodeToString(h[:8]), others),
					})
				}
			}
		}
		r := first[best]
		if r == nil { // every record of it failed its chain's check
			r = ss[0].rec
		}
		// The strings come from replicas: shown sanitized.
		ar := AuditedRequest{Request: bytes.Clone(h[:]), Client: sanitize(r.Client), KeyID: sanitize(r.KeyID), Op: sanitize(r.Op), Message: r.Message}
		earliest := r.Time
		for _, s := range ss {
			earliest = min(earliest, s.rec.Time)
			if !contains(ar.Replicas, s.replica) {
				ar.Replicas = append(ar.Replicas, s.replica)
			}
		}
		sortInts(ar.Replicas)
		ar.Time = time.UnixMilli(earliest).UTC()
		if opts.KeyID != "" && r.KeyID != opts.KeyID || !opts.Since.IsZero() && ar.Time.Before(opts.Since) {
			continue
		}
		out = append(out, ar)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return bytes.Compare(out[i].Request, out[j].Request) < 0
	})
	return out
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// auditRecords pages through one replica's whole chain. Records that are
// not well formed are returned as failures.
func (c *Client) auditRecords(ctx context.Context, replica int) ([]audit.Record, []audit.Failure, error) {
	var recs []audit.Record
	var bad []audit.Failure
	var after uint64
	for {
		resps, errs, err := c.gather(ctx, wire.OpAuditRecords, wire.AuditRecordsBody{After: after, Limit: wire.MaxAuditLimit}, []int{replica})
		if err != nil {
			return nil, nil, err
		}
		if err := errs[replica]; err != nil {
			return nil, nil, fmt.Errorf("audit records: %w", err)
		}
		ans := resps[replica].Audit
		if ans == nil {
			ans = &wire.AuditAnswer{}
		}
		next := after
		for i := range ans.Records {
			w := &ans.Records[i]
			next = max(next, w.Seq)
			r, err := audit.FromWire(w)
			if err != nil {
				bad = append(bad, audit.Failure{Seq: w.Seq, Reason: "malformed record"})
				continue
			}
			recs = append(recs, *r)
		}
		if len(ans.Records) < wire.MaxAuditLimit || next == after {
			return recs, bad, nil
		}
		after = next
	}
}

// auditHeads returns the committed heads of replica's chain: the longest
// list, page by page, that t+1 replicas report identically (committed
// heads never change, so an honest replica a few blocks behind reports a
// prefix of the others').
func (c *Client) auditHeads(ctx context.Context, replica int) (map[uint64][32]byte, error) {
	all := make([]int, c.n)
	for i := range all {
		all[i] = i + 1
	}
	heads := map[uint64][32]byte{}
	var after uint64
	for {
		resps, _, err := c.gather(ctx, wire.OpAuditHeads, wire.AuditHeadsBody{Replica: replica, After: after, Limit: wire.MaxAuditLimit}, all)
		if err != nil {
			return nil, err
		}
		lists := map[int][]wire.AuditHead{}
		for from, resp := range resps {
			if l, ok := wellFormedHeads(resp, replica, after); ok {
				lists[from] = l
			}
		}
		if len(lists) < c.t+1 {
			return nil, fmt.Errorf("committed heads: %d of %d replicas answered, %d needed", len(lists), c.n, c.t+1)
		}
		agreed := agreedPrefix(lists, c.t+1)
		for _, h := range agreed {
			heads[h.Seq] = [32]byte(h.Head)
		}
		if len(agreed) < wire.MaxAuditLimit {
			return heads, nil
		}
		after = agreed[len(agreed)-1].Seq
	}
}

// wellFormedHeads checks an audit.heads answer: heads of replica, 32 bytes
// each, seqs increasing from above after, at most MaxAuditLimit.
func wellFormedHeads(resp *wire.Response, replica int, after uint64) ([]wire.AuditHead, bool) {
	if resp.Audit == nil {
		return nil, true // no heads
	}
	hs := resp.Audit.Heads
	if len(hs) > wire.MaxAuditLimit {
		return nil, false
	}
	prev := after
	for _, h := range hs {
		if h.Replica != replica || len(h.Head) != 32 || h.Seq <= prev {
			return nil, false
		}
		prev = h.Seq
	}
	return hs, true
}

// agreedPrefix returns the longest list of heads that need replicas report
// as the start of their answers.
func agreedPrefix(lists map[int][]wire.AuditHead, need int) []wire.AuditHead {
	voters := make([]int, 0, len(lists))
	for r := range lists {
		voters = append(voters, r)
	}
	var out []wire.AuditHead
	for pos := 0; ; pos++ {
		votes := map[string][]int{}
		for _, r := range voters {
			if l := lists[r]; pos < len(l) {
				k := fmt.Sprintf("%d/%x", l[pos].Seq, l[pos].Head)
				votes[k] = append(votes[k], r)
			}
		}
		var next []int
		for _, reps := range votes {
			if len(reps) >= need {
				next = reps
			}
		}
		if next == nil {
			return out
		}
		out = append(out, lists[next[0]][pos])
		voters = next
	}
}

// gather sends one signed request to the listed replicas and waits for all
// of them (bounded by the client's timeout): it returns the successful
// answers and, per replica, why there is none. Audit answers carry no
// secret and are not sealed.
func (c *Client) gather(ctx context.Context, op string, body any, to []int) (map[int]*wire.Response, map[int]error, error) {
	out, err := c.newSignedRequest(ctx, op, body)
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	answers := make(chan answer, len(to))
	for _, i := range to {
		rc := c.replicas[i-1]
		go func() { answers <- rc.post(rctx, out.signed) }()
	}
	resps, errs := map[int]*wire.Response{}, map[int]error{}
	for range to {
		a := <-answers
		switch {
		case a.err != nil:
			errs[a.replica] = fmt.Errorf("replica %d: %w", a.replica, a.err)
		case a.bad || len(a.resp.Sealed) != 0:
			errs[a.replica] = fmt.Errorf("replica %d: %s", a.replica, ReasonMalformed)
		case a.resp.Error != "":
			errs[a.replica] = fmt.Errorf("replica %d refused %s: %s", a.replica, op, sanitize(a.resp.Error))
		default:
			resps[a.replica] = a.resp
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return resps, errs, nil
}
