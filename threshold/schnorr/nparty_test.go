package schnorr

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"testing"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// dealing is a Shamir sharing made in the test (standing in for the DKG):
// the secret shares and the public material derived from the commitment.
type dealing struct {
	shares map[int]group.Scalar
	pub    group.Point
	vks    map[int]group.Point
}

func deal(tb testing.TB, n, t int, secret group.Scalar, r io.Reader) dealing {
	tb.Helper()
	p, err := vss.NewPolynomial(secp(), t, secret, r)
	if err != nil {
		tb.Fatal(err)
	}
	c := p.Commit()
	d := dealing{shares: map[int]group.Scalar{}, pub: c.Secret(), vks: map[int]group.Point{}}
	for i := 1; i <= n; i++ {
		d.shares[i] = p.Share(i)
		d.vks[i] = c.Eval(i)
	}
	return d
}

// cluster is one key and one nonce shared among n parties.
type cluster struct {
	n, t  int
	key   dealing
	nonce dealing
	pk    *PublicKey
	pn    *PublicNonce
}

func newCluster(tb testing.TB, n, t int, secret, nonceSecret group.Scalar, r io.Reader) *cluster {
	tb.Helper()
	c := &cluster{n: n, t: t, key: deal(tb, n, t, secret, r), nonce: deal(tb, n, t, nonceSecret, r)}
	c.pk = &PublicKey{GroupKey: c.key.pub, VerificationKeys: c.key.vks, Threshold: t}
	c.pn = &PublicNonce{R: c.nonce.pub, Commitments: c.nonce.vks}
	return c
}

// partials has every party in signers sign; bad parties send a corrupted
// partial instead.
func (c *cluster) partials(tb testing.TB, tr Taproot, msg []byte, signers []int, bad map[int]bool) map[int][]byte {
	tb.Helper()
	out := map[int][]byte{}
	for _, i := range signers {
		s, err := PartialSign(c.pk, c.pn, tr, msg, c.key.shares[i], c.nonce.shares[i])
		if err != nil {
			tb.Fatal(err)
		}
		if err := VerifyPartial(c.pk, c.pn, tr, msg, i, s); err != nil {
			tb.Fatalf("honest partial %d rejected: %v", i, err)
		}
		if bad[i] {
			s[31] ^= 1
		}
		out[i] = s
	}
	return out
}

func allIndices(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestThresholdSignQuick(t *testing.T) {
	c := newCluster(t, 4, 1, nil, nil, rand.Reader)
	msg := []byte("quick (4,1) run")
	parts := c.partials(t, Taproot{}, msg, allIndices(4), nil)
	sig, err := Combine(c.pk, c.pn, Taproot{}, msg, parts)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(group.XOnly(c.key.pub), msg, sig) {
		t.Fatal("combined signature does not verify")
	}
}

// TestThresholdSign covers (4,1) and (7,2) with every Taproot option,
// looping until every combination of the Y parities of P, R and Q occurred,
// verifying with our Verify and with btcec's.
func TestThresholdSign(t *testing.T) {
	root := [32]byte{1, 2, 3}
	for _, p := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		for _, tr := range []Taproot{{}, {Mode: TaprootBIP86}, {Mode: TaprootScript, MerkleRoot: root}} {
			t.Run(fmt.Sprintf("n=%d,t=%d,mode=%d", p.n, p.t, tr.Mode), func(t *testing.T) {
				seen := map[[3]bool]bool{}
				want := 8
				if tr.Mode == TaprootNone {
					want = 4 // Q = P' always has even Y
				}
				for iter := 0; iter < 200 && len(seen) < want; iter++ {
					c := newCluster(t, p.n, p.t, nil, nil, rand.Reader)
					Q, oddQ, err := OutputKey(c.key.pub, tr)
					if err != nil {
						t.Fatal(err)
					}
					seen[[3]bool{group.HasEvenY(c.key.pub), group.HasEvenY(c.nonce.pub), oddQ}] = true
					msg := make([]byte, 32)
					rand.Read(msg)
					// A random subset of t+1 signers.
					signers := allIndices(p.n)
					mrand.Shuffle(len(signers), func(a, b int) { signers[a], signers[b] = signers[b], signers[a] })
					signers = signers[:p.t+1]
					sig, err := Combine(c.pk, c.pn, tr, msg, c.partials(t, tr, msg, signers, nil))
					if err != nil {
						t.Fatal(err)
					}
					if !Verify(Q, msg, sig) {
						t.Fatal("our Verify rejects the combined signature")
					}
					bs, err := btcschnorr.ParseSignature(sig[:])
					if err != nil {
						t.Fatal(err)
					}
					bpk, err := btcschnorr.ParsePubKey(Q[:])
					if err != nil {
						t.Fatal(err)
					}
					if !bs.Verify(msg, bpk) {
						t.Fatal("btcec rejects the combined signature")
					}
					// A different message must not verify.
					msg[0] ^= 1
					if Verify(Q, msg, sig) {
						t.Fatal("signature verifies on another message")
					}
				}
				if len(seen) < want {
					t.Fatalf("parity combinations covered: %d of %d", len(seen), want)
				}
			})
		}
	}
}

