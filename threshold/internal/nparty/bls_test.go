package nparty

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"

	blst "github.com/supranational/blst/bindings/go"

	"github.com/vhsm/vhsm/threshold/bls"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// scenario is a set of misbehaving replicas for an end-to-end run.
type scenario struct {
	name string
	bad  map[int]Behaviour
}

// scenarios returns, for n replicas with t = (n−1)/3, runs with up to t
// faulty replicas covering every behaviour. Liars get the lowest indices so
// that a combiner taking the first t+1 valid partials meets them all.
func scenarios(n int) []scenario {
	t := dkg.DefaultT(n)
	out := []scenario{{name: "honest"}}
	for _, b := range []Behaviour{Silent, BadDealing, MalformedDealing, FalseComplaint, BadComplaintProof, BadPartial} {
		out = append(out, scenario{name: b.String(), bad: liars(1, b)})
	}
	if t >= 2 {
		out = append(out,
			scenario{name: "bad partial + bad dealing", bad: liars(t, BadPartial, BadDealing)},
			scenario{name: "silent + bad partial", bad: liars(t, Silent, BadPartial)},
			scenario{name: "false complaint + bad partial", bad: liars(t, FalseComplaint, BadPartial)},
			scenario{name: "t bad partials", bad: liars(t, BadPartial)},
		)
	}
	return out
}

// partialLiars returns the replicas of bad with behaviour BadPartial, sorted.
func partialLiars(bad map[int]Behaviour) []int {
	var out []int
	for i, b := range bad {
		if b == BadPartial {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// blsPartials has every non-silent replica of c sign msg with its share of
// slot 0; BadPartial replicas sign with a wrong share.
func blsPartials(t *testing.T, c *Cluster, msg []byte, only []int) map[int][]byte {
	t.Helper()
	g := c.Params.Group
	partials := map[int][]byte{}
	for _, j := range only {
		xs, ok := c.Shares[j]
		if !ok {
			continue
		}
		x := xs[0]
		if c.Behaviours[j] == BadPartial {
			x = x.Add(g.ScalarFromUint64(1))
		}
		sig, err := bls.PartialSign(x, msg)
		if err != nil {
			t.Fatal(err)
		}
		partials[j] = sig
	}
	return partials
}

// popDST is the hash-to-G2 DST of the Ethereum (POP) ciphersuite, used
// only by the independent blst verifier.
var popDST = []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")

// blstVerify is the independent check of a threshold BLS signature:
// supranational/blst with the POP ciphersuite, subgroup checks on the key
// and the signature.
func blstVerify(pub, msg, sig []byte) bool {
	pk := new(blst.P1Affine).Uncompress(pub)
	s := new(blst.P2Affine).Uncompress(sig)
	if pk == nil || s == nil {
		return false
	}
	return s.Verify(true, pk, true, msg, popDST)
}

func allIndices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func verificationKeys(c *Cluster, slot int) map[int]group.Point {
	vks := map[int]group.Point{}
	for j := 1; j <= c.Params.N; j++ {
		vks[j] = c.Result.VerificationKey(slot, j)
	}
	return vks
}

// TestBLSEndToEnd runs DKG → partial signing → robust combination →
// Ethereum BLS verification, by this project and by supranational/blst,
// with up to t misbehaving replicas.
func TestBLSEndToEnd(t *testing.T) {
	g := group.BLS12381G1()
	msg := []byte("vhsm threshold BLS end-to-end")
	for _, n := range []int{4, 7} {
		for _, sc := range scenarios(n) {
			t.Run(fmt.Sprintf("n=%d/%s", n, sc.name), func(t *testing.T) {
				c, err := RunDKG(g, n, 1, sc.bad, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				partials := blsPartials(t, c, msg, allIndices(n))
				sig, err := bls.Combine(c.Result.GroupKeys[0], verificationKeys(c, 0), c.Params.T, msg, partials)
				want := partialLiars(sc.bad)
				var ce *bls.CulpritError
				switch {
				case len(want) == 0 && err != nil:
					t.Fatalf("combine: %v", err)
				case len(want) > 0 && (!errors.As(err, &ce) || ce.Err != nil || !slices.Equal(ce.Culprits, want)):
					t.Fatalf("combine: %v, want culprits %v and a signature", err, want)
				}
				pub := c.Result.GroupKeys[0].Bytes()
				if !bls.Verify(pub, msg, sig) {
					t.Fatal("combined signature does not verify under the group key")
				}
				if !blstVerify(pub, msg, sig) {
					t.Fatal("blst rejects the combined signature")
				}
				if bls.Verify(pub, []byte("another message"), sig) || blstVerify(pub, []byte("another message"), sig) {
					t.Fatal("signature verifies for another message")
				}
			})
		}
	}
}

// TestBLSTooManyLiars gives the combiner 2t+1 partials of which t+1 are
// wrong: it must fail, name the t+1 liars and return no signature.
func TestBLSTooManyLiars(t *testing.T) {
	g := group.BLS12381G1()
	msg := []byte("vhsm threshold BLS with t+1 liars")
	for _, n := range []int{4, 7} {
		tt := dkg.DefaultT(n)
		bad := liars(tt+1, BadPartial)
		c, err := RunDKG(g, n, 1, bad, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		partials := blsPartials(t, c, msg, allIndices(2*tt+1))
		sig, err := bls.Combine(c.Result.GroupKeys[0], verificationKeys(c, 0), tt, msg, partials)
		var ce *bls.CulpritError
		if sig != nil || !errors.As(err, &ce) || !errors.Is(err, bls.ErrNotEnoughPartials) ||
			!slices.Equal(ce.Culprits, partialLiars(bad)) {
			t.Fatalf("n=%d: sig=%x err=%v", n, sig, err)
		}
	}
}
