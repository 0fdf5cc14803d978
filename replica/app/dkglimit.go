package app

import (
	"fmt"

	"github.com/vhsm/vhsm/threshold/dkg"
)

// What one replica can add to a session's transcript.
//
// Every replica transaction the app takes is stored in the transcript for
// good, so the app takes only what the session can use: a message for an
// open session, no longer than the session's parameters allow
// ([checkMessageSize]), and not one that [dkg.Session.Apply] would ignore as
// a second message of its kind or a message for another phase
// ([sessionAccepts]). Both decide from the committed [SessionInfo] alone, so
// CheckTx refuses such a message against the committed state and
// FinalizeBlock, deterministically, against the block's staged state,
// before anything is stored. One replica thus adds at most a dealing, a
// response and one timeout vote per phase to a session.

// Bits of SessionInfo.Seen[j-1]: the messages of replica j the session took.
const (
	seenDealing = 1 << iota
	seenResponse
	seenVoteDealing
	seenVoteResponding
)

// seenBit returns the bit recording m in SessionInfo.Seen and the phase
// (dkg.Status) in which the session takes m; 0, 0 for a message the
// session has no slot for.
func seenBit(m dkg.Message) (bit int, phase dkg.Status) {
	switch m := m.(type) {
	case *dkg.Dealing:
		return seenDealing, dkg.StatusDealing
	case *dkg.Response:
		return seenResponse, dkg.StatusResponding
	case *dkg.TimeoutVote:
		if m.Phase == dkg.PhaseDealing {
			return seenVoteDealing, dkg.StatusDealing
		}
		if m.Phase == dkg.PhaseResponding {
			return seenVoteResponding, dkg.StatusResponding
		}
	}
	return 0, 0
}

// sessionAccepts returns nil if the session s would act on m from its
// sender (authenticated, in 1..N), and otherwise why not: ErrUnknownSess
// for a session that is not open; ErrDKG wrapping dkg.ErrWrongPhase for a
// message of another phase, or dkg.ErrDuplicate for a second dealing,
// response or timeout vote for the same phase from the same sender — what
// dkg.Session.Apply ignores (session.go). It reads s only, so CheckTx and
// FinalizeBlock decide alike.
//
// It is the one place that says which messages a session takes: a message
// kind that is valid after the session is done (for instance one that
// repairs it) is admitted here, with its own once-per-sender rule recorded
// by noteTaken.
func sessionAccepts(s *SessionInfo, m dkg.Message) error {
	if s.Status != StatusOpen {
		return fmt.Errorf("%w: %q is %s", ErrUnknownSess, s.Name, s.Status)
	}
	bit, want := seenBit(m)
	if bit == 0 {
		return fmt.Errorf("%w: %w", ErrDKG, dkg.ErrUnknownMessage)
	}
	phase := s.Phase
	if phase == 0 {
		if s.Count > 0 {
			// Recorded before these rules: only MaxMessagesPerReplica applies.
			return nil
		}
		phase = dkg.StatusDealing
	}
	j := m.SenderIndex()
	switch {
	case phase != want:
		return fmt.Errorf("%w: %w: replica %d sent a %s in %s's %s phase", ErrDKG, dkg.ErrWrongPhase, j, m.Kind(), s.Name, phase)
	case j >= 1 && j <= len(s.Seen) && s.Seen[j-1]&bit != 0:
		return fmt.Errorf("%w: %w: replica %d sent a second %s to %s", ErrDKG, dkg.ErrDuplicate, j, m.Kind(), s.Name)
	}
	return nil
}

// noteTaken records in s that the session took m (it passed sessionAccepts
// and was applied) and the session's status after it; n is the number of
// replicas.
func noteTaken(s *SessionInfo, n int, m dkg.Message, after dkg.Status) {
	if len(s.Seen) != n {
		s.Seen = make([]int, n)
	}
	if bit, _ := seenBit(m); bit != 0 {
		if j := m.SenderIndex(); j >= 1 && j <= n {
			s.Seen[j-1] |= bit
		}
	}
	s.Phase = after
}

// checkMessageSize refuses, before decoding, an encoded DKG message longer
// than the longest of its kind that the session's parameters allow
// (dkg.MaxEncodedLen: a dealing with more polynomials, a higher degree or
// more recipients than the session's, a response with more than N
// complaints). Shorter malformed messages are left to the decoder and the
// session, which blames their sender.
func (a *App) checkMessageSize(s *SessionInfo, msg []byte) error {
	if len(msg) < 2 {
		return nil // the decoder refuses it
	}
	k := dkg.Kind(msg[1]) // the second byte of every encoded message
	p := dkg.Params{Group: groupOf(s.Kind), N: a.g.N, T: a.g.T, Batch: s.Batch}
	if limit := dkg.MaxEncodedLen(p, k); limit > 0 && len(msg) > limit {
		return fmt.Errorf("%w: dkg %s of %d bytes, at most %d in %s", ErrTooLarge, k, len(msg), limit, s.Name)
	}
	return nil
}
