package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bip32"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// Threshold BIP-340 signing is FROST (RFC 9591 structure, the
// FROST-secp256k1-SHA256-TR-v1 ciphersuite) in one round trip, with
// ROAST-style retries:
//
//   - Each replica makes its own nonce pairs and hands their commitments
//     to this client ahead of use (a nonces request, then fresh ones
//     piggybacked on every signature share); the client keeps them per
//     replica (nonceCache).
//   - A session picks t+1 signers whose commitments it holds, sends them
//     one signed request naming the key, the message, the Taproot option
//     and the t+1 commitments, and combines their t+1 shares; the result is
//     verified as a BIP-340 signature. The signers also report the
//     session's group commitment R (public); when they agree the client
//     uses it instead of computing R (fastAggregate), and computes R only
//     when that signature does not verify.
//   - A signer that fails, refuses or stays silent past the hedge delay
//     starts a new session with another signer set (the ones that answered
//     keep their places, with fresh commitments); a wrong share is found by
//     checking each share against the signer's verification key, and its
//     sender is named and left out. At most n−t sessions end that way, as
//     in ROAST: each one leaves out at least one faulty or slow signer.
//     A signer refusing a nonce it no longer holds (it restarted: a new
//     epoch) only has its commitments dropped and refetched.
//   - A session picks only signers whose commitments the client holds;
//     one it passes over for having none is refilled in the background
//     (refillAhead, also when a replica's supply runs low). When no
//     candidate has any (a new client, or a burst that used them all up),
//     the session waits until the first of them answers a fetch sent to
//     every candidate at once, still serving its live sessions meanwhile:
//     a signer that stopped answering never holds a signature up, even
//     once its commitments are used up (before, a session waited on that
//     signer's fetch for the whole request timeout and failed).
//   - A signer hedged away from (slow this time) is left out of later
//     sessions of the call only while others are available: as in ROAST,
//     slowness alone never rules a signer out.

// nonceFetch is how many commitments a nonces request asks for; below
// nonceLow held, a replica's commitments are refilled in the background.
const (
	nonceFetch = 32
	nonceLow   = 8
)

// nonceCache holds, per replica, commitments handed to this client.
type nonceCache struct {
	mu       sync.Mutex
	per      map[int][]wire.NonceCommitment
	fetching map[int]bool  // a background refill in flight (refillAhead)
	fetchErr map[int]error // the last background refill's failure
	changed  chan struct{} // closed (and replaced) when commitments arrive or a refill ends
}

// wait returns a channel closed at the next change: commitments added or a
// background refill ended.
func (n *nonceCache) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.changed == nil {
		n.changed = make(chan struct{})
	}
	return n.changed
}

func (n *nonceCache) notifyLocked() {
	if n.changed != nil {
		close(n.changed)
		n.changed = nil
	}
}

// fetchState reports whether a background refill of replica is in flight
// and the last one's failure.
func (n *nonceCache) fetchState(replica int) (inFlight bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fetching[replica], n.fetchErr[replica]
}

// startFetch marks a background refill of replica in flight; false if one
// already is.
func (n *nonceCache) startFetch(replica int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fetching[replica] {
		return false
	}
	if n.fetching == nil {
		n.fetching = map[int]bool{}
	}
	n.fetching[replica] = true
	return true
}

func (n *nonceCache) endFetch(replica int, err error) {
	n.mu.Lock()
	delete(n.fetching, replica)
	if n.fetchErr == nil {
		n.fetchErr = map[int]error{}
	}
	n.fetchErr[replica] = err
	n.notifyLocked()
	n.mu.Unlock()
}

func (n *nonceCache) take(replica int) (wire.NonceCommitment, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.per[replica]
	if len(q) == 0 {
		return wire.NonceCommitment{}, false
	}
	c := q[0]
	n.per[replica] = q[1:]
	return c, true
}

