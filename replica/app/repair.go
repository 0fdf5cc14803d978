package app

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// Repair of a late replica's shares (issue 13; threshold/dkg repair.go).
//
// A done session accepts two more DKG messages, in replica transactions of
// kind [RepairKind]: a [dkg.LateComplaint] from a replica that cannot
// derive its shares because a qualified dealer sent it bad ones, and the
// [dkg.Reveal]s of the replicas holding valid shares from a dealer such a
// complaint exposed. They never change the session's result or its pool
// items; they let the late replica derive its shares. Only messages the
// session applies (accepted, or naming their sender as a culprit) enter the
// session's repair transcript, so the state grows by at most one late
// complaint per (complainer, dealer) and one reveal per (revealer, dealer).

// RepairKind is the kind of a replica transaction carrying a repair message
// of a done session.
const RepairKind = "dkg-repair"

// Key layout of the repair state.
const (
	pRepair     = "repair/"        // name/seq(8) → TranscriptEntry, applied repair messages
	pRepairM    = "repairmeta/"    // name → RepairInfo
	pRepairSeen = "repairseen/"    // name/kind(1) sender(2) dealer(2) → empty: applied once
	kRepairing  = "meta/repairing" // names of done sessions with pending repairs, JSON
)

// RepairInfo is the committed repair record of a done session.
type RepairInfo struct {
	// Count is the number of repair messages in the repair transcript.
	Count int `json:"count"`
	// Pending lists the exposed dealers whose repair is not complete.
	Pending []int `json:"pending,omitempty"`
}

// SignRepairTx builds the transaction bytes of a repair message (a
// [dkg.LateComplaint] or a [dkg.Reveal]) of a done session from replica me of cluster,
// signed like [SignReplicaTx] but of kind [RepairKind].
func SignRepairTx(cluster string, me int, key ed25519.PrivateKey, p DKGPayload) ([]byte, error) {
	return signReplica(cluster, me, key, RepairKind, p)
}

// repairSeenKey names the marker of one applied repair message.
func repairSeenKey(name string, m dkg.Message) string {
	dealer := 0
	switch m := m.(type) {
	case *dkg.LateComplaint:
		dealer = m.Complaint.Dealer
	case *dkg.Reveal:
		dealer = m.Dealer
	}
	var b [5]byte
	b[0] = byte(m.Kind())
	binary.BigEndian.PutUint16(b[1:3], uint16(m.SenderIndex()))
	binary.BigEndian.PutUint16(b[3:5], uint16(dealer))
	return pRepairSeen + name + "/" + string(b[:])
}

// verifyRepairTx checks a repair transaction: the replica's signature, a
// done session, a late complaint or reveal sent by the signer, not applied
// before, and for a reveal a dealer whose repair is pending. The session
// itself judges the message when it is applied.
func (a *App) verifyRepairTx(o *overlay, rt *wire.ReplicaTx) (*SessionInfo, dkg.Message, error) {
	p, sp, err := a.replicaPayload(o, rt)
	if err != nil {
		return nil, nil, err
	}
	if sp == nil || sp.Status != StatusDone {
		return nil, nil, fmt.Errorf("%w: %q is not done", ErrUnknownSess, p.Session)
	}
	s := *sp
	m, err := a.dec.decode(groupOf(s.Kind), p.Message)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrDKG, err)
	}
	if k := m.Kind(); k != dkg.KindLateComplaint && k != dkg.KindReveal {
		return nil, nil, fmt.Errorf("%w: %s in a repair transaction", ErrBadReplica, k)
	}
	if m.SenderIndex() != rt.Replica {
		return nil, nil, fmt.Errorf("%w: replica %d sent a message as %d", ErrBadReplica, rt.Replica, m.SenderIndex())
	}
	seen, err := o.get(repairSeenKey(s.Name, m))
	if err != nil {
		return nil, nil, err
	}
	if seen != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrDKG, dkg.ErrDuplicate)
	}
	if r, ok := m.(*dkg.Reveal); ok {
		var info RepairInfo
		if _, err := o.getJSON(pRepairM+s.Name, &info); err != nil {
			return nil, nil, err
		}
		if !slices.Contains(info.Pending, r.Dealer) {
			return nil, nil, fmt.Errorf("%w: %w", ErrDKG, dkg.ErrNothingToRepair)
		}
	}
	return &s, m, nil
}

