package app

import (
	"fmt"
	"slices"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// verifyReplicaTx checks a replica transaction's signature against the
// genesis key of its replica, decodes its payload and checks that the
// message is from that replica, within the session's size bound, and one
// the named session takes (dkglimit.go).
func (a *App) verifyReplicaTx(o *overlay, rt *wire.ReplicaTx) (*SessionInfo, dkg.Message, error) {
	if rt.Kind == RepairKind { // a done session's repair (repair.go)
		return a.verifyRepairTx(o, rt)
	}
	if rt.Kind == AuditKind { // an audit-chain head (audit.go)
		_, err := a.verifyAuditTx(o, rt)
		return nil, nil, err
	}
	if rt.Kind != "dkg" {
		return nil, nil, fmt.Errorf("%w: replica %d kind %q", ErrBadReplica, rt.Replica, rt.Kind)
	}
	p, sp, err := a.replicaPayload(o, rt)
	if err != nil {
		return nil, nil, err
	}
	if sp == nil {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownSess, p.Session)
	}
	s := *sp
	if len(s.Sent) == a.g.N && s.Sent[rt.Replica-1] >= MaxMessagesPerReplica {
		return nil, nil, fmt.Errorf("%w: replica %d sent too many messages in %s", ErrBadReplica, rt.Replica, s.Name)
	}
	if err := a.checkMessageSize(&s, p.Message); err != nil {
		return nil, nil, err
	}
	m, err := a.dec.decode(groupOf(s.Kind), p.Message)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrDKG, err)
	}
	if m.SenderIndex() != rt.Replica {
		return nil, nil, fmt.Errorf("%w: replica %d sent a message as %d", ErrBadReplica, rt.Replica, m.SenderIndex())
	}
	if err := sessionAccepts(&s, m); err != nil {
		return nil, nil, err
	}
	return &s, m, nil
}

// replicaPayload authenticates a replica's DKG or repair transaction (a
// genesis replica, its signature) and decodes its payload and the session
// it names (nil when there is no such session).
func (a *App) replicaPayload(o *overlay, rt *wire.ReplicaTx) (DKGPayload, *SessionInfo, error) {
	if rt.Replica < 1 || rt.Replica > a.g.N {
		return DKGPayload{}, nil, fmt.Errorf("%w: replica %d kind %q", ErrBadReplica, rt.Replica, rt.Kind)
	}
	if err := a.verifyReplicaSig(rt); err != nil {
		return DKGPayload{}, nil, err
	}
	p, err := DecodePayload(rt.Payload)
	if err != nil {
		return DKGPayload{}, nil, fmt.Errorf("%w: payload: %v", ErrBadReplica, err)
	}
	var s SessionInfo
	ok, err := o.getJSON(pSession+p.Session, &s)
	if err != nil || !ok {
		return p, nil, err
	}
	return p, &s, nil
}

// applyReplicaTx appends an authentic DKG message to its session's transcript
// and applies it; a completed session fills its pool.
func (a *App) applyReplicaTx(o *overlay, rt *wire.ReplicaTx, height int64) error {
	if rt.Kind == RepairKind { // a done session's repair (repair.go)
		return a.applyRepairTx(o, rt, height)
	}
	if rt.Kind == AuditKind { // an audit-chain head (audit.go)
		return a.applyAuditTx(o, rt, height)
	}
	s, m, err := a.verifyReplicaTx(o, rt)
	if err != nil {
		return err
	}
	sess, err := a.session(o, s)
	if err != nil {
		return err
	}
	// Every authentic message given to Apply is in the transcript, accepted
	// or not, so that replaying the transcript rebuilds the same session.
	if err := o.putJSON(pTx+s.Name+"/"+u64(uint64(s.Count)), TranscriptEntry{Sender: rt.Replica, Message: m.Marshal()}); err != nil {
		return err
	}
	s.Count++
	if len(s.Sent) != a.g.N {
		s.Sent = make([]int, a.g.N)
	}
	s.Sent[rt.Replica-1]++
	applyErr := sess.Apply(m)
	noteTaken(s, a.g.N, m, sess.Status())
	switch sess.Status() {
	case dkg.StatusDone:
		if err := a.finish(o, s, sess); err != nil {
			return err
		}
	case dkg.StatusFailed:
		if err := a.close(o, s, StatusFailed); err != nil {
			return err
		}
		a.log.Warn("dkg_session_failed", "session", s.Name, "height", height, "err", sess.Err())
	default:
		if err := o.putJSON(pSession+s.Name, s); err != nil {
			return err
		}
	}
	if applyErr != nil {
		return fmt.Errorf("%w: %w", ErrDKG, applyErr)
	}
	return nil
}

