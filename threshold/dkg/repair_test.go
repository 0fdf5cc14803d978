package dkg

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// lateVictim runs the situation of TestSharesNamesUnreportedCheat: among 4
// replicas, dealer 2 sends replica 3 a bad share, replica 3 misses the
// responding phase and the session is done with dealer 2 qualified. It
// returns the session and its transcript so far.
func lateVictim(t testing.TB, g group.Group) (fixture, *Session, []Message) {
	t.Helper()
	f := newFixture(t, g, 4, 3)
	s, err := NewSession(f.p)
	if err != nil {
		t.Fatal(err)
	}
	var log []Message
	apply := func(m Message) error {
		m = roundTrip(t, f.p.Group, m)
		log = append(log, m)
		return s.Apply(m)
	}
	for i := 1; i <= 4; i++ {
		d, err := NewDealing(f.p, i, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			d.Ciphertexts[2][len(d.Ciphertexts[2])-1] ^= 1 // replica 3's last share
		}
		if err := apply(d); err != nil {
			t.Fatal(err)
		}
	}
	// A late message before the session is done is for another phase.
	lc, err := NewLateComplaint(f.p, 3, f.sks[2], s.Dealings()[1], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(lc); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("late complaint while responding: %v", err)
	}
	for _, j := range []int{1, 2, 4} {
		r, err := s.Respond(j, f.sks[j-1], rand.Reader)
		if err != nil || len(r.Complaints) != 0 {
			t.Fatalf("respond %d: %v", j, err)
		}
		_ = apply(r)
	}
	for _, j := range []int{1, 4} {
		_ = apply(&TimeoutVote{Sender: j, Phase: PhaseResponding})
	}
	if s.Status() != StatusDone {
		t.Fatalf("status %v", s.Status())
	}
	return f, s, log
}

// wantCulprit checks that err is an *Error naming exactly c.
func wantCulprit(t *testing.T, what string, err error, c Culprit) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrMisbehaviour) || len(e.Culprits) != 1 || e.Culprits[0] != c {
		t.Fatalf("%s: got %v, want culprit %v", what, err, c)
	}
}

