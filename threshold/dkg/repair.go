package dkg

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/vhsm/vhsm/threshold/dleq"
	"github.com/vhsm/vhsm/threshold/group"
)

// Repair of a replica's shares after the session is done (issue 13).
//
// The responding phase closes at N−F responses and F+1 timeout votes, so a
// replica j that was slow or restarting may miss it. If a dealer i sent j
// bad shares, nobody complained in time, i stays qualified, and j cannot
// derive Σ_{i∈Q} f_i,b(j). Repair gives j its missing values f_i,b(j) from
// T+1 other replicas:
//
//  1. j posts a [LateComplaint] against i: the provable complaint of the
//     responding phase (K_ij with its DLEQ proof). If the revealed shares
//     fail i's commitments, i is exposed ([RepairExposed]); a late complaint
//     with a failing proof, or about correct shares, names j instead and
//     changes nothing else.
//  2. Every replica k whose own shares from the exposed i are valid posts a
//     [Reveal]: its Batch shares f_i,b(k) in the clear. Each is checked
//     against i's Feldman commitments; a wrong one is refused and names k.
//  3. Once T+1 valid reveals are in ([RepairComplete]), anyone interpolates
//     f_i,b(j) = Σ_k λ_k(j)·f_i,b(k), and [Session.Shares] uses these values
//     for dealer i instead of decrypting. The qualified set, group keys and
//     commitments never change: items already handed out stay valid.
//
// Why revealing an exposed dealer's shares is safe: a valid late complaint
// proves that i dealt shares inconsistent with its commitments, so i is
// faulty and knows f_i,b already; publishing T+1 of its points gives the
// adversary nothing it did not have. The secret of slot b is
// Σ_{q∈Q} f_q,b(0), and Q holds at least T+1 dealers, of which at most F = T
// are faulty, so at least one honest dealer's polynomial is in the sum and
// stays hidden: its shares are never revealed, because a late complaint
// against an honest dealer is false and exposes nobody. The reveals are
// available: the responding phase closed with at least N−F responses, none
// holding a valid complaint about i (i would be disqualified), so at least
// N−2F ≥ T+1 honest replicas hold valid shares from i and reveal them.
//
// Every message is bounded: one late complaint per (complainer, dealer),
// only from replicas that did not respond in time, one reveal per (revealer,
// dealer), and none once the dealer is repaired.

// Message kinds of the repair of a done session.
const (
	// KindLateComplaint tags a [LateComplaint].
	KindLateComplaint Kind = 4
	// KindReveal tags a [Reveal].
	KindReveal Kind = 5
)

// RepairStatus is the repair lifecycle of one qualified dealer of a done
// session.
type RepairStatus uint8

const (
	// RepairNone: no valid late complaint against the dealer.
	RepairNone RepairStatus = iota
	// RepairExposed: a valid late complaint proved the dealer sent bad
	// shares; replicas holding valid shares from it reveal them.
	RepairExposed
	// RepairComplete: T+1 valid reveals fix the dealer's polynomials;
	// every replica's values from it are interpolated from them.
	RepairComplete
)

// repairTransitions is the table of valid repair status changes.
var repairTransitions = map[RepairStatus][]RepairStatus{
	RepairNone:     {RepairExposed},
	RepairExposed:  {RepairComplete},
	RepairComplete: nil,
}

// String returns the status name.
func (r RepairStatus) String() string {
	switch r {
	case RepairNone:
		return "none"
	case RepairExposed:
		return "exposed"
	case RepairComplete:
		return "complete"
	default:
		return fmt.Sprintf("repair(%d)", uint8(r))
	}
}

// ReasonBadReveal: a reveal's shares fail the exposed dealer's commitments.
// Culprit.Other is the dealer.
const ReasonBadReveal Reason = ReasonFalseComplaint + 1

