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
// commitment, combines the evaluations and finishes the encryption locally.
// The plaintext never leaves the client. It asks 2t+1 replicas for
// evaluations without proofs and uses them if they are consistent; if they
// are not (or fewer come in), it asks for proven ones (each checked against
// the replica's verification key) and combines t+1 valid ones.
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
	// nothing in the ciphertext could tell: the output is made from 2t+1
	// consistent evaluations (right if at most t replicas are faulty), or
	// else from t+1 whose proofs were checked.
	var ct []byte
	err = c.evaluate(ctx, wire.OpEncrypt, km, pending.Input(), byConsistency, func(w []byte) error {
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
	err = c.evaluate(ctx, wire.OpDecrypt, km, x, byResult, func(w []byte) error {
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

// unprovenCheck is how evaluate checks evaluations asked for without proofs.
type unprovenCheck int

const (
	// byResult: the first t+1 are combined and the output is checked by
	// finish (a decryption's commitment must reopen).
	byResult unprovenCheck = iota + 1
	// byConsistency: 2t+1 are asked for and combined only if they lie on
	// one polynomial of degree t (dise.CombineConsistent); for an
	// encryption, whose output nothing else checks.
	byConsistency
)

// evaluate runs one DPRF evaluation on x and hands the output w to finish
// (and clears it). First the evaluations are asked for without their DLEQ
// proofs (a third of a replica's work) and checked as check says; only if
// that fails, or too few come in, are proven evaluations asked for, first
// of the replicas that answered (so that a liar among them is named). Each
// proven evaluation must decode, name its sender and carry a DLEQ proof
// against the sender's verification key from the DKG commitment; the first
// t+1 valid ones are combined.
func (c *Client) evaluate(ctx context.Context, op string, km *keyMaterial, x []byte, check unprovenCheck, finish func(w []byte) error) error {
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
			// Lagrange interpolation in the exponent, then w = H2(x, Y).
			w, err := dise.CombineUnchecked(c.t, x, bySender(parts)) // every part verified
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
	need, combine := c.t+1, dise.CombineUnchecked
	var feed func(replica int, partial []byte)
	var fed []int
	var cc *dise.ConsistentCombiner
	if check == byConsistency {
		need, combine = 2*c.t+1, dise.CombineConsistent
		// The evaluations are decoded and combined as they arrive
		// (dise.ConsistentCombiner): when the last one comes, its decoding
		// and one small multi-scalar multiplication are left.
		if cc, _ = dise.NewConsistentCombiner(c.t, x); cc != nil {
			defer cc.Clear()
			feed = func(replica int, partial []byte) {
				fed = append(fed, replica)
				_ = cc.Add(replica, partial) // a failure sticks: Output reports it
			}
		}
	}
	askFirst, err := c.evaluateUnproven(ctx, op, km, x, need, feed, func(parts []indexedPartial) bool {
		var w []byte
		var err error
		if cc != nil && sameReplicas(fed, parts) {
			w, err = cc.Output()
		} else {
			w, err = combine(c.t, x, bySender(parts))
		}
		if err != nil {
			return false
		}
		defer clear(w)
		return finish(w) == nil
	})
	if !errors.Is(err, errNeedProofs) {
		return err
	}
	out, err := c.newSignedRequest(ctx, op, wire.EvalBody{KeyID: km.info.KeyID, Input: x})
	if err != nil {
		return err
	}
	if len(askFirst) < c.t+1 { // too few answered: others too, at once
		exclude := make(map[int]bool, len(askFirst))
		for _, r := range askFirst {
			exclude[r] = true
		}
		askFirst = append(askFirst, c.pick(c.t+1-len(askFirst), exclude)...)
	}
	return c.collectFrom(ctx, op, out, askFirst, spec)
}

// errNeedProofs ends an unproven evaluation whose answers did not give a
// result that finishes.
var errNeedProofs = errors.New("client: unproven evaluations did not finish")

// evaluateUnproven asks need replicas first (then, as a hedge, the others)
// for evaluations of x without their DLEQ proofs (wire.EvalBody.NoProof)
// and gives the first need to finish, which reports whether they check out;
// feed, when set, is handed each of those need as it arrives.
// It returns errNeedProofs when they do not — a wrong evaluation, or a
// ciphertext that does not decrypt — or when fewer than need come in before
// the round settles (see settleFunc), with the replicas that answered; the
// caller then asks for proven ones, of those replicas first.
func (c *Client) evaluateUnproven(ctx context.Context, op string, km *keyMaterial, x []byte, need int, feed func(replica int, partial []byte), finish func(parts []indexedPartial) bool) ([]int, error) {
	out, err := c.newSignedRequest(ctx, op, wire.EvalBody{KeyID: km.info.KeyID, Input: x, NoProof: true})
	if err != nil {
		return nil, err
	}
	var parts []indexedPartial
	answered := func() []int {
		var reps []int
		for _, p := range parts {
			reps = append(reps, p.replica)
		}
		return reps
	}
	accept := func(r *round, replica int, resp *wire.Response) (bool, error) {
		if len(resp.Partial) == 0 {
			r.culprit(replica, ReasonMalformed)
			return false, nil
		}
		parts = append(parts, indexedPartial{replica: replica, partial: resp.Partial})
		r.unverified = len(parts)
		if feed != nil && len(parts) <= need {
			feed(replica, resp.Partial)
		}
		if len(parts) < need {
			return false, nil
		}
		if !finish(parts[:need]) {
			return false, errNeedProofs
		}
		r.valid, r.unverified = need, 0
		return true, nil
	}
	settle := func(r *round) (bool, error) {
		return false, errNeedProofs
	}
	err = c.exchangeSettle(ctx, op, out, c.pick(need, nil), accept, settle)
	if errors.Is(err, errNeedProofs) {
		return answered(), err
	}
	return nil, err
}
