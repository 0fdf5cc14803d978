package schnorr

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
)

func benchSizes() []struct{ n, t int } { return []struct{ n, t int }{{4, 1}, {7, 2}} }

func BenchmarkPartialSign(b *testing.B) {
	c := newCluster(b, 4, 1, nil, nil, rand.Reader)
	tr := Taproot{Mode: TaprootBIP86}
	msg := make([]byte, 32)
	for b.Loop() {
		if _, err := PartialSign(c.pk, c.pn, tr, msg, c.key.shares[1], c.nonce.shares[1]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPartial(b *testing.B) {
	c := newCluster(b, 4, 1, nil, nil, rand.Reader)
	tr := Taproot{Mode: TaprootBIP86}
	msg := make([]byte, 32)
	p := c.partials(b, tr, msg, []int{1}, nil)[1]
	for b.Loop() {
		if err := VerifyPartial(c.pk, c.pn, tr, msg, 1, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCombine combines all n partials (so t+1 are verified and
// interpolated, and the result verified).
func BenchmarkCombine(b *testing.B) {
	for _, s := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d,t=%d", s.n, s.t), func(b *testing.B) {
			c := newCluster(b, s.n, s.t, nil, nil, rand.Reader)
			tr := Taproot{Mode: TaprootBIP86}
			msg := make([]byte, 32)
			parts := c.partials(b, tr, msg, allIndices(s.n), nil)
			for b.Loop() {
				if _, err := Combine(c.pk, c.pn, tr, msg, parts); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The client's fast path: t+1 partials, only the result verified.
		b.Run(fmt.Sprintf("n=%d,t=%d/unchecked", s.n, s.t), func(b *testing.B) {
			c := newCluster(b, s.n, s.t, nil, nil, rand.Reader)
			tr := Taproot{Mode: TaprootBIP86}
			msg := make([]byte, 32)
			parts := c.partials(b, tr, msg, allIndices(s.t+1), nil)
			for b.Loop() {
				if _, err := CombineUnchecked(c.pk, c.pn, tr, msg, parts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	c := newCluster(b, 4, 1, nil, nil, rand.Reader)
	msg := make([]byte, 32)
	sig, err := Combine(c.pk, c.pn, Taproot{}, msg, c.partials(b, Taproot{}, msg, []int{1, 2}, nil))
	if err != nil {
		b.Fatal(err)
	}
	px := group.XOnly(c.key.pub)
	for b.Loop() {
		if !Verify(px, msg, sig) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkBaseMul(b *testing.B) {
	g := secp()
	s, err := g.RandomScalar(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		g.BaseMul(s)
	}
}

// BenchmarkNoncePairBind is the combiner's binding: ρ, R and every R_i.
func BenchmarkNoncePairBind(b *testing.B) {
	for _, s := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d,t=%d", s.n, s.t), func(b *testing.B) {
			key := deal(b, s.n, s.t, nil, rand.Reader)
			pk := &PublicKey{GroupKey: key.pub, VerificationKeys: key.vks, Threshold: s.t}
			pair := dealPair(b, s.n, s.t, rand.Reader)
			tr := Taproot{Mode: TaprootBIP86}
			msg := make([]byte, 32)
			for b.Loop() {
				if _, err := pair.pub.Bind(pk, tr, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignerBind is a replica's binding: R from (D, E) without
// commitments, and its share k_i.
func BenchmarkSignerBind(b *testing.B) {
	key := deal(b, 4, 1, nil, rand.Reader)
	pk := &PublicKey{GroupKey: key.pub, Threshold: 1}
	pair := dealPair(b, 4, 1, rand.Reader)
	public := &NoncePair{D: pair.pub.D, E: pair.pub.E}
	tr := Taproot{Mode: TaprootBIP86}
	msg := make([]byte, 32)
	for b.Loop() {
		if _, err := public.Bind(pk, tr, msg); err != nil {
			b.Fatal(err)
		}
		if _, err := pair.shares(1).Bind(pk, public, tr, msg); err != nil {
			b.Fatal(err)
		}
	}
}
