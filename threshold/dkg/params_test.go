package dkg

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestCheckThreshold checks the rule f ≤ t, t+1 ≤ n−f and t+1 ≤ n−2f at the
// boundaries of n = 1, 4, 7, 10 (f = 0..3) and a few n between.
func TestCheckThreshold(t *testing.T) {
	cases := []struct {
		n, t int
		ok   bool
	}{
		{1, -1, false}, {1, 0, true}, {1, 1, false},
		{2, 0, true}, {2, 1, true}, {2, 2, false},
		{3, 0, true}, {3, 2, true}, {3, 3, false},
		{4, 0, false}, {4, 1, true}, {4, 2, false}, {4, 3, false},
		{5, 0, false}, {5, 1, true}, {5, 2, true}, {5, 3, false},
		{6, 3, true}, {6, 4, false},
		{7, 0, false}, {7, 1, false}, {7, 2, true}, {7, 3, false}, {7, 4, false},
		{10, 2, false}, {10, 3, true}, {10, 4, false}, {10, 6, false},
		{MaxN, 85, true}, {MaxN, 84, false}, {MaxN, 86, false},
		{0, 0, false}, {MaxN + 1, 85, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("n=%d/t=%d", tc.n, tc.t), func(t *testing.T) {
			err := CheckThreshold(tc.n, tc.t)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckThreshold = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("error %v does not wrap ErrInvalidParams", err)
			}
		})
	}
	// The error names the rule and the values.
	err := CheckThreshold(4, 0)
	if want := "t=0 for n=4: need f ≤ t and t+1 ≤ n−f (f=1), and t+1 ≤ n−2f for the DKG, so t in 1..1"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	for n := 1; n <= MaxN; n++ {
		if err := CheckThreshold(n, DefaultT(n)); err != nil {
			t.Fatalf("DefaultT(%d): %v", n, err)
		}
	}
}