// TestRepairLateReplica: a replica that missed the responding phase while
// a qualified dealer had sent it bad shares gets its shares back after the
// session is done: its late complaint exposes the dealer, T+1 replicas
// reveal their shares from it (each checked against the commitments), and
// it then derives shares that match its verification keys and reconstruct
// the group keys with the others'. False and invalid late complaints, wrong
// reveals and duplicates are refused, and their senders named.
func TestRepairLateReplica(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			f, s, log := lateVictim(t, g)
			apply := func(m Message) error {
				m = roundTrip(t, g, m)
				log = append(log, m)
				return s.Apply(m)
			}
			before, err := s.Shares(1, f.sks[0])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Shares(3, f.sks[2]); !errors.Is(err, ErrBadShares) {
				t.Fatalf("victim's shares before repair: %v", err)
			}
			if _, err := s.Reveal(1, f.sks[0], 2); !errors.Is(err, ErrNothingToRepair) {
				t.Fatalf("reveal before exposure: %v", err)
			}
			if err := apply(&Reveal{Sender: 1, Dealer: 2, Shares: before}); !errors.Is(err, ErrNothingToRepair) {
				t.Fatalf("reveal of an unexposed dealer applied: %v", err)
			}

			// False and invalid late complaints name their sender and
			// expose nobody.
			ds := s.Dealings()
			lc, err := NewLateComplaint(f.p, 3, f.sks[2], ds[0], rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			wantCulprit(t, "false late complaint", apply(lc), Culprit{Replica: 3, Reason: ReasonFalseComplaint, Other: 1})
			c, err := NewComplaint(f.p, 3, f.sks[2], ds[3], rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			// A responding-phase proof does not pass as a late one.
			wantCulprit(t, "complaint proof as late complaint", apply(&LateComplaint{Sender: 3, Complaint: c}),
				Culprit{Replica: 3, Reason: ReasonInvalidComplaint, Other: 4})
			if s.Repair(1) != RepairNone || s.Repair(4) != RepairNone || len(s.Pending()) != 0 {
				t.Fatalf("exposed after false complaints: pending %v", s.Pending())
			}
			lc, _ = NewLateComplaint(f.p, 3, f.sks[2], ds[0], rand.Reader)
			if err := apply(lc); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("second late complaint of (3, 1): %v", err)
			}
			// A replica that responded in time does not complain late.
			lc, _ = NewLateComplaint(f.p, 1, f.sks[0], ds[1], rand.Reader)
			if err := apply(lc); !errors.Is(err, ErrNothingToRepair) {
				t.Fatalf("late complaint of a responder: %v", err)
			}
			if s.Repair(2) != RepairNone {
				t.Fatal("dealer 2 exposed by a responder")
			}

			// The victim's late complaint exposes dealer 2.
			lcs, err := s.LateComplaints(3, f.sks[2], rand.Reader)
			if err != nil || len(lcs) != 1 || lcs[0].Complaint.Dealer != 2 {
				t.Fatalf("victim's late complaints: %v, %v", lcs, err)
			}
			wantCulprit(t, "late complaint", apply(lcs[0]), Culprit{Replica: 2, Reason: ReasonBadShares, Other: 3})
			if s.Repair(2) != RepairExposed || len(s.Pending()) != 1 || !s.LateComplained(3, 2) {
				t.Fatalf("dealer 2 not exposed: %v", s.Repair(2))
			}
			if err := apply(lcs[0]); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("duplicate late complaint: %v", err)
			}
			if lcs, err := s.LateComplaints(3, f.sks[2], rand.Reader); err != nil || len(lcs) != 0 {
				t.Fatalf("late complaints after filing: %v, %v", lcs, err)
			}
			if _, err := s.Reveal(3, f.sks[2], 2); !errors.Is(err, ErrBadShares) {
				t.Fatalf("victim's reveal: %v", err)
			}

			// A wrong reveal names its sender and counts as its one reveal.
			r1, err := s.Reveal(1, f.sks[0], 2)
			if err != nil {
				t.Fatal(err)
			}
			bad := &Reveal{Sender: 1, Dealer: 2, Shares: append([]group.Scalar{r1.Shares[0].Add(g.ScalarFromUint64(1))}, r1.Shares[1:]...)}
			wantCulprit(t, "wrong reveal", apply(bad), Culprit{Replica: 1, Reason: ReasonBadReveal, Other: 2})
			if err := apply(r1); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("reveal after a wrong one: %v", err)
			}
			short := &Reveal{Sender: 3, Dealer: 2, Shares: r1.Shares[:1]}
			wantCulprit(t, "short reveal", apply(short), Culprit{Replica: 3, Reason: ReasonBadReveal, Other: 2})

			// T valid reveals are not enough; T+1 repair dealer 2.
			r4, err := s.Reveal(4, f.sks[3], 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := apply(r4); err != nil {
				t.Fatal(err)
			}
			if s.Repair(2) != RepairExposed {
				t.Fatal("repaired with T valid reveals")
			}
			if _, err := s.Shares(3, f.sks[2]); !errors.Is(err, ErrBadShares) {
				t.Fatalf("victim's shares with T valid reveals: %v", err)
			}
			checkRepaired(t, f, s, before, false)
			r2, err := s.Reveal(2, f.sks[1], 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := apply(r2); err != nil {
				t.Fatal(err)
			}
			if s.Repair(2) != RepairComplete || len(s.Pending()) != 0 || !s.Revealed(2, 2) {
				t.Fatalf("not repaired after T+1 valid reveals: %v", s.Repair(2))
			}
			lc4, _ := NewLateComplaint(f.p, 4, f.sks[3], ds[1], rand.Reader)
			if err := apply(lc4); !errors.Is(err, ErrNothingToRepair) {
				t.Fatalf("late complaint after repair: %v", err)
			}
			if lcs, err := s.LateComplaints(3, f.sks[2], rand.Reader); err != nil || len(lcs) != 0 {
				t.Fatalf("late complaints after repair: %v, %v", lcs, err)
			}
			checkRepaired(t, f, s, before, true)

			// Replaying the log rebuilds the same state.
			s2, err := NewSession(f.p)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range log {
				_ = s2.Apply(m)
			}
			if s2.Repair(2) != RepairComplete || len(s2.Culprits()) != len(s.Culprits()) {
				t.Fatalf("replay: repair %v, culprits %v", s2.Repair(2), s2.Culprits())
			}
			x1, err1 := s.Shares(3, f.sks[2])
			x2, err2 := s2.Shares(3, f.sks[2])
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			for b := range x1 {
				if !x1[b].Equal(x2[b]) {
					t.Fatalf("replay: slot %d differs", b)
				}
			}
		})
	}
}