// TestRobustness: up to t bad partials yield a correct signature and name
// the culprits; t+1 bad partials among 2t+1 received (so fewer than t+1
// valid ones) yield no signature.
func TestRobustness(t *testing.T) {
	for _, p := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		c := newCluster(t, p.n, p.t, nil, nil, rand.Reader)
		tr := Taproot{Mode: TaprootBIP86}
		Q, _, err := OutputKey(c.key.pub, tr)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("robust combine with liars")
		for nbad := 1; nbad <= p.t; nbad++ {
			bad := map[int]bool{}
			var want []int
			for i := 1; i <= nbad; i++ { // the lowest indices, so they are tried first
				bad[i] = true
				want = append(want, i)
			}
			sig, err := Combine(c.pk, c.pn, tr, msg, c.partials(t, tr, msg, allIndices(p.n), bad))
			var ce *CulpritError
			if !errors.As(err, &ce) || ce.Err != nil || !slices.Equal(ce.Culprits, want) {
				t.Fatalf("n=%d bad=%d: err %v, want culprits %v", p.n, nbad, err, want)
			}
			if !Verify(Q, msg, sig) {
				t.Fatalf("n=%d bad=%d: signature does not verify", p.n, nbad)
			}
		}
		// Culprits after the first t+1 valid partials are named too.
		sig, err := Combine(c.pk, c.pn, tr, msg, c.partials(t, tr, msg, allIndices(p.n), map[int]bool{p.n: true}))
		var ce *CulpritError
		if !errors.As(err, &ce) || ce.Err != nil || !slices.Equal(ce.Culprits, []int{p.n}) || !Verify(Q, msg, sig) {
			t.Fatalf("n=%d: last partial bad: err %v", p.n, err)
		}
		// t+1 bad out of 2t+1 received (the others silent): no signature.
		signers := allIndices(2*p.t + 1)
		bad := map[int]bool{}
		for i := 1; i <= p.t+1; i++ {
			bad[i] = true
		}
		sig, err = Combine(c.pk, c.pn, tr, msg, c.partials(t, tr, msg, signers, bad))
		if !errors.As(err, &ce) || !errors.Is(err, ErrNotEnoughPartials) || len(ce.Culprits) != p.t+1 {
			t.Fatalf("n=%d: t+1 bad: err %v", p.n, err)
		}
		if sig != ([SignatureLen]byte{}) {
			t.Fatalf("n=%d: a signature was returned with the error", p.n)
		}
		// Too few partials, none bad.
		_, err = Combine(c.pk, c.pn, tr, msg, c.partials(t, tr, msg, allIndices(p.t), nil))
		if !errors.Is(err, ErrNotEnoughPartials) || errors.As(err, &ce) {
			t.Fatalf("n=%d: t partials: err %v", p.n, err)
		}
		// Partials from unknown indices and malformed encodings are culprits.
		parts := c.partials(t, tr, msg, allIndices(p.n), nil)
		parts[0] = parts[1]
		parts[p.n+1] = parts[1]
		parts[1] = parts[1][:31]
		sig, err = Combine(c.pk, c.pn, tr, msg, parts)
		if !errors.As(err, &ce) || ce.Err != nil || !slices.Equal(ce.Culprits, []int{0, 1, p.n + 1}) || !Verify(Q, msg, sig) {
			t.Fatalf("n=%d: malformed partials: err %v", p.n, err)
		}
	}
}

