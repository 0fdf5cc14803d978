package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// Shares at rest: deriving and storing a done session's shares, loading
// and checking them at use, readiness.

// shareName names the stored share of one batch slot.
func shareName(session string, slot int) string { return fmt.Sprintf("dkg/%s/%d", session, slot) }

// completeName names the marker written once all shares of a session are
// stored.
func completeName(session string) string { return fmt.Sprintf("dkg/%s/complete", session) }

// ensureShares derives and stores this replica's shares of a done session.
func (e *Engine) ensureShares(s *app.SessionInfo) error {
	e.mu.Lock()
	done := e.stored[s.Name]
	e.mu.Unlock()
	if done {
		return nil
	}
	// The session record (or, for a nonce session, the completion marker
	// written after every slot) exists once every share is stored. A nonce
	// share is consumed (and deleted) only after it, so shares are never
	// re-derived once a nonce may have been used (shares.go).
	if e.sharesStored(s) {
		e.markStored(s.Name, nil)
		return nil
	}
	e.mu.Lock()
	t := e.tracks[s.Name]
	e.mu.Unlock()
	if t == nil || t.sess.Status() != dkg.StatusDone {
		// Apply the entries committed since the track last followed the
		// session, or, after a restart (no track), the whole transcript.
		var err error
		if t, err = e.follow(s); err != nil {
			return err
		}
	}
	if err := e.followRepairs(s.Name, t); err != nil { // repair.go
		return err
	}
	shares, err := t.sess.Shares(e.cfg.Me, e.sk)
	if err != nil {
		if e.awaitRepair(s.Name, t, err) { // repair.go: kept tracked until repaired
			return nil
		}
		e.markStored(s.Name, fmt.Errorf("derive shares of %s: %w", s.Name, err))
		return err
	}
	if err := e.storeShares(s, shares); err != nil { // shares.go
		return err
	}
	e.markStored(s.Name, nil)
	e.cfg.Log.Info("dkg_shares_stored", "session", s.Name, "slots", len(shares))
	return nil
}

func (e *Engine) markStored(name string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.tracks, name)
	if err != nil {
		e.shareErr = err
		return
	}
	e.stored[name] = true
}

// Ready returns nil when the shares of every completed session are stored
// and every pool has an available item.
func (e *Engine) Ready() error {
	e.mu.Lock()
	scanned, shareErr := e.scanned, e.shareErr
	tracked := make([]string, 0, len(e.tracks))
	for n := range e.tracks {
		tracked = append(tracked, n)
	}
	e.mu.Unlock()
	if shareErr != nil {
		return fmt.Errorf("%w: %w", ErrNotReady, shareErr)
	}
	if !scanned {
		return fmt.Errorf("%w: committed sessions not scanned yet", ErrNotReady)
	}
	for _, n := range tracked {
		s, err := e.cfg.App.Session(n)
		if err != nil {
			return err
		}
		if s.Status == app.StatusDone {
			return fmt.Errorf("%w: shares of %s not stored yet", ErrNotReady, n)
		}
	}
	for _, k := range app.Kinds {
		if n, err := e.cfg.App.Available(k); err != nil || n == 0 {
			return fmt.Errorf("%w: %s pool empty", ErrNotReady, k)
		}
	}
	return nil
}

// share loads this replica's share of a pool item and checks it against the
// item's commitment.
func (e *Engine) share(it *app.PoolItem) (group.Scalar, error) {
	x, _, err := e.shareAndKey(it)
	return x, err
}

// shareAndKey is share, also returning this replica's verification key
// x·G (evaluated from the public commitment). A key share that was opened
// and checked before is taken from the engine's cache of opened shares
// (sharecache.go); a nonce share is loaded, checked and used once.
func (e *Engine) shareAndKey(it *app.PoolItem) (group.Scalar, group.Point, error) {
	cacheable := it.Kind != app.KindNonce
	name := shareName(it.Session, it.Slot)
	var com digest
	if cacheable {
		com = commitmentDigest(it.Commitment)
		if x, vk, ok := e.shares.get(name, com); ok {
			return x, vk, nil
		}
	}
	g := app.GroupOf(it.Kind)
	b, err := e.loadShare(it) // shares.go
	if errors.Is(err, sealed.ErrNotFound) {
		// The session may have completed in the last block, before Run
		// derived its shares: derive them now. A request answered from
		// FinalizeBlock may even use an item of a session completed in that
		// very block, committed a moment later.
		e.awaitDone(it.Session)
		if s, serr := e.cfg.App.Session(it.Session); serr == nil && s.Status == app.StatusDone {
			e.stepMu.Lock()
			derr := e.ensureShares(s)
			e.stepMu.Unlock()
			if derr == nil {
				b, err = e.loadShare(it)
			}
		}
	}
	if err != nil {
		if !errors.Is(err, sealed.ErrNotFound) {
			// A record that exists but cannot be opened (corrupted, not
			// authentic): the store is damaged, so this replica reports
			// itself not ready until an operator restores it.
			e.storeDamaged(err)
		}
		return nil, nil, fmt.Errorf("%w: %s/%d: %w", ErrShareUnavailable, it.Session, it.Slot, err)
	}
	defer clear(b) // the decoded scalar is what is used from here on
	x, err := g.DecodeScalar(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s/%d undecodable", ErrShareUnavailable, it.Session, it.Slot)
	}
	c, err := vss.DecodeCommitment(g, it.Commitment)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s/%d does not match its commitment", ErrShareUnavailable, it.Session, it.Slot)
	}
	// Feldman check x·G == Σ_k C_k·me^k: the secret x is multiplied in
	// constant time, the public commitment evaluated in variable time.
	vk := c.Eval(e.cfg.Me)
	if vk == nil || !g.BaseMul(x).Equal(vk) {
		return nil, nil, fmt.Errorf("%w: %s/%d does not match its commitment", ErrShareUnavailable, it.Session, it.Slot)
	}
	if cacheable {
		e.shares.put(name, com, x, vk)
	}
	return x, vk, nil
}

// awaitDone waits, up to staleGrace, until the committed state shows the
// session closed (done or failed).
func (e *Engine) awaitDone(session string) {
	e.waitFor(context.Background(), func() (bool, error) {
		s, err := e.cfg.App.Session(session)
		return err == nil && s.Status != app.StatusOpen, nil
	})
}

// putShares stores the shares of a session's slots, in one batch (one
// directory sync) when the store supports it (sealed.Store.PutMany).
func putShares(st ShareStore, session string, shares []group.Scalar) error {
	if pm, ok := st.(interface{ PutMany([]sealed.Record) error }); ok {
		recs := make([]sealed.Record, len(shares))
		for b, x := range shares {
			recs[b] = sealed.Record{Name: shareName(session, b), Secret: x.Bytes()}
		}
		return pm.PutMany(recs)
	}
	for b, x := range shares {
		if err := st.Put(shareName(session, b), x.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
