package dleq

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
)

func groups() []group.Group { return []group.Group{group.Secp256k1(), group.BLS12381G1()} }

func statement(t testing.TB, g group.Group) (G, H, X, Y group.Point, x group.Scalar) {
	t.Helper()
	x, err := g.RandomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := g.RandomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	G, H = g.Generator(), g.BaseMul(h)
	return G, H, G.Mul(x), H.Mul(x), x
}

func TestProveVerify(t *testing.T) {
	dst := []byte("vhsm-test-dleq")
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			G, H, X, Y, x := statement(t, g)
			p, err := Prove(g, dst, G, H, X, Y, x, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Verify(g, dst, G, H, X, Y); err != nil {
				t.Fatalf("honest proof rejected: %v", err)
			}
			q, err := Decode(g, p.Bytes())
			if err != nil || q.Verify(g, dst, G, H, X, Y) != nil {
				t.Fatalf("decoded proof rejected: %v", err)
			}
			// Every change of the statement or the tag is rejected.
			other := g.BaseMul(g.ScalarFromUint64(5))
			cases := map[string]error{
				"dst":      p.Verify(g, []byte("other"), G, H, X, Y),
				"G":        p.Verify(g, dst, other, H, X, Y),
				"H":        p.Verify(g, dst, G, other, X, Y),
				"X":        p.Verify(g, dst, G, H, other, Y),
				"Y":        p.Verify(g, dst, G, H, X, other),
				"swap":     p.Verify(g, dst, H, G, Y, X),
				"identity": p.Verify(g, dst, G, H, X, g.Identity()),
			}
			for name, err := range cases {
				if !errors.Is(err, ErrInvalidProof) {
					t.Errorf("changed %s: %v", name, err)
				}
			}
			// A proof for unequal logs (Y = x'·H) does not verify.
			_, _, _, Y2, _ := statement(t, g)
			bad, err := Prove(g, dst, G, H, X, Y2, x, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if bad.Verify(g, dst, G, H, X, Y2) == nil {
				t.Fatal("proof of a false statement verifies")
			}
			// Tampering with either half fails.
			b := p.Bytes()
			for _, i := range []int{0, len(b) - 1} {
				c := bytes.Clone(b)
				c[i] ^= 1
				if q, err := Decode(g, c); err == nil && q.Verify(g, dst, G, H, X, Y) == nil {
					t.Fatalf("tampered byte %d verifies", i)
				}
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	g := group.Secp256k1()
	for _, b := range [][]byte{nil, make([]byte, 63), make([]byte, 65), bytes.Repeat([]byte{0xff}, 64)} {
		if _, err := Decode(g, b); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("len %d accepted", len(b))
		}
	}
}

func FuzzDecode(f *testing.F) {
	// One statement per group: a proof decoded in group g is verified only
	// against points of g (mixing groups is a programming error, not input).
	type stmt struct {
		G, H, X, Y group.Point
	}
	stmts := make([]stmt, 0, len(groups()))
	for _, g := range groups() {
		G, H, X, Y, x := statement(f, g)
		p, err := Prove(g, []byte("fuzz"), G, H, X, Y, x, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p.Bytes())
		stmts = append(stmts, stmt{G, H, X, Y})
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for k, g := range groups() {
			q, err := Decode(g, b)
			if err != nil {
				continue
			}
			if !bytes.Equal(q.Bytes(), b) {
				t.Fatal("non-canonical proof decoded")
			}
			s := stmts[k]
			_ = q.Verify(g, []byte("fuzz"), s.G, s.H, s.X, s.Y) // must not panic
		}
	})
}

func BenchmarkProve(b *testing.B) {
	for _, g := range groups() {
		G, H, X, Y, x := statement(b, g)
		b.Run(g.Name(), func(b *testing.B) {
			for b.Loop() {
				if _, err := Prove(g, []byte("bench"), G, H, X, Y, x, rand.Reader); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, g := range groups() {
		G, H, X, Y, x := statement(b, g)
		p, _ := Prove(g, []byte("bench"), G, H, X, Y, x, rand.Reader)
		b.Run(g.Name(), func(b *testing.B) {
			for b.Loop() {
				if err := p.Verify(g, []byte("bench"), G, H, X, Y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// constReader is a failed random source: the same byte forever.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// nonceOf returns the prover's nonce r = z − c·x of a proof made with
// secret x.
func nonceOf(p Proof, x group.Scalar) group.Scalar { return p.Z.Sub(p.C.Mul(x)) }

// extract is the attack a repeated nonce allows: from two proofs with the
// same r, x = (z1 − z2)/(c1 − c2).
func extract(p1, p2 Proof) group.Scalar { return p1.Z.Sub(p2.Z).Mul(p1.C.Sub(p2.C).Inv()) }

// With a stuck random source, proofs about one secret for different
// statements (another H, another tag) still use different nonces, so the
// secret cannot be solved from them; both verify; and the same statement
// gives the same proof. The control shows the extraction works when the
// nonce does repeat, as it did when r came from the reader alone.
func TestProveWithStuckRandomness(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			x := g.HashToScalar([]byte("vhsm-test"), []byte("secret"))
			G := g.Generator()
			H1, H2 := g.BaseMul(g.ScalarFromUint64(11)), g.BaseMul(g.ScalarFromUint64(13))
			type stmt struct {
				dst  string
				H, Y group.Point
			}
			stmts := []stmt{
				{"vhsm-test-dleq", H1, H1.Mul(x)},
				{"vhsm-test-dleq", H2, H2.Mul(x)},
				{"vhsm-test-other", H1, H1.Mul(x)},
			}
			X := G.Mul(x)
			var proofs []Proof
			for _, s := range stmts {
				p, err := Prove(g, []byte(s.dst), G, s.H, X, s.Y, x, constReader(0))
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Verify(g, []byte(s.dst), G, s.H, X, s.Y); err != nil {
					t.Fatalf("proof with stuck randomness rejected: %v", err)
				}
				proofs = append(proofs, p)
			}
			for i := range proofs {
				for j := range i {
					if nonceOf(proofs[i], x).Equal(nonceOf(proofs[j], x)) {
						t.Fatalf("statements %d and %d share a nonce", j, i)
					}
					if extract(proofs[i], proofs[j]).Equal(x) {
						t.Fatalf("secret solved from proofs %d and %d", j, i)
					}
				}
			}
			again, err := Prove(g, []byte(stmts[0].dst), G, stmts[0].H, X, stmts[0].Y, x, constReader(0))
			if err != nil || !bytes.Equal(again.Bytes(), proofs[0].Bytes()) {
				t.Fatalf("same statement and randomness, different proof: %v", err)
			}

			// Control: a nonce drawn from the stuck reader alone repeats
			// and gives the secret away.
			var old []Proof
			for _, s := range stmts[:2] {
				r, err := g.RandomScalar(constReader(1))
				if err != nil {
					t.Fatal(err)
				}
				A1, A2 := G.Mul(r), s.H.Mul(r)
				c := challenge(g, []byte(s.dst), G, s.H, X, s.Y, A1, A2)
				old = append(old, Proof{C: c, Z: r.Add(c.Mul(x))})
			}
			if !extract(old[0], old[1]).Equal(x) {
				t.Fatal("control: extraction from a repeated nonce failed")
			}
		})
	}
}
