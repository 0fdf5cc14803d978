package client

import (
	"context"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
)

// SignBLS signs msg with the bls key id and returns the 96-byte compressed
// G2 Ethereum signature (POP ciphersuite). It asks 2t+1 replicas first and
// combines their partials if they are consistent (bls.CombineConsistent:
// no pairing at the client); only if they are not, or fewer come in, is
// each replica's partial verified against its verification key from the
// key's DKG commitment, the senders of wrong ones named, and the first t+1
// valid ones combined and the result verified under the group key.
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
	spec := c.blsSpec(km, msg, &sig)
	if err := c.collectPartials(ctx, wire.OpSign, wire.SignBody{KeyID: id, Message: msg}, spec); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// blsSpec is the partialSpec of a threshold BLS signature on msg with km:
// the combined signature is stored in *sig.
func (c *Client) blsSpec(km *keyMaterial, msg []byte, sig *[]byte) partialSpec {
	// combine interpolates exactly t+1 partials (Boldyreva 2003 §5) and
	// keeps the result only if it verifies under the group key.
	combine := func(parts []indexedPartial) bool {
		s, err := bls.CombineUnchecked(km.commitment.Secret(), c.t, msg, bySender(parts))
		if err != nil {
			return false
		}
		*sig = s
		return true
	}
	// The optimistic path's partials are decoded as they arrive
	// (bls.ConsistentCombiner; replicas send them uncompressed, so a
	// decoding is an on-curve check): when the last one comes, the
	// consistency checks and the interpolation (small integer multiples of
	// the partials) and the result's subgroup check are left, about 0.13 ms
	// for t = 1 on the bench machine.
	cc, _ := bls.NewConsistentCombiner(c.t) // nil for an invalid t: CombineConsistent refuses it too
	var fed []int
	return partialSpec{
		verify: func(replica int, partial []byte) bool {
			return bls.VerifyPartial(km.verification[replica-1], msg, partial) == nil
		},
		feed: func(replica int, partial []byte) {
			if cc != nil {
				fed = append(fed, replica)
				_ = cc.Add(replica, partial) // a failure sticks: Signature reports it
			}
		},
		// 2t+1 consistent partials: one more partial signature at a
		// replica (0.7 ms on the development machine) instead of a pairing
		// check here (1.6 ms).
		optimistic: func(parts []indexedPartial) bool {
			var s []byte
			var err error
			if cc != nil && sameReplicas(fed, parts) {
				s, err = cc.Signature()
			} else {
				s, err = bls.CombineConsistent(c.t, bySender(parts))
			}
			if err != nil {
				return false
			}
			*sig = s
			return true
		},
		consistent: true,
		combine: func(parts []indexedPartial) error {
			// Verified partials that do not combine into a valid signature:
			// the verification keys do not match the group key.
			if !combine(parts) {
				return fmt.Errorf("%w: verified partials do not combine to a valid signature", ErrInvalidResult)
			}
			return nil
		},
	}
}

// VerifyBLS reports whether sig is a valid Ethereum BLS signature on msg
// under the 48-byte compressed G1 public key pub.
func VerifyBLS(pub, msg, sig []byte) (bool, error) {
	if len(pub) != bls.PublicKeyLen {
		return false, fmt.Errorf("%w: bls public key must be %d bytes", ErrInvalidArgument, bls.PublicKeyLen)
	}
	return bls.Verify(pub, msg, sig), nil
}
