package client

import (
	"bytes"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// keyMaterial is a key's public data, agreed by t+1 replicas and checked
// for consistency: the decoded DKG commitment and every replica's
// verification key evaluated from it.
type keyMaterial struct {
	info       wire.KeyInfo
	group      group.Group
	commitment vss.Commitment
	// verification[i-1] = f(i)·G, replica i's verification key; vks the
	// same keyed by index.
	verification []group.Point
	vks          map[int]group.Point
}

// groupOf returns the group a scheme's keys live in.
func groupOf(scheme string) (group.Group, error) {
	switch scheme {
	case wire.SchemeSchnorr:
		return group.Secp256k1(), nil
	case wire.SchemeBLS, wire.SchemeSymmetric:
		return group.BLS12381G1(), nil
	}
	return nil, fmt.Errorf("%w: unknown scheme %q", ErrInvalidKey, sanitize(scheme))
}

// newKeyMaterial decodes and checks key data: a commitment of degree t in
// the scheme's group whose constant term is the stated public key (x-only
// for schnorr, compressed G1 otherwise).
func newKeyMaterial(info wire.KeyInfo, n, t int) (*keyMaterial, error) {
	g, err := groupOf(info.Scheme)
	if err != nil {
		return nil, err
	}
	com, err := vss.DecodeCommitment(g, info.Commitment)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %w", ErrInvalidKey, info.KeyID, err)
	}
	if com.Degree() != t {
		return nil, fmt.Errorf("%w: key %s: commitment degree %d, want %d", ErrInvalidKey, info.KeyID, com.Degree(), t)
	}
	pub := com.Secret().Bytes()
	if info.Scheme == wire.SchemeSchnorr {
		pub = pub[1:] // BIP-340 x-only: drop the SEC1 parity byte
	}
	if !bytes.Equal(pub, info.PublicKey) {
		return nil, fmt.Errorf("%w: key %s: public key does not match its commitment", ErrInvalidKey, info.KeyID)
	}
	km := &keyMaterial{info: info, group: g, commitment: com, verification: make([]group.Point, n), vks: make(map[int]group.Point, n)}
	for i := 1; i <= n; i++ {
		km.verification[i-1] = com.Eval(i)
		km.vks[i] = km.verification[i-1]
	}
	return km, nil
}
