package dise

import (
	"errors"
	"fmt"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// ConsistentCombiner is [CombineConsistent] fed one evaluation at a time,
// for a client that receives the replicas' answers one by one: each
// evaluation is decoded when it is added, the value is interpolated and
// its subgroup checked once t+1 are in, and each later one is checked for
// consistency when it arrives, so that little is left to do when the last
// one comes. The first t+1 evaluations added are the base of the
// interpolation (see [vss.ConsistentInterpolator]); the output of a
// consistent set is the same as CombineConsistent's.
//
// The first failure sticks, with the errors of CombineConsistent: an
// evaluation that does not decode or names another index wraps
// [ErrInvalidEvaluation], an inconsistent set or a value outside G1
// [ErrInconsistent].
type ConsistentCombiner struct {
	t   int
	x   []byte
	ip  *vss.ConsistentInterpolator
	out []byte // H2(x, Y) of the candidate value, once the base is complete
	err error
}

// NewConsistentCombiner returns an empty combiner for the DPRF input x with
// threshold t.
func NewConsistentCombiner(t int, x []byte) (*ConsistentCombiner, error) {
	if t < 0 || t > vss.MaxDegree {
		return nil, ErrInvalidThreshold
	}
	if _, err := DecodeInput(x); err != nil {
		return nil, err
	}
	ip, err := vss.NewConsistentInterpolator(g1(), t)
	if err != nil {
		return nil, err
	}
	return &ConsistentCombiner{t: t, x: x, ip: ip}, nil
}

// Add adds participant i's evaluation (proven or not; a proof is not
// checked).
func (c *ConsistentCombiner) Add(i int, eval []byte) error {
	if c.err != nil {
		return c.err
	}
	e, err := decodeEvaluation(eval, group.DecodeG1Unchecked)
	if err != nil || e.Index != i {
		c.err = fmt.Errorf("combine evaluations: evaluation %d: %w", i, ErrInvalidEvaluation)
		return c.err
	}
	if err := c.ip.Add(i, e.Y); err != nil {
		if errors.Is(err, vss.ErrInconsistent) {
			c.err = fmt.Errorf("combine evaluations: %w", ErrInconsistent)
		} else {
			c.err = fmt.Errorf("combine evaluations: %w", err)
		}
		return c.err
	}
	if Y := c.ip.Candidate(); Y != nil && c.out == nil {
		// The base is complete: check and hash its value now (see
		// CombineConsistent for why the value's subgroup check stands for
		// the evaluations').
		if !group.InG1(Y) {
			c.err = fmt.Errorf("combine evaluations: value outside G1: %w", ErrInconsistent)
			return c.err
		}
		c.out = outputHash(c.x, Y)
	}
	return nil
}

// Output returns the DPRF output once at least 2t+1 consistent evaluations
// were added (a copy: the caller may clear it).
func (c *ConsistentCombiner) Output() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	if _, err := c.ip.Value(); err != nil {
		if errors.Is(err, vss.ErrTooFewPoints) {
			return nil, ErrNotEnoughEvaluations
		}
		return nil, fmt.Errorf("combine evaluations: %w", err)
	}
	return append([]byte(nil), c.out...), nil
}

// errCleared: the combiner's output was wiped.
var errCleared = errors.New("dise: combiner cleared")

// Clear wipes the output held (the DPRF output is a key stream's seed);
// the combiner is then unusable.
func (c *ConsistentCombiner) Clear() {
	clear(c.out)
	c.out, c.err = nil, errCleared
}
