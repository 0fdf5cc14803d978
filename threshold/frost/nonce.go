package frost

import (
	"fmt"
	"io"

	"github.com/vhsm/vhsm/threshold/group"
)

// Nonce is one signer's secret nonce pair (hiding d, binding e) for one
// signing session (RFC 9591 §5.1 commit: hiding_nonce, binding_nonce). Use
// once: signing two different packages with one Nonce reveals the signer's
// share. It is a secret: never log it, encode it into a message or put it
// in an error.
//
// A Nonce restored from storage may be built from its scalars,
// &Nonce{Hiding: d, Binding: e}; its commitment (two constant-time base
// multiplications) is then computed on first use and cached.
type Nonce struct {
	Hiding, Binding group.Scalar

	// cached holds (d·G, e·G) for the scalars in cachedFor, compared by
	// identity, so a Nonce whose fields were replaced recomputes them.
	cachedFor [2]group.Scalar
	cached    [2]group.Point
}

// Commitment is a signer's public nonce commitment (RFC 9591 §5.1:
// hiding_nonce_commitment D = d·G, binding_nonce_commitment E = e·G) under
// its participant identifier ID (1..[MaxID]).
type Commitment struct {
	ID              int
	Hiding, Binding group.Point
}

// NewNonce draws a fresh nonce pair for the signer holding secret (its
// share x_i): RFC 9591 §4.1 nonce_generate(secret) for each scalar,
//
//	random_bytes = random_bytes(32)
//	secret_enc   = SerializeScalar(secret)
//	nonce        = H3(random_bytes ‖ secret_enc)
//
// with 32 bytes read from rand for the hiding and then 32 for the binding
// nonce. Mixing in the secret hedges against a weak rand (RFC 9591 §4.1:
// "to avoid a bad RNG"). It fails only if rand fails to deliver 64 bytes
// or secret is unusable.
func (s Suite) NewNonce(secret group.Scalar, rand io.Reader) (*Nonce, error) {
	if !s.valid() {
		return nil, ErrUnknownSuite
	}
	if !usableScalar(secret) {
		return nil, fmt.Errorf("new nonce: %w", ErrInvalidKey)
	}
	var hiding, binding [32]byte
	if _, err := io.ReadFull(rand, hiding[:]); err != nil {
		return nil, fmt.Errorf("new nonce: %w", err)
	}
	if _, err := io.ReadFull(rand, binding[:]); err != nil {
		clear(hiding[:])
		return nil, fmt.Errorf("new nonce: %w", err)
	}
	n := s.NonceFromRandomness(secret, hiding, binding)
	clear(hiding[:])
	clear(binding[:])
	return n, nil
}

// NonceFromRandomness is [Suite.NewNonce] with the 32 random bytes of each
// nonce given (the hiding_nonce_randomness and binding_nonce_randomness of
// the test vectors). It returns nil for the zero Suite or an unusable
// secret. The randomness must be fresh: equal inputs give equal nonces.
func (s Suite) NonceFromRandomness(secret group.Scalar, hiding, binding [32]byte) *Nonce {
	if !s.valid() || !usableScalar(secret) {
		return nil
	}
	enc := secret.Bytes()
	// RFC 9591 §4.1 nonce_generate: H3(random_bytes ‖ SerializeScalar(secret)).
	n := &Nonce{
		Hiding:  s.h3(hiding[:], enc),
		Binding: s.h3(binding[:], enc),
	}
	clear(enc)
	n.points() // cache the commitments: Sign compares them with the package
	return n
}

// points returns d·G and e·G, computed in constant time (the scalars are
// secret) and cached.
func (n *Nonce) points() (D, E group.Point) {
	if n.cachedFor[0] != n.Hiding || n.cachedFor[1] != n.Binding || n.cached[0] == nil {
		g := secp()
		// RFC 9591 §5.1: hiding_nonce_commitment = G.ScalarBaseMult(hiding_nonce),
		// binding_nonce_commitment = G.ScalarBaseMult(binding_nonce).
		n.cached = [2]group.Point{g.BaseMul(n.Hiding), g.BaseMul(n.Binding)}
		n.cachedFor = [2]group.Scalar{n.Hiding, n.Binding}
	}
	return n.cached[0], n.cached[1]
}

// usable reports whether both nonces are non-zero secp256k1 scalars.
func (n *Nonce) usable() bool {
	return n != nil && usableScalar(n.Hiding) && usableScalar(n.Binding)
}

// Commit returns the public commitment (D, E) of the nonce under
// identifier id (RFC 9591 §5.1 commit). Only the commitment may leave the
// signer. It returns a Commitment with nil points for an unusable Nonce.
func (n *Nonce) Commit(id int) Commitment {
	if !n.usable() {
		return Commitment{ID: id}
	}
	D, E := n.points()
	return Commitment{ID: id, Hiding: D, Binding: E}
}

// Wipe drops the nonce's secrets, replacing them with zero, once it has
// been used (or is abandoned). A wiped Nonce cannot sign. (Go offers no
// guaranteed zeroisation of memory; scalars are immutable values.)
func (n *Nonce) Wipe() {
	if n == nil {
		return
	}
	z := secp().Zero()
	n.Hiding, n.Binding = z, z
	n.cachedFor = [2]group.Scalar{}
	n.cached = [2]group.Point{}
}

// equal reports whether two commitments carry the same identifier and
// points.
func (c Commitment) equal(o Commitment) bool {
	return c.ID == o.ID && usablePoint(c.Hiding) && usablePoint(c.Binding) &&
		usablePoint(o.Hiding) && usablePoint(o.Binding) &&
		c.Hiding.Equal(o.Hiding) && c.Binding.Equal(o.Binding)
}
