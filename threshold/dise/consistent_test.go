package dise

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
)

// orders3 are the orders of three participants.
func orders3(a, b, c int) [][]int {
	return [][]int{{a, b, c}, {a, c, b}, {b, a, c}, {b, c, a}, {c, a, b}, {c, b, a}}
}

// combineInOrder feeds evals in order to a ConsistentCombiner.
func combineInOrder(t *testing.T, th int, x []byte, order []int, evals map[int][]byte) ([]byte, error) {
	t.Helper()
	c, err := NewConsistentCombiner(th, x)
	if err != nil {
		t.Fatal(err)
	}
	for k, i := range order {
		if k < 2*th+1 {
			if _, err := c.Output(); err == nil {
				t.Fatalf("an output after %d evaluations", k)
			}
		}
		_ = c.Add(i, evals[i])
	}
	return c.Output()
}

// TestConsistentCombiner: fed in any order, 2t+1 right evaluations give
// CombineConsistent's output; a wrong one (any corruption that changes
// the value) in any position of any order, or a point shifted outside G1,
// gives an error, never a wrong output.
func TestConsistentCombiner(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		d, x, want, unproven := unprovenSetup(t, cfg.n, cfg.t)
		var orders [][]int
		if cfg.t == 1 {
			for start := 1; start <= cfg.n; start++ {
				orders = append(orders, orders3(start, start%cfg.n+1, (start+1)%cfg.n+1)...)
			}
		} else {
			orders = [][]int{{1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}, {7, 1, 6, 2, 5}, {2, 4, 6, 1, 3, 5, 7}}
		}
		for _, order := range orders {
			w, err := combineInOrder(t, cfg.t, x, order, unproven)
			if err != nil || !bytes.Equal(w, want) {
				t.Fatalf("n=%d order %v: %v", cfg.n, order, err)
			}
			for _, i := range order {
				for name, corrupt := range bad {
					if name == "bad proof" {
						continue // the value is right: not a corruption here
					}
					wrong := map[int][]byte{}
					for _, j := range order {
						wrong[j] = unproven[j]
					}
					wrong[i] = corrupt(d, i, x, unproven[i])
					if w, err := combineInOrder(t, cfg.t, x, order, wrong); err == nil {
						t.Fatalf("n=%d order %v replica %d %s: accepted (right output: %v)", cfg.n, order, i, name, bytes.Equal(w, want))
					}
				}
			}
		}
	}
	// Points shifted outside G1 (see TestCombineConsistent), in every
	// position of every order.
	_, x, evals, ys := unprovenEvaluations(t)
	outside, order3 := torsionPoints(t)
	for name, delta := range map[string]group.Point{"outside G1": outside, "order 3": order3} {
		for i := 1; i <= 3; i++ {
			wrong := map[int][]byte{1: evals[1], 2: evals[2], 3: evals[3]}
			wrong[i] = Evaluation{Index: i, Y: ys[i].Add(delta), unproven: true}.Bytes()
			for _, order := range orders3(1, 2, 3) {
				_, err := combineInOrder(t, 1, x, order, wrong)
				if !errors.Is(err, ErrInconsistent) {
					t.Fatalf("%s at %d, order %v: %v", name, i, order, err)
				}
			}
		}
	}
}

// TestConsistentCombinerRefuses: a bad threshold or input, an evaluation
// naming another index, a repeated one, and a failure that sticks; Clear
// wipes the output.
func TestConsistentCombinerRefuses(t *testing.T) {
	if _, err := NewConsistentCombiner(-1, nil); !errors.Is(err, ErrInvalidThreshold) {
		t.Fatalf("t = -1: %v", err)
	}
	if _, err := NewConsistentCombiner(1, []byte("not an input")); err == nil {
		t.Fatal("bad input accepted")
	}
	d := deal(t, 4, 1)
	p, _ := PrepareEncrypt("key-1", encryptor(1), []byte("m"), rand.Reader)
	x := p.Input()
	ev := map[int][]byte{}
	for i := 1; i <= 4; i++ {
		e, _ := EvaluateUnproven(d.shares[i], i, x)
		ev[i] = e.Bytes()
	}
	for name, add := range map[string]func(c *ConsistentCombiner) error{
		"other index": func(c *ConsistentCombiner) error { return c.Add(1, ev[2]) },
		"truncated":   func(c *ConsistentCombiner) error { return c.Add(1, ev[1][:40]) },
		"repeated": func(c *ConsistentCombiner) error {
			if err := c.Add(1, ev[1]); err != nil {
				return nil
			}
			return c.Add(1, ev[1])
		},
	} {
		c, _ := NewConsistentCombiner(1, x)
		if err := add(c); err == nil {
			t.Fatalf("%s: accepted", name)
		}
		for i := 2; i <= 4; i++ {
			_ = c.Add(i, ev[i])
		}
		if w, err := c.Output(); err == nil || w != nil {
			t.Fatalf("%s: an output after a failure", name)
		}
	}
	c, _ := NewConsistentCombiner(1, x)
	for i := 1; i <= 3; i++ {
		if err := c.Add(i, ev[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Output(); err != nil {
		t.Fatal(err)
	}
	c.Clear()
	if w, err := c.Output(); err == nil || w != nil {
		t.Fatal("an output after Clear")
	}
}

// FuzzConsistentCombiner: any bytes as the last of 2t+1 evaluations (t = 1)
// never panic and never give an output other than the right one.
func FuzzConsistentCombiner(f *testing.F) {
	d := deal(f, 4, 1)
	p, _ := PrepareEncrypt("key-1", encryptor(1), []byte("m"), rand.Reader)
	x := p.Input()
	want := d.output(f, x)
	ev := map[int][]byte{}
	for i := 1; i <= 3; i++ {
		e, _ := EvaluateUnproven(d.shares[i], i, x)
		ev[i] = e.Bytes()
	}
	f.Add(ev[3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _ := NewConsistentCombiner(1, x)
		_ = c.Add(1, ev[1])
		_ = c.Add(2, ev[2])
		_ = c.Add(3, b)
		if w, err := c.Output(); err == nil && !bytes.Equal(w, want) {
			t.Fatalf("a wrong output from evaluation %x", b)
		}
	})
}
