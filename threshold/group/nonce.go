package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// NonceAuxLen is the number of fresh random bytes [HedgedNonce] reads.
const NonceAuxLen = 32

// nonceDSTPrefix starts the RFC 9380 DST of [HedgedNonce]; the group's name
// completes it, so that the two groups never share a nonce.
const nonceDSTPrefix = "VHSM-V1-HEDGED-NONCE_"

// Errors of [HedgedNonce].
var (
	// ErrNonceInput is returned for a tag or statement too long to encode.
	ErrNonceInput = errors.New("group: hedged nonce input too long")
	// errZeroNonce is returned in the (probability 2^-250) event that the
	// derived nonce is zero.
	errZeroNonce = errors.New("group: hedged nonce is zero")
)

// wideReducer is implemented by both groups: reduction of a big-endian
// integer of at most 64 bytes modulo the group order, in constant time.
type wideReducer interface {
	fromWide(b []byte) Scalar
}

// HedgedNonce returns the nonce of a zero-knowledge proof (a Schnorr-style
// commitment r, as in a DLEQ proof) about secret, for the statement whose
// canonical encoding is the concatenation of statement's parts, under the
// protocol tag. It is the one way threshold/ draws such a nonce.
//
// The nonce is hedged: it is a hash of the secret, the statement and 32
// fresh bytes read from rand, not those bytes alone —
//
//	u = expand_message_xmd(SHA-256, DST = "VHSM-V1-HEDGED-NONCE_" ‖ group name, 64,
//	      aux (32) ‖ 0^32 ‖ secret ‖ 0^(64−ScalarLen) ‖
//	      I2OSP(len(tag), 2) ‖ tag ‖ I2OSP(len(statement), 2) ‖
//	      Σ I2OSP(len(part), 4) ‖ part)
//	r = OS2IP(u) mod q
//
// with a 512-bit hash output reduced in constant time, so the bias from
// uniform is below 2^-256. This is the "hedged" nonce of BIP-340's default
// signing (aux_rand mixed with the key and the message), of RFC 6979 §3.6
// (additional random data k' added to the deterministic derivation) and of
// draft-irtf-cfrg-det-sigs-with-noise, whose layout it follows: the random
// bytes fill the first message block (after RFC 9380's zero block) and the
// secret sits alone in the next, so that the first compression function to
// touch the secret already has a random input.
//
// With a good rand the nonce is as random as before. With a failing one
// (all zeros, a constant, a repeating stream) it degrades to a
// deterministic nonce as in RFC 6979: two proofs about the same secret for
// different statements or tags still get independent nonces, so z = r + c·x
// cannot be solved for x, and the same statement gives the same nonce and
// so the same proof, which reveals nothing new. It is an error only if rand
// fails to deliver 32 bytes or the input is too long to encode.
func HedgedNonce(g Group, tag []byte, secret Scalar, rand io.Reader, statement ...[]byte) (Scalar, error) {
	wr, ok := g.(wideReducer)
	if !ok {
		panic("group: HedgedNonce on a group of another package")
	}
	if len(tag) > 0xffff || len(statement) > 0xffff {
		return nil, ErrNonceInput
	}
	var aux [2 * NonceAuxLen]byte // aux ‖ 0^32: one SHA-256 block
	if _, err := io.ReadFull(rand, aux[:NonceAuxLen]); err != nil {
		return nil, fmt.Errorf("group: hedged nonce: read randomness: %w", err)
	}
	sk := make([]byte, 64) // secret ‖ zero padding: one SHA-256 block
	sb := secret.Bytes()
	copy(sk, sb)
	clear(sb)
	defer clear(sk)

	parts := make([][]byte, 0, 4+2*len(statement))
	parts = append(parts, aux[:], sk,
		binary.BigEndian.AppendUint16(nil, uint16(len(tag))), tag,
		binary.BigEndian.AppendUint16(nil, uint16(len(statement))))
	for _, p := range statement {
		if uint64(len(p)) > 0xffffffff {
			return nil, ErrNonceInput
		}
		parts = append(parts, binary.BigEndian.AppendUint32(nil, uint32(len(p))), p)
	}
	u, err := expandMessageXMD([]byte(nonceDSTPrefix+g.Name()), 64, parts...)
	if err != nil {
		return nil, fmt.Errorf("group: hedged nonce: %w", err)
	}
	r := wr.fromWide(u)
	clear(u)
	if r.IsZero() {
		return nil, errZeroNonce
	}
	return r, nil
}
