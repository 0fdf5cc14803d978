package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// Repair of a late replica's shares (issue 13; threshold/dkg repair.go).
//
// A replica that missed the responding phase of a session in which a
// qualified dealer sent it bad shares cannot derive its shares when the
// session is done. Instead of reporting itself not ready for good, it keeps
// the session tracked (so [Engine.Ready] reports it not ready, and requests
// needing its shares are refused while the others serve), posts a late
// complaint against each such dealer, and derives its shares once T+1
// replicas have revealed theirs from the exposed dealer. Every replica
// watches the sessions under repair ([app.App.Repairing]) and reveals its
// own valid shares from each exposed dealer. Both sides work from the
// committed transcripts alone, so a restarted replica simply rescans.

// repairer is the engine's repair state. It is used under Engine.stepMu.
type repairer struct {
	mu     sync.Mutex
	tracks map[string]*track    // sessions under repair, for revealing
	sent   map[string]time.Time // "session/kind/dealer" → last broadcast
}

// followRepairs applies the new committed repair transcript entries of a
// done session to its track.
func (e *Engine) followRepairs(name string, t *track) error {
	if t.sess.Status() != dkg.StatusDone {
		return nil
	}
	entries, err := e.cfg.App.RepairTranscript(name, t.repairs)
	if err != nil {
		return err
	}
	g := t.sess.Params().Group
	for _, en := range entries {
		t.repairs++
		m, err := e.cfg.App.DecodeMessage(g, en.Message)
		if err != nil {
			return fmt.Errorf("committed repair transcript: %w", err)
		}
		_ = t.sess.Apply(m) // rejections are the app's concern; replay is identical
	}
	return nil
}

// awaitRepair reports whether err, from Shares of the done session name,
// says that only qualified dealers that sent this replica bad shares stand
// in the way: repairable, so the session stays tracked (repairStep files
// the late complaints) instead of this replica being marked not ready.
func (e *Engine) awaitRepair(name string, t *track, err error) bool {
	var de *dkg.Error
	if !errors.As(err, &de) || !errors.Is(err, dkg.ErrBadShares) || len(de.Culprits) == 0 {
		return false
	}
	dealers := make([]int, 0, len(de.Culprits))
	for _, c := range de.Culprits {
		if c.Reason != dkg.ReasonBadShares || c.Other != e.cfg.Me {
			return false
		}
		dealers = append(dealers, c.Replica)
	}
	e.repair.mu.Lock()
	key := name + "/await"
	_, logged := e.repair.sent[key]
	if e.repair.sent == nil {
		e.repair.sent = map[string]time.Time{}
	}
	e.repair.sent[key] = time.Now()
	e.repair.mu.Unlock()
	if !logged {
		e.cfg.Log.Warn("dkg_shares_await_repair", "session", name, "dealers", dealers)
	}
	e.mu.Lock()
	e.tracks[name] = t
	e.mu.Unlock()
	return true
}

