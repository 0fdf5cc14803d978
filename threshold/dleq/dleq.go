// Package dleq implements non-interactive Chaum–Pedersen proofs of equality
// of discrete logarithms over any [group.Group]: a prover who knows x shows
// that X = x·G and Y = x·H without revealing x.
//
// The interactive protocol (Chaum, Pedersen, "Wallet Databases with
// Observers", CRYPTO 1992) is made non-interactive with the Fiat–Shamir
// transform over the whole statement: the challenge hashes the domain
// separation tag, both bases, both public values and both commitments, so a
// proof cannot be replayed for another statement or another protocol
// (Bernhard, Pereira, Warinschi, "How Not to Prove Yourself", ASIACRYPT 2012,
// on why the statement must be hashed). The construction is the one behind
// RFC 9497 §2.2 (VOPRF proofs), with a single pair of statements.
//
// The prover's nonce is hedged ([group.HedgedNonce]): it hashes the secret,
// the tag and the whole statement together with 32 fresh random bytes, so
// that a failing random source cannot make two proofs share a nonce and
// reveal x = (z1 − z2)/(c1 − c2).
//
// vhsm uses it for DiSE DPRF evaluations (log_G(K_i) = log_{H1(x)}(Y_i)), for
// provable DKG complaints (the complainer reveals a pairwise key) and, with
// G = H and X = Y, as the DKG dealer's proof of knowledge of its ephemeral
// key.
package dleq

import (
	"errors"
	"fmt"
	"io"

	"github.com/vhsm/vhsm/threshold/group"
)

// ErrInvalidProof is returned when a proof does not verify or does not
// decode.
var ErrInvalidProof = errors.New("dleq: invalid proof")

// Proof is a Chaum–Pedersen proof (c, z): the challenge and the response.
type Proof struct {
	C, Z group.Scalar
}

// nonceTag domain-separates the hedged nonces of DLEQ proofs from any other
// use of [group.HedgedNonce]; the proof's own dst is part of the statement.
var nonceTag = []byte("VHSM-DLEQ-V1-NONCE")

// challenge computes c = H(dst, G, H, X, Y, A1, A2) over canonical encodings.
func challenge(g group.Group, dst []byte, G, H, X, Y, A1, A2 group.Point) group.Scalar {
	return g.HashToScalar(dst, G.Bytes(), H.Bytes(), X.Bytes(), Y.Bytes(), A1.Bytes(), A2.Bytes())
}

// Prove returns a proof that X = x·G and Y = x·H, bound to dst. The caller
// passes X and Y (already computed) so that the statement is explicit; Prove
// does not check them, a wrong statement simply yields a proof that fails.
// It reads [group.NonceAuxLen] bytes from rand for the hedged nonce.
func Prove(g group.Group, dst []byte, G, H, X, Y group.Point, x group.Scalar, rand io.Reader) (Proof, error) {
	// Commit: A1 = r·G, A2 = r·H. Chaum–Pedersen take r uniformly random;
	// r is hedged (group.HedgedNonce: H(tag, x, statement, 32 random
	// bytes) mod q, as BIP-340's aux_rand and RFC 6979 §3.6), so it stays
	// unpredictable with a good rand and distinct per statement with a
	// broken one. The statement is everything the challenge hashes except
	// the commitments, which are derived from r.
	r, err := group.HedgedNonce(g, nonceTag, x, rand, dst, G.Bytes(), H.Bytes(), X.Bytes(), Y.Bytes())
	if err != nil {
		return Proof{}, fmt.Errorf("dleq: prove: %w", err)
	}
	A1, A2 := G.Mul(r), H.Mul(r)
	// Challenge over the whole statement, then respond z = r + c·x.
	c := challenge(g, dst, G, H, X, Y, A1, A2)
	return Proof{C: c, Z: r.Add(c.Mul(x))}, nil
}

// Verify checks the proof for the statement X = x·G, Y = x·H under dst. It
// recomputes A1 = z·G − c·X and A2 = z·H − c·Y and the challenge. Identity
// bases or public values are rejected: they make the statement trivial.
func (p Proof) Verify(g group.Group, dst []byte, G, H, X, Y group.Point) error {
	if p.C == nil || p.Z == nil || G == nil || H == nil || X == nil || Y == nil {
		return ErrInvalidProof
	}
	if G.IsIdentity() || H.IsIdentity() || X.IsIdentity() || Y.IsIdentity() {
		return ErrInvalidProof
	}
	// Verification multiplies public values only: A1 = z·G − c·X and
	// A2 = z·H − c·Y, each one two-term multi-scalar multiplication.
	negC := p.C.Neg()
	A1, err := group.MultiMulPublic(g, []group.Point{G, X}, []group.Scalar{p.Z, negC})
	if err != nil {
		return ErrInvalidProof
	}
	A2, err := group.MultiMulPublic(g, []group.Point{H, Y}, []group.Scalar{p.Z, negC})
	if err != nil {
		return ErrInvalidProof
	}
	if !challenge(g, dst, G, H, X, Y, A1, A2).Equal(p.C) {
		return ErrInvalidProof
	}
	return nil
}

// Bytes returns the canonical encoding c ‖ z (2·ScalarLen bytes).
func (p Proof) Bytes() []byte {
	return append(p.C.Bytes(), p.Z.Bytes()...)
}

// Decode parses the canonical encoding of a proof in group g.
func Decode(g group.Group, b []byte) (Proof, error) {
	n := g.ScalarLen()
	if len(b) != 2*n {
		return Proof{}, ErrInvalidProof
	}
	c, err := g.DecodeScalar(b[:n])
	if err != nil {
		return Proof{}, ErrInvalidProof
	}
	z, err := g.DecodeScalar(b[n:])
	if err != nil {
		return Proof{}, ErrInvalidProof
	}
	return Proof{C: c, Z: z}, nil
}