// checkRepaired checks the other replicas' shares are unchanged and, if
// repaired, that the victim's shares match its verification keys and
// reconstruct every group key with replica 1's.
func checkRepaired(t *testing.T, f fixture, s *Session, before []group.Scalar, repaired bool) {
	t.Helper()
	after, err := s.Shares(1, f.sks[0])
	if err != nil {
		t.Fatal(err)
	}
	for b := range before {
		if !after[b].Equal(before[b]) {
			t.Fatalf("replica 1's share of slot %d changed", b)
		}
	}
	if !repaired {
		return
	}
	xs, err := s.Shares(3, f.sks[2])
	if err != nil {
		t.Fatalf("victim's shares after repair: %v", err)
	}
	res, _ := s.Result()
	g := f.p.Group
	for b, x := range xs {
		if !g.BaseMul(x).Equal(res.VerificationKey(b, 3)) {
			t.Fatalf("slot %d: repaired share does not match the verification key", b)
		}
		secret, err := vss.InterpolateScalars(g, map[int]group.Scalar{1: after[b], 3: x})
		if err != nil {
			t.Fatal(err)
		}
		if !g.BaseMul(secret).Equal(res.GroupKeys[b]) {
			t.Fatalf("slot %d: the repaired share and replica 1's do not reconstruct the group key", b)
		}
	}
}

// TestRepairMessagesDecode: the repair messages round-trip and the decoder
// rejects every malformed variant.
func TestRepairMessagesDecode(t *testing.T) {
	f := newFixture(t, group.Secp256k1(), 4, 2)
	d, _ := NewDealing(f.p, 2, rand.Reader)
	lc, err := NewLateComplaint(f.p, 3, f.sks[2], d, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rv := &Reveal{Sender: 1, Dealer: 2, Shares: []group.Scalar{f.p.Group.ScalarFromUint64(5), f.p.Group.ScalarFromUint64(6)}}
	for _, m := range []Message{lc, rv} {
		roundTrip(t, f.p.Group, m)
		b := m.Marshal()
		for _, bad := range [][]byte{b[:len(b)-1], append(b, 0)} {
			if _, err := DecodeMessage(f.p.Group, bad); !errors.Is(err, ErrMalformedMessage) {
				t.Fatalf("%v: bad length decoded: %v", m.Kind(), err)
			}
		}
		zeroDealer := append([]byte(nil), b...)
		zeroDealer[4], zeroDealer[5] = 0, 0
		if _, err := DecodeMessage(f.p.Group, zeroDealer); !errors.Is(err, ErrMalformedMessage) {
			t.Fatalf("%v: dealer 0 decoded: %v", m.Kind(), err)
		}
	}
	b := rv.Marshal()
	for k := 8; k < 8+32; k++ {
		b[k] = 0xff // share ≥ the group order
	}
	if _, err := DecodeMessage(f.p.Group, b); !errors.Is(err, ErrMalformedMessage) {
		t.Fatalf("non-canonical share decoded: %v", err)
	}
	empty := (&Reveal{Sender: 1, Dealer: 2}).Marshal()
	if _, err := DecodeMessage(f.p.Group, empty); !errors.Is(err, ErrMalformedMessage) {
		t.Fatalf("empty reveal decoded: %v", err)
	}
}

// FuzzApplyRepair: any decoded message applied to a done session under
// repair never panics, and a replay of the same messages reaches the same
// repair state.
func FuzzApplyRepair(f *testing.F) {
	fx, s, log := lateVictim(f, group.Secp256k1())
	lcs, err := s.LateComplaints(3, fx.sks[2], rand.Reader)
	if err != nil || len(lcs) != 1 {
		f.Fatal(lcs, err)
	}
	log = append(log, lcs[0])
	if err := s.Apply(lcs[0]); !errors.Is(err, ErrMisbehaviour) {
		f.Fatal(err)
	}
	r, err := s.Reveal(1, fx.sks[0], 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.Marshal())
	f.Add(lcs[0].Marshal())
	lc, _ := NewLateComplaint(fx.p, 4, fx.sks[3], s.Dealings()[0], rand.Reader)
	f.Add(lc.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(fx.p.Group, b)
		if err != nil {
			return
		}
		states := make([]string, 2)
		for k := range states {
			s, err := NewSession(fx.p)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range log {
				_ = s.Apply(x)
			}
			_ = s.Apply(m)
			states[k] = fmt.Sprint(s.Repair(2), s.Pending(), s.Culprits(), s.Revealed(m.SenderIndex(), 2))
		}
		if states[0] != states[1] {
			t.Fatalf("replays differ: %s / %s", states[0], states[1])
		}
	})
}

