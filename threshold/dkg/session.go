package dkg

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// Status is the lifecycle state of a [Session].
type Status uint8

const (
	// StatusDealing collects dealings. It closes when all N replicas have
	// dealt, or when at least N−F valid dealings are in and at least F+1
	// replicas voted to time the phase out.
	StatusDealing Status = iota + 1
	// StatusResponding collects every replica's response (its complaints
	// against the closed dealings). It closes when all N replicas have
	// responded, or at least N−F have and at least F+1 voted a timeout;
	// qualification then runs.
	StatusResponding
	// StatusDone is final: at least T+1 dealers qualified and [Session.Result]
	// holds the group keys and commitments.
	StatusDone
	// StatusFailed is final: fewer than T+1 dealers qualified (possible only
	// with more than F faulty replicas); [Session.Err] names the culprits.
	StatusFailed
)

// transitions is the table of valid status changes; [Session] makes no other.
var transitions = map[Status][]Status{
	StatusDealing:    {StatusResponding},
	StatusResponding: {StatusDone, StatusFailed},
	StatusDone:       nil,
	StatusFailed:     nil,
}

// String returns the status name.
func (s Status) String() string {
	switch s {
	case StatusDealing:
		return "dealing"
	case StatusResponding:
		return "responding"
	case StatusDone:
		return "done"
	case StatusFailed:
		return "failed"
	default:
		return fmt.Sprintf("status(%d)", uint8(s))
	}
}

// Reason says why a replica was named a culprit.
type Reason uint8

const (
	// ReasonMalformedDealing: the replica's first dealing did not match the
	// parameters or its ephemeral-key proof failed; it is disqualified.
	ReasonMalformedDealing Reason = iota + 1
	// ReasonBadShares: a valid complaint showed that the dealer sent shares
	// inconsistent with its commitments; it is disqualified.
	ReasonBadShares
	// ReasonInvalidComplaint: a complaint's DLEQ proof failed, or it named a
	// dealer whose dealing is not among the closed dealings.
	ReasonInvalidComplaint
	// ReasonFalseComplaint: a complaint's revealed shares are correct.
	ReasonFalseComplaint
)

// String returns a short description of the reason.
func (r Reason) String() string {
	switch r {
	case ReasonMalformedDealing:
		return "malformed dealing"
	case ReasonBadShares:
		return "shares inconsistent with commitments"
	case ReasonInvalidComplaint:
		return "invalid complaint"
	case ReasonFalseComplaint:
		return "false complaint"
	case ReasonBadReveal:
		return "revealed shares inconsistent with commitments"
	default:
		return fmt.Sprintf("reason(%d)", uint8(r))
	}
}

// Culprit names a replica that provably misbehaved.
type Culprit struct {
	// Replica is the misbehaving replica's index.
	Replica int
	// Reason is what it did.
	Reason Reason
	// Other is the other replica concerned: for ReasonBadShares the
	// complainer, for ReasonInvalidComplaint and ReasonFalseComplaint the
	// accused dealer, for ReasonBadReveal the exposed dealer; 0 for
	// ReasonMalformedDealing.
	Other int
}

// String describes the culprit; it contains no secret.
func (c Culprit) String() string {
	if c.Other != 0 {
		return fmt.Sprintf("replica %d: %s (re replica %d)", c.Replica, c.Reason, c.Other)
	}
	return fmt.Sprintf("replica %d: %s", c.Replica, c.Reason)
}

