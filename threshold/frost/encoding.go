package frost

import (
	"encoding/binary"
	"fmt"
)

// CommitmentLen is the length of an encoded [Commitment]: the identifier
// as a big-endian uint16, then the 33-byte compressed D and E (SEC 1
// §2.3.3; RFC 9591 §6.5 SerializeElement).
const CommitmentLen = 2 + 33 + 33

// MarshalBinary encodes c as ID (uint16, big-endian) ‖ D (33) ‖ E (33),
// [CommitmentLen] bytes. It fails with ErrInvalidID for an ID outside
// 1..[MaxID] and ErrIdentityCommitment for a nil, identity or
// non-secp256k1 point, which the decoder would reject.
func (c Commitment) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, CommitmentLen))
}

// AppendBinary appends the encoding of [Commitment.MarshalBinary] to b.
func (c Commitment) AppendBinary(b []byte) ([]byte, error) {
	if c.ID < 1 || c.ID > MaxID {
		return nil, fmt.Errorf("encode commitment: %w", ErrInvalidID)
	}
	if !usablePoint(c.Hiding) || !usablePoint(c.Binding) {
		return nil, fmt.Errorf("encode commitment: %w", ErrIdentityCommitment)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(c.ID))
	b = append(b, c.Hiding.Bytes()...)
	return append(b, c.Binding.Bytes()...), nil
}

// UnmarshalBinary decodes the encoding of [Commitment.MarshalBinary]. It
// accepts only canonical encodings: exactly [CommitmentLen] bytes, ID ≠ 0,
// and two valid compressed secp256k1 points that are not the identity
// (group.Secp256k1().DecodePoint). Otherwise it returns an error wrapping
// ErrInvalidEncoding and leaves c unchanged. Input may be untrusted.
func (c *Commitment) UnmarshalBinary(b []byte) error {
	if len(b) != CommitmentLen {
		return fmt.Errorf("decode commitment: %w", ErrInvalidEncoding)
	}
	id := int(binary.BigEndian.Uint16(b))
	if id == 0 {
		return fmt.Errorf("decode commitment: %w", ErrInvalidEncoding)
	}
	D, err := secp().DecodePoint(b[2:35])
	if err != nil {
		return fmt.Errorf("decode commitment: %w: %w", ErrInvalidEncoding, err)
	}
	E, err := secp().DecodePoint(b[35:])
	if err != nil {
		return fmt.Errorf("decode commitment: %w: %w", ErrInvalidEncoding, err)
	}
	*c = Commitment{ID: id, Hiding: D, Binding: E}
	return nil
}