// TestWrongMaterial: a partial is bound to its nonce, key, message and
// Taproot option; inconsistent public material never yields a signature.
func TestWrongMaterial(t *testing.T) {
	c := newCluster(t, 4, 1, nil, nil, rand.Reader)
	other := newCluster(t, 4, 1, nil, nil, rand.Reader)
	msg := []byte("m")
	tr := Taproot{Mode: TaprootScript, MerkleRoot: [32]byte{9}}
	s, err := PartialSign(c.pk, c.pn, tr, msg, c.key.shares[2], c.nonce.shares[2])
	if err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]error{
		"ok":          VerifyPartial(c.pk, c.pn, tr, msg, 2, s),
		"index":       VerifyPartial(c.pk, c.pn, tr, msg, 3, s),
		"message":     VerifyPartial(c.pk, c.pn, tr, []byte("n"), 2, s),
		"taproot":     VerifyPartial(c.pk, c.pn, Taproot{Mode: TaprootBIP86}, msg, 2, s),
		"nonce":       VerifyPartial(c.pk, other.pn, tr, msg, 2, s),
		"key":         VerifyPartial(other.pk, c.pn, tr, msg, 2, s),
		"short":       VerifyPartial(c.pk, c.pn, tr, msg, 2, s[:31]),
		"unknown idx": VerifyPartial(c.pk, c.pn, tr, msg, 5, s),
	} {
		switch {
		case name == "ok" && check != nil:
			t.Fatalf("valid partial rejected: %v", check)
		case name == "unknown idx" && !errors.Is(check, ErrInvalidKey):
			t.Fatalf("%s: %v", name, check)
		case name == "short" && !errors.Is(check, ErrInvalidPartial):
			t.Fatalf("%s: %v", name, check)
		case name != "ok" && check == nil:
			t.Fatalf("%s: wrong partial accepted", name)
		}
	}
	// Verification keys from another key: partials verify against them but
	// the result does not verify under the group key, so no signature.
	mixed := &PublicKey{GroupKey: c.key.pub, VerificationKeys: other.key.vks, Threshold: 1}
	parts := map[int][]byte{}
	for i := 1; i <= 2; i++ {
		p, err := PartialSign(other.pk, c.pn, Taproot{}, msg, other.key.shares[i], c.nonce.shares[i])
		if err != nil {
			t.Fatal(err)
		}
		parts[i] = p
	}
	if sig, err := Combine(mixed, c.pn, Taproot{}, msg, parts); err == nil || sig != ([SignatureLen]byte{}) {
		t.Fatalf("inconsistent material: err %v", err)
	}
	// Bad inputs are errors, not panics.
	g := secp()
	for name, err := range map[string]error{
		"nil key": func() error {
			_, err := PartialSign(nil, c.pn, tr, msg, c.key.shares[1], c.nonce.shares[1])
			return err
		}(),
		"zero share": func() error { _, err := PartialSign(c.pk, c.pn, tr, msg, g.Zero(), c.nonce.shares[1]); return err }(),
		"identity R": func() error {
			_, err := PartialSign(c.pk, &PublicNonce{R: g.Identity()}, tr, msg, c.key.shares[1], c.nonce.shares[1])
			return err
		}(),
		"nil group key": VerifyPartial(&PublicKey{}, c.pn, tr, msg, 1, s),
		"bad mode":      VerifyPartial(c.pk, c.pn, Taproot{Mode: 7}, msg, 1, s),
		"bad threshold": func() error {
			_, err := Combine(&PublicKey{GroupKey: c.key.pub, Threshold: -1}, c.pn, tr, msg, nil)
			return err
		}(),
		"nil nonce":      func() error { _, err := Combine(c.pk, nil, tr, msg, nil); return err }(),
		"output key nil": func() error { _, _, err := OutputKey(nil, tr); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestForeignGroupMaterial: points and scalars of another group (a
// BLS12-381 key passed by mistake) are ErrInvalidKey in every entry point,
// never a panic in the group arithmetic.
func TestForeignGroupMaterial(t *testing.T) {
	c := newCluster(t, 4, 1, nil, nil, rand.Reader)
	b := group.BLS12381G1()
	msg := []byte("m")
	tr := Taproot{Mode: TaprootBIP86}
	s, err := PartialSign(c.pk, c.pn, tr, msg, c.key.shares[1], c.nonce.shares[1])
	if err != nil {
		t.Fatal(err)
	}
	foreignVK := map[int]group.Point{1: b.Generator(), 2: c.key.vks[2]}
	pair := dealPair(t, 4, 1, rand.Reader)
	for name, f := range map[string]func() error{
		"sign: group key": func() error {
			_, err := PartialSign(&PublicKey{GroupKey: b.Generator()}, c.pn, tr, msg, c.key.shares[1], c.nonce.shares[1])
			return err
		},
		"sign: R": func() error {
			_, err := PartialSign(c.pk, &PublicNonce{R: b.Generator()}, tr, msg, c.key.shares[1], c.nonce.shares[1])
			return err
		},
		"sign: share": func() error {
			_, err := PartialSign(c.pk, c.pn, tr, msg, b.ScalarFromUint64(5), c.nonce.shares[1])
			return err
		},
		"sign: nonce share": func() error {
			_, err := PartialSign(c.pk, c.pn, tr, msg, c.key.shares[1], b.ScalarFromUint64(5))
			return err
		},
		"verify: verification key": func() error {
			return VerifyPartial(&PublicKey{GroupKey: c.key.pub, VerificationKeys: foreignVK, Threshold: 1}, c.pn, tr, msg, 1, s)
		},
		"verify: nonce commitment": func() error {
			return VerifyPartial(c.pk, &PublicNonce{R: c.pn.R, Commitments: map[int]group.Point{1: b.Generator()}}, tr, msg, 1, s)
		},
		"combine: verification key": func() error {
			_, err := Combine(&PublicKey{GroupKey: c.key.pub, VerificationKeys: foreignVK, Threshold: 1}, c.pn, tr, msg, map[int][]byte{1: s})
			return err
		},
		"combine unchecked: group key": func() error {
			_, err := CombineUnchecked(&PublicKey{GroupKey: b.Generator(), Threshold: 1}, c.pn, tr, msg, map[int][]byte{1: s, 2: s})
			return err
		},
		"output key": func() error { _, _, err := OutputKey(b.Generator(), tr); return err },
		"pair: D": func() error {
			_, err := (&NoncePair{D: b.Generator(), E: pair.pub.E}).Bind(c.pk, tr, msg)
			return err
		},
		"pair: commitment": func() error {
			_, err := (&NoncePair{D: pair.pub.D, E: pair.pub.E, DCommitments: map[int]group.Point{1: b.Generator()},
				ECommitments: map[int]group.Point{1: pair.pub.E}}).Bind(c.pk, tr, msg)
			return err
		},
		"pair shares": func() error {
			_, err := NonceShares{D: b.ScalarFromUint64(1), E: pair.shares(1).E}.Bind(c.pk, pair.pub, tr, msg)
			return err
		},
	} {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return f()
		}()
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v, want ErrInvalidKey", name, err)
		}
	}
}

// TestCombineUnchecked: t+1 honest partials combine to a valid signature;
// one wrong partial among them, or a wrong count, gives an error and no
// signature.
func TestCombineUnchecked(t *testing.T) {
	for _, p := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		c := newCluster(t, p.n, p.t, nil, nil, rand.Reader)
		tr := Taproot{Mode: TaprootBIP86}
		Q, _, err := OutputKey(c.key.pub, tr)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("fast path")
		signers := allIndices(p.t + 1)
		sig, err := CombineUnchecked(c.pk, c.pn, tr, msg, c.partials(t, tr, msg, signers, nil))
		if err != nil || !Verify(Q, msg, sig) {
			t.Fatalf("n=%d: honest partials: %v", p.n, err)
		}
		sig, err = CombineUnchecked(c.pk, c.pn, tr, msg, c.partials(t, tr, msg, signers, map[int]bool{p.t + 1: true}))
		if !errors.Is(err, ErrVerify) || sig != ([SignatureLen]byte{}) {
			t.Fatalf("n=%d: a wrong partial: err %v", p.n, err)
		}
		if _, err := CombineUnchecked(c.pk, c.pn, tr, msg, c.partials(t, tr, msg, allIndices(p.n), nil)); !errors.Is(err, ErrNotEnoughPartials) {
			t.Fatalf("n=%d: n partials: err %v", p.n, err)
		}
		parts := c.partials(t, tr, msg, signers, nil)
		parts[1] = parts[1][:31]
		if _, err := CombineUnchecked(c.pk, c.pn, tr, msg, parts); err == nil {
			t.Fatalf("n=%d: malformed partial accepted", p.n)
		}
	}
}