// ErrNothingToRepair: a late complaint against a dealer outside Q or already
// repaired, or from a replica whose response is in the transcript, or a
// reveal for a dealer that is not exposed or already repaired; the message
// was ignored.
var ErrNothingToRepair = errors.New("dkg: nothing to repair")

// LateComplaint is a provable complaint posted after the session is done
// by a replica that cannot derive its shares from a qualified dealer.
type LateComplaint struct {
	// Sender is the complaining replica's index, 1..N.
	Sender int
	// Complaint reveals the pairwise key of the accused dealing.
	Complaint Complaint
}

// Reveal is a replica's Batch shares from an exposed dealer, in the clear.
type Reveal struct {
	// Sender is the revealing replica's index, 1..N.
	Sender int
	// Dealer is the exposed dealer's index.
	Dealer int
	// Shares[b] is f_Dealer,b(Sender).
	Shares []group.Scalar
}

// Kind returns KindLateComplaint.
func (c *LateComplaint) Kind() Kind { return KindLateComplaint }

// SenderIndex returns the complainer index.
func (c *LateComplaint) SenderIndex() int { return c.Sender }

// Kind returns KindReveal.
func (r *Reveal) Kind() Kind { return KindReveal }

// SenderIndex returns the revealer index.
func (r *Reveal) SenderIndex() int { return r.Sender }

// Encoding (after the common header):
//
//	late complaint = dealer(2) K(33) proof(64)
//	reveal         = dealer(2) count(2) count × share(ScalarLen)

// Marshal returns the canonical encoding of the late complaint.
func (c *LateComplaint) Marshal() []byte {
	out := header(KindLateComplaint, c.Sender)
	out = binary.BigEndian.AppendUint16(out, uint16(c.Complaint.Dealer))
	out = append(out, c.Complaint.Key.Bytes()...)
	return append(out, c.Complaint.Proof.Bytes()...)
}

// Marshal returns the canonical encoding of the reveal.
func (r *Reveal) Marshal() []byte {
	out := header(KindReveal, r.Sender)
	out = binary.BigEndian.AppendUint16(out, uint16(r.Dealer))
	out = binary.BigEndian.AppendUint16(out, uint16(len(r.Shares)))
	for _, s := range r.Shares {
		out = append(out, s.Bytes()...)
	}
	return out
}

func decodeLateComplaint(sender int, b []byte) (*LateComplaint, error) {
	ec := group.Secp256k1()
	if len(b) != 2+ec.PointLen()+proofLen() {
		return nil, fmt.Errorf("%w: late complaint length", ErrMalformedMessage)
	}
	dealer := int(binary.BigEndian.Uint16(b[0:2]))
	if dealer < 1 || dealer > MaxN {
		return nil, fmt.Errorf("%w: late complaint dealer %d", ErrMalformedMessage, dealer)
	}
	key, err := ec.DecodePoint(b[2 : 2+ec.PointLen()])
	if err != nil {
		return nil, fmt.Errorf("%w: late complaint key: %w", ErrMalformedMessage, err)
	}
	proof, err := dleq.Decode(ec, b[2+ec.PointLen():])
	if err != nil {
		return nil, fmt.Errorf("%w: late complaint proof: %w", ErrMalformedMessage, err)
	}
	return &LateComplaint{Sender: sender, Complaint: Complaint{Dealer: dealer, Key: key, Proof: proof}}, nil
}

func decodeReveal(g group.Group, sender int, b []byte) (*Reveal, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: short reveal", ErrMalformedMessage)
	}
	dealer := int(binary.BigEndian.Uint16(b[0:2]))
	count := int(binary.BigEndian.Uint16(b[2:4]))
	sl := g.ScalarLen()
	if dealer < 1 || dealer > MaxN || count < 1 || count > MaxBatch || len(b) != 4+count*sl {
		return nil, fmt.Errorf("%w: reveal counts or length", ErrMalformedMessage)
	}
	r := &Reveal{Sender: sender, Dealer: dealer, Shares: make([]group.Scalar, count)}
	for k := range r.Shares {
		s, err := g.DecodeScalar(b[4+k*sl : 4+(k+1)*sl])
		if err != nil {
			return nil, fmt.Errorf("%w: reveal share %d: %w", ErrMalformedMessage, k, err)
		}
		r.Shares[k] = s
	}
	return r, nil
}