// applyRepairTx applies an authentic repair message to its done session and
// records it in the repair transcript if the session applied it.
func (a *App) applyRepairTx(o *overlay, rt *wire.ReplicaTx, height int64) error {
	s, m, err := a.verifyRepairTx(o, rt)
	if err != nil {
		return err
	}
	var info RepairInfo
	if _, err := o.getJSON(pRepairM+s.Name, &info); err != nil {
		return err
	}
	sess, err := a.repairSession(o, s, &info)
	if err != nil {
		return err
	}
	applyErr := sess.Apply(m)
	if applyErr != nil && !errors.Is(applyErr, dkg.ErrMisbehaviour) {
		// Ignored (nothing to repair, duplicate): the state is unchanged.
		return fmt.Errorf("%w: %w", ErrDKG, applyErr)
	}
	if err := o.putJSON(pRepair+s.Name+"/"+u64(uint64(info.Count)), TranscriptEntry{Sender: rt.Replica, Message: m.Marshal()}); err != nil {
		return err
	}
	o.put(repairSeenKey(s.Name, m), []byte{})
	info.Count++
	was := len(info.Pending) > 0
	info.Pending = sess.Pending()
	if err := o.putJSON(pRepairM+s.Name, info); err != nil {
		return err
	}
	if now := len(info.Pending) > 0; now != was {
		var names []string
		if _, err := o.getJSON(kRepairing, &names); err != nil {
			return err
		}
		names = slices.DeleteFunc(names, func(n string) bool { return n == s.Name })
		if now {
			names = append(names, s.Name)
			a.log.Info("dkg_dealer_exposed", "session", s.Name, "pending", info.Pending, "height", height)
		} else {
			a.log.Info("dkg_repair_complete", "session", s.Name, "height", height)
		}
		if err := o.putJSON(kRepairing, names); err != nil {
			return err
		}
	}
	if applyErr != nil {
		return fmt.Errorf("%w: %w", ErrDKG, applyErr)
	}
	return nil
}

// repairSession returns the done session with its repair transcript
// applied, rebuilt from the committed transcripts on first use and then
// kept in memory (FinalizeBlock only, under a.mu).
func (a *App) repairSession(o *overlay, s *SessionInfo, info *RepairInfo) (*dkg.Session, error) {
	if sess := a.repairs[s.Name]; sess != nil {
		return sess, nil
	}
	chain, err := o.get(kChain)
	if err != nil {
		return nil, err
	}
	entry := func(prefix string) func(int) (*TranscriptEntry, error) {
		return func(i int) (*TranscriptEntry, error) {
			var e TranscriptEntry
			ok, err := o.getJSON(prefix+s.Name+"/"+u64(uint64(i)), &e)
			if err != nil || !ok {
				return nil, fmt.Errorf("app: transcript %s%s/%d missing: %v", prefix, s.Name, i, err)
			}
			return &e, nil
		}
	}
	sess, err := a.rebuild(chain, s, entry(pTx))
	if err != nil {
		return nil, err
	}
	next := entry(pRepair)
	for i := 0; i < info.Count; i++ {
		e, err := next(i)
		if err != nil {
			return nil, err
		}
		m, err := a.dec.decode(groupOf(s.Kind), e.Message)
		if err != nil {
			return nil, fmt.Errorf("app: repair transcript %s/%d: %w", s.Name, i, err)
		}
		_ = sess.Apply(m) // rejections are part of the deterministic replay
	}
	if a.repairs == nil {
		a.repairs = map[string]*dkg.Session{}
	}
	if len(a.repairs) >= maxRepairSessions {
		clear(a.repairs)
	}
	a.repairs[s.Name] = sess
	return sess, nil
}

// maxRepairSessions bounds the done sessions kept in memory for repair.
const maxRepairSessions = 16

// Repairing lists the committed done sessions with an exposed dealer whose
// repair is not complete, in the order their first dealer was exposed.
func (a *App) Repairing() ([]string, error) {
	var names []string
	_, err := a.committed().getJSON(kRepairing, &names)
	return names, err
}

// RepairTranscript returns the committed repair transcript of a done
// session from entry from.
func (a *App) RepairTranscript(name string, from int) ([]TranscriptEntry, error) {
	return transcriptFrom(a.db, pRepair+name+"/", from)
}
