package dkg

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

func groups() []group.Group { return []group.Group{group.Secp256k1(), group.BLS12381G1()} }

// fixture is one session's parameters with every replica's secret key.
type fixture struct {
	p   Params
	sks []group.Scalar // sks[j-1]
}

func newFixture(t testing.TB, g group.Group, n, batch int) fixture {
	t.Helper()
	ec := group.Secp256k1()
	f := fixture{p: Params{Group: g, N: n, T: DefaultT(n), Batch: batch, SessionID: []byte("test session " + g.Name())}}
	for range n {
		sk, err := ec.RandomScalar(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		f.sks = append(f.sks, sk)
		f.p.ReplicaKeys = append(f.p.ReplicaKeys, ec.BaseMul(sk))
	}
	return f
}

// roundTrip marshals and decodes m as the network would.
func roundTrip(t testing.TB, g group.Group, m Message) Message {
	t.Helper()
	b := m.Marshal()
	out, err := DecodeMessage(g, b)
	if err != nil {
		t.Fatalf("decode %v: %v", m.Kind(), err)
	}
	if out.Kind() != m.Kind() || out.SenderIndex() != m.SenderIndex() || !bytes.Equal(out.Marshal(), b) {
		t.Fatalf("%v does not round-trip", m.Kind())
	}
	return out
}

// behaviour makes a replica misbehave in a run.
type behaviour int

const (
	honest       behaviour = iota
	silent                 // posts nothing
	badShare               // deals a share inconsistent with the commitments to its next peer
	malformed              // deals commitments of the wrong degree
	falseAccuser           // complains about every honest dealer's correct shares
	badProof               // complains with a revealed key that is not the pairwise key
)

// run executes a whole session in memory with the given behaviours (replica
// index → behaviour) and returns the session and the transcript.
func run(t testing.TB, f fixture, bad map[int]behaviour) (*Session, []Message) {
	t.Helper()
	p := f.p
	s, err := NewSession(p)
	if err != nil {
		t.Fatal(err)
	}
	var transcript []Message
	apply := func(m Message) {
		m = roundTrip(t, p.Group, m)
		transcript = append(transcript, m)
		_ = s.Apply(m) // outcomes are checked through the session state
	}
	for i := 1; i <= p.N; i++ {
		if bad[i] == silent {
			continue
		}
		d, err := NewDealing(p, i, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		switch bad[i] {
		case badShare:
			victim := i%p.N + 1
			d.Ciphertexts[victim-1][len(d.Ciphertexts[victim-1])-1] ^= 1
		case malformed:
			// Decodes, but the commitments have degree T−1.
			for b, c := range d.Commitments {
				d.Commitments[b] = c[:len(c)-1]
			}
		}
		apply(d)
	}
	if s.Status() == StatusDealing {
		for i := 1; i <= p.N; i++ {
			if bad[i] != silent {
				apply(&TimeoutVote{Sender: i, Phase: PhaseDealing})
			}
		}
	}
	if s.Status() != StatusResponding {
		t.Fatalf("status after dealing = %v", s.Status())
	}
	for j := 1; j <= p.N; j++ {
		var r *Response
		switch bad[j] {
		case silent:
			continue
		case falseAccuser, badProof:
			r = &Response{Sender: j}
			for _, d := range s.Dealings() {
				if d.Dealer == j || bad[d.Dealer] != honest {
					continue
				}
				c, err := NewComplaint(p, j, f.sks[j-1], d, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				if bad[j] == badProof {
					c.Key = c.Key.Add(group.Secp256k1().Generator())
				}
				r.Complaints = append(r.Complaints, c)
			}
		default:
			r, err = s.Respond(j, f.sks[j-1], rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
		}
		apply(r)
	}
	if s.Status() == StatusResponding {
		for j := 1; j <= p.N; j++ {
			if bad[j] != silent {
				apply(&TimeoutVote{Sender: j, Phase: PhaseResponding})
			}
		}
	}
	return s, transcript
}

// checkOutputs verifies every honest replica's shares against the result
// and that t+1 of them reconstruct the secret behind each group key.
func checkOutputs(t *testing.T, f fixture, s *Session, bad map[int]behaviour) {
	t.Helper()
	res, err := s.Result()
	if err != nil {
		t.Fatal(err)
	}
	shares := make([]map[int]group.Scalar, f.p.Batch)
	for b := range shares {
		shares[b] = map[int]group.Scalar{}
	}
	for j := 1; j <= f.p.N; j++ {
		if bad[j] != honest {
			continue
		}
		xs, err := s.Shares(j, f.sks[j-1])
		if err != nil {
			t.Fatalf("replica %d shares: %v", j, err)
		}
		for b, x := range xs {
			if !f.p.Group.BaseMul(x).Equal(res.VerificationKey(b, j)) {
				t.Fatalf("replica %d slot %d: share does not match its verification key", j, b)
			}
			if len(shares[b]) <= f.p.T {
				shares[b][j] = x
			}
		}
	}
	for b, sh := range shares {
		secret, err := vss.InterpolateScalars(f.p.Group, sh)
		if err != nil {
			t.Fatal(err)
		}
		if !f.p.Group.BaseMul(secret).Equal(res.GroupKeys[b]) {
			t.Fatalf("slot %d: t+1 shares do not reconstruct the group key", b)
		}
	}
	if f.p.Batch > 1 && res.GroupKeys[0].Equal(res.GroupKeys[1]) {
		t.Fatal("batch slots share a key")
	}
}

func culpritSet(cs []Culprit) map[int]Reason {
	out := map[int]Reason{}
	for _, c := range cs {
		out[c.Replica] = c.Reason
	}
	return out
}

func TestHonestRun(t *testing.T) {
	for _, g := range groups() {
		for _, n := range []int{4, 7} {
			t.Run(fmt.Sprintf("%s/n=%d", g.Name(), n), func(t *testing.T) {
				f := newFixture(t, g, n, 3)
				s, transcript := run(t, f, nil)
				if s.Status() != StatusDone {
					t.Fatalf("status %v", s.Status())
				}
				res, _ := s.Result()
				if len(res.Qualified) != n || len(res.Culprits) != 0 || len(res.Absent) != 0 {
					t.Fatalf("Q=%v culprits=%v absent=%v", res.Qualified, res.Culprits, res.Absent)
				}
				// With everyone contributing, no timeout vote was needed.
				for _, m := range transcript {
					if m.Kind() == KindTimeout {
						t.Fatal("honest run needed a timeout")
					}
				}
				checkOutputs(t, f, s, nil)
				// Replaying the transcript rebuilds the same state.
				s2, err := NewSession(f.p)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range transcript {
					_ = s2.Apply(m)
				}
				res2, err := s2.Result()
				if err != nil || !slices.Equal(res2.Qualified, res.Qualified) {
					t.Fatalf("replay: %v", err)
				}
				for b := range res.Commitments {
					if !res2.Commitments[b].Equal(res.Commitments[b]) {
						t.Fatal("replay: different commitments")
					}
				}
			})
		}
	}
}

func TestMisbehaviour(t *testing.T) {
	cases := []struct {
		name         string
		n            int
		bad          map[int]behaviour
		qualified    []int
		culprits     map[int]Reason
		absent       []int
		wantFailure  bool
		checkSharing bool
	}{
		{name: "bad share", n: 4, bad: map[int]behaviour{2: badShare},
			qualified: []int{1, 3, 4}, culprits: map[int]Reason{2: ReasonBadShares}},
		{name: "malformed dealing", n: 4, bad: map[int]behaviour{4: malformed},
			qualified: []int{1, 2, 3}, culprits: map[int]Reason{4: ReasonMalformedDealing}},
		{name: "false complaint", n: 4, bad: map[int]behaviour{1: falseAccuser},
			qualified: []int{1, 2, 3, 4}, culprits: map[int]Reason{1: ReasonFalseComplaint}},
		{name: "bad complaint proof", n: 4, bad: map[int]behaviour{3: badProof},
			qualified: []int{1, 2, 3, 4}, culprits: map[int]Reason{3: ReasonInvalidComplaint}},
		{name: "silent", n: 4, bad: map[int]behaviour{2: silent},
			qualified: []int{1, 3, 4}, culprits: map[int]Reason{}, absent: []int{2}},
		{name: "n=7 two cheats", n: 7, bad: map[int]behaviour{3: badShare, 6: falseAccuser},
			qualified: []int{1, 2, 4, 5, 6, 7}, culprits: map[int]Reason{3: ReasonBadShares, 6: ReasonFalseComplaint}},
		{name: "n=7 silent and malformed", n: 7, bad: map[int]behaviour{1: silent, 7: malformed},
			qualified: []int{2, 3, 4, 5, 6}, culprits: map[int]Reason{7: ReasonMalformedDealing}, absent: []int{1}},
		{name: "n=4 three malformed", n: 4, bad: map[int]behaviour{1: malformed, 2: malformed, 3: malformed},
			culprits: map[int]Reason{1: ReasonMalformedDealing, 2: ReasonMalformedDealing, 3: ReasonMalformedDealing}, wantFailure: true},
	}
	for _, g := range groups() {
		for _, c := range cases {
			t.Run(g.Name()+"/"+c.name, func(t *testing.T) {
				f := newFixture(t, g, c.n, 2)
				s, _ := run(t, f, c.bad)
				if c.wantFailure {
					if s.Status() != StatusFailed {
						t.Fatalf("status %v, want failed", s.Status())
					}
					var e *Error
					if err := s.Err(); !errors.As(err, &e) || !errors.Is(err, ErrNotQualified) {
						t.Fatalf("Err() = %v", err)
					}
					if got := culpritSet(e.Culprits); !mapsEqual(got, c.culprits) {
						t.Fatalf("culprits %v, want %v", got, c.culprits)
					}
					if _, err := s.Shares(4, f.sks[3]); !errors.Is(err, ErrNotQualified) {
						t.Fatalf("Shares of failed session: %v", err)
					}
					return
				}
				if s.Status() != StatusDone {
					t.Fatalf("status %v: %v", s.Status(), s.Err())
				}
				res, _ := s.Result()
				if !slices.Equal(res.Qualified, c.qualified) {
					t.Fatalf("Q = %v, want %v", res.Qualified, c.qualified)
				}
				if got := culpritSet(res.Culprits); !mapsEqual(got, c.culprits) {
					t.Fatalf("culprits %v, want %v", res.Culprits, c.culprits)
				}
				if !slices.Equal(res.Absent, c.absent) {
					t.Fatalf("absent %v, want %v", res.Absent, c.absent)
				}
				checkOutputs(t, f, s, c.bad)
			})
		}
	}
}

func mapsEqual(a, b map[int]Reason) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestPhaseRules checks the closing rule and that out-of-phase, duplicate
// and out-of-range messages are ignored.
func TestPhaseRules(t *testing.T) {
	g := group.Secp256k1()
	f := newFixture(t, g, 4, 1)
	s, err := NewSession(f.p)
	if err != nil {
		t.Fatal(err)
	}
	deal := func(i int) *Dealing {
		d, err := NewDealing(f.p, i, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if err := s.Apply(&Response{Sender: 1}); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("early response: %v", err)
	}
	if err := s.Apply(&TimeoutVote{Sender: 1, Phase: PhaseResponding}); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("early responding vote: %v", err)
	}
	if err := s.Apply(&TimeoutVote{Sender: 5, Phase: PhaseDealing}); !errors.Is(err, ErrInvalidIndex) {
		t.Fatalf("vote from replica 5: %v", err)
	}
	d5 := deal(1)
	d5.Dealer = 5
	if err := s.Apply(d5); !errors.Is(err, ErrInvalidIndex) {
		t.Fatalf("dealing from replica 5: %v", err)
	}
	for _, m := range []Message{nil, (*Dealing)(nil), (*Response)(nil), (*TimeoutVote)(nil)} {
		if err := s.Apply(m); !errors.Is(err, ErrUnknownMessage) {
			t.Fatalf("nil message: %v", err)
		}
	}
	// Votes may come before the dealings; the phase closes on the (N−F)th.
	for _, i := range []int{1, 2} {
		if err := s.Apply(&TimeoutVote{Sender: i, Phase: PhaseDealing}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Apply(&TimeoutVote{Sender: 2, Phase: PhaseDealing}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate vote: %v", err)
	}
	first := deal(1)
	if err := s.Apply(first); err != nil {
		t.Fatal(err)
	}
	if !s.Dealt(1) || s.Dealt(2) || s.Dealt(0) || s.Responded(1) {
		t.Fatal("Dealt/Responded wrong")
	}
	if err := s.Apply(deal(1)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second dealing: %v", err)
	}
	if err := s.Apply(deal(2)); err != nil || s.Status() != StatusDealing {
		t.Fatalf("2 of 4 dealings: %v, %v", err, s.Status())
	}
	if s.Dealings() != nil {
		t.Fatal("dealings exposed before close")
	}
	if err := s.Apply(deal(3)); err != nil || s.Status() != StatusResponding {
		t.Fatalf("3 of 4 dealings with 2 votes: %v, %v", err, s.Status())
	}
	if err := s.Apply(deal(4)); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("late dealing: %v", err)
	}
	if ds := s.Dealings(); len(ds) != 3 || ds[0] != first {
		t.Fatal("closed dealings wrong")
	}
	// Responding: one vote is not enough (F+1 = 2 needed).
	for j := 1; j <= 3; j++ {
		r, err := s.Respond(j, f.sks[j-1], rand.Reader)
		if err != nil || len(r.Complaints) != 0 {
			t.Fatalf("respond %d: %v", j, err)
		}
		if err := s.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Apply(&Response{Sender: 3}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate response: %v", err)
	}
	if err := s.Apply(&TimeoutVote{Sender: 1, Phase: PhaseResponding}); err != nil || s.Status() != StatusResponding {
		t.Fatalf("one vote: %v, %v", err, s.Status())
	}
	if _, err := s.Result(); !errors.Is(err, ErrNotDone) {
		t.Fatalf("early result: %v", err)
	}
	if _, err := s.Shares(1, f.sks[0]); !errors.Is(err, ErrNotDone) {
		t.Fatalf("early shares: %v", err)
	}
	if err := s.Apply(&TimeoutVote{Sender: 4, Phase: PhaseResponding}); err != nil || s.Status() != StatusDone {
		t.Fatalf("two votes: %v, %v", err, s.Status())
	}
	res, _ := s.Result()
	if !slices.Equal(res.Qualified, []int{1, 2, 3}) || !slices.Equal(res.Absent, []int{4}) {
		t.Fatalf("Q=%v absent=%v", res.Qualified, res.Absent)
	}
	if _, err := s.Shares(1, f.sks[1]); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("shares with the wrong key: %v", err)
	}
	if _, err := s.Shares(0, f.sks[0]); !errors.Is(err, ErrInvalidIndex) {
		t.Fatalf("shares of replica 0: %v", err)
	}
	// Replica 4 dealt nothing but still receives shares from Q.
	xs, err := s.Shares(4, f.sks[3])
	if err != nil || len(xs) != 1 || !g.BaseMul(xs[0]).Equal(res.VerificationKey(0, 4)) {
		t.Fatalf("absent replica's shares: %v", err)
	}
	if err := s.Apply(&Response{Sender: 4}); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("late response: %v", err)
	}
}

// TestComplaintEdgeCases checks complaints that name an unknown or repeated
// dealer, and that an honest complaint's reveal discloses only the shares of
// that one dealing.
func TestComplaintEdgeCases(t *testing.T) {
	g := group.BLS12381G1()
	f := newFixture(t, g, 4, 1)
	s, _ := NewSession(f.p)
	for i := 1; i <= 3; i++ {
		d, _ := NewDealing(f.p, i, rand.Reader)
		if err := s.Apply(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []int{1, 2} {
		_ = s.Apply(&TimeoutVote{Sender: v, Phase: PhaseDealing})
	}
	ds := s.Dealings()
	c1, err := NewComplaint(f.p, 2, f.sks[1], ds[0], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wrongDealer := c1
	wrongDealer.Dealer = 4 // replica 4 did not deal
	var e *Error
	err = s.Apply(&Response{Sender: 2, Complaints: []Complaint{wrongDealer}})
	if !errors.As(err, &e) || e.Culprits[0] != (Culprit{Replica: 2, Reason: ReasonInvalidComplaint, Other: 4}) {
		t.Fatalf("complaint about a non-dealer: %v", err)
	}
	// A complaint against dealer 1 proven for dealer 2's ephemeral key fails.
	c2, _ := NewComplaint(f.p, 3, f.sks[2], ds[1], rand.Reader)
	c2.Dealer = 1
	err = s.Apply(&Response{Sender: 3, Complaints: []Complaint{c2}})
	if !errors.As(err, &e) || e.Culprits[0].Reason != ReasonInvalidComplaint {
		t.Fatalf("transplanted complaint: %v", err)
	}
	// The zero proof is rejected without panicking.
	err = s.Apply(&Response{Sender: 1, Complaints: []Complaint{{Dealer: 2, Key: c1.Key}}})
	if !errors.As(err, &e) || e.Culprits[0].Reason != ReasonInvalidComplaint {
		t.Fatalf("zero proof: %v", err)
	}
	if got := len(s.Culprits()); got != 3 {
		t.Fatalf("%d culprits, want 3", got)
	}
}

// TestCopiedEphemeralKey checks that a dealer cannot reuse another dealer's
// ephemeral key and proof: recipients' complaints against it would reveal
// their pairwise keys with the honest dealer.
func TestCopiedEphemeralKey(t *testing.T) {
	f := newFixture(t, group.Secp256k1(), 4, 1)
	s, _ := NewSession(f.p)
	honest, _ := NewDealing(f.p, 1, rand.Reader)
	if err := s.Apply(honest); err != nil {
		t.Fatal(err)
	}
	thief, _ := NewDealing(f.p, 2, rand.Reader)
	thief.Ephemeral, thief.EphemeralProof = honest.Ephemeral, honest.EphemeralProof
	if err := thief.Check(f.p); !errors.Is(err, ErrMalformedDealing) {
		t.Fatalf("Check of copied key: %v", err)
	}
	var e *Error
	if err := s.Apply(roundTrip(t, f.p.Group, thief)); !errors.As(err, &e) || e.Culprits[0].Reason != ReasonMalformedDealing {
		t.Fatalf("Apply of copied key: %v", err)
	}
}

func TestParamsValidate(t *testing.T) {
	f := newFixture(t, group.Secp256k1(), 4, 1)
	good := f.p
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	mutate := map[string]func(p *Params){
		"no group":      func(p *Params) { p.Group = nil },
		"n=0":           func(p *Params) { p.N = 0 },
		"t too large":   func(p *Params) { p.T = 2 },
		"t negative":    func(p *Params) { p.T = -1 },
		"batch 0":       func(p *Params) { p.Batch = 0 },
		"batch large":   func(p *Params) { p.Batch = MaxBatch + 1 },
		"no session id": func(p *Params) { p.SessionID = nil },
		"keys short":    func(p *Params) { p.ReplicaKeys = p.ReplicaKeys[:3] },
		"nil key": func(p *Params) {
			p.ReplicaKeys = []group.Point{nil, p.ReplicaKeys[1], p.ReplicaKeys[2], p.ReplicaKeys[3]}
		},
		"dup key": func(p *Params) {
			p.ReplicaKeys = []group.Point{p.ReplicaKeys[0], p.ReplicaKeys[0], p.ReplicaKeys[2], p.ReplicaKeys[3]}
		},
		"bls key": func(p *Params) {
			p.ReplicaKeys = slices.Clone(p.ReplicaKeys)
			p.ReplicaKeys[0] = group.BLS12381G1().Generator()
		},
	}
	for name, m := range mutate {
		p := good
		m(&p)
		if err := p.Validate(); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := NewSession(p); err == nil {
			t.Errorf("%s: NewSession accepted", name)
		}
	}
	if _, err := NewDealing(good, 5, rand.Reader); !errors.Is(err, ErrInvalidIndex) {
		t.Fatalf("NewDealing for replica 5: %v", err)
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	g := group.Secp256k1()
	f := newFixture(t, g, 4, 2)
	d, _ := NewDealing(f.p, 1, rand.Reader)
	db := d.Marshal()
	c, _ := NewComplaint(f.p, 2, f.sks[1], d, rand.Reader)
	rb := (&Response{Sender: 2, Complaints: []Complaint{c}}).Marshal()
	vb := (&TimeoutVote{Sender: 3, Phase: PhaseDealing}).Marshal()
	for _, b := range [][]byte{db, rb, vb} {
		if _, err := DecodeMessage(g, b); err != nil {
			t.Fatal(err)
		}
	}
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	bad := map[string][]byte{
		"empty":          nil,
		"version":        set(vb, 0, 2),
		"kind":           set(vb, 1, 9),
		"sender 0":       set(set(vb, 2, 0), 3, 0),
		"phase":          set(vb, 4, 3),
		"vote trailing":  append(bytes.Clone(vb), 0),
		"dealing short":  db[:len(db)-1],
		"dealing long":   append(bytes.Clone(db), 0),
		"batch 0":        set(set(db, 4, 0), 5, 0),
		"batch mismatch": set(db, 5, 3),
		"ephemeral":      set(db, 10, db[10]^0xff),
		"commitment":     set(db, 10+33+64, 0x07),
		"response short": rb[:len(rb)-1],
		"dealer 0":       set(set(rb, 6, 0), 7, 0),
		"complaint key":  set(rb, 8, 0x05),
		"bls dealing":    nil,
	}
	bd, _ := NewDealing(Params{Group: group.BLS12381G1(), N: 4, T: 1, Batch: 1, SessionID: []byte("x"), ReplicaKeys: f.p.ReplicaKeys}, 1, rand.Reader)
	bad["bls dealing"] = bd.Marshal()
	for name, b := range bad {
		if _, err := DecodeMessage(g, b); !errors.Is(err, ErrMalformedMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Two complaints about the same dealer are not canonical.
	two := (&Response{Sender: 2, Complaints: []Complaint{c, c}}).Marshal()
	if _, err := DecodeMessage(g, two); !errors.Is(err, ErrMalformedMessage) {
		t.Errorf("repeated dealer: %v", err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	fx := newFixture(f, group.Secp256k1(), 4, 1)
	d, _ := NewDealing(fx.p, 1, rand.Reader)
	c, _ := NewComplaint(fx.p, 2, fx.sks[1], d, rand.Reader)
	f.Add(d.Marshal())
	f.Add((&Response{Sender: 2, Complaints: []Complaint{c}}).Marshal())
	f.Add((&Response{Sender: 2}).Marshal())
	f.Add((&TimeoutVote{Sender: 3, Phase: PhaseResponding}).Marshal())
	lc, _ := NewLateComplaint(fx.p, 2, fx.sks[1], d, rand.Reader)
	f.Add(lc.Marshal())
	f.Add((&Reveal{Sender: 2, Dealer: 1, Shares: []group.Scalar{fx.p.Group.ScalarFromUint64(9)}}).Marshal())
	bf := newFixture(f, group.BLS12381G1(), 4, 1)
	bd, _ := NewDealing(bf.p, 2, rand.Reader)
	f.Add(bd.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, g := range groups() {
			m, err := DecodeMessage(g, b)
			if err != nil {
				continue
			}
			if !bytes.Equal(m.Marshal(), b) {
				t.Fatalf("%s: non-canonical %v accepted", g.Name(), m.Kind())
			}
			// Any decoded message can be applied without panicking.
			p := fx.p
			p.Group = g
			s, err := NewSession(p)
			if err != nil {
				t.Fatal(err)
			}
			_ = s.Apply(m)
		}
	})
}

func BenchmarkNewDealing(b *testing.B) {
	for _, g := range groups() {
		for _, batch := range []int{1, 64} {
			f := newFixture(b, g, 4, batch)
			b.Run(fmt.Sprintf("%s/batch=%d", g.Name(), batch), func(b *testing.B) {
				for b.Loop() {
					if _, err := NewDealing(f.p, 1, rand.Reader); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkApplyDealing measures what FinalizeBlock does per dealing: decode
// and apply (public checks only).
func BenchmarkApplyDealing(b *testing.B) {
	for _, g := range groups() {
		for _, batch := range []int{1, 64} {
			f := newFixture(b, g, 4, batch)
			d, _ := NewDealing(f.p, 1, rand.Reader)
			raw := d.Marshal()
			b.Run(fmt.Sprintf("%s/batch=%d", g.Name(), batch), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					s, _ := NewSession(f.p)
					b.StartTimer()
					m, err := DecodeMessage(g, raw)
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Apply(m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRespond measures a recipient decrypting and checking its shares
// of N dealings.
func BenchmarkRespond(b *testing.B) {
	for _, g := range groups() {
		f := newFixture(b, g, 4, 64)
		s, _ := run(b, f, nil)
		ds := s.Dealings()
		b.Run(fmt.Sprintf("%s/batch=64", g.Name()), func(b *testing.B) {
			for b.Loop() {
				if _, err := RespondTo(f.p, 1, f.sks[0], ds, rand.Reader); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkShares(b *testing.B) {
	for _, g := range groups() {
		f := newFixture(b, g, 4, 64)
		s, _ := run(b, f, nil)
		b.Run(fmt.Sprintf("%s/batch=64", g.Name()), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Shares(2, f.sks[1]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSharesNamesUnreportedCheat checks that a replica that did not complain
// in time about a cheating dealer gets an error naming it from Shares, not a
// wrong share.
func TestSharesNamesUnreportedCheat(t *testing.T) {
	f := newFixture(t, group.Secp256k1(), 4, 2)
	s, _ := NewSession(f.p)
	for i := 1; i <= 4; i++ {
		d, _ := NewDealing(f.p, i, rand.Reader)
		if i == 2 {
			d.Ciphertexts[2][5] ^= 0x80 // replica 3's first share
		}
		if err := s.Apply(roundTrip(t, f.p.Group, d)); err != nil {
			t.Fatal(err)
		}
	}
	// Replicas 1, 2, 4 respond; replica 3 is late and the phase times out.
	for _, j := range []int{1, 2, 4} {
		r, err := s.Respond(j, f.sks[j-1], rand.Reader)
		if err != nil || len(r.Complaints) != 0 {
			t.Fatalf("respond %d: %v", j, err)
		}
		_ = s.Apply(r)
	}
	for _, j := range []int{1, 4} {
		_ = s.Apply(&TimeoutVote{Sender: j, Phase: PhaseResponding})
	}
	if s.Status() != StatusDone {
		t.Fatalf("status %v", s.Status())
	}
	var e *Error
	_, err := s.Shares(3, f.sks[2])
	if !errors.As(err, &e) || !errors.Is(err, ErrBadShares) || len(e.Culprits) != 1 || e.Culprits[0].Replica != 2 {
		t.Fatalf("Shares of the victim: %v", err)
	}
	for _, j := range []int{1, 2, 4} {
		if _, err := s.Shares(j, f.sks[j-1]); err != nil {
			t.Fatalf("Shares of %d: %v", j, err)
		}
	}
}

// BenchmarkApplyComplaint measures FinalizeBlock's cost of judging one valid
// complaint (DLEQ check, decryption and Batch share checks).
func BenchmarkApplyComplaint(b *testing.B) {
	for _, g := range groups() {
		f := newFixture(b, g, 4, 64)
		var ds []*Dealing
		for i := 1; i <= 4; i++ {
			d, _ := NewDealing(f.p, i, rand.Reader)
			if i == 2 {
				d.Ciphertexts[0][len(d.Ciphertexts[0])-1] ^= 1 // replica 1's last share: worst case
			}
			ds = append(ds, d)
		}
		s0, _ := NewSession(f.p)
		for _, d := range ds {
			_ = s0.Apply(d)
		}
		r, err := s0.Respond(1, f.sks[0], rand.Reader)
		if err != nil || len(r.Complaints) != 1 {
			b.Fatalf("respond: %v", err)
		}
		b.Run(fmt.Sprintf("%s/batch=64", g.Name()), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				s, _ := NewSession(f.p)
				for _, d := range ds {
					_ = s.Apply(d)
				}
				b.StartTimer()
				if err := s.Apply(r); err == nil {
					b.Fatal("complaint not upheld")
				}
			}
		})
	}
}

// constReader is a failed random source: the same byte forever.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// TestProofsWithStuckRandomness: with a random source stuck on one value,
// two dealers draw the same ephemeral key e, and one replica's complaints
// against two dealings prove the same secret sk. The hedged DLEQ nonce
// still differs between the statements (they differ in the dealer index
// bound into the tag, and the complaints in the ephemeral key), so neither
// e nor sk = (z1 − z2)/(c1 − c2) can be solved, and every proof verifies.
func TestProofsWithStuckRandomness(t *testing.T) {
	f := newFixture(t, group.Secp256k1(), 4, 1)
	ec := group.Secp256k1()
	G := ec.Generator()
	stuck := constReader(7)
	e, err := ec.RandomScalar(stuck) // what NewDealing draws first
	if err != nil {
		t.Fatal(err)
	}
	nonce := func(z, c, x group.Scalar) group.Scalar { return z.Sub(c.Mul(x)) }
	solve := func(z1, c1, z2, c2 group.Scalar) group.Scalar { return z1.Sub(z2).Mul(c1.Sub(c2).Inv()) }

	var ds []*Dealing
	for i := 1; i <= 2; i++ {
		d, err := NewDealing(f.p, i, stuck)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Ephemeral.Equal(ec.BaseMul(e)) {
			t.Fatal("the stuck reader did not give the expected ephemeral key")
		}
		if err := d.Check(f.p); err != nil {
			t.Fatalf("dealing %d: %v", i, err)
		}
		ds = append(ds, d)
	}
	p1, p2 := ds[0].EphemeralProof, ds[1].EphemeralProof
	if nonce(p1.Z, p1.C, e).Equal(nonce(p2.Z, p2.C, e)) || solve(p1.Z, p1.C, p2.Z, p2.C).Equal(e) {
		t.Fatal("ephemeral-key proofs of two dealers share a nonce")
	}

	// Replica 3 complains against both dealings (honest ones, but
	// NewComplaint does not check that), with dealings whose ephemeral
	// keys differ so that the pairwise keys differ as well.
	const me = 3
	sk := f.sks[me-1]
	var cs []Complaint
	for i := 1; i <= 2; i++ {
		d, err := NewDealing(f.p, i, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewComplaint(f.p, me, sk, d, stuck)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Proof.Verify(ec, f.p.dst("complaint", i, me), G, d.Ephemeral, f.p.replicaKey(me), c.Key); err != nil {
			t.Fatalf("complaint %d: %v", i, err)
		}
		cs = append(cs, c)
	}
	q1, q2 := cs[0].Proof, cs[1].Proof
	if nonce(q1.Z, q1.C, sk).Equal(nonce(q2.Z, q2.C, sk)) || solve(q1.Z, q1.C, q2.Z, q2.C).Equal(sk) {
		t.Fatal("two complaints by one replica share a nonce")
	}
}