// TestRepairTwoVictims: with n = 7 (t = 2), dealer 5 sends bad shares to
// replicas 1 and 3, which both miss the responding phase. The first late
// complaint exposes dealer 5, the second is accepted without a second share
// check, T+1 = 3 reveals repair it, and both victims derive shares that
// reconstruct every group key with an honest replica's.
func TestRepairTwoVictims(t *testing.T) {
	g := group.Secp256k1()
	f := newFixture(t, g, 7, 2)
	s, err := NewSession(f.p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 7; i++ {
		d, err := NewDealing(f.p, i, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			d.Ciphertexts[0][0] ^= 1
			d.Ciphertexts[2][40] ^= 1
		}
		if err := s.Apply(roundTrip(t, g, d)); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range []int{2, 4, 5, 6, 7} {
		r, err := s.Respond(j, f.sks[j-1], rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Apply(roundTrip(t, g, r))
	}
	for _, j := range []int{2, 4, 6} {
		_ = s.Apply(&TimeoutVote{Sender: j, Phase: PhaseResponding})
	}
	if s.Status() != StatusDone {
		t.Fatalf("status %v", s.Status())
	}
	for k, j := range []int{1, 3} {
		lcs, err := s.LateComplaints(j, f.sks[j-1], rand.Reader)
		if err != nil || len(lcs) != 1 || lcs[0].Complaint.Dealer != 5 {
			t.Fatalf("late complaints of %d: %v, %v", j, lcs, err)
		}
		err = s.Apply(roundTrip(t, g, lcs[0]))
		if k == 0 {
			wantCulprit(t, "first late complaint", err, Culprit{Replica: 5, Reason: ReasonBadShares, Other: j})
		} else if err != nil {
			t.Fatalf("second late complaint: %v", err)
		}
	}
	for _, k := range []int{2, 4, 6} {
		if s.Repair(5) != RepairExposed {
			t.Fatalf("dealer 5: %v before %d's reveal", s.Repair(5), k)
		}
		r, err := s.Reveal(k, f.sks[k-1], 5)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(roundTrip(t, g, r)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Repair(5) != RepairComplete {
		t.Fatalf("dealer 5: %v", s.Repair(5))
	}
	res, _ := s.Result()
	x2, err := s.Shares(2, f.sks[1])
	if err != nil {
		t.Fatal(err)
	}
	x1, err1 := s.Shares(1, f.sks[0])
	x3, err3 := s.Shares(3, f.sks[2])
	if err1 != nil || err3 != nil {
		t.Fatalf("victims' shares: %v, %v", err1, err3)
	}
	for b := range x1 {
		secret, err := vss.InterpolateScalars(g, map[int]group.Scalar{1: x1[b], 2: x2[b], 3: x3[b]})
		if err != nil {
			t.Fatal(err)
		}
		if !g.BaseMul(secret).Equal(res.GroupKeys[b]) {
			t.Fatalf("slot %d: repaired shares do not reconstruct the group key", b)
		}
	}
}
