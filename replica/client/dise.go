package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dise"
	"github.com/vhsm/vhsm/threshold/group"
)

// Encrypt encrypts plaintext under the symmetric key id (DiSE): it commits
// to the plaintext locally, has the replicas evaluate the DPRF on the
// commitment (each evaluation proven against the replica's verification
// key), combines t+1 valid evaluations and finishes the encryption
// locally. The plaintext never leaves the client.
func (c *Client) Encrypt(ctx context.Context, id string, plaintext []byte) ([]byte, error) {
	km, err := c.symmetricKey(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	// DiSE encryption steps 1–2: α = H(m ‖ ρ), x = (key, j, α).
	pending, err := dise.PrepareEncrypt(id, wire.EncryptorID(c.id), plaintext, c.rand)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	w, err := c.evaluate(ctx, wire.OpEncrypt, km, pending.Input())
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	// Step 3: ciphertext = x ‖ PRG(w) ⊕ (ρ ‖ m).
	ct, err := dise.FinishEncrypt(pending, w)
	clear(w)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return ct, nil
}

// Decrypt decrypts a ciphertext made by Encrypt under the symmetric key id.
// It fails with ErrDecrypt for a malformed or tampered ciphertext, or one
// made under another key.
func (c *Client) Decrypt(ctx context.Context, id string, ciphertext []byte) ([]byte, error) {
	x, err := dise.ParseCiphertext(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w: %w", ErrDecrypt, err)
	}
	in, err := dise.DecodeInput(x)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w: %w", ErrDecrypt, err)
	}
	if in.KeyID != id {
		return nil, fmt.Errorf("decrypt: %w: ciphertext was made under another key", ErrDecrypt)
	}
	km, err := c.symmetricKey(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	w, err := c.evaluate(ctx, wire.OpDecrypt, km, x)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	// DiSE decryption: strip the key stream, accept only if α reopens.
	pt, err := dise.FinishDecrypt(ciphertext, w)
	clear(w)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w: %w", ErrDecrypt, err)
	}
	return pt, nil
}

// symmetricKey returns the verified public data of a symmetric key.
func (c *Client) symmetricKey(ctx context.Context, id string) (*keyMaterial, error) {
	km, err := c.keyData(ctx, id)
	if err != nil {
		return nil, err
	}
	if km.info.Scheme != wire.SchemeSymmetric {
		return nil, fmt.Errorf("%w: key %s is %s, not symmetric", ErrScheme, id, km.info.Scheme)
	}
	return km, nil
}

// evaluate runs one DPRF evaluation on x and returns the output w. Each
// evaluation must decode, name its sender and carry a DLEQ proof against
// the sender's verification key from the DKG commitment.
func (c *Client) evaluate(ctx context.Context, op string, km *keyMaterial, x []byte) ([]byte, error) {
	var w []byte
	spec := partialSpec{
		verify: func(replica int, partial []byte) bool {
			e, err := dise.DecodeEvaluation(partial)
			if err != nil || e.Index != replica {
				return false
			}
			return dise.VerifyEvaluation(km.verification[replica-1], x, e) == nil
		},
		combine: func(parts []indexedPartial) error {
			vks := make(map[int]group.Point, len(parts))
			evals := make(map[int][]byte, len(parts))
			for _, p := range parts {
				vks[p.replica] = km.verification[p.replica-1]
				evals[p.replica] = p.partial
			}
			// Lagrange interpolation in the exponent, then w = H2(x, Y).
			out, err := dise.CombineEvaluations(vks, c.t, x, evals)
			var ce *dise.CulpritError
			if err != nil && !(errors.As(err, &ce) && ce.Err == nil) {
				return fmt.Errorf("%w: %w", ErrInvalidResult, err)
			}
			w = out
			return nil
		},
	}
	if err := c.collectPartials(ctx, op, wire.EvalBody{KeyID: km.info.KeyID, Input: x}, spec); err != nil {
		return nil, err
	}
	return w, nil
}
