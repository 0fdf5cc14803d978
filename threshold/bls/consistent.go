package bls

import (
	"fmt"

	herumi "github.com/herumi/bls-eth-go-binary/bls"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// ConsistentCombiner is [CombineConsistent] fed one partial signature at a
// time, for a client that receives the replicas' answers one by one: each
// partial is decoded when it is added, the signature is interpolated, its
// subgroup checked and encoded once t+1 are in, and each later partial is
// checked for consistency when it arrives, so that one decoding and one
// small multi-scalar multiplication are left when the last one comes. The
// first t+1 partials added are the base of the interpolation instead of
// the t+1 smallest indices; a consistent set gives the same signature
// either way, and the argument of CombineConsistent (vss.InterpolateConsistent)
// holds for any base.
//
// The first failure sticks, with CombineConsistent's errors: a partial that
// does not decode, or an index out of range or repeated, wraps
// [ErrInvalidSignature]; an inconsistent set or a value outside G2
// [ErrInconsistent].
type ConsistentCombiner struct {
	t       int
	indices []int // base first, in the order added
	base    []herumi.G2
	seen    map[int]bool
	added   int
	sig     []byte // encoded signature interpolated from the base
	err     error
}

// NewConsistentCombiner returns an empty combiner for threshold t.
func NewConsistentCombiner(t int) (*ConsistentCombiner, error) {
	if t < 0 || t >= vss.MaxDegree+1 {
		return nil, ErrInvalidThreshold
	}
	return &ConsistentCombiner{t: t, seen: make(map[int]bool, 2*t+1)}, nil
}

// Add adds replica i's partial signature.
func (c *ConsistentCombiner) Add(i int, partial []byte) error {
	if c.err != nil {
		return c.err
	}
	if i < 1 || i > vss.MaxIndex || c.seen[i] {
		c.err = fmt.Errorf("combine partials: index %d: %w", i, ErrInvalidSignature)
		return c.err
	}
	var p herumi.G2
	if err := decodeG2Unchecked(&p, partial); err != nil {
		c.err = fmt.Errorf("combine partials: %w", err)
		return c.err
	}
	c.seen[i] = true
	c.added++
	if len(c.base) < c.t+1 {
		c.indices = append(c.indices, i)
		c.base = append(c.base, p)
		if len(c.base) == c.t+1 {
			c.err = c.interpolate()
		}
		return c.err
	}
	// P_i must equal Σ_{j∈T} L_j(i)·σ_j.
	coeffs := make([]herumi.Fr, c.t+1)
	for m, j := range c.indices {
		l, err := vss.LagrangeCoefficientAt(g1(), c.indices, j, i)
		if err != nil {
			c.err = fmt.Errorf("combine partials: %w", err)
			return c.err
		}
		coeffs[m] = *group.BLSFr(l)
	}
	var want herumi.G2
	herumi.G2MulVec(&want, c.base, coeffs)
	if !want.IsEqual(&p) {
		c.err = fmt.Errorf("combine partials: %w", ErrInconsistent)
	}
	return c.err
}

// interpolate makes the candidate signature from the complete base and
// checks that it lies in G2 and is not the identity (the partials skipped
// their subgroup checks: see CombineConsistent).
func (c *ConsistentCombiner) interpolate() error {
	sig, err := interpolate(c.indices, c.base)
	if err != nil {
		return err
	}
	if p := herumi.CastFromSign(sig); !p.IsValidOrder() || p.IsZero() {
		return fmt.Errorf("combine partials: value outside G2: %w", ErrInconsistent)
	}
	c.sig = sig.Serialize()
	return nil
}

// Signature returns the 96-byte signature once at least 2t+1 consistent
// partials were added: [ErrNotEnoughPartials] before, the first failure
// after one.
func (c *ConsistentCombiner) Signature() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.added < 2*c.t+1 {
		return nil, ErrNotEnoughPartials
	}
	return append([]byte(nil), c.sig...), nil
}