func (n *nonceCache) add(replica int, cs []wire.NonceCommitment) {
	if len(cs) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.per == nil {
		n.per = map[int][]wire.NonceCommitment{}
	}
	n.per[replica] = append(n.per[replica], cs...)
	n.notifyLocked()
}

func (n *nonceCache) drop(replica int) {
	n.mu.Lock()
	delete(n.per, replica)
	n.mu.Unlock()
}

func (n *nonceCache) count(replica int) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.per[replica])
}

// fetchNonces asks one replica for commitments and caches them.
func (c *Client) fetchNonces(ctx context.Context, replica int) error {
	out, err := c.newSignedRequest(ctx, wire.OpNonces, wire.NoncesBody{Count: nonceFetch})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	a := c.replicas[replica-1].post(rctx, out.signed)
	switch {
	case a.err != nil:
		c.health.failed(replica)
		return a.err
	case a.bad:
		return fmt.Errorf("replica %d: %s", replica, ReasonMalformed)
	case a.resp.Error != "":
		return fmt.Errorf("replica %d: %s", replica, sanitize(a.resp.Error))
	case len(a.resp.Commitments) == 0 || len(a.resp.Commitments) > wire.MaxNonces:
		return fmt.Errorf("replica %d: %s", replica, ReasonMalformed)
	}
	c.health.answered(replica)
	c.nonces.add(replica, a.resp.Commitments)
	return nil
}

// refillAhead fetches commitments of replica in the background (one fetch
// per replica at a time, bounded by the request timeout), so that a later
// session finds them without waiting on that replica. A failed fetch marks
// the replica suspect (fetchNonces), which sends it to the back of pick.
func (c *Client) refillAhead(replica int) {
	if !c.nonces.startFetch(replica) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		c.nonces.endFetch(replica, c.fetchNonces(ctx, replica))
	}()
}

// nextSigner picks a signer for a session, none in avoid: the first
// candidate of pick (healthy ones in random order, then suspect ones)
// whose commitments this client holds, refilling ahead those it passes
// over. When none holds any it refills them all (a candidate in tried
// whose refill failed is given up) and returns, instead of a signer, a
// channel closed when commitments arrive or a refill ends; with neither,
// no candidate is left (err: the last refill failure seen). It never waits.
func (c *Client) nextSigner(avoid, tried map[int]bool) (replica int, wait <-chan struct{}, err error) {
	changed := c.nonces.wait()
	cand := c.pick(c.n, avoid)
	for k, x := range cand {
		if c.nonces.count(x) > 0 {
			for _, y := range cand[:k] {
				c.refillAhead(y)
			}
			return x, nil, nil
		}
	}
	left := false
	for _, x := range cand {
		inFlight, ferr := c.nonces.fetchState(x)
		if tried[x] && !inFlight && ferr != nil {
			err = ferr
			continue // its refill for this call failed: given up
		}
		left = true
		if !inFlight {
			tried[x] = true
			c.refillAhead(x)
		}
	}
	if !left {
		return 0, nil, err
	}
	return 0, changed, err
}

