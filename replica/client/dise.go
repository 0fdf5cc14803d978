package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dise"
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
	// A wrong DPRF output would make a ciphertext nobody can decrypt, and
	// nothing here could tell: every evaluation's proof is checked.
	var ct []byte
	err = c.evaluate(ctx, wire.OpEncrypt, km, pending.Input(), false, func(w []byte) error {
		// Step 3: ciphertext = x ‖ PRG(w) ⊕ (ρ ‖ m).
		var err error
		ct, err = dise.FinishEncrypt(pending, w)
		return err
	})
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
	// DiSE decryption: strip the key stream, accept only if α reopens. A
	// wrong DPRF output fails that check, so the first t+1 evaluations are
	// asked for without proofs and tried; only if they fail are proven
	// evaluations asked for and each proof checked.
	var pt []byte
	err = c.evaluate(ctx, wire.OpDecrypt, km, x, true, func(w []byte) error {
		var err error
		pt, err = dise.FinishDecrypt(ciphertext, w)
		return err
	})
	var de *finishError
	if errors.As(err, &de) {
		return nil, fmt.Errorf("decrypt: %w: %w", ErrDecrypt, de.err)
	}
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
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

// finishError carries finish's refusal of an output made from verified
// evaluations: for decryption the ciphertext, not a replica, is at fault.
type finishError struct{ err error }

func (e *finishError) Error() string { return e.err.Error() }

// evaluate runs one DPRF evaluation on x and hands the output w to finish
// (and clears it). Each evaluation must decode, name its sender and carry a
// DLEQ proof against the sender's verification key from the DKG
// commitment. With optimistic set (for outputs that finish checks itself),
// evaluations are first asked for without proofs and the first t+1 combined
// and given to finish; only if finish refuses are proven evaluations asked
// for, and each proof checked.
func (c *Client) evaluate(ctx context.Context, op string, km *keyMaterial, x []byte, optimistic bool, finish func(w []byte) error) error {
	combine := func(parts []indexedPartial) ([]byte, error) {
		evals := make(map[int][]byte, len(parts))
		for _, p := range parts {
			evals[p.replica] = p.partial
		}
		// Lagrange interpolation in the exponent, then w = H2(x, Y).
		return dise.CombineUnchecked(c.t, x, evals)
	}
	var verifier *dise.Verifier // hashes x once, on first use
	spec := partialSpec{
		verify: func(replica int, partial []byte) bool {
			e, err := dise.DecodeEvaluation(partial)
			if err != nil || e.Index != replica {
				return false
			}
			if verifier == nil {
				if verifier, err = dise.NewVerifier(x); err != nil {
					return false
				}
			}
			return verifier.Verify(km.verification[replica-1], e) == nil
		},
		combine: func(parts []indexedPartial) error {
			w, err := combine(parts) // every part verified
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidResult, err)
			}
			defer clear(w)
			if err := finish(w); err != nil {
				return &finishError{err: err}
			}
			return nil
		},
	}
	body := wire.EvalBody{KeyID: km.info.KeyID, Input: x}
	if !optimistic {
		return c.collectPartials(ctx, op, body, spec)
	}
	// First without proofs (a third of each replica's work); only if the
	// result does not finish, again with them, asking first the replicas
	// whose evaluations were combined, so that a liar among them is named.
	suspects, err := c.evaluateUnproven(ctx, op, km, x, func(parts []indexedPartial) bool {
		w, err := combine(parts)
		if err != nil {
			return false
		}
		defer clear(w)
		return finish(w) == nil
	})
	if !errors.Is(err, errNeedProofs) {
		return err
	}
	out, err := c.newSignedRequest(ctx, op, body)
	if err != nil {
		return err
	}
	return c.collectFrom(ctx, op, out, suspects, spec)
}

// errNeedProofs ends an unproven evaluation whose first t+1 answers did not
// give a result that finishes.
var errNeedProofs = errors.New("client: unproven evaluations did not finish")

// evaluateUnproven asks for evaluations of x without their DLEQ proofs
// (wire.EvalBody.NoProof) and gives the first t+1 to finish, which reports
// whether the result checks out (a decryption whose commitment reopens). It
// returns errNeedProofs when it does not — a wrong evaluation, or a
// ciphertext that does not decrypt — with the replicas whose evaluations
// were combined; the caller then asks for proven ones.
func (c *Client) evaluateUnproven(ctx context.Context, op string, km *keyMaterial, x []byte, finish func(parts []indexedPartial) bool) ([]int, error) {
	out, err := c.newSignedRequest(ctx, op, wire.EvalBody{KeyID: km.info.KeyID, Input: x, NoProof: true})
	if err != nil {
		return nil, err
	}
	var parts []indexedPartial
	var suspects []int
	err = c.exchangeSigned(ctx, op, out, func(r *round, replica int, resp *wire.Response) (bool, error) {
		if len(resp.Partial) == 0 {
			r.culprit(replica, ReasonMalformed)
			return false, nil
		}
		parts = append(parts, indexedPartial{replica: replica, partial: resp.Partial})
		r.unverified = len(parts)
		if len(parts) < c.t+1 {
			return false, nil
		}
		if !finish(parts[:c.t+1]) {
			for _, p := range parts[:c.t+1] {
				suspects = append(suspects, p.replica)
			}
			return false, errNeedProofs
		}
		r.valid, r.unverified = c.t+1, 0
		return true, nil
	})
	return suspects, err
}
