package dkg

import (
	"crypto/rand"
	"testing"

	"github.com/vhsm/vhsm/threshold/dleq"
	"github.com/vhsm/vhsm/threshold/group"
)

// TestMaxEncodedLen checks the bound against real encodings: a dealing for
// the parameters is exactly the bound and one with another polynomial is
// longer; a response with a complaint against every dealer and a vote are
// exactly theirs.
func TestMaxEncodedLen(t *testing.T) {
	for _, g := range []group.Group{group.Secp256k1(), group.BLS12381G1()} {
		for _, n := range []int{1, 4, 7} {
			f := newFixture(t, g, n, 3)
			d, err := NewDealing(f.p, 1, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(d.Marshal()), MaxEncodedLen(f.p, KindDealing); got != want {
				t.Fatalf("%s n=%d: dealing of %d bytes, bound %d", g.Name(), n, got, want)
			}
			more := f.p
			more.Batch++
			d2, err := NewDealing(more, 1, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if len(d2.Marshal()) <= MaxEncodedLen(f.p, KindDealing) {
				t.Fatalf("%s n=%d: a dealing of batch+1 fits the bound", g.Name(), n)
			}
			ec := group.Secp256k1()
			r := &Response{Sender: 1}
			for i := 1; i <= n; i++ {
				r.Complaints = append(r.Complaints, Complaint{Dealer: i, Key: ec.Generator(), Proof: dleq.Proof{C: ec.ScalarFromUint64(1), Z: ec.ScalarFromUint64(2)}})
			}
			if got, want := len(r.Marshal()), MaxEncodedLen(f.p, KindResponse); got != want {
				t.Fatalf("%s n=%d: response of %d bytes, bound %d", g.Name(), n, got, want)
			}
			if _, err := DecodeMessage(g, r.Marshal()); err != nil {
				t.Fatal(err)
			}
			v := &TimeoutVote{Sender: 1, Phase: PhaseDealing}
			if got, want := len(v.Marshal()), MaxEncodedLen(f.p, KindTimeout); got != want {
				t.Fatalf("vote of %d bytes, bound %d", got, want)
			}
		}
	}
	if MaxEncodedLen(Params{}, Kind(9)) != 0 {
		t.Fatal("bound for an unknown kind")
	}
}