// repairState is the repair bookkeeping of a done session, created by the
// first repair message.
type repairState struct {
	status   []RepairStatus            // status[i-1] of dealer i
	late     map[[2]int]bool           // (complainer, dealer): late complaint applied
	revealed map[[2]int]bool           // (revealer, dealer): reveal applied, valid or not
	reveals  []map[int][]group.Scalar  // reveals[i-1][k]: k's valid shares from dealer i
	values   map[[2]int][]group.Scalar // (dealer, replica): interpolated f_i,b(replica), cached
}

func (s *Session) repairs() *repairState {
	if s.rep == nil {
		s.rep = &repairState{
			status:   make([]RepairStatus, s.p.N),
			late:     map[[2]int]bool{},
			revealed: map[[2]int]bool{},
			reveals:  make([]map[int][]group.Scalar, s.p.N),
			values:   map[[2]int][]group.Scalar{},
		}
	}
	return s.rep
}

func (r *repairState) setStatus(i int, next RepairStatus) {
	if !slices.Contains(repairTransitions[r.status[i-1]], next) {
		// Unreachable: every call site follows the table.
		panic(fmt.Sprintf("dkg: invalid repair transition %v → %v", r.status[i-1], next))
	}
	r.status[i-1] = next
}

// Repair returns the repair status of dealer i (RepairNone for a session
// that is not done or an index out of range).
func (s *Session) Repair(i int) RepairStatus {
	if s.rep == nil || !s.p.inRange(i) {
		return RepairNone
	}
	return s.rep.status[i-1]
}

// Pending returns the exposed dealers whose repair is not complete, in
// increasing order: those whose shares the replicas should reveal.
func (s *Session) Pending() []int {
	var out []int
	for i := 1; i <= s.p.N; i++ {
		if s.Repair(i) == RepairExposed {
			out = append(out, i)
		}
	}
	return out
}

// LateComplained reports whether replica j's late complaint against dealer
// i was applied (valid or not).
func (s *Session) LateComplained(j, i int) bool { return s.rep != nil && s.rep.late[[2]int{j, i}] }

// Revealed reports whether replica k's reveal of its shares from dealer i
// was applied (valid or not).
func (s *Session) Revealed(k, i int) bool { return s.rep != nil && s.rep.revealed[[2]int{k, i}] }

func (s *Session) qualified(i int) bool {
	return s.status == StatusDone && slices.Contains(s.result.Qualified, i)
}

// applyLateComplaint judges a late complaint like judge does a complaint of
// the responding phase, except that a valid one exposes the dealer instead
// of disqualifying it.
func (s *Session) applyLateComplaint(lc *LateComplaint) error {
	j, i := lc.Sender, lc.Complaint.Dealer
	if !s.p.inRange(j) || !s.p.inRange(i) {
		return fmt.Errorf("%w: late complaint %d against %d", ErrInvalidIndex, j, i)
	}
	if s.status != StatusDone {
		return ErrWrongPhase
	}
	rep := s.repairs()
	if rep.late[[2]int{j, i}] {
		return ErrDuplicate
	}
	// A replica whose response is in the transcript had its chance: an
	// honest one complained then about any bad shares, disqualifying the
	// dealer. Only the replicas that missed the phase complain late, which
	// also bounds what a faulty replica can make every replica check.
	if !s.qualified(i) || i == j || s.responded[j-1] || rep.status[i-1] == RepairComplete {
		return ErrNothingToRepair
	}
	rep.late[[2]int{j, i}] = true
	c := lc.Complaint
	d := s.dealings[i-1]
	ec := group.Secp256k1()
	if c.Key == nil || c.Proof.C == nil || c.Proof.Z == nil ||
		c.Proof.Verify(ec, s.p.dst("late-complaint", i, j), ec.Generator(), d.Ephemeral, s.keys[j-1], c.Key) != nil {
		return s.blame(Culprit{Replica: j, Reason: ReasonInvalidComplaint, Other: i})
	}
	if rep.status[i-1] == RepairExposed {
		// Already exposed: the reveals under way serve j too, and the
		// costly share check is skipped.
		return nil
	}
	if shares, err := decryptShares(s.p, d, j, c.Key); err == nil && sharesMatch(s.p, d, j, shares) {
		return s.blame(Culprit{Replica: j, Reason: ReasonFalseComplaint, Other: i})
	}
	rep.setStatus(i, RepairExposed)
	return s.blame(Culprit{Replica: i, Reason: ReasonBadShares, Other: j})
}