// repairStep posts this replica's late complaints for the done sessions
// whose shares it awaits, and its reveals for the sessions under repair.
func (e *Engine) repairStep(ctx context.Context) error {
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	// Late complaints: done sessions still tracked await their repair.
	e.mu.Lock()
	var waiting []string
	for n, t := range e.tracks {
		if t.sess.Status() == dkg.StatusDone {
			waiting = append(waiting, n)
		}
	}
	tracks := make(map[string]*track, len(waiting))
	for _, n := range waiting {
		tracks[n] = e.tracks[n]
	}
	e.mu.Unlock()
	slices.Sort(waiting)
	for _, n := range waiting {
		t := tracks[n]
		lcs, err := t.sess.LateComplaints(e.cfg.Me, e.sk, e.cfg.Rand)
		if err != nil {
			keep(fmt.Errorf("late complaints of %s: %w", n, err))
			continue
		}
		for _, lc := range lcs {
			keep(e.sendRepair(ctx, n, lc, lc.Complaint.Dealer))
		}
	}

	// Reveals: every session under repair.
	names, err := e.cfg.App.Repairing()
	if err != nil {
		return err
	}
	e.repair.mu.Lock()
	if e.repair.tracks == nil {
		e.repair.tracks = map[string]*track{}
	}
	for n := range e.repair.tracks {
		if !slices.Contains(names, n) {
			delete(e.repair.tracks, n)
		}
	}
	e.repair.mu.Unlock()
	for _, n := range names {
		t, err := e.repairTrack(n)
		if err != nil {
			keep(err)
			continue
		}
		for _, i := range t.sess.Pending() {
			if t.sess.Revealed(e.cfg.Me, i) || t.sess.LateComplained(e.cfg.Me, i) {
				continue
			}
			r, err := t.sess.Reveal(e.cfg.Me, e.sk, i)
			if errors.Is(err, dkg.ErrBadShares) {
				continue // a victim too: its late complaint goes above
			} else if err != nil {
				keep(fmt.Errorf("reveal in %s: %w", n, err))
				continue
			}
			keep(e.sendRepair(ctx, n, r, i))
		}
	}
	return firstErr
}

// repairTrack returns the done session name with its committed transcripts
// applied, rebuilt on first use.
func (e *Engine) repairTrack(name string) (*track, error) {
	e.repair.mu.Lock()
	t := e.repair.tracks[name]
	e.repair.mu.Unlock()
	if t == nil {
		s, err := e.cfg.App.Session(name)
		if err != nil {
			return nil, err
		}
		p, err := e.cfg.App.SessionParams(s)
		if err != nil {
			return nil, err
		}
		sess, err := dkg.NewSession(p)
		if err != nil {
			return nil, err
		}
		entries, err := e.cfg.App.Transcript(name, 0)
		if err != nil {
			return nil, err
		}
		for _, en := range entries {
			m, err := e.cfg.App.DecodeMessage(p.Group, en.Message)
			if err != nil {
				return nil, fmt.Errorf("committed transcript: %w", err)
			}
			_ = sess.Apply(m)
		}
		t = &track{sess: sess, status: sess.Status()}
		e.repair.mu.Lock()
		e.repair.tracks[name] = t
		e.repair.mu.Unlock()
	}
	if err := e.followRepairs(name, t); err != nil {
		return nil, err
	}
	return t, nil
}

// sendRepair broadcasts a repair message of session name about dealer,
// unless it was sent less than 2·PhaseTimeout ago (a message not committed
// by then may have been dropped from a mempool).
func (e *Engine) sendRepair(ctx context.Context, name string, m dkg.Message, dealer int) error {
	key := fmt.Sprintf("%s/%d/%d", name, m.Kind(), dealer)
	e.repair.mu.Lock()
	if e.repair.sent == nil {
		e.repair.sent = map[string]time.Time{}
	}
	at, ok := e.repair.sent[key]
	due := !ok || time.Since(at) > 2*e.cfg.PhaseTimeout
	if due {
		e.repair.sent[key] = time.Now()
	}
	if len(e.repair.sent) > maxRepairSent {
		clear(e.repair.sent)
	}
	e.repair.mu.Unlock()
	if !due || faults.withhold() {
		return nil
	}
	tx, err := app.SignRepairTx(e.cfg.App.Genesis().Cluster, e.cfg.Me, e.cfg.SignKey, app.DKGPayload{Session: name, Message: m.Marshal()})
	if err != nil {
		return err
	}
	if err := e.cfg.Broadcast.BroadcastTx(ctx, tx); err != nil {
		return fmt.Errorf("broadcast %s: %w", m.Kind(), err)
	}
	e.cfg.Log.Info("dkg_repair_sent", "session", name, "kind", m.Kind().String(), "dealer", dealer)
	return nil
}

// maxRepairSent bounds the remembered repair broadcasts.
const maxRepairSent = 1 << 12
