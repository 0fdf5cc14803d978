package dise

// Differential test of the DPRF against go.dedis.ch/kyber/v4 over kyber's
// BLS12-381 G1 on cloudflare/circl (test-only use): H1 is computed with
// circl's RFC 9380 hash to G1 (ours uses blst), the combination with kyber's
// share.RecoverCommit (Lagrange interpolation in the exponent; kyber's share
// I is our replica I+1), and each evaluation's DLEQ proof is checked with
// kyber's proof/dleq verifier. That verifier checks only the two
// verification equations, not a Fiat–Shamir challenge (kyber's transcript
// differs from ours: see threshold/dleq/kyber_test.go), so our challenge is
// recomputed over the commitments kyber computes.

import (
	"bytes"
	"crypto/rand"
	"testing"

	"go.dedis.ch/kyber/v4"
	"go.dedis.ch/kyber/v4/pairing/bls12381/circl"
	kdleq "go.dedis.ch/kyber/v4/proof/dleq"
	"go.dedis.ch/kyber/v4/share"

	"github.com/vhsm/vhsm/threshold/group"
)

type kyberSuite struct {
	kyber.Group
	circl.Suite
}

func (kyberSuite) String() string { return "bls12381.G1" }

func TestKyberDPRF(t *testing.T) {
	ks := kyberSuite{Group: circl.G1, Suite: circl.NewSuite()}
	enc := func(m interface{ MarshalBinary() ([]byte, error) }) []byte {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kp := func(p group.Point) kyber.Point {
		v := ks.Point()
		if err := v.UnmarshalBinary(p.Bytes()); err != nil {
			t.Fatal(err)
		}
		return v
	}
	kscalar := func(s group.Scalar) kyber.Scalar {
		v := ks.Scalar()
		if err := v.UnmarshalBinary(s.Bytes()); err != nil {
			t.Fatal(err)
		}
		return v
	}

	const n, th = 7, 2
	d := deal(t, n, th)
	p, err := PrepareEncrypt("key", encryptor(3), []byte("message"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x := p.Input()

	// H1(x) by circl equals ours (blst).
	H, err := hashInput(x)
	if err != nil {
		t.Fatal(err)
	}
	kH := ks.Point().(*circl.G1Elt).Hash2(x, h1DST)
	if !bytes.Equal(enc(kH), H.Bytes()) {
		t.Fatal("H1(x) differs from circl's hash to G1")
	}
	kG := ks.Point().Base()

	evals := map[int][]byte{}
	var pubs []*share.PubShare
	for i := 1; i <= n; i++ {
		e, err := Evaluate(d.shares[i], i, x, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		evals[i] = e.Bytes()
		pubs = append(pubs, &share.PubShare{I: uint32(i - 1), V: kp(e.Y)})
		// Y_i = k_i·H1(x) in kyber's arithmetic.
		ki := kscalar(d.shares[i])
		if !ks.Point().Mul(ki, kH).Equal(kp(e.Y)) {
			t.Fatalf("Y_%d differs from kyber's k_i·H1(x)", i)
		}
		// The proof's equations, with kyber's group arithmetic and verifier.
		r := e.proof.Z.Sub(e.proof.C.Mul(d.shares[i]))
		VG, VH := ks.Point().Mul(kscalar(r), kG), ks.Point().Mul(kscalar(r), kH)
		pr := &kdleq.Proof{C: ks.Scalar().Neg(kscalar(e.proof.C)), R: kscalar(e.proof.Z), VG: VG, VH: VH}
		if err := pr.Verify(ks, kG, kH, kp(d.vks[i]), kp(e.Y)); err != nil {
			t.Fatalf("kyber rejects evaluation %d's proof: %v", i, err)
		}
		A1, err := g1().DecodePoint(enc(VG))
		if err != nil {
			t.Fatal(err)
		}
		A2, err := g1().DecodePoint(enc(VH))
		if err != nil {
			t.Fatal(err)
		}
		// dleq's challenge, c = H(dst, G, H, X, Y, A1, A2), over them.
		if !g1().HashToScalar(dleqDST, g1().Generator().Bytes(), H.Bytes(), d.vks[i].Bytes(), e.Y.Bytes(), A1.Bytes(), A2.Bytes()).Equal(e.proof.C) {
			t.Fatalf("evaluation %d: challenge over kyber's commitments differs", i)
		}
	}

	// Interpolation in the exponent: kyber's RecoverCommit over every
	// evaluation (it uses the t+1 lowest indices) is k·H1(x), and our
	// output is H2(x, ·) of it.
	kY, err := share.RecoverCommit(ks, pubs, th+1, n)
	if err != nil {
		t.Fatal(err)
	}
	if !kY.Equal(ks.Point().Mul(kscalar(d.secret), kH)) {
		t.Fatal("kyber's interpolation is not k·H1(x)")
	}
	Y, err := g1().DecodePoint(enc(kY))
	if err != nil {
		t.Fatal(err)
	}
	w, err := CombineEvaluations(d.vks, th, x, evals)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w, outputHash(x, Y)) {
		t.Fatal("DPRF output differs from H2(x, kyber's interpolation)")
	}
}
