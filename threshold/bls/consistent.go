package bls

import (
	"fmt"
	"slices"

	herumi "github.com/herumi/bls-eth-go-binary/bls"

	"github.com/vhsm/vhsm/threshold/vss"
)

// ConsistentCombiner is [CombineConsistent] fed one partial signature at a
// time, for a client that receives the replicas' answers one by one: each
// partial is decoded when it is added, and [ConsistentCombiner.Signature]
// does the rest once 2t+1 are in. That rest is small (about 0.1 ms for
// t = 1, most of it the subgroup check of the result): the consistency
// checks and the interpolation use small integer multiples of the
// partials where the indices allow (lagrangeCombination), with the base
// of the interpolation chosen among the partials received so that they
// do (chooseBase). A consistent set gives the same signature from any base,
// and the argument of CombineConsistent (vss.InterpolateConsistent) holds
// for any base.
//
// The first failure sticks, with CombineConsistent's errors: a partial that
// does not decode, or an index out of range or repeated, wraps
// [ErrInvalidSignature]; an inconsistent set or a value outside G2
// [ErrInconsistent].
type ConsistentCombiner struct {
	t       int
	indices []int // in the order added
	points  []herumi.G2
	seen    map[int]bool
	sig     []byte // the signature of the partials added so far, once asked for
	err     error
}

// NewConsistentCombiner returns an empty combiner for threshold t.
func NewConsistentCombiner(t int) (*ConsistentCombiner, error) {
	if t < 0 || t >= vss.MaxDegree+1 {
		return nil, ErrInvalidThreshold
	}
	return &ConsistentCombiner{t: t, seen: make(map[int]bool, 2*t+1)}, nil
}

// Add adds replica i's partial signature, compressed or uncompressed.
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
	c.indices = append(c.indices, i)
	c.points = append(c.points, p)
	c.sig = nil
	return nil
}

// Signature returns the 96-byte signature once at least 2t+1 consistent
// partials were added: [ErrNotEnoughPartials] before, the first failure
// after one. Every partial added is checked.
func (c *ConsistentCombiner) Signature() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	if len(c.points) < 2*c.t+1 {
		return nil, ErrNotEnoughPartials
	}
	if c.sig == nil {
		if c.sig, c.err = combineConsistent(c.t, c.indices, c.points); c.err != nil {
			return nil, c.err
		}
	}
	return append([]byte(nil), c.sig...), nil
}

// combineConsistent is CombineConsistent on decoded points: the points
// outside a base of t+1 must equal the base's interpolation at their
// indices, and the base's value at zero must lie in G2 (the points skipped
// their subgroup checks) and not be the identity.
func combineConsistent(t int, indices []int, points []herumi.G2) ([]byte, error) {
	base := chooseBase(t, indices)
	baseIdx := make([]int, len(base))
	basePts := make([]herumi.G2, len(base))
	for k, pos := range base {
		baseIdx[k], basePts[k] = indices[pos], points[pos]
	}
	var want, got herumi.G2
	for pos, i := range indices {
		if slices.Contains(base, pos) {
			continue
		}
		// m·P_i must equal m·Σ_{j∈T} L_j(i)·σ_j.
		m, err := lagrangeCombination(&want, baseIdx, basePts, i)
		if err != nil {
			return nil, fmt.Errorf("combine partials: %w", err)
		}
		mulSmall(&got, &points[pos], m)
		if !want.IsEqual(&got) {
			return nil, fmt.Errorf("combine partials: %w", ErrInconsistent)
		}
	}
	sig, err := interpolate(baseIdx, basePts)
	if err != nil {
		return nil, err
	}
	if p := herumi.CastFromSign(sig); !p.IsValidOrder() || p.IsZero() {
		return nil, fmt.Errorf("combine partials: value outside G2: %w", ErrInconsistent)
	}
	return sig.Serialize(), nil
}

// chooseBase returns the positions in indices of t+1 of them to
// interpolate from: of the runs of t+1 neighbours in increasing order, the
// one whose Lagrange basis at zero has the smallest common denominator (1
// for t+1 consecutive indices; for t = 1 every three of 1..4 hold two
// consecutive ones), so that the interpolation needs no multiplication by a
// full scalar; the first run if none has small integers. Which base is
// taken changes the cost, never the result.
func chooseBase(t int, indices []int) []int {
	order := make([]int, len(indices)) // positions by increasing index
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int { return indices[a] - indices[b] })
	best, bestM := 0, int64(0)
	run := make([]int, t+1)
	for start := 0; start+t+1 <= len(order); start++ {
		for k := range run {
			run[k] = indices[order[start+k]]
		}
		if _, m, ok := vss.LagrangeIntegers(run, 0); ok && (bestM == 0 || m < bestM) {
			best, bestM = start, m
		}
	}
	return slices.Clone(order[best : best+t+1])
}
