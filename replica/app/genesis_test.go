package app

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestGenesisThreshold checks the genesis threshold rule (f ≤ t and
// t+1 ≤ n−f, and t+1 ≤ n−2f for the DKG) at the boundaries for n = 1, 4, 7
// and 10: t = 0 with n = 4 (every replica holding the whole key) is refused.
func TestGenesisThreshold(t *testing.T) {
	nets := map[int]*testNet{}
	for _, n := range []int{1, 4, 7, 10} {
		nets[n] = newTestNet(t, n, smallPools())
	}
	cases := []struct {
		n, t int
		ok   bool
	}{
		{1, -1, false}, {1, 0, true}, {1, 1, false},
		{4, -1, false}, {4, 0, false}, {4, 1, true}, {4, 2, false}, {4, 3, false},
		{7, 1, false}, {7, 2, true}, {7, 3, false},
		{10, 2, false}, {10, 3, true}, {10, 4, false}, {10, 6, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("n=%d/t=%d", tc.n, tc.t), func(t *testing.T) {
			g := nets[tc.n].G
			g.T = tc.t
			err := g.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadGenesis) {
				t.Fatalf("error %v does not wrap ErrBadGenesis", err)
			}
			a, err := New(t.TempDir(), g, nil)
			if (err == nil) != tc.ok {
				t.Fatalf("New = %v, want ok=%v", err, tc.ok)
			}
			if a != nil {
				a.Close()
			}
		})
	}
	g := nets[4].G
	g.T = 0
	want := "t=0 for n=4: need f ≤ t and t+1 ≤ n−f (f=1)"
	if err := g.Validate(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Validate = %v, want it to contain %q", err, want)
	}
}
