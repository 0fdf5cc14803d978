package main

import "testing"

// TestProcs: twice the runtime's default, unless GOMAXPROCS is set.
func TestProcs(t *testing.T) {
	for _, c := range []struct {
		env       string
		def, want int
	}{
		{"", 2, 4}, {"", 1, 2}, {"", 8, 16}, {"", 0, 2}, {"2", 2, 0}, {"1", 8, 0},
	} {
		if got := procs(c.env, c.def); got != c.want {
			t.Errorf("procs(%q, %d) = %d, want %d", c.env, c.def, got, c.want)
		}
	}
}
