package wire

import (
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ReplyContext is the HPKE info string of sealed answers.
const ReplyContext = "vhsm/reply/v1"

// ReplyKeyLen is the length of an X25519 public reply key.
const ReplyKeyLen = 32

// ErrSealed is returned by [SealReply] for an unusable reply key and by
// [OpenReply] for an answer that does not open: wrong key, request, replica
// or tampered bytes.
var ErrSealed = errors.New("wire: sealed reply does not open")

// The HPKE suite of sealed answers (RFC 9180 §7): DHKEM(X25519,
// HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305.
var (
	replyKEM  = hpke.DHKEM(ecdh.X25519())
	replyKDF  = hpke.HKDFSHA256()
	replyAEAD = hpke.ChaCha20Poly1305()
)

// replyAAD is the associated data of a sealed answer: the request hash and
// the answering replica's index (uint16, big-endian). An answer moved to
// another request, or presented as another replica's, does not open.
func replyAAD(requestHash [32]byte, replica int) []byte {
	b := make([]byte, 0, 34)
	b = append(b, requestHash[:]...)
	return binary.BigEndian.AppendUint16(b, uint16(replica))
}

// NewReplyKey draws a fresh ephemeral reply key pair from rand.
func NewReplyKey(rand io.Reader) (*ecdh.PrivateKey, error) {
	k, err := ecdh.X25519().GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("reply key: %w", err)
	}
	return k, nil
}

// SealReply seals plaintext, answered by replica to the request with hash
// requestHash, to the request's reply key: enc (32) ‖ HPKE ciphertext.
func SealReply(replyKey []byte, requestHash [32]byte, replica int, plaintext []byte) ([]byte, error) {
	if len(replyKey) != ReplyKeyLen {
		return nil, fmt.Errorf("%w: reply key length %d", ErrSealed, len(replyKey))
	}
	pub, err := replyKEM.NewPublicKey(replyKey)
	if err != nil {
		return nil, fmt.Errorf("%w: reply key", ErrSealed)
	}
	enc, s, err := hpke.NewSender(pub, replyKDF, replyAEAD, []byte(ReplyContext))
	if err != nil {
		// A low-order X25519 point gives an all-zero shared secret.
		return nil, fmt.Errorf("%w: reply key", ErrSealed)
	}
	ct, err := s.Seal(replyAAD(requestHash, replica), plaintext)
	if err != nil {
		return nil, fmt.Errorf("%w: seal", ErrSealed)
	}
	return append(enc, ct...), nil
}

// OpenReply opens an answer sealed by [SealReply] with the reply key's
// private half.
func OpenReply(key *ecdh.PrivateKey, requestHash [32]byte, replica int, sealed []byte) ([]byte, error) {
	if key == nil {
		return nil, ErrSealed
	}
	encLen := ReplyKeyLen // X25519 enc is the ephemeral public key
	if len(sealed) < encLen {
		return nil, ErrSealed
	}
	priv, err := hpke.NewDHKEMPrivateKey(key)
	if err != nil {
		return nil, ErrSealed
	}
	r, err := hpke.NewRecipient(sealed[:encLen], priv, replyKDF, replyAEAD, []byte(ReplyContext))
	if err != nil {
		return nil, ErrSealed
	}
	pt, err := r.Open(replyAAD(requestHash, replica), sealed[encLen:])
	if err != nil {
		return nil, ErrSealed
	}
	return pt, nil
}
