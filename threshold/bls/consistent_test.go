package bls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	herumi "github.com/herumi/bls-eth-go-binary/bls"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// permutations returns every order of xs.
func permutations(xs []int) [][]int {
	if len(xs) <= 1 {
		return [][]int{append([]int(nil), xs...)}
	}
	var out [][]int
	for k := range xs {
		rest := append(append([]int(nil), xs[:k]...), xs[k+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]int{xs[k]}, p...))
		}
	}
	return out
}

// combineInOrder feeds the partials in order and returns the signature.
func combineInOrder(t *testing.T, th int, order []int, ps map[int][]byte) ([]byte, error) {
	t.Helper()
	c, err := NewConsistentCombiner(th)
	if err != nil {
		t.Fatal(err)
	}
	for k, i := range order {
		if _, err := c.Signature(); k < 2*th+1 && !errors.Is(err, ErrNotEnoughPartials) && err == nil {
			t.Fatalf("signature after %d partials", k)
		}
		_ = c.Add(i, ps[i])
	}
	return c.Signature()
}

// TestConsistentCombiner: fed in any order, 2t+1 right partials give
// CombineConsistent's signature; a wrong partial in any position of any
// order gives an error and no signature.
func TestConsistentCombiner(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		d := deal(t, cfg.n, cfg.t)
		msg := []byte("consistent partials, one at a time")
		want, _ := PartialSign(d.secret, msg)
		ps := d.partials(t, msg)
		for start := 1; start <= cfg.n; start++ {
			var window []int
			for k := range 2*cfg.t + 1 {
				window = append(window, (start+k-1)%cfg.n+1)
			}
			orders := permutations(window)
			if cfg.t > 1 {
				orders = orders[:6] // 120 orders: the first few are enough here
			}
			for _, order := range orders {
				sig, err := combineInOrder(t, cfg.t, order, ps)
				if err != nil || !bytes.Equal(sig, want) || !blstVerify(d.pub.Bytes(), msg, sig) {
					t.Fatalf("n=%d order %v: %v", cfg.n, order, err)
				}
				if cfg.t > 1 {
					continue
				}
				for _, i := range order {
					for name, corrupt := range corruptions {
						bad := map[int][]byte{}
						for _, j := range order {
							bad[j] = ps[j]
						}
						bad[i] = corrupt(d, i, msg, ps[i])
						if sig, err := combineInOrder(t, cfg.t, order, bad); err == nil || sig != nil {
							t.Fatalf("order %v, replica %d %s: combined a wrong partial", order, i, name)
						}
					}
				}
			}
		}
		// More than 2t+1: every one is checked.
		all := make([]int, 0, cfg.n)
		for i := cfg.n; i >= 1; i-- {
			all = append(all, i)
		}
		if sig, err := combineInOrder(t, cfg.t, all, ps); err != nil || !bytes.Equal(sig, want) {
			t.Fatalf("n=%d: all partials: %v", cfg.n, err)
		}
		bad := map[int][]byte{}
		for i, p := range ps {
			bad[i] = p
		}
		bad[all[len(all)-1]] = corruptions["other share"](d, all[len(all)-1], msg, nil)
		if _, err := combineInOrder(t, cfg.t, all, bad); !errors.Is(err, ErrInconsistent) {
			t.Fatalf("n=%d: a wrong last partial beyond 2t+1: %v", cfg.n, err)
		}
		// t colluding partials first: they fix nothing, the rest disagree.
		colluding := map[int][]byte{}
		order := []int{}
		for i := 1; i <= 2*cfg.t+1; i++ {
			colluding[i] = ps[i]
			order = append(order, i)
		}
		for i := 1; i <= cfg.t; i++ {
			colluding[i] = corruptions["other share"](d, i, msg, nil)
		}
		if _, err := combineInOrder(t, cfg.t, order, colluding); !errors.Is(err, ErrInconsistent) {
			t.Fatalf("n=%d: t colluding partials: %v", cfg.n, err)
		}
	}
}

// TestConsistentCombinerRefuses: an invalid threshold, an index out of
// range or repeated, and a failure that sticks.
func TestConsistentCombinerRefuses(t *testing.T) {
	if _, err := NewConsistentCombiner(-1); !errors.Is(err, ErrInvalidThreshold) {
		t.Fatalf("t = -1: %v", err)
	}
	d := deal(t, 4, 1)
	ps := d.partials(t, []byte("m"))
	for name, add := range map[string]func(c *ConsistentCombiner) error{
		"index 0":         func(c *ConsistentCombiner) error { return c.Add(0, ps[1]) },
		"index too large": func(c *ConsistentCombiner) error { return c.Add(1<<16+1, ps[1]) },
		"repeated": func(c *ConsistentCombiner) error {
			if err := c.Add(1, ps[1]); err != nil {
				return nil
			}
			return c.Add(1, ps[1])
		},
	} {
		c, _ := NewConsistentCombiner(1)
		if err := add(c); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("%s: %v", name, err)
		}
		// Sticky: right partials afterwards give no signature.
		for i := 2; i <= 4; i++ {
			_ = c.Add(i, ps[i])
		}
		if sig, err := c.Signature(); err == nil || sig != nil {
			t.Fatalf("%s: a signature after a failure", name)
		}
	}
	// A signature is not given before 2t+1 partials, though the value is
	// interpolated at t+1.
	c, _ := NewConsistentCombiner(1)
	for i := 1; i <= 2; i++ {
		if err := c.Add(i, ps[i]); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Signature(); !errors.Is(err, ErrNotEnoughPartials) {
			t.Fatalf("after %d partials: %v", i, err)
		}
	}
}

