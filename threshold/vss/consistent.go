package vss

import "github.com/vhsm/vhsm/threshold/group"

// ConsistentInterpolator is [InterpolateConsistent] fed one point at a
// time, for a caller that receives the points one by one (a client
// collecting replica answers): the interpolation is done as soon as t+1
// points are in, and each later point is checked when it arrives, so that
// little work is left once the last one comes. The first t+1 points added
// (in the order added) are the base T instead of the t+1 smallest indices;
// the argument of InterpolateConsistent does not depend on which t+1
// points are the base, and neither does the value of a consistent set.
//
// The first failure sticks: every later call returns it.
type ConsistentInterpolator struct {
	g      group.Group
	t      int
	base   []int
	points []group.Point
	seen   map[int]bool
	added  int
	value  group.Point // at zero, once the base is complete
	err    error
}

// NewConsistentInterpolator returns an empty interpolator for polynomials
// of degree t over g.
func NewConsistentInterpolator(g group.Group, t int) (*ConsistentInterpolator, error) {
	if t < 0 || t > MaxDegree {
		return nil, ErrInvalidDegree
	}
	return &ConsistentInterpolator{g: g, t: t, seen: make(map[int]bool, 2*t+1)}, nil
}

// Add adds the point P_i. The (t+1)-th point added completes the base and
// the value at zero is interpolated; each later one must equal
// Σ_{i∈T} L_i(j)·P_i, or Add returns [ErrInconsistent]. An index out of
// range or added twice, or a nil point, is an error too.
func (c *ConsistentInterpolator) Add(i int, p group.Point) error {
	if c.err != nil {
		return c.err
	}
	switch {
	case i < 1 || i > MaxIndex:
		c.err = ErrInvalidIndex
	case c.seen[i]:
		c.err = ErrDuplicateIndex
	case p == nil:
		c.err = ErrNilValue
	}
	if c.err != nil {
		return c.err
	}
	c.seen[i] = true
	c.added++
	if len(c.base) < c.t+1 {
		c.base = append(c.base, i)
		c.points = append(c.points, p)
		if len(c.base) == c.t+1 {
			c.value, c.err = valueAtZero(c.g, c.base, c.points)
		}
		return c.err
	}
	// m·P_i must equal m·Σ_{j∈T} L_j(i)·P_j (see combinePublic).
	want, m, err := combinePublic(c.g, c.base, c.points, i)
	if err != nil {
		c.err = err
		return err
	}
	if !want.Equal(mulSmall(c.g, p, m)) {
		c.err = ErrInconsistent
	}
	return c.err
}

// Candidate returns the value at zero interpolated from the base once t+1
// points are in, before the others have confirmed it (nil before, or after
// a failure): a caller may check or encode it while it waits for the rest.
// Only [ConsistentInterpolator.Value] vouches for it.
func (c *ConsistentInterpolator) Candidate() group.Point {
	if c.err != nil {
		return nil
	}
	return c.value
}

// Added returns how many points were added.
func (c *ConsistentInterpolator) Added() int { return c.added }

// Value returns the value at zero once at least 2t+1 points were added and
// all were consistent: [ErrTooFewPoints] before, the first failure after
// one.
func (c *ConsistentInterpolator) Value() (group.Point, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.added < 2*c.t+1 {
		return nil, ErrTooFewPoints
	}
	return c.value, nil
}