// applyReveal checks a reveal against the exposed dealer's commitments.
func (s *Session) applyReveal(r *Reveal) error {
	k, i := r.Sender, r.Dealer
	if !s.p.inRange(k) || !s.p.inRange(i) {
		return fmt.Errorf("%w: reveal %d of %d", ErrInvalidIndex, k, i)
	}
	if s.status != StatusDone {
		return ErrWrongPhase
	}
	rep := s.repairs()
	if rep.revealed[[2]int{k, i}] {
		return ErrDuplicate
	}
	if rep.status[i-1] != RepairExposed {
		return ErrNothingToRepair
	}
	rep.revealed[[2]int{k, i}] = true
	d := s.dealings[i-1]
	if len(r.Shares) != s.p.Batch || slices.Contains(r.Shares, nil) ||
		!batchVerify(s.p.Group, d.Commitments, k, r.Shares, batchCoefficients(s.p.Group, revealCheckSeed(s.p, d, r), len(r.Shares))) {
		return s.blame(Culprit{Replica: k, Reason: ReasonBadReveal, Other: i})
	}
	if rep.reveals[i-1] == nil {
		rep.reveals[i-1] = map[int][]group.Scalar{}
	}
	rep.reveals[i-1][k] = slices.Clone(r.Shares)
	if len(rep.reveals[i-1]) == s.p.T+1 {
		rep.setStatus(i, RepairComplete)
	}
	return nil
}

