package dleq

// Differential tests of Chaum–Pedersen proofs against go.dedis.ch/kyber/v4's
// proof/dleq over kyber's BLS12-381 G1 on cloudflare/circl (test-only use;
// kyber has no secp256k1 group).
//
// The two Fiat–Shamir transcripts differ and cannot be made to agree: we
// hash dst ‖ G ‖ H ‖ X ‖ Y ‖ A1 ‖ A2 with RFC 9380 expand_message_xmd and
// reduce mod r; kyber hashes xG ‖ xH ‖ vG ‖ vH with SHA-256 and picks the
// challenge from a BLAKE2Xb stream, with no tag and without the bases. So
// neither verifier can accept the other's proof as a whole. What is
// compared instead is the algebra, each side's proof checked with the other
// side's group arithmetic:
//
//   - our proof (c, z), z = r + c·x: kyber's Verify, which checks
//     vG = R·G + C·(xG) and vH = R·H + C·(xH) without recomputing the
//     challenge, accepts Proof{C: −c, R: z, VG: r·G, VH: r·H} with the
//     commitments computed by kyber; and our challenge, recomputed over
//     those kyber-computed commitments, is c.
//   - kyber's proof (C, R, VG, VH), R = v − C·x: with our arithmetic,
//     VG = R·G + C·X and VH = R·H + C·Y; and our verifier rejects it, as
//     the transcripts differ.

import (
	"crypto/rand"
	"testing"

	"go.dedis.ch/kyber/v4"
	"go.dedis.ch/kyber/v4/pairing/bls12381/circl"
	kdleq "go.dedis.ch/kyber/v4/proof/dleq"
	"go.dedis.ch/kyber/v4/util/random"

	"github.com/vhsm/vhsm/threshold/group"
)

// kyberSuite is what kyber's dleq needs: the G1 group with the circl
// suite's hash, XOF and randomness.
type kyberSuite struct {
	kyber.Group
	circl.Suite
}

func (kyberSuite) String() string { return "bls12381.G1" }

var ks = kyberSuite{Group: circl.G1, Suite: circl.NewSuite()}

func mustKyberBytes(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func kScalar(t testing.TB, s group.Scalar) kyber.Scalar {
	t.Helper()
	v := ks.Scalar()
	if err := v.UnmarshalBinary(s.Bytes()); err != nil {
		t.Fatal(err)
	}
	return v
}

func kPoint(t testing.TB, p group.Point) kyber.Point {
	t.Helper()
	v := ks.Point()
	if err := v.UnmarshalBinary(p.Bytes()); err != nil {
		t.Fatal(err)
	}
	return v
}

func ourScalar(t testing.TB, s kyber.Scalar) group.Scalar {
	t.Helper()
	v, err := group.BLS12381G1().DecodeScalar(mustKyberBytes(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ourPoint(t testing.TB, p kyber.Point) group.Point {
	t.Helper()
	v, err := group.BLS12381G1().DecodePoint(mustKyberBytes(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKyberAcceptsOurProofAlgebra(t *testing.T) {
	g := group.BLS12381G1()
	dst := []byte("vhsm-test-dleq-kyber")
	for range 5 {
		G, H, X, Y, x := statement(t, g)
		p, err := Prove(g, dst, G, H, X, Y, x, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(g, dst, G, H, X, Y); err != nil {
			t.Fatal(err)
		}
		// The prover's nonce, known here because the test knows x.
		r := p.Z.Sub(p.C.Mul(x))
		kG, kH := kPoint(t, G), kPoint(t, H)
		kr := kScalar(t, r)
		VG, VH := ks.Point().Mul(kr, kG), ks.Point().Mul(kr, kH)
		kp := &kdleq.Proof{C: ks.Scalar().Neg(kScalar(t, p.C)), R: kScalar(t, p.Z), VG: VG, VH: VH}
		if err := kp.Verify(ks, kG, kH, kPoint(t, X), kPoint(t, Y)); err != nil {
			t.Fatalf("kyber rejects the algebra of our proof: %v", err)
		}
		// Our challenge over kyber's commitments is c.
		if !challenge(g, dst, G, H, X, Y, ourPoint(t, VG), ourPoint(t, VH)).Equal(p.C) {
			t.Fatal("challenge over kyber's commitments differs")
		}
		// A false statement: kyber rejects it too.
		if kp.Verify(ks, kG, kH, kPoint(t, X), kPoint(t, Y.Add(G))) == nil {
			t.Fatal("kyber accepts a changed Y")
		}
	}
}

func TestKyberProofAlgebraHoldsInOurGroup(t *testing.T) {
	g := group.BLS12381G1()
	for range 5 {
		kG := ks.Point().Base()
		kH := ks.Point().Mul(ks.Scalar().Pick(random.New()), nil)
		kx := ks.Scalar().Pick(random.New())
		kp, kX, kY, err := kdleq.NewDLEQProof(ks, kG, kH, kx)
		if err != nil {
			t.Fatal(err)
		}
		if err := kp.Verify(ks, kG, kH, kX, kY); err != nil {
			t.Fatal(err)
		}
		G, H, X, Y := ourPoint(t, kG), ourPoint(t, kH), ourPoint(t, kX), ourPoint(t, kY)
		x := ourScalar(t, kx)
		if !G.Mul(x).Equal(X) || !H.Mul(x).Equal(Y) {
			t.Fatal("x·G, x·H differ between the libraries")
		}
		C, R := ourScalar(t, kp.C), ourScalar(t, kp.R)
		if !G.Mul(R).Add(X.Mul(C)).Equal(ourPoint(t, kp.VG)) || !H.Mul(R).Add(Y.Mul(C)).Equal(ourPoint(t, kp.VH)) {
			t.Fatal("kyber's proof equations fail in our group")
		}
		// Different transcripts: the same (c, z) = (−C, R) is no proof for us.
		if (Proof{C: C.Neg(), Z: R}).Verify(g, []byte("vhsm-test-dleq-kyber"), G, H, X, Y) == nil {
			t.Fatal("our verifier accepts a proof made under kyber's transcript")
		}
	}
}
