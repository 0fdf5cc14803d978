package nparty

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/vhsm/vhsm/threshold/dise"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// diseEvaluations has the replicas in only evaluate the DPRF on x with their
// share of slot 0; BadPartial replicas evaluate with a wrong share (with a
// proof that is consistent with that wrong share, not with their
// verification key).
func diseEvaluations(t *testing.T, c *Cluster, x []byte, only []int) map[int][]byte {
	t.Helper()
	g := c.Params.Group
	evals := map[int][]byte{}
	for _, j := range only {
		xs, ok := c.Shares[j]
		if !ok {
			continue
		}
		k := xs[0]
		if c.Behaviours[j] == BadPartial {
			k = k.Add(g.ScalarFromUint64(1))
		}
		e, err := dise.Evaluate(k, j, x, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		evals[j] = e.Bytes()
	}
	return evals
}

// checkCulprits checks a combination error: nil if no liar was met,
// otherwise a *CulpritError with a nil Err naming exactly the liars.
func checkCulprits(t *testing.T, err error, want []int) {
	t.Helper()
	var ce *dise.CulpritError
	switch {
	case len(want) == 0 && err != nil:
		t.Fatalf("combine: %v", err)
	case len(want) > 0 && (!errors.As(err, &ce) || ce.Err != nil || !slices.Equal(ce.Culprits, want)):
		t.Fatalf("combine: %v, want culprits %v and a result", err, want)
	}
}

// TestDiSEEndToEnd runs DKG → DPRF evaluation → combination → DiSE
// encryption, then decryption through a different set of replicas, with up
// to t misbehaving replicas.
func TestDiSEEndToEnd(t *testing.T) {
	g := group.BLS12381G1()
	for _, n := range []int{4, 7} {
		for _, sc := range scenarios(n) {
			t.Run(fmt.Sprintf("n=%d/%s", n, sc.name), func(t *testing.T) {
				c, err := RunDKG(g, n, 1, sc.bad, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				vks := verificationKeys(c, 0)
				msg := []byte("vhsm DiSE end-to-end plaintext")
				pending, err := dise.PrepareEncrypt("key-1", [32]byte{0: 42}, msg, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				x := pending.Input()
				liarsSeen := partialLiars(sc.bad)
				w, err := dise.CombineEvaluations(vks, c.Params.T, x, diseEvaluations(t, c, x, allIndices(n)))
				checkCulprits(t, err, liarsSeen)
				ct, err := dise.FinishEncrypt(pending, w)
				if err != nil {
					t.Fatal(err)
				}
				// Decrypt through the replicas in reverse order of
				// preference: the highest indices answer first.
				x2, err := dise.ParseCiphertext(ct)
				if err != nil || !bytes.Equal(x2, x) {
					t.Fatalf("parse ciphertext: %v", err)
				}
				var late []int
				for j := n; j >= 1 && len(late) < 2*c.Params.T+1; j-- {
					late = append(late, j)
				}
				evals := diseEvaluations(t, c, x2, late)
				w2, err := dise.CombineEvaluations(vks, c.Params.T, x2, evals)
				if err != nil && !errors.As(err, new(*dise.CulpritError)) {
					t.Fatal(err)
				}
				pt, err := dise.FinishDecrypt(ct, w2)
				if err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("decrypt: %v", err)
				}
				tampered := bytes.Clone(ct)
				tampered[len(tampered)-1] ^= 1
				if _, err := dise.FinishDecrypt(tampered, w2); !errors.Is(err, dise.ErrAuthentication) {
					t.Fatalf("tampered ciphertext: %v", err)
				}
			})
		}
	}
}

// TestDiSETooManyLiars gives the combiner 2t+1 evaluations of which t+1 are
// wrong: it must fail, name the liars and return no output.
func TestDiSETooManyLiars(t *testing.T) {
	g := group.BLS12381G1()
	for _, n := range []int{4, 7} {
		tt := dkg.DefaultT(n)
		bad := liars(tt+1, BadPartial)
		c, err := RunDKG(g, n, 1, bad, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pending, err := dise.PrepareEncrypt("key-1", [32]byte{0: 7}, []byte("secret"), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		x := pending.Input()
		w, err := dise.CombineEvaluations(verificationKeys(c, 0), tt, x, diseEvaluations(t, c, x, allIndices(2*tt+1)))
		var ce *dise.CulpritError
		if w != nil || !errors.As(err, &ce) || !errors.Is(err, dise.ErrNotEnoughEvaluations) ||
			!slices.Equal(ce.Culprits, partialLiars(bad)) {
			t.Fatalf("n=%d: w=%x err=%v", n, w, err)
		}
	}
}
