package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
	"github.com/vhsm/vhsm/threshold/group"
)

// SignBLS signs msg with the bls key id and returns the 96-byte compressed
// G2 Ethereum signature (POP ciphersuite). Each replica's partial is
// verified against its verification key from the key's DKG commitment; the
// first t+1 valid ones are combined and the result verified under the
// group key.
func (c *Client) SignBLS(ctx context.Context, id string, msg []byte) ([]byte, error) {
	if len(msg) > wire.MaxMessageBytes {
		return nil, fmt.Errorf("%w: message longer than %d bytes", ErrInvalidArgument, wire.MaxMessageBytes)
	}
	km, err := c.keyData(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if km.info.Scheme != wire.SchemeBLS {
		return nil, fmt.Errorf("sign: %w: key %s is %s, not bls", ErrScheme, id, km.info.Scheme)
	}
	var sig []byte
	spec := partialSpec{
		verify: func(replica int, partial []byte) bool {
			return bls.VerifyPartial(km.verification[replica-1], msg, partial) == nil
		},
		combine: func(parts []indexedPartial) error {
			vks := make(map[int]group.Point, len(parts))
			partials := make(map[int][]byte, len(parts))
			for _, p := range parts {
				vks[p.replica] = km.verification[p.replica-1]
				partials[p.replica] = p.partial
			}
			// Combine interpolates in the exponent (Boldyreva 2003 §5) and
			// verifies the result under the group key before returning it.
			s, err := bls.Combine(km.commitment.Secret(), vks, c.t, msg, partials)
			var ce *bls.CulpritError
			if err != nil && !(errors.As(err, &ce) && ce.Err == nil) {
				return fmt.Errorf("%w: %w", ErrInvalidResult, err)
			}
			sig = s
			return nil
		},
	}
	if err := c.collectPartials(ctx, wire.OpSign, wire.SignBody{KeyID: id, Message: msg}, spec); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// VerifyBLS reports whether sig is a valid Ethereum BLS signature on msg
// under the 48-byte compressed G1 public key pub.
func VerifyBLS(pub, msg, sig []byte) (bool, error) {
	if len(pub) != bls.PublicKeyLen {
		return false, fmt.Errorf("%w: bls public key must be %d bytes", ErrInvalidArgument, bls.PublicKeyLen)
	}
	return bls.Verify(pub, msg, sig), nil
}
