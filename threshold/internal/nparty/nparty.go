// Package nparty runs the threshold protocols among n parties in memory, with
// hooks that make chosen parties misbehave, for end-to-end tests of the
// threshold packages (in the style of multi-party-sig's internal/test).
//
// [RunDKG] plays a whole [dkg.Session] over a simulated consensus log: every
// message is marshalled, decoded and applied in one global order, exactly as
// the replicas' ABCI application would, so the tests exercise the wire
// format too. Only the DKG runner lives here; the signing and encryption
// runs are in the package tests, written against the public APIs of
// threshold/schnorr, threshold/bls and threshold/dise.
package nparty

import (
	"errors"
	"fmt"
	"io"

	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// Behaviour is how a party acts in a run.
type Behaviour int

const (
	// Honest follows the protocol.
	Honest Behaviour = iota
	// Silent posts nothing at all (crashed or withholding).
	Silent
	// BadDealing deals to the next honest replica (cyclically) a share
	// inconsistent with its commitments.
	BadDealing
	// MalformedDealing posts a dealing whose commitments have the wrong
	// degree.
	MalformedDealing
	// FalseComplaint complains, with a valid proof, about every honest
	// dealer although their shares are correct.
	FalseComplaint
	// BadComplaintProof complains about every honest dealer revealing a key
	// that is not the pairwise key.
	BadComplaintProof
	// BadPartial deals and responds honestly but returns wrong partial
	// results when signing or decrypting (used by the signing tests).
	BadPartial
)

// String names the behaviour.
func (b Behaviour) String() string {
	switch b {
	case Honest:
		return "honest"
	case Silent:
		return "silent"
	case BadDealing:
		return "bad dealing"
	case MalformedDealing:
		return "malformed dealing"
	case FalseComplaint:
		return "false complaint"
	case BadComplaintProof:
		return "bad complaint proof"
	case BadPartial:
		return "bad partial"
	default:
		return fmt.Sprintf("behaviour(%d)", int(b))
	}
}

// honestDealer reports whether b deals correctly.
func (b Behaviour) honestDealer() bool {
	return b == Honest || b == FalseComplaint || b == BadComplaintProof || b == BadPartial
}

// Cluster is the outcome of a DKG run.
type Cluster struct {
	// Params are the session parameters.
	Params dkg.Params
	// SecretKeys[j-1] is replica j's long-term secp256k1 secret key.
	SecretKeys []group.Scalar
	// Behaviours maps a replica index to its behaviour; absent means Honest.
	Behaviours map[int]Behaviour
	// Session is the state machine after the whole transcript.
	Session *dkg.Session
	// Transcript is the ordered log of encoded messages.
	Transcript [][]byte
	// Result is the public DKG output (nil if the session failed).
	Result *dkg.Result
	// Shares[j][b] is replica j's secret share of batch slot b, for every
	// replica that is not Silent and could recover its shares.
	Shares map[int][]group.Scalar
}

// ErrStuck is returned when the transcript ends with the session still in
// a non-final state.
var ErrStuck = errors.New("nparty: dkg session did not finish")

// RunDKG runs one DKG among n replicas (t = (n−1)/3) for batch keys in g,
// with the given misbehaving replicas, reading all randomness from rand. It
// returns the cluster even when the session fails; the error then is the
// session's [dkg.Session.Err].
func RunDKG(g group.Group, n, batch int, bad map[int]Behaviour, rand io.Reader) (*Cluster, error) {
	ec := group.Secp256k1()
	c := &Cluster{
		Params:     dkg.Params{Group: g, N: n, T: dkg.DefaultT(n), Batch: batch, SessionID: []byte("nparty " + g.Name())},
		Behaviours: bad,
		Shares:     map[int][]group.Scalar{},
	}
	for range n {
		sk, err := ec.RandomScalar(rand)
		if err != nil {
			return nil, err
		}
		c.SecretKeys = append(c.SecretKeys, sk)
		c.Params.ReplicaKeys = append(c.Params.ReplicaKeys, ec.BaseMul(sk))
	}
	s, err := dkg.NewSession(c.Params)
	if err != nil {
		return nil, err
	}
	c.Session = s
	// post appends a message to the log and applies its decoded form, as
	// every replica's FinalizeBlock would.
	post := func(m dkg.Message) error {
		raw := m.Marshal()
		c.Transcript = append(c.Transcript, raw)
		dec, err := dkg.DecodeMessage(g, raw)
		if err != nil {
			return fmt.Errorf("nparty: decode own message: %w", err)
		}
		_ = s.Apply(dec) // the outcome is read from the session state
		return nil
	}
	p := c.Params
	for i := 1; i <= n; i++ {
		if bad[i] == Silent {
			continue
		}
		d, err := dkg.NewDealing(p, i, rand)
		if err != nil {
			return nil, err
		}
		switch bad[i] {
		case BadDealing:
			victim := c.nextHonest(i)
			ct := d.Ciphertexts[victim-1]
			ct[len(ct)-1] ^= 1
		case MalformedDealing:
			for b, com := range d.Commitments {
				d.Commitments[b] = com[:len(com)-1]
			}
		}
		if err := post(d); err != nil {
			return nil, err
		}
	}
	if err := c.voteTimeout(post, dkg.PhaseDealing); err != nil {
		return nil, err
	}
	for j := 1; j <= n && s.Status() == dkg.StatusResponding; j++ {
		var r *dkg.Response
		switch bad[j] {
		case Silent:
			continue
		case FalseComplaint, BadComplaintProof:
			r = &dkg.Response{Sender: j}
			for _, d := range s.Dealings() {
				if d.Dealer == j || !c.behaviour(d.Dealer).honestDealer() {
					continue
				}
				cm, err := dkg.NewComplaint(p, j, c.SecretKeys[j-1], d, rand)
				if err != nil {
					return nil, err
				}
				if bad[j] == BadComplaintProof {
					cm.Key = cm.Key.Add(ec.Generator())
				}
				r.Complaints = append(r.Complaints, cm)
			}
		default:
			if r, err = s.Respond(j, c.SecretKeys[j-1], rand); err != nil {
				return nil, err
			}
		}
		if err := post(r); err != nil {
			return nil, err
		}
	}
	if err := c.voteTimeout(post, dkg.PhaseResponding); err != nil {
		return nil, err
	}
	switch s.Status() {
	case dkg.StatusDone:
	case dkg.StatusFailed:
		return c, s.Err()
	default:
		return c, ErrStuck
	}
	c.Result, _ = s.Result()
	for j := 1; j <= n; j++ {
		if bad[j] == Silent {
			continue
		}
		if xs, err := s.Shares(j, c.SecretKeys[j-1]); err == nil {
			c.Shares[j] = xs
		}
	}
	return c, nil
}

func (c *Cluster) behaviour(i int) Behaviour { return c.Behaviours[i] }

// nextHonest returns the first honest replica after i (cyclically), or the
// next replica if none is honest.
func (c *Cluster) nextHonest(i int) int {
	n := c.Params.N
	for k := 1; k < n; k++ {
		if j := (i+k-1)%n + 1; c.behaviour(j) == Honest {
			return j
		}
	}
	return i%n + 1
}

// voteTimeout has every non-silent replica vote to close phase if the
// session is still in it (their clocks expired).
func (c *Cluster) voteTimeout(post func(dkg.Message) error, phase dkg.Phase) error {
	want := dkg.StatusDealing
	if phase == dkg.PhaseResponding {
		want = dkg.StatusResponding
	}
	for j := 1; j <= c.Params.N && c.Session.Status() == want; j++ {
		if c.Behaviours[j] == Silent {
			continue
		}
		if err := post(&dkg.TimeoutVote{Sender: j, Phase: phase}); err != nil {
			return err
		}
	}
	return nil
}
