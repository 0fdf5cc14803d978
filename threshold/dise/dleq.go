package dise

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/vhsm/vhsm/threshold/group"
)

// dleqDST domain-separates the Fiat–Shamir challenge of the evaluation
// proofs. The statement hashed with it names the key and the input, so a
// proof for one key or input is useless for any other.
var dleqDST = []byte("VHSM-DISE-V1-DLEQ-BLS12381G1_XMD:SHA-256")

// proofLen is the length of an encoded proof: challenge c ‖ response z.
const proofLen = 64

// dleqProof is a non-interactive Chaum–Pedersen proof (Chaum–Pedersen,
// CRYPTO '92; Fiat–Shamir) that log_G(X) = log_H(Y), in the compact
// (challenge, response) form: the verifier recomputes the commitments.
//
// Written here because threshold/dleq was not yet in the tree; it has the
// same shape (prove, verify, fixed-length encoding) so that it can be
// replaced by that package without changing the evaluation encoding.
type dleqProof struct {
	c, z group.Scalar
}

// dleqChallenge is c = H(dst, statement, G, H, X, Y, A1, A2), with every
// variable-length part of the statement length-prefixed.
func dleqChallenge(g group.Group, x []byte, index int, G, H, X, Y, A1, A2 group.Point) group.Scalar {
	var hdr [6]byte
	binary.BigEndian.PutUint16(hdr[0:2], uint16(index))
	binary.BigEndian.PutUint32(hdr[2:6], uint32(len(x)))
	return g.HashToScalar(dleqDST, hdr[:], x,
		G.Bytes(), H.Bytes(), X.Bytes(), Y.Bytes(), A1.Bytes(), A2.Bytes())
}

// proveDLEQ proves knowledge of k with X = k·G and Y = k·H for replica
// index on DPRF input x.
func proveDLEQ(g group.Group, x []byte, index int, H, X, Y group.Point, k group.Scalar, rand io.Reader) (dleqProof, error) {
	G := g.Generator()
	r, err := g.RandomScalar(rand)
	if err != nil {
		return dleqProof{}, fmt.Errorf("prove evaluation: %w", err)
	}
	// Chaum–Pedersen: commit A1 = r·G, A2 = r·H; challenge c; z = r + c·k.
	A1, A2 := G.Mul(r), H.Mul(r)
	c := dleqChallenge(g, x, index, G, H, X, Y, A1, A2)
	return dleqProof{c: c, z: r.Add(c.Mul(k))}, nil
}

// verify checks the proof for the statement (x, index, H, X, Y).
func (p dleqProof) verify(g group.Group, x []byte, index int, H, X, Y group.Point) bool {
	G := g.Generator()
	// A1 = z·G − c·X and A2 = z·H − c·Y equal the prover's commitments iff
	// the proof is valid; the challenge then recomputes.
	A1 := G.Mul(p.z).Sub(X.Mul(p.c))
	A2 := H.Mul(p.z).Sub(Y.Mul(p.c))
	return dleqChallenge(g, x, index, G, H, X, Y, A1, A2).Equal(p.c)
}

func (p dleqProof) bytes() []byte {
	return append(p.c.Bytes(), p.z.Bytes()...)
}

func decodeDLEQ(g group.Group, b []byte) (dleqProof, error) {
	if len(b) != proofLen {
		return dleqProof{}, ErrInvalidEvaluation
	}
	c, err := g.DecodeScalar(b[:32])
	if err != nil {
		return dleqProof{}, ErrInvalidEvaluation
	}
	z, err := g.DecodeScalar(b[32:])
	if err != nil {
		return dleqProof{}, ErrInvalidEvaluation
	}
	return dleqProof{c: c, z: z}, nil
}
