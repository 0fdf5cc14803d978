package nparty

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

func groups() []group.Group { return []group.Group{group.Secp256k1(), group.BLS12381G1()} }

// liars returns a behaviour map giving the first k replicas the behaviours
// in order, cycling.
func liars(k int, bs ...Behaviour) map[int]Behaviour {
	m := map[int]Behaviour{}
	for i := 1; i <= k; i++ {
		m[i] = bs[(i-1)%len(bs)]
	}
	return m
}

// TestDKGWithFaults runs the DKG for (n,t) = (4,1) and (7,2) with up to t
// misbehaving replicas of every kind and checks that the honest replicas
// agree on a correct sharing and that every provable culprit is named.
func TestDKGWithFaults(t *testing.T) {
	for _, g := range groups() {
		for _, n := range []int{4, 7} {
			tt := dkg.DefaultT(n)
			for _, bs := range [][]Behaviour{
				{Honest}, {Silent}, {BadDealing}, {MalformedDealing}, {FalseComplaint}, {BadComplaintProof},
				{BadDealing, FalseComplaint}, {Silent, MalformedDealing},
			} {
				bad := liars(min(tt, len(bs)), bs...)
				if bs[0] == Honest {
					bad = nil
				}
				t.Run(fmt.Sprintf("%s/n=%d/%v", g.Name(), n, bs), func(t *testing.T) {
					c, err := RunDKG(g, n, 2, bad, rand.Reader)
					if err != nil {
						t.Fatal(err)
					}
					checkSharing(t, c)
					checkReplay(t, c)
					named := map[int]bool{}
					for _, cp := range c.Result.Culprits {
						named[cp.Replica] = true
						if b := bad[cp.Replica]; b == Honest || b == Silent {
							t.Fatalf("%v replica %d named: %v", b, cp.Replica, cp)
						}
					}
					for i, b := range bad {
						switch b {
						case BadDealing, MalformedDealing, FalseComplaint, BadComplaintProof:
							if !named[i] {
								t.Fatalf("replica %d (%v) not named", i, b)
							}
						case Silent:
							if !slices.Contains(c.Result.Absent, i) {
								t.Fatalf("silent replica %d not absent", i)
							}
						}
						if (b == BadDealing || b == MalformedDealing || b == Silent) && slices.Contains(c.Result.Qualified, i) {
							t.Fatalf("replica %d (%v) qualified", i, b)
						}
					}
				})
			}
		}
	}
}

// checkSharing verifies every recovered share against the verification keys
// and that all (t+1)-subsets of honest shares reconstruct the same key.
func checkSharing(t *testing.T, c *Cluster) {
	t.Helper()
	g, tt := c.Params.Group, c.Params.T
	for j := 1; j <= c.Params.N; j++ {
		b := c.Behaviours[j]
		if b == Silent {
			continue
		}
		if _, ok := c.Shares[j]; !ok {
			t.Fatalf("replica %d (%v) has no shares", j, b)
		}
	}
	for slot := range c.Params.Batch {
		var holders []int
		for j, xs := range c.Shares {
			if !g.BaseMul(xs[slot]).Equal(c.Result.VerificationKey(slot, j)) {
				t.Fatalf("replica %d slot %d: share does not match verification key", j, slot)
			}
			holders = append(holders, j)
		}
		slices.Sort(holders)
		for start := 0; start+tt < len(holders); start++ {
			sub := map[int]group.Scalar{}
			for _, j := range holders[start : start+tt+1] {
				sub[j] = c.Shares[j][slot]
			}
			x, err := vss.InterpolateScalars(g, sub)
			if err != nil {
				t.Fatal(err)
			}
			if !g.BaseMul(x).Equal(c.Result.GroupKeys[slot]) {
				t.Fatalf("slot %d: shares %v do not reconstruct the group key", slot, holders[start:start+tt+1])
			}
		}
	}
}

// checkReplay has another replica decode the encoded transcript and apply it
// to a Session of its own, as its FinalizeBlock does, and checks that it
// derives exactly the result of the run: the same qualified set, absentees,
// culprits with reasons, group keys, commitments and every verification key
// (deterministic qualification).
func checkReplay(t *testing.T, c *Cluster) {
	t.Helper()
	want := c.Result
	s, err := dkg.NewSession(c.Params)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range c.Transcript {
		m, err := dkg.DecodeMessage(c.Params.Group, raw)
		if err != nil {
			t.Fatalf("replay: decode: %v", err)
		}
		_ = s.Apply(m) // rejected messages are part of the transcript too
	}
	got, err := s.Result()
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if !slices.Equal(got.Qualified, want.Qualified) || !slices.Equal(got.Absent, want.Absent) ||
		!slices.Equal(got.Culprits, want.Culprits) {
		t.Fatalf("replay gives Q=%v absent=%v culprits=%v, want %v %v %v",
			got.Qualified, got.Absent, got.Culprits, want.Qualified, want.Absent, want.Culprits)
	}
	if len(got.GroupKeys) != len(want.GroupKeys) {
		t.Fatalf("replay gives %d keys, want %d", len(got.GroupKeys), len(want.GroupKeys))
	}
	for b := range want.GroupKeys {
		if !got.GroupKeys[b].Equal(want.GroupKeys[b]) || !got.Commitments[b].Equal(want.Commitments[b]) {
			t.Fatalf("replay gives another key for slot %d", b)
		}
		for i := 1; i <= c.Params.N; i++ {
			if !got.VerificationKey(b, i).Equal(want.VerificationKey(b, i)) {
				t.Fatalf("replay gives another verification key %d for slot %d", i, b)
			}
		}
	}
}

// TestDKGTooManyLiars checks that with more than t malformed dealers out of
// n the session fails loudly and names them.
func TestDKGTooManyLiars(t *testing.T) {
	for _, n := range []int{4, 7} {
		// n−t malformed dealings leave t valid ones: fewer than t+1.
		k := n - dkg.DefaultT(n)
		c, err := RunDKG(group.Secp256k1(), n, 1, liars(k, MalformedDealing), rand.Reader)
		var e *dkg.Error
		if !errors.As(err, &e) || !errors.Is(err, dkg.ErrNotQualified) {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(e.Culprits) != k || c.Session.Status() != dkg.StatusFailed {
			t.Fatalf("n=%d: culprits %v, status %v", n, e.Culprits, c.Session.Status())
		}
	}
}