// FuzzConsistentCombiner: any bytes as the last of 2t+1 partials (t = 1)
// never panic and never give a signature other than the right one.
func FuzzConsistentCombiner(f *testing.F) {
	d := deal(f, 4, 1)
	msg := []byte("fuzzed partial")
	want, _ := PartialSign(d.secret, msg)
	ps := d.partials(f, msg)
	f.Add(ps[3])
	f.Add(ps[4])
	short, _ := PartialSign(d.shares[3], msg)
	f.Add(short)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _ := NewConsistentCombiner(1)
		_ = c.Add(1, ps[1])
		_ = c.Add(2, ps[2])
		_ = c.Add(3, b)
		if sig, err := c.Signature(); err == nil && !bytes.Equal(sig, want) {
			t.Fatalf("a wrong signature from partial %x", b)
		}
	})
}

// TestCombineForms: partials compressed, uncompressed or mixed, any 2t+1
// of n (bases with a common denominator 1, with another, and t = 2), and
// index sets whose Lagrange basis has no small integers (the full-scalar
// path), all combine to the single-party signature.
func TestCombineForms(t *testing.T) {
	msg := []byte("either form")
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		d := deal(t, cfg.n, cfg.t)
		want, _ := PartialSign(d.secret, msg)
		long := d.partials(t, msg)
		short := map[int][]byte{}
		for i, s := range d.shares {
			short[i], _ = PartialSign(s, msg)
		}
		var subsets func(from int, set []int)
		subsets = func(from int, set []int) {
			if len(set) == 2*cfg.t+1 {
				for form, pick := range []func(k, i int) []byte{
					func(_, i int) []byte { return long[i] },
					func(_, i int) []byte { return short[i] },
					func(k, i int) []byte { return [][]byte{long[i], short[i]}[k%2] },
				} {
					ps := map[int][]byte{}
					for k, i := range set {
						ps[i] = pick(k, i)
					}
					if sig, err := CombineConsistent(cfg.t, ps); err != nil || !bytes.Equal(sig, want) {
						t.Fatalf("n=%d %v form %d: %v", cfg.n, set, form, err)
					}
				}
				return
			}
			for i := from; i <= cfg.n; i++ {
				subsets(i+1, append(set, i))
			}
		}
		subsets(1, nil)
	}
	// Indices apart: a common denominator above 1 ({1, 3, 5}), or no small
	// integers at all (the full-scalar path).
	g := group.BLS12381G1()
	p, err := vss.NewPolynomial(g, 1, nil, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := PartialSign(p.Secret(), msg)
	for _, set := range [][]int{{7, 40000, 50001}, {1, 3, 65536}, {2, 4, 6}, {1, 3, 5}} {
		ps := map[int][]byte{}
		for _, i := range set {
			ps[i], _ = PartialSignUncompressed(p.Share(i), msg)
		}
		if sig, err := CombineConsistent(1, ps); err != nil || !bytes.Equal(sig, want) {
			t.Fatalf("%v: %v", set, err)
		}
		ps[set[0]], _ = PartialSignUncompressed(p.Share(set[0]).Add(g.ScalarFromUint64(1)), msg)
		if sig, err := CombineConsistent(1, ps); !errors.Is(err, ErrInconsistent) || sig != nil {
			t.Fatalf("%v with a wrong partial: %v", set, err)
		}
	}
}

// TestMulSmall: mulSmall agrees with herumi's scalar multiplication for
// positive, negative, zero and large small integers.
func TestMulSmall(t *testing.T) {
	d := deal(t, 4, 1)
	var p herumi.G2
	if err := decodeG2Unchecked(&p, d.partials(t, []byte("m"))[1]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []int64{0, 1, -1, 2, -3, 7, 1 << 16, -(1 << 16) + 1, 123457} {
		var got, want herumi.G2
		mulSmall(&got, &p, c)
		var fr herumi.Fr
		fr.SetInt64(c)
		herumi.G2Mul(&want, &p, &fr)
		if !got.IsEqual(&want) {
			t.Fatalf("%d·P differs", c)
		}
	}
}
