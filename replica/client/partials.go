package client

import (
	"context"

	"github.com/vhsm/vhsm/replica/wire"
)

// indexedPartial is a verified partial result and the replica it came from.
type indexedPartial struct {
	replica int
	partial []byte
}

// bySender maps partials to the replicas that sent them.
func bySender(parts []indexedPartial) map[int][]byte {
	m := make(map[int][]byte, len(parts))
	for _, p := range parts {
		m[p.replica] = p.partial
	}
	return m
}

// sameReplicas reports whether parts come from exactly the replicas in
// order, one each.
func sameReplicas(order []int, parts []indexedPartial) bool {
	if len(order) != len(parts) {
		return false
	}
	for i, p := range parts {
		if p.replica != order[i] {
			return false
		}
	}
	return true
}

// partialSpec describes how one operation's partial results are checked
// and combined.
type partialSpec struct {
	// verify checks replica's partial against public data.
	verify func(replica int, partial []byte) bool
	// combine makes the result from exactly t+1 verified partials and
	// verifies it.
	combine func(parts []indexedPartial) error
	// optimistic, when set, makes the result from exactly quorum partials
	// that were NOT verified one by one, and reports whether the result
	// checked out; it must leave no result behind when it fails. It is
	// tried once, on the first quorum answers; if it fails, or fewer
	// partials come in (a replica refuses, fails, or is too slow: see
	// settleFunc), every partial is verified and the first t+1 valid ones
	// are combined, so a wrong partial still only costs time and names its
	// sender.
	optimistic func(parts []indexedPartial) bool
	// feed, when set, is handed each partial the optimistic path will give
	// optimistic, as it arrives (in that order), so that the work of
	// combining them is done while later answers are awaited; optimistic
	// then only finishes (and still checks that it was fed exactly parts).
	feed func(replica int, partial []byte)
	// consistent makes optimistic's quorum 2t+1 partials, checked by their
	// consistency (vss.InterpolateConsistent: with at most t faulty
	// replicas, 2t+1 partials on one degree-t polynomial are right) instead
	// of the result's own check; without it the quorum is t+1 and the result
	// checks itself (a signature under the group key, a plaintext whose
	// commitment reopens). The unordered request then goes to 2t+1 replicas
	// first.
	consistent bool
}

// quorum is how many partials spec's optimistic path combines.
func (s partialSpec) quorum(t int) int {
	if s.consistent {
		return 2*t + 1
	}
	return t + 1
}

// collectPartials sends one request and combines the first t+1 partials
// that verify (with spec.optimistic, first the first t+1 partials
// unverified, checking only the result). Replicas whose partial fails
// verification, or whose nonce commitment differs from the one t+1
// replicas agree on, are culprits.
func (c *Client) collectPartials(ctx context.Context, op string, body any, spec partialSpec) error {
	out, err := c.newSignedRequest(ctx, op, body)
	if err != nil {
		return err
	}
	return c.collectSigned(ctx, op, out, spec)
}

func (c *Client) collectSigned(ctx context.Context, op string, out *outgoing, spec partialSpec) error {
	var first []int
	if unordered(op) {
		first = c.pick(spec.quorum(c.t), nil)
	}
	return c.collectFrom(ctx, op, out, first, spec)
}

// collectFrom is collectSigned asking the replicas in first first (nil:
// every replica at once).
func (c *Client) collectFrom(ctx context.Context, op string, out *outgoing, first []int, spec partialSpec) error {
	var pending, valid []indexedPartial
	eager := spec.optimistic == nil // verify each partial as it arrives
	need := spec.quorum(c.t)
	// verifyPending verifies the partials not verified yet and combines the
	// first t+1 valid ones.
	verifyPending := func(r *round) (bool, error) {
		for _, p := range pending {
			if !spec.verify(p.replica, p.partial) {
				r.culprit(p.replica, ReasonInvalidPartial)
				continue
			}
			valid = append(valid, p)
			r.valid++
		}
		pending = pending[:0]
		r.unverified = 0
		if len(valid) < c.t+1 {
			return false, nil
		}
		return true, spec.combine(valid[:c.t+1])
	}
	accept := func(r *round, replica int, resp *wire.Response) (bool, error) {
		if len(resp.Partial) == 0 {
			r.culprit(replica, ReasonMalformed)
			eager = true
			r.unverified = len(pending)
			return false, nil
		}
		pending = append(pending, indexedPartial{replica: replica, partial: resp.Partial})
		r.unverified = len(pending)
		if !eager && spec.feed != nil && len(pending) <= need {
			spec.feed(replica, resp.Partial)
		}
		if !eager {
			// The optimistic path, while every answer so far is a
			// partial: combine the first quorum unverified, and check only
			// the result.
			if len(pending) < need && r.answered == len(pending) {
				return false, nil
			}
			eager = true
			if len(pending) >= need && spec.optimistic(pending[:need]) {
				r.valid += need
				r.unverified = 0
				return true, nil
			}
		}
		return verifyPending(r)
	}
	// No more partials worth waiting for: verify those in hand, and from
	// now on each as it arrives.
	settle := func(r *round) (bool, error) {
		eager = true
		if len(pending) == 0 {
			return false, nil
		}
		return verifyPending(r)
	}
	return c.exchangeSettle(ctx, op, out, first, accept, settle)
}
