package vss

import (
	"crypto/rand"
	"errors"
	"strconv"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
)

// TestConsistentInterpolator: points added in any order give
// InterpolateConsistent's value once 2t+1 are in (not before); a wrong
// point in any position is refused; a failure sticks.
func TestConsistentInterpolator(t *testing.T) {
	for _, g := range groups() {
		for _, deg := range []int{0, 1, 2} {
			t.Run(g.Name()+"/t="+strconv.Itoa(deg), func(t *testing.T) {
				p, err := NewPolynomial(g, deg, nil, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				H := g.BaseMul(g.ScalarFromUint64(12345))
				want := H.Mul(p.Secret())
				n := 3*deg + 1
				all := map[int]group.Point{}
				for i := 1; i <= n; i++ {
					all[i] = H.Mul(p.Share(i))
				}
				orders := [][]int{}
				asc, desc := []int{}, []int{}
				for i := 1; i <= n; i++ {
					asc, desc = append(asc, i), append([]int{i}, desc...)
				}
				orders = append(orders, asc, desc, asc[:2*deg+1], desc[:2*deg+1])
				for _, order := range orders {
					c, err := NewConsistentInterpolator(g, deg)
					if err != nil {
						t.Fatal(err)
					}
					for k, i := range order {
						if _, err := c.Value(); !errors.Is(err, ErrTooFewPoints) && k < 2*deg+1 {
							t.Fatalf("order %v: a value after %d points (%v)", order, k, err)
						}
						if err := c.Add(i, all[i]); err != nil {
							t.Fatalf("order %v: point %d: %v", order, i, err)
						}
					}
					got, err := c.Value()
					if err != nil || !got.Equal(want) || c.Added() != len(order) {
						t.Fatalf("order %v: wrong value (%v)", order, err)
					}
					if deg == 0 {
						continue
					}
					for _, bad := range order {
						c, _ := NewConsistentInterpolator(g, deg)
						var failed error
						for _, i := range order {
							pt := all[i]
							if i == bad {
								pt = pt.Add(g.Generator())
							}
							if err := c.Add(i, pt); err != nil && failed == nil {
								failed = err
							}
						}
						if _, err := c.Value(); !errors.Is(err, ErrInconsistent) || !errors.Is(failed, ErrInconsistent) {
							t.Fatalf("order %v, wrong point %d: %v", order, bad, err)
						}
						if c.Candidate() != nil {
							t.Fatalf("order %v, wrong point %d: a candidate after a failure", order, bad)
						}
					}
				}
			})
		}
	}
	g := groups()[0]
	if _, err := NewConsistentInterpolator(g, -1); !errors.Is(err, ErrInvalidDegree) {
		t.Fatalf("degree -1: %v", err)
	}
	if _, err := NewConsistentInterpolator(g, MaxDegree+1); !errors.Is(err, ErrInvalidDegree) {
		t.Fatalf("degree too large: %v", err)
	}
	P := g.Generator()
	for name, c := range map[string]struct {
		i    int
		p    group.Point
		want error
	}{
		"index 0":         {0, P, ErrInvalidIndex},
		"index too large": {MaxIndex + 1, P, ErrInvalidIndex},
		"nil point":       {1, nil, ErrNilValue},
	} {
		ip, _ := NewConsistentInterpolator(g, 1)
		if err := ip.Add(c.i, c.p); !errors.Is(err, c.want) {
			t.Fatalf("%s: %v", name, err)
		}
		if err := ip.Add(2, P); !errors.Is(err, c.want) {
			t.Fatalf("%s: failure does not stick: %v", name, err)
		}
	}
	ip, _ := NewConsistentInterpolator(g, 1)
	_ = ip.Add(1, P)
	if err := ip.Add(1, P); !errors.Is(err, ErrDuplicateIndex) {
		t.Fatalf("repeated index: %v", err)
	}
}
