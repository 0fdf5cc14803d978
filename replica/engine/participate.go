package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// DKG participation: following the committed sessions, dealing,
// responding and voting timeouts.

// track follows one open DKG session.
type track struct {
	sess    *dkg.Session
	applied int
	status  dkg.Status
	since   time.Time // when this replica saw the phase start
	mine    map[dkg.Kind]bool
	sent    map[dkg.Kind]time.Time
	voted   map[dkg.Phase]bool
	repairs int // repair transcript entries applied (repair.go)
}

// step advances the open sessions and stores the shares of the sessions that
// completed. The first step after start scans every committed session, so
// that shares missed before a restart are derived.
func (e *Engine) step(ctx context.Context) error {
	e.stepMu.Lock()
	defer e.stepMu.Unlock()
	var sessions []app.SessionInfo
	var err error
	e.mu.Lock()
	scanned := e.scanned
	tracked := make([]string, 0, len(e.tracks))
	for n := range e.tracks {
		tracked = append(tracked, n)
	}
	e.mu.Unlock()
	if !scanned {
		sessions, err = e.cfg.App.Sessions()
	} else {
		sessions, err = e.cfg.App.OpenSessions()
		// Tracked sessions that are no longer open have just closed.
		for _, n := range tracked {
			s, err := e.cfg.App.Session(n)
			if err != nil {
				return err
			}
			if s.Status != app.StatusOpen {
				sessions = append(sessions, *s)
			}
		}
	}
	if err != nil {
		return err
	}
	var firstErr error
	for i := range sessions {
		s := &sessions[i]
		switch s.Status {
		case app.StatusDone:
			err = e.ensureShares(s)
		case app.StatusOpen:
			err = e.participate(ctx, s)
		default:
			e.mu.Lock()
			delete(e.tracks, s.Name)
			e.mu.Unlock()
			err = nil
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("session %s: %w", s.Name, err)
		}
	}
	if firstErr == nil {
		e.mu.Lock()
		e.scanned = true
		e.mu.Unlock()
	}
	if err := e.repairStep(ctx); err != nil && firstErr == nil { // repair.go
		firstErr = fmt.Errorf("repair: %w", err)
	}
	return firstErr
}

// follow applies the new committed transcript entries of s to its track.
func (e *Engine) follow(s *app.SessionInfo) (*track, error) {
	e.mu.Lock()
	t := e.tracks[s.Name]
	e.mu.Unlock()
	if t == nil {
		p, err := e.cfg.App.SessionParams(s)
		if err != nil {
			return nil, err
		}
		sess, err := dkg.NewSession(p)
		if err != nil {
			return nil, err
		}
		t = &track{sess: sess, status: sess.Status(), since: time.Now(), mine: map[dkg.Kind]bool{}, sent: map[dkg.Kind]time.Time{}, voted: map[dkg.Phase]bool{}}
		e.mu.Lock()
		e.tracks[s.Name] = t
		e.mu.Unlock()
	}
	entries, err := e.cfg.App.Transcript(s.Name, t.applied)
	if err != nil {
		return nil, err
	}
	g := app.GroupOf(s.Kind)
	for _, en := range entries {
		t.applied++
		m, err := e.cfg.App.DecodeMessage(g, en.Message) // cached: the app decoded it too
		if err != nil {
			return nil, fmt.Errorf("committed transcript: %w", err)
		}
		_ = t.sess.Apply(m) // rejections are the app's concern; replay is identical
		if en.Sender == e.cfg.Me {
			t.mine[m.Kind()] = true
			if v, ok := m.(*dkg.TimeoutVote); ok {
				t.voted[v.Phase] = true
			}
		}
	}
	if st := t.sess.Status(); st != t.status {
		t.status, t.since = st, time.Now()
	}
	return t, nil
}

// participate deals, responds or votes a timeout in an open session.
func (e *Engine) participate(ctx context.Context, s *app.SessionInfo) error {
	t, err := e.follow(s)
	if err != nil {
		return err
	}
	// A message not committed within 2·PhaseTimeout is sent again (it may
	// have been dropped from a mempool); re-dealing is safe (dkg doc).
	due := func(k dkg.Kind) bool {
		at, ok := t.sent[k]
		return !t.mine[k] && (!ok || time.Since(at) > 2*e.cfg.PhaseTimeout)
	}
	var msg dkg.Message
	switch t.status {
	case dkg.StatusDealing:
		if due(dkg.KindDealing) {
			d, err := dkg.NewDealing(t.sess.Params(), e.cfg.Me, e.cfg.Rand)
			if err != nil {
				return fmt.Errorf("deal: %w", err)
			}
			msg = d
		} else if time.Since(t.since) > e.cfg.PhaseTimeout && !t.voted[dkg.PhaseDealing] {
			msg = &dkg.TimeoutVote{Sender: e.cfg.Me, Phase: dkg.PhaseDealing}
		}
	case dkg.StatusResponding:
		if due(dkg.KindResponse) {
			r, err := t.sess.Respond(e.cfg.Me, e.sk, e.cfg.Rand)
			if err != nil {
				return fmt.Errorf("respond: %w", err)
			}
			msg = r
		} else if time.Since(t.since) > e.cfg.PhaseTimeout && !t.voted[dkg.PhaseResponding] {
			msg = &dkg.TimeoutVote{Sender: e.cfg.Me, Phase: dkg.PhaseResponding}
		}
	}
	if msg == nil {
		return nil
	}
	msg = faults.dkgMessage(e, t.sess, msg) // honest: msg itself (faults.go)
	tx, err := app.SignReplicaTx(e.cfg.App.Genesis().Cluster, e.cfg.Me, e.cfg.SignKey, app.DKGPayload{Session: s.Name, Message: msg.Marshal()})
	if err != nil {
		return err
	}
	if v, ok := msg.(*dkg.TimeoutVote); ok {
		t.voted[v.Phase] = true
	} else {
		t.sent[msg.Kind()] = time.Now()
	}
	if faults.withhold() {
		return nil
	}
	if err := e.cfg.Broadcast.BroadcastTx(ctx, tx); err != nil {
		return fmt.Errorf("broadcast %s: %w", msg.Kind(), err)
	}
	return nil
}