// Error is returned for outcomes caused by misbehaving replicas and names
// them.
type Error struct {
	// Culprits lists the misbehaving replicas, in transcript order.
	Culprits []Culprit
	// Err is the underlying sentinel.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	parts := make([]string, len(e.Culprits))
	for k, c := range e.Culprits {
		parts[k] = c.String()
	}
	return fmt.Sprintf("%v: %s", e.Err, strings.Join(parts, "; "))
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// Errors returned by [Session.Apply] and the accessors. Apply's error
// describes what happened to the message; whatever it returns, the session
// state after Apply is a deterministic function of the transcript.
var (
	// ErrWrongPhase: the message does not belong to the current phase and
	// was ignored.
	ErrWrongPhase = errors.New("dkg: message for another phase")
	// ErrDuplicate: the sender already contributed to this phase; the
	// message was ignored.
	ErrDuplicate = errors.New("dkg: duplicate message")
	// ErrUnknownMessage: the message type is not one of this package's.
	ErrUnknownMessage = errors.New("dkg: unknown message type")
	// ErrMisbehaviour wraps the [Error] returned when a message proved its
	// sender or a dealer misbehaved (the message was applied and the culprit
	// recorded), and the [Error] of a failed session.
	ErrMisbehaviour = errors.New("dkg: misbehaving replicas")
	// ErrNotDone: the result or shares were asked for before StatusDone.
	ErrNotDone = errors.New("dkg: session not done")
	// ErrNotQualified: the session failed to qualify T+1 dealers.
	ErrNotQualified = errors.New("dkg: fewer than t+1 qualified dealers")
)

// Result is the public output of a successful session.
type Result struct {
	// Qualified is Q, the qualified dealers in increasing order.
	Qualified []int
	// Absent lists the replicas that had posted no dealing when the dealing
	// phase closed (silent or slow; not provable misbehaviour).
	Absent []int
	// GroupKeys[b] is Σ_{i∈Q} C_i,b,0, the public key of batch slot b.
	GroupKeys []group.Point
	// Commitments[b] is Σ_{i∈Q} C_i,b; replica j's verification key for slot
	// b is Commitments[b].Eval(j).
	Commitments []vss.Commitment
	// Culprits lists the provably misbehaving replicas, in transcript order.
	Culprits []Culprit
}

// VerificationKey returns replica j's public key share for batch slot b,
// x_j·G where x_j is its secret share, or nil for indices out of range.
func (r *Result) VerificationKey(b, j int) group.Point {
	if b < 0 || b >= len(r.Commitments) {
		return nil
	}
	return r.Commitments[b].Eval(j)
}

// Session is the deterministic DKG state machine of one session, fed the
// consensus-ordered transcript through [Session.Apply]. It holds no secret:
// secrets enter only [Session.Respond] and [Session.Shares], as arguments.
//
// To rebuild a Session after a restart, call [NewSession] with the same
// Params and Apply the stored messages in their original log order.
type Session struct {
	p    Params
	keys []group.Point // decoded replica keys; keys[j-1] = PK_j

	status Status

	dealings []*Dealing // dealings[i-1]: first valid dealing of dealer i, or nil
	dealt    []bool     // dealt[i-1]: dealer i posted a dealing (valid or not)
	closed   []int      // dealers with a valid dealing when the dealing phase closed

	responded []bool // responded[j-1]: j's response was applied
	votes     map[Phase][]bool

	disqualified []bool // disqualified[i-1]
	culprits     []Culprit

	result *Result

	rep *repairState // repair of a done session (repair.go); nil until used
}

// NewSession starts a session in StatusDealing.
func NewSession(p Params) (*Session, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	s := &Session{
		p:            p,
		keys:         make([]group.Point, p.N),
		status:       StatusDealing,
		dealings:     make([]*Dealing, p.N),
		dealt:        make([]bool, p.N),
		responded:    make([]bool, p.N),
		votes:        map[Phase][]bool{PhaseDealing: make([]bool, p.N), PhaseResponding: make([]bool, p.N)},
		disqualified: make([]bool, p.N),
	}
	for j := 1; j <= p.N; j++ {
		s.keys[j-1] = p.replicaKey(j)
	}
	p.ReplicaKeys = slices.Clone(p.ReplicaKeys)
	p.SessionID = slices.Clone(p.SessionID)
	s.p = p
	return s, nil
}

// Params returns the session parameters.
func (s *Session) Params() Params { return s.p }

// Status returns the current status.
func (s *Session) Status() Status { return s.status }

// setStatus moves to next, which must be allowed by the transition table.
func (s *Session) setStatus(next Status) {
	if !slices.Contains(transitions[s.status], next) {
		// Unreachable: every call site follows the table.
		panic(fmt.Sprintf("dkg: invalid transition %v → %v", s.status, next))
	}
	s.status = next
}

// Apply feeds the next message of the ordered transcript. The sender index in
// the message must have been authenticated by the caller; Apply rejects
// indices outside 1..N. It returns nil if the message was applied; an error
// wrapping ErrWrongPhase, ErrDuplicate, ErrInvalidIndex or (for the repair
// messages of a done session, repair.go) ErrNothingToRepair if it was ignored;
// or an [*Error] (wrapping ErrMisbehaviour) naming culprits the message
// proved. Apply never panics on a message from [DecodeMessage] (called with
// the session's group) and is deterministic: the state after a sequence of
// Apply calls depends only on the sequence. The app should apply every
// committed message and treat the error as information to log, not as a
// reason to skip the message: rejection is already part of the state. The
// session keeps applied messages; the caller must not modify them.
func (s *Session) Apply(m Message) error {
	if m == nil {
		return ErrUnknownMessage
	}
	switch m := m.(type) {
	case *Dealing:
		if m != nil {
			return s.applyDealing(m)
		}
	case *Response:
		if m != nil {
			return s.applyResponse(m)
		}
	case *TimeoutVote:
		if m != nil {
			return s.applyVote(m)
		}
	case *LateComplaint: // repair.go
		if m != nil {
			return s.applyLateComplaint(m)
		}
	case *Reveal: // repair.go
		if m != nil {
			return s.applyReveal(m)
		}
	}
	return ErrUnknownMessage
}

func (s *Session) applyDealing(d *Dealing) error {
	if !s.p.inRange(d.Dealer) {
		return fmt.Errorf("%w: dealer %d", ErrInvalidIndex, d.Dealer)
	}
	if s.status != StatusDealing {
		return ErrWrongPhase
	}
	i := d.Dealer
	if s.dealt[i-1] {
		return ErrDuplicate
	}
	s.dealt[i-1] = true
	var err error
	if cerr := d.Check(s.p); cerr != nil {
		s.disqualified[i-1] = true
		err = s.blame(Culprit{Replica: i, Reason: ReasonMalformedDealing})
	} else {
		s.dealings[i-1] = d
	}
	s.maybeCloseDealing()
	return err
}

func (s *Session) applyVote(v *TimeoutVote) error {
	if !s.p.inRange(v.Sender) {
		return fmt.Errorf("%w: voter %d", ErrInvalidIndex, v.Sender)
	}
	switch {
	case v.Phase == PhaseDealing && s.status == StatusDealing:
	case v.Phase == PhaseResponding && s.status == StatusResponding:
	default:
		return ErrWrongPhase
	}
	votes := s.votes[v.Phase]
	if votes[v.Sender-1] {
		return ErrDuplicate
	}
	votes[v.Sender-1] = true
	if v.Phase == PhaseDealing {
		s.maybeCloseDealing()
	} else {
		s.maybeCloseResponding()
	}
	return nil
}

func count(xs []bool) int {
	n := 0
	for _, x := range xs {
		if x {
			n++
		}
	}
	return n
}

// phaseOver implements the closing rule shared by both phases: everyone
// contributed, or at least N−F did and at least F+1 replicas voted timeout.
func (s *Session) phaseOver(contributed, all int, votes []bool) bool {
	return all == s.p.N || (contributed >= s.p.N-s.p.F() && count(votes) >= s.p.F()+1)
}

func (s *Session) maybeCloseDealing() {
	valid := 0
	for _, d := range s.dealings {
		if d != nil {
			valid++
		}
	}
	if !s.phaseOver(valid, count(s.dealt), s.votes[PhaseDealing]) {
		return
	}
	for i, d := range s.dealings {
		if d != nil {
			s.closed = append(s.closed, i+1)
		}
	}
	s.setStatus(StatusResponding)
}

// Dealt reports whether replica i's dealing (valid or not) is in the
// transcript, so that a restarted replica does not deal again.
func (s *Session) Dealt(i int) bool { return s.p.inRange(i) && s.dealt[i-1] }

// Responded reports whether replica i's response is in the transcript.
func (s *Session) Responded(i int) bool { return s.p.inRange(i) && s.responded[i-1] }

// Dealings returns the closed dealings in dealer order, the input of
// [RespondTo]; nil while the dealing phase is open. The caller must not
// modify them.
func (s *Session) Dealings() []*Dealing {
	if s.status == StatusDealing {
		return nil
	}
	out := make([]*Dealing, 0, len(s.closed))
	for _, i := range s.closed {
		out = append(out, s.dealings[i-1])
	}
	return out
}

// Respond computes replica me's response to the closed dealings; see
// [RespondTo]. It requires StatusResponding.
func (s *Session) Respond(me int, sk group.Scalar, rand io.Reader) (*Response, error) {
	if s.status != StatusResponding {
		return nil, ErrWrongPhase
	}
	// The closed dealings passed Dealing.Check with s.p when they were
	// applied and are in dealer order: only the share checks remain.
	return respond(s.p, me, sk, s.Dealings(), rand)
}

func (s *Session) applyResponse(r *Response) error {
	j := r.Sender
	if !s.p.inRange(j) {
		return fmt.Errorf("%w: sender %d", ErrInvalidIndex, j)
	}
	if s.status != StatusResponding {
		return ErrWrongPhase
	}
	if s.responded[j-1] {
		return ErrDuplicate
	}
	s.responded[j-1] = true
	var found []Culprit
	seen := make(map[int]bool, len(r.Complaints))
	for _, c := range r.Complaints {
		if culprit, ok := s.judge(j, c, seen); ok {
			found = append(found, culprit)
		}
	}
	s.maybeCloseResponding()
	if len(found) > 0 {
		return &Error{Culprits: found, Err: ErrMisbehaviour}
	}
	return nil
}

// judge decides one complaint of j, records its outcome, and returns the
// culprit it names, if any. Its cost is bounded: the DLEQ check is a few
// secp256k1 multiplications, and the share check (one batch check of the
// Batch shares: a base multiplication and one multi-scalar multiplication)
// runs at most once per dealer that ends up disqualified and once per false
// complaint, which names a culprit.
func (s *Session) judge(j int, c Complaint, seen map[int]bool) (Culprit, bool) {
	i := c.Dealer
	if !s.p.inRange(i) || s.dealings[i-1] == nil || !slices.Contains(s.closed, i) || seen[i] ||
		c.Key == nil || c.Proof.C == nil || c.Proof.Z == nil {
		return s.record(Culprit{Replica: j, Reason: ReasonInvalidComplaint, Other: i}), true
	}
	seen[i] = true
	d := s.dealings[i-1]
	ec := group.Secp256k1()
	// ETHDKG: the complaint is valid only if K = sk_j·E_i, proven by
	// log_G(PK_j) = log_{E_i}(K).
	if err := c.Proof.Verify(ec, s.p.dst("complaint", i, j), ec.Generator(), d.Ephemeral, s.keys[j-1], c.Key); err != nil {
		return s.record(Culprit{Replica: j, Reason: ReasonInvalidComplaint, Other: i}), true
	}
	if s.disqualified[i-1] {
		// Already disqualified by an earlier valid complaint: the outcome
		// cannot change, so the costly share check is skipped.
		return Culprit{}, false
	}
	// The batch check decides alone: correct shares always pass it, and
	// naming the bad slot is not needed here.
	if shares, err := decryptShares(s.p, d, j, c.Key); err == nil && sharesMatch(s.p, d, j, shares) {
		// The revealed shares verify: the complaint is false.
		return s.record(Culprit{Replica: j, Reason: ReasonFalseComplaint, Other: i}), true
	}
	// GJKR Fig. 2, step 2: a dealer with a valid complaint against it is
	// disqualified (the complainer's shares are now public, so the dealer
	// cannot answer by revealing them as in GJKR; it is simply dropped).
	s.disqualified[i-1] = true
	return s.record(Culprit{Replica: i, Reason: ReasonBadShares, Other: j}), true
}

func (s *Session) record(c Culprit) Culprit {
	s.culprits = append(s.culprits, c)
	return c
}

func (s *Session) blame(c Culprit) error {
	return &Error{Culprits: []Culprit{s.record(c)}, Err: ErrMisbehaviour}
}

func (s *Session) maybeCloseResponding() {
	n := count(s.responded)
	if !s.phaseOver(n, n, s.votes[PhaseResponding]) {
		return
	}
	s.qualify()
}

// qualify computes Q and the outputs (GJKR Fig. 2, steps 2–4).
func (s *Session) qualify() {
	res := &Result{Culprits: slices.Clone(s.culprits)}
	for i := 1; i <= s.p.N; i++ {
		if !s.dealt[i-1] {
			res.Absent = append(res.Absent, i)
		}
		if slices.Contains(s.closed, i) && !s.disqualified[i-1] {
			res.Qualified = append(res.Qualified, i)
		}
	}
	if len(res.Qualified) < s.p.T+1 {
		s.result = res
		s.setStatus(StatusFailed)
		return
	}
	res.Commitments = make([]vss.Commitment, s.p.Batch)
	res.GroupKeys = make([]group.Point, s.p.Batch)
	// Every qualified commitment has exactly T+1 points ([Dealing.Check]):
	// C_b,k = Σ_{i∈Q} C_i,b,k, all Batch·(T+1) sums converted to affine
	// coordinates at once.
	deg := s.p.T + 1
	sets := make([][]group.Point, s.p.Batch*deg)
	for b := range res.Commitments {
		for k := range deg {
			set := make([]group.Point, len(res.Qualified))
			for q, i := range res.Qualified {
				set[q] = s.dealings[i-1].Commitments[b][k]
			}
			sets[b*deg+k] = set
		}
	}
	sums, err := group.SumEachPublic(s.p.Group, sets)
	if err != nil {
		// Unreachable: checked dealings hold points of the session's group.
		sums = make([]group.Point, len(sets))
		for n, set := range sets {
			sums[n] = s.p.Group.Identity()
			for _, c := range set {
				sums[n] = sums[n].Add(c)
			}
		}
	}
	for b := range res.Commitments {
		res.Commitments[b] = vss.Commitment(sums[b*deg : (b+1)*deg : (b+1)*deg])
		res.GroupKeys[b] = res.Commitments[b][0]
	}
	s.result = res
	s.setStatus(StatusDone)
}

// Result returns the public output once the session is done, or ErrNotDone
// (StatusDealing, StatusResponding) or the [Session.Err] of a failed session.
func (s *Session) Result() (*Result, error) {
	switch s.status {
	case StatusDone:
		return s.result, nil
	case StatusFailed:
		return nil, s.Err()
	default:
		return nil, ErrNotDone
	}
}

// Culprits returns the replicas named so far, in transcript order.
func (s *Session) Culprits() []Culprit { return slices.Clone(s.culprits) }

// Err returns nil unless the session failed; then an [*Error] wrapping
// ErrNotQualified and naming every culprit.
func (s *Session) Err() error {
	if s.status != StatusFailed {
		return nil
	}
	return &Error{Culprits: slices.Clone(s.culprits), Err: ErrNotQualified}
}

// Shares returns replica me's secret shares, one per batch slot:
// x_me,b = Σ_{i∈Q} f_i,b(me) (GJKR Fig. 2, step 4), decrypted with its
// long-term secp256k1 key sk and checked against the summed commitment.
// If a sum fails, Shares checks each qualified dealer's shares to find the
// culprit and returns an [*Error] wrapping ErrBadShares naming it; this
// happens only if me did not complain in time.
func (s *Session) Shares(me int, sk group.Scalar) ([]group.Scalar, error) {
	if s.status != StatusDone {
		if s.status == StatusFailed {
			return nil, s.Err()
		}
		return nil, ErrNotDone
	}
	out := make([]group.Scalar, s.p.Batch)
	for b := range out {
		out[b] = s.p.Group.Zero()
	}
	if err := checkKey(s.p, me, sk); err != nil {
		return nil, err
	}
	keys := make(map[int]group.Point, len(s.result.Qualified))
	var culprits []Culprit
	for _, i := range s.result.Qualified {
		if rep := s.repairedShares(i, me); rep != nil {
			// Dealer i was exposed and repaired (repair.go): its values are
			// interpolated from T+1 reveals checked against its commitments.
			for b := range out {
				out[b] = out[b].Add(rep[b])
			}
			continue
		}
		d := s.dealings[i-1]
		k := d.Ephemeral.Mul(sk) // K = sk·E, sk checked above
		keys[i] = k
		shares, err := decryptShares(s.p, d, me, k)
		if errors.Is(err, ErrBadShares) {
			culprits = append(culprits, Culprit{Replica: i, Reason: ReasonBadShares, Other: me})
			continue
		} else if err != nil {
			return nil, err
		}
		for b := range out {
			out[b] = out[b].Add(shares[b])
		}
	}
	if len(culprits) > 0 {
		return nil, &Error{Culprits: culprits, Err: ErrBadShares}
	}
	// Checking the sums against the summed commitments checks every share at
	// 1/|Q| of the cost, and all slots at once with one random linear
	// combination (batch.go) bound to every qualified dealing and to me;
	// only on failure are the slots and then the dealers checked one by one.
	qualified := make([][]byte, len(s.result.Qualified))
	for k, i := range s.result.Qualified {
		qualified[k] = s.dealings[i-1].Marshal()
	}
	r := batchCoefficients(s.p.Group, sumCheckSeed(s.p, me, qualified), len(out))
	if batchVerify(s.p.Group, s.result.Commitments, me, out, r) {
		return out, nil
	}
	for b, x := range out {
		if s.result.Commitments[b].Verify(me, x) {
			continue
		}
		for _, i := range s.result.Qualified {
			if keys[i] == nil {
				continue // repaired: checked when revealed
			}
			if _, err := openShares(s.p, s.dealings[i-1], me, keys[i]); err != nil {
				culprits = append(culprits, Culprit{Replica: i, Reason: ReasonBadShares, Other: me})
			}
		}
		return nil, &Error{Culprits: culprits, Err: ErrBadShares}
	}
	return out, nil
}