// revealCheckSeed returns the Fiat–Shamir seed of the batch check of a
// reveal (batch.go): it binds the dealing, the revealer and the revealed
// shares, all public, so the revealer cannot choose shares after the
// coefficients.
func revealCheckSeed(p Params, d *Dealing, r *Reveal) [32]byte {
	h := sha256.New()
	writeHashed(h, p.dst("batch-reveal-check", d.Dealer, r.Sender))
	writeHashed(h, d.Marshal())
	writeHashed(h, r.Marshal())
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// repairedShares returns f_i,b(j) for every slot b, interpolated from the
// first T+1 valid reveals of the repaired dealer i, or nil if i's repair is
// not complete.
func (s *Session) repairedShares(i, j int) []group.Scalar {
	if s.Repair(i) != RepairComplete {
		return nil
	}
	if v, ok := s.rep.values[[2]int{i, j}]; ok {
		return v
	}
	reveals := s.rep.reveals[i-1]
	idx := make([]int, 0, len(reveals))
	for k := range reveals {
		idx = append(idx, k)
	}
	slices.Sort(idx)
	g := s.p.Group
	out := make([]group.Scalar, s.p.Batch)
	for b := range out {
		out[b] = g.Zero()
	}
	for _, k := range idx {
		// λ_k(j) = Π_{m≠k} (j − m)/(k − m): Lagrange interpolation at j.
		num, den := g.ScalarFromUint64(1), g.ScalarFromUint64(1)
		xj, xk := g.ScalarFromUint64(uint64(j)), g.ScalarFromUint64(uint64(k))
		for _, m := range idx {
			if m != k {
				xm := g.ScalarFromUint64(uint64(m))
				num = num.Mul(xj.Sub(xm))
				den = den.Mul(xk.Sub(xm))
			}
		}
		lambda := num.Mul(den.Inv())
		for b, y := range reveals[k] {
			out[b] = out[b].Add(lambda.Mul(y))
		}
	}
	s.rep.values[[2]int{i, j}] = out
	return out
}

// LateComplaints returns replica me's late complaints: one against every
// qualified dealer whose shares to me fail their commitments and that is
// not repaired yet, unless me's late complaint against it is already
// applied. It requires StatusDone; sk is me's long-term secp256k1 key.
func (s *Session) LateComplaints(me int, sk group.Scalar, rand io.Reader) ([]*LateComplaint, error) {
	if s.status != StatusDone {
		return nil, ErrWrongPhase
	}
	if err := checkKey(s.p, me, sk); err != nil {
		return nil, err
	}
	var out []*LateComplaint
	for _, i := range s.result.Qualified {
		if i == me || s.responded[me-1] || s.Repair(i) == RepairComplete || s.LateComplained(me, i) {
			continue
		}
		d := s.dealings[i-1]
		if _, err := openShares(s.p, d, me, d.Ephemeral.Mul(sk)); err == nil {
			continue
		} else if !errors.Is(err, ErrBadShares) {
			return nil, err
		}
		c, err := newComplaint(s.p, "late-complaint", me, sk, d, rand)
		if err != nil {
			return nil, err
		}
		out = append(out, &LateComplaint{Sender: me, Complaint: c})
	}
	return out, nil
}

// Reveal returns replica me's [Reveal] of its shares from the exposed
// dealer i. It returns ErrNothingToRepair if i is not exposed (or already
// repaired), and an error wrapping ErrBadShares if me's own shares from i
// fail: me should then post a late complaint instead.
func (s *Session) Reveal(me int, sk group.Scalar, i int) (*Reveal, error) {
	if s.status != StatusDone {
		return nil, ErrWrongPhase
	}
	if s.Repair(i) != RepairExposed {
		return nil, ErrNothingToRepair
	}
	if err := checkKey(s.p, me, sk); err != nil {
		return nil, err
	}
	d := s.dealings[i-1]
	shares, err := openShares(s.p, d, me, d.Ephemeral.Mul(sk))
	if err != nil {
		return nil, err
	}
	return &Reveal{Sender: me, Dealer: i, Shares: shares}, nil
}

// newComplaint is [NewComplaint] with the proof's purpose: "complaint" in
// the responding phase, "late-complaint" after it, so that a proof of one
// kind is never accepted as the other.
func newComplaint(p Params, purpose string, me int, sk group.Scalar, d *Dealing, rand io.Reader) (Complaint, error) {
	k, err := pairwiseKey(p, me, sk, d.Ephemeral)
	if err != nil {
		return Complaint{}, err
	}
	ec := group.Secp256k1()
	proof, err := dleq.Prove(ec, p.dst(purpose, d.Dealer, me), ec.Generator(), d.Ephemeral, p.replicaKey(me), k, sk, rand)
	if err != nil {
		return Complaint{}, fmt.Errorf("dkg: prove complaint: %w", err)
	}
	return Complaint{Dealer: d.Dealer, Key: k, Proof: proof}, nil
}

// NewLateComplaint builds replica me's late complaint against dealing d
// without checking that it is justified ([Session.LateComplaints] does).
// Tests use it to model false late complaints.
func NewLateComplaint(p Params, me int, sk group.Scalar, d *Dealing, rand io.Reader) (*LateComplaint, error) {
	c, err := newComplaint(p, "late-complaint", me, sk, d, rand)
	if err != nil {
		return nil, err
	}
	return &LateComplaint{Sender: me, Complaint: c}, nil
}