// session returns the in-memory DKG session, rebuilding it from the
// transcript after a restart.
func (a *App) session(o *overlay, s *SessionInfo) (*dkg.Session, error) {
	if sess := a.sessions[s.Name]; sess != nil {
		return sess, nil
	}
	chain, err := o.get(kChain)
	if err != nil {
		return nil, err
	}
	sess, err := a.rebuild(chain, s, func(i int) (*TranscriptEntry, error) {
		var e TranscriptEntry
		ok, err := o.getJSON(pTx+s.Name+"/"+u64(uint64(i)), &e)
		if err != nil || !ok {
			return nil, fmt.Errorf("app: transcript %s/%d missing: %v", s.Name, i, err)
		}
		return &e, nil
	})
	if err != nil {
		return nil, err
	}
	a.sessions[s.Name] = sess
	return sess, nil
}

// rebuild replays the first s.Count transcript entries into a new session.
func (a *App) rebuild(chain []byte, s *SessionInfo, entry func(int) (*TranscriptEntry, error)) (*dkg.Session, error) {
	p, err := a.sessionParams(chain, s)
	if err != nil {
		return nil, err
	}
	sess, err := dkg.NewSession(p)
	if err != nil {
		return nil, err
	}
	for i := 0; i < s.Count; i++ {
		e, err := entry(i)
		if err != nil {
			return nil, err
		}
		m, err := a.dec.decode(p.Group, e.Message)
		if err != nil {
			return nil, fmt.Errorf("app: transcript %s/%d: %w", s.Name, i, err)
		}
		_ = sess.Apply(m) // rejections are part of the deterministic replay
	}
	return sess, nil
}

// finish appends the session's keys to its pool and closes it.
func (a *App) finish(o *overlay, s *SessionInfo, sess *dkg.Session) error {
	res, err := sess.Result()
	if err != nil {
		return err
	}
	var m poolMeta
	if _, err := o.getJSON(pPoolM+s.Kind, &m); err != nil {
		return err
	}
	step := 1
	if s.Kind == KindNonce {
		step = 2 // a nonce is the pair (D, E) = slots (b, b+1)
	}
	for b := 0; b+step <= len(res.GroupKeys); b += step {
		it := PoolItem{Kind: s.Kind, Session: s.Name, Slot: b, PublicKey: res.GroupKeys[b].Bytes(), Commitment: res.Commitments[b].Bytes(), Status: StatusAvailable}
		if step == 2 {
			it.BindingSlot, it.BindingKey, it.BindingCommitment = b+1, res.GroupKeys[b+1].Bytes(), res.Commitments[b+1].Bytes()
		}
		if err := o.putJSON(pPool+s.Kind+"/"+u64(m.Tail), it); err != nil {
			return err
		}
		m.Tail++
	}
	if err := o.putJSON(pPoolM+s.Kind, m); err != nil {
		return err
	}
	a.log.Info("dkg_session_done", "session", s.Name, "qualified", len(res.Qualified), "culprits", len(res.Culprits))
	return a.close(o, s, StatusDone)
}

// close moves a session to a final status and drops it from the open list.
func (a *App) close(o *overlay, s *SessionInfo, to Status) error {
	if err := transition(s.Status, to); err != nil {
		return err
	}
	s.Status = to
	if err := o.putJSON(pSession+s.Name, s); err != nil {
		return err
	}
	open, err := openSessions(o)
	if err != nil {
		return err
	}
	open = slices.DeleteFunc(open, func(n string) bool { return n == s.Name })
	delete(a.sessions, s.Name)
	return o.putJSON(kOpen, open)
}