// frostKey returns the FROST key of km for tr, prepared once.
func (c *Client) frostKey(km *keyMaterial, tr schnorr.Taproot, path []uint32) (*frost.Key, error) {
	id := fmt.Sprintf("%s/%d/%x/%x/%v", km.info.KeyID, tr.Mode, tr.MerkleRoot, km.info.Commitment, path)
	if k, ok := c.fkeys.Load(id); ok {
		return k.(*frost.Key), nil
	}
	P := km.commitment.Secret()
	var k *frost.Key
	var err error
	if len(path) == 0 {
		k, err = frost.Taproot.NewKey(P, tr)
	} else {
		// The same derivation every replica does from the committed key
		// (replica/engine frostKey): BIP-32 CKDpub, then the Taproot tweak.
		var t group.Scalar
		if _, t, err = bip32.Derive(P, bip32.ChainCode(P.Bytes(), km.info.Commitment), path, wire.MaxPathDepth); err == nil {
			k, err = frost.Taproot.NewDerivedKey(P, t, tr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	c.fkeys.Store(id, k)
	return k, nil
}

// frostSession is one signing attempt with one signer set.
type frostSession struct {
	signers []int
	pkg     *frost.SigningPackage
	out     *outgoing
	shares  map[int]group.Scalar
	rx      map[int][]byte // the x-only R each signer reported (fastAggregate)
	pending map[int]bool
	start   time.Time
	hedged  bool
}

// frostAnswer is one signer's answer in one session.
type frostAnswer struct {
	s *frostSession
	a answer
}

// errNoSigners: fewer than t+1 replicas are left to sign with.
var errNoSigners = errors.New("fewer than t+1 signers left")

// errAwaitNonces: a session can start only once commitments arrive
// (frostRun.waitCh).
var errAwaitNonces = errors.New("waiting for nonce commitments")

// closedChan is a waitCh that lets a session be chosen again at once.
var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// signFROST runs sessions until one yields a valid BIP-340 signature.
func (c *Client) signFROST(ctx context.Context, km *keyMaterial, tr schnorr.Taproot, path []uint32, body wire.SignBody) ([64]byte, error) {
	var sig [64]byte
	key, err := c.frostKey(km, tr, path)
	if err != nil {
		return sig, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	f := &frostRun{c: c, ctx: rctx, body: body,
		r:        &round{op: wire.OpSign, n: c.n, t: c.t, rejections: make(map[string][]int)},
		excluded: map[int]bool{}, slow: map[int]bool{}, tried: map[int]bool{}, busy: map[int]bool{}, live: map[*frostSession]bool{},
		answers: make(chan frostAnswer, 4*c.n), maxSessions: c.n - c.t + 2}
	defer func() {
		go func(k int) { // let stragglers finish (bounded by rctx)
			for range k {
				<-f.answers
			}
		}(f.inflight)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	if err := f.open(nil, timer); err != nil {
		return sig, f.failure(err, false)
	}
	for {
		var fa frostAnswer
		select {
		case fa = <-f.answers:
			f.inflight--
		case <-f.waitCh:
			// Commitments may have arrived for the session waiting for them.
			if err := f.open(f.awaiting, timer); err != nil && len(f.live) == 0 {
				return sig, f.failure(err, false)
			}
			continue
		case <-timer.C:
			// Hedge: a new session replaces the signers still silent in the
			// latest one; those that answered keep their places.
			s := f.latest
			if s == nil || s.hedged || !f.live[s] {
				continue
			}
			s.hedged = true
			var keep []int
			for _, x := range s.signers {
				if s.pending[x] {
					f.slow[x] = true // slow this time: another signer instead
				} else if _, ok := s.shares[x]; ok {
					keep = append(keep, x)
					delete(f.busy, x)
				}
			}
			if err := f.open(keep, timer); err != nil && len(f.live) == 0 {
				return sig, f.failure(err, false)
			}
			continue
		case <-rctx.Done():
			for s := range f.live {
				for x := range s.pending {
					f.r.failures = append(f.r.failures, x)
				}
			}
			err := f.failure(nil, true)
			if ctx.Err() != nil {
				return sig, fmt.Errorf("%w: %w", err, ctx.Err())
			}
			return sig, err
		}
		s, a := fa.s, fa.a
		delete(s.pending, a.replica)
		if !f.live[s] || s.hedged {
			delete(f.busy, a.replica)
		}
		if reason, failed := f.take(s, a); failed {
			if rej := f.r.rejected(); rej != nil {
				return sig, rej
			}
			if !f.live[s] {
				continue // an abandoned session
			}
			delete(f.live, s)
			// This session cannot complete: a new one without the failed
			// signer, keeping those that answered. A signer still to
			// answer may sit in the new session too (its refusals count
			// once: round.reject).
			var keep []int
			for _, x := range s.signers {
				if _, ok := s.shares[x]; ok && !f.excluded[x] {
					keep = append(keep, x)
				}
				delete(f.busy, x)
			}
			if err := f.open(keep, timer); err != nil && len(f.live) == 0 {
				return sig, f.failure(err, false)
			}
			_ = reason
			continue
		}
		if !f.live[s] && len(s.pending) > 0 {
			continue
		}
		if len(s.shares) < len(s.signers) {
			continue
		}
		// All t+1 shares of s: combine, and keep the signature only if it
		// verifies (BIP-340 under the output key). First with the R the
		// signers reported (no group commitment to compute here); if they
		// disagree, or the result does not verify, with R computed from the
		// session's commitments.
		out, ok := fastAggregate(s, key, body.Message)
		var ss *frost.Session
		if !ok {
			var perr error
			ss, perr = frost.Taproot.Prepare(s.pkg, key)
			if perr == nil {
				out, perr = ss.Aggregate(s.shares)
			}
			ok = perr == nil && len(out) == 64 && frost.Taproot.Verify(key, body.Message, out)
			if ok {
				// The shares are right: a signer that reported another R
				// lied about a public value.
				for _, x := range s.signers {
					if rx, has := s.rx[x]; has && string(rx) != string(out[:32]) {
						f.r.culprit(x, ReasonMalformed)
					}
				}
			}
		}
		if ok {
			copy(sig[:], out)
			f.r.valid = len(s.shares)
			if len(f.r.culprits) > 0 && c.onCulprit != nil {
				c.onCulprit(wire.OpSign, sortCulprits(f.r.culprits))
			}
			return sig, nil
		}
		// Check each share against its signer's verification key; name and
		// leave out the liars, keep the others.
		delete(f.live, s)
		var keep []int
		for _, x := range s.signers {
			var verr error
			if ss != nil {
				verr = ss.VerifyShare(x, km.vks[x], s.shares[x])
			} else {
				verr = frost.Taproot.VerifyShare(s.pkg, key, x, km.vks[x], s.shares[x])
			}
			if verr != nil {
				f.r.culprit(x, ReasonInvalidPartial)
				f.excluded[x] = true
			} else {
				keep = append(keep, x)
			}
			delete(f.busy, x)
		}
		if len(keep) == len(s.signers) {
			return sig, fmt.Errorf("%w: verified shares do not combine to a valid signature", ErrInvalidResult)
		}
		// Shares checked valid: what a QuorumError reports as valid.
		f.r.valid = max(f.r.valid, len(keep))
		if err := f.open(keep, timer); err != nil && len(f.live) == 0 {
			return sig, f.failure(err, false)
		}
	}
}

// fastAggregate is the signature of s from the group commitment R its
// signers reported (wire.Response.GroupCommitment) and the sum of their
// shares, if every signer reported the same R and the signature verifies
// (BIP-340 under the output key). It computes no binding factor and no
// group commitment: a reported R is only a hint, the verification decides.
// An R that is wrong, or shares that do not combine, make it return false,
// and the caller computes R itself and, if need be, checks each share.
func fastAggregate(s *frostSession, key *frost.Key, msg []byte) ([]byte, bool) {
	var rx []byte
	z := group.Secp256k1().Zero()
	for _, x := range s.signers {
		r, ok := s.rx[x]
		zi, has := s.shares[x]
		if !ok || !has || (rx != nil && string(r) != string(rx)) {
			return nil, false
		}
		rx = r
		z = z.Add(zi)
	}
	if len(rx) != 32 {
		return nil, false
	}
	out := append(append(make([]byte, 0, 64), rx...), z.Bytes()...)
	if !frost.Taproot.Verify(key, msg, out) {
		return nil, false
	}
	return out, true
}

// frostRun is the state of one SignSchnorr call across its sessions.
type frostRun struct {
	c    *Client
	ctx  context.Context
	body wire.SignBody
	r    *round

	excluded map[int]bool // culprits and failed replicas of this call
	slow     map[int]bool // replicas hedged away from: picked again only when no other is left
	tried    map[int]bool // replicas whose commitments were refetched for this call
	// waitCh, when a session waits for commitments (after errAwaitNonces),
	// is closed when they may have arrived; awaiting holds its kept signers.
	waitCh      <-chan struct{}
	awaiting    []int
	busy        map[int]bool // signers of a live session still waiting for them
	live        map[*frostSession]bool
	latest      *frostSession
	answers     chan frostAnswer
	inflight    int
	sessions    int
	maxSessions int
	stale       int   // stale-nonce refusals absorbed
	lastErr     error // the last fetch failure, for the error message
}

// failure is the error of a call that ends without a signature.
func (f *frostRun) failure(err error, timedOut bool) error {
	if rej := f.r.rejected(); rej != nil {
		return rej
	}
	qe := f.r.failure(timedOut || f.ctx.Err() != nil)
	if f.lastErr != nil && !timedOut {
		return fmt.Errorf("%w (last nonce fetch: %v)", qe, f.lastErr)
	}
	return qe
}

// avoid returns the replicas a new session must not pick: the excluded
// and busy ones, those in extra, and with slow the slow ones.
func (f *frostRun) avoid(extra []int, slow bool) map[int]bool {
	m := make(map[int]bool, len(f.excluded)+len(f.busy)+len(f.slow)+len(extra))
	for k := range f.excluded {
		m[k] = true
	}
	for k := range f.busy {
		m[k] = true
	}
	if slow {
		for k := range f.slow {
			m[k] = true
		}
	}
	for _, k := range extra {
		m[k] = true
	}
	return m
}

// open starts a session as start does; when it must wait for commitments
// it returns nil and the main loop starts the session once they arrive
// (waitCh), meanwhile still serving the live sessions.
func (f *frostRun) open(keep []int, timer *time.Timer) error {
	f.waitCh, f.awaiting = nil, nil
	err := f.start(keep, timer)
	if errors.Is(err, errAwaitNonces) {
		f.awaiting = append([]int{}, keep...)
		return nil
	}
	f.waitCh = nil
	return err
}

// start opens a session with the signers in keep and others picked to make
// t+1, and sends it to them; it resets timer to the hedge delay.
func (f *frostRun) start(keep []int, timer *time.Timer) error {
	c := f.c
	if f.sessions >= f.maxSessions {
		return errNoSigners
	}
	// Choose t+1 signers whose commitments are here before taking any, so
	// that a session waiting for commitments costs only these checks.
	var signers []int
	for _, s := range keep {
		if c.nonces.count(s) > 0 {
			signers = append(signers, s)
		} else {
			c.refillAhead(s) // another signer instead
		}
	}
	for len(signers) < c.t+1 {
		next, wait, err := c.nextSigner(f.avoid(signers, true), f.tried)
		if next == 0 {
			// A signer hedged away from that has answered since (no longer
			// busy) is as good as any: as in ROAST, slowness alone never
			// rules a signer out.
			n2, w2, e2 := c.nextSigner(f.avoid(signers, false), f.tried)
			next = n2
			if wait == nil {
				wait = w2
			}
			if err == nil {
				err = e2
			}
		}
		if next == 0 {
			if err != nil {
				f.lastErr = err
			}
			if wait != nil {
				f.waitCh = wait
				return errAwaitNonces
			}
			return errNoSigners
		}
		signers = append(signers, next)
	}
	// Take one commitment of each.
	var scs []wire.SignerCommitment
	var coms []frost.Commitment
	for _, s := range signers {
		nc, ok := c.nonces.take(s)
		var D, E group.Point
		if ok {
			var derr, eerr error
			D, derr = group.Secp256k1().DecodePoint(nc.Hiding)
			E, eerr = group.Secp256k1().DecodePoint(nc.Binding)
			if derr != nil || eerr != nil || D.IsIdentity() || E.IsIdentity() {
				f.r.culprit(s, ReasonMalformed)
				f.excluded[s] = true
				c.nonces.drop(s)
				ok = false
			}
		}
		if !ok {
			// Another call took the last one, or a malformed one: the
			// commitments taken go back, and the session is chosen again.
			for _, sc := range scs {
				c.nonces.add(sc.Replica, []wire.NonceCommitment{{Nonce: sc.Nonce, Hiding: sc.Hiding, Binding: sc.Binding}})
			}
			f.waitCh = closedChan
			return errAwaitNonces
		}
		if c.nonces.count(s) < nonceLow {
			c.refillAhead(s)
		}
		scs = append(scs, wire.SignerCommitment{Replica: s, Nonce: nc.Nonce, Hiding: nc.Hiding, Binding: nc.Binding})
		coms = append(coms, frost.Commitment{ID: s, Hiding: D, Binding: E})
	}
	b := f.body
	b.Signers = scs
	out, err := c.newSignedRequest(f.ctx, wire.OpSign, b)
	if err != nil {
		return err
	}
	sess := &frostSession{signers: signers, pkg: &frost.SigningPackage{Commitments: coms, Message: f.body.Message}, out: out,
		shares: map[int]group.Scalar{}, rx: map[int][]byte{}, pending: map[int]bool{}, start: time.Now()}
	f.sessions++
	f.live[sess] = true
	f.latest = sess
	for _, s := range signers {
		sess.pending[s] = true
		f.busy[s] = true
		f.inflight++
		rc := c.replicas[s-1]
		go func() {
			t0 := time.Now()
			a := c.sendOut(f.ctx, rc, out)
			a.took = time.Since(t0)
			f.answers <- frostAnswer{s: sess, a: a}
		}()
	}
	timer.Reset(c.lat.hedgeDelay())
	return nil
}

// take records one answer of session s; failed reports an answer that
// leaves s unable to complete.
func (f *frostRun) take(s *frostSession, a answer) (string, bool) {
	c, r := f.c, f.r
	switch {
	case a.err != nil:
		r.failures = append(r.failures, a.replica)
		c.health.failed(a.replica)
		f.excluded[a.replica] = true
		return "unreachable", true
	case a.bad:
		r.answered++
		r.culprit(a.replica, ReasonMalformed)
		f.excluded[a.replica] = true
		return ReasonMalformed, true
	case a.resp.Error != "":
		r.answered++
		c.health.answered(a.replica)
		reason := sanitize(a.resp.Error)
		if strings.Contains(reason, "unknown or used nonce") && f.stale < c.n {
			// A new epoch at that replica (it restarted): its commitments
			// are gone. Refetch; this costs no session.
			f.stale++
			f.maxSessions++
			c.nonces.drop(a.replica)
			return reason, true
		}
		r.reject(a.replica, reason)
		c.noteFault(a.replica, reason)
		f.excluded[a.replica] = true
		return reason, true
	}
	r.answered++
	c.health.answered(a.replica)
	c.nonces.add(a.replica, a.resp.Commitments)
	if !s.out.open(a.replica, a.resp) || len(a.resp.Partial) != 32 {
		r.culprit(a.replica, ReasonMalformed)
		f.excluded[a.replica] = true
		return ReasonMalformed, true
	}
	z, err := group.Secp256k1().DecodeScalar(a.resp.Partial)
	if err != nil {
		r.culprit(a.replica, ReasonMalformed)
		f.excluded[a.replica] = true
		return ReasonMalformed, true
	}
	c.lat.observe(a.took)
	s.shares[a.replica] = z
	if len(a.resp.GroupCommitment) == 32 {
		s.rx[a.replica] = a.resp.GroupCommitment
	}
	return "", false
}
