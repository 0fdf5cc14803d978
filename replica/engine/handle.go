package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dise"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// Client requests: authentication, dispatch, sealed answers; DiSE
// evaluation.

// Handle executes a whole signed request (the JSON of a wire.SignedRequest)
// and returns this replica's response. On refusal the response has Error
// set and the error wraps ErrRejected; other errors are internal (context
// ended, storage failure) and the response still names the replica.
func (e *Engine) handle(ctx context.Context, signedRequest []byte) (*wire.Response, error) {
	resp := &wire.Response{Replica: e.cfg.Me}
	if faults.withhold() {
		return resp, withheld(ctx)
	}
	reject := func(err error) (*wire.Response, error) {
		resp.Error = err.Error()
		return resp, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	sr, req, client, err := e.verified(ctx, signedRequest)
	if err != nil {
		if refused(err) != nil {
			return reject(refused(err))
		}
		return resp, err
	}
	reqHash := wire.RequestHash(sr.Request)
	// seal sets the response's partial result, sealed to the request's
	// reply key with the request hash and this replica's index bound: a
	// replica that replays the client's signed bytes to this one gets a
	// ciphertext for a key it does not hold.
	seal := func(partial []byte) (*wire.Response, error) {
		sealed, err := wire.SealReply(req.Reply, reqHash, e.cfg.Me, partial)
		clear(partial)
		if err != nil {
			return reject(fmt.Errorf("%w: %w", app.ErrMalformed, err))
		}
		resp.Sealed = sealed
		return resp, nil
	}
	switch req.Op {
	case wire.OpBatch:
		return e.handleBatch(ctx, req, reqHash)
	case wire.OpKeyList:
		keys, err := e.cfg.App.KeysOf(req.Client)
		if err != nil {
			return reject(err)
		}
		resp.Keys = keys
		return resp, nil
	case wire.OpKeyPub:
		var b wire.KeyRefBody
		if err := json.Unmarshal(req.Body, &b); err != nil {
			return reject(app.ErrBadBody)
		}
		// A key or grant committed a moment ago may not be applied here yet.
		var k *app.KeyRecord
		err := e.fresh(ctx, func() error {
			var err error
			if k, err = e.cfg.App.Key(b.KeyID); err != nil {
				return err
			}
			if !client.Admin && k.Info.Owner != req.Client && !contains(k.Grants, req.Client) {
				return app.ErrUnauthorized
			}
			return nil
		})
		if err != nil {
			return reject(err)
		}
		resp.Key = &k.Info
		return resp, nil
	case wire.OpEncrypt, wire.OpDecrypt, wire.OpSign, wire.OpNonces, wire.OpEth2Sign:
		if req.Op == wire.OpEth2Sign {
			// A block proposal or an attestation goes through the log,
			// below. A body that does not parse is refused by
			// handleEth2Sign, after the id checks.
			if ordered, err := e.eth2Ordered(req); err == nil && ordered {
				break
			}
		}
		// Not ordered: authorized against committed state at least as new
		// as the request's min height. An id is used once per client: by
		// one ordered request (its committed result binds the bytes) or by
		// one unordered request.
		if err := e.awaitHeight(ctx, req.MinHeight); err != nil {
			return reject(err)
		}
		if err := e.admitID(req.Client, req.ID, reqHash, req.Expires, req.Op == wire.OpNonces); err != nil {
			if r := refused(err); r != nil {
				return reject(r)
			}
			return resp, err
		}
		var partial []byte
		var err error
		switch req.Op {
		case wire.OpNonces:
			err = e.handleNonces(resp, req)
		case wire.OpSign:
			partial, err = e.handleSign(ctx, resp, req)
		case wire.OpEth2Sign:
			partial, err = e.handleEth2Sign(ctx, req)
		default:
			partial, err = e.evaluate(ctx, resp, req)
		}
		if err != nil {
			if r := refused(err); r != nil {
				return reject(r)
			}
			return resp, err
		}
		resp.Height, _ = e.cfg.App.Committed()
		if partial == nil {
			return resp, nil
		}
		return seal(partial)
	}
	if e.replay.conflicts(req.Client, req.ID, reqHash, time.Now().Unix()) {
		return reject(fmt.Errorf("%w: %s", app.ErrIDReused, req.ID))
	}
	res, err := e.ordered(ctx, req, sr)
	if err != nil {
		return resp, err
	}
	// The committed result answers the exact bytes that were ordered: a
	// request reusing their id with other bytes gets nothing from it.
	if !bytes.Equal(res.Request, reqHash[:]) {
		return reject(fmt.Errorf("%w: %s", app.ErrIDReused, req.ID))
	}
	resp.Height = res.Height
	if res.Code != 0 {
		return reject(errors.New(res.Error))
	}
	resp.Key = res.Key
	resp.Interchange = res.Interchange
	switch req.Op {
	case wire.OpEth2Batch:
		return e.eth2BatchAnswer(resp, req, reqHash, res)
	case wire.OpKeyGenBatch:
		return e.keyGenBatchAnswer(resp, req, res)
	}
	if req.Op == wire.OpEth2Sign {
		// The log allowed exactly this signing root for this key: sign it.
		partial, err := e.eth2Partial(res.Eth2)
		if err != nil {
			if r := refused(err); r != nil {
				return reject(r)
			}
			return resp, err
		}
		return seal(partial)
	}
	return resp, nil
}

// verified decodes a signed request and verifies it against committed
// state (signature, client, cluster, expiry). Errors that refuse the request
// are refusals (see refused); the others are internal.
func (e *Engine) verified(ctx context.Context, signedRequest []byte) (*wire.SignedRequest, *wire.Request, *app.ClientInfo, error) {
	// Results are answered from FinalizeBlock, before the block is
	// committed: a client may send its next request (with the client, key
	// or grant just created) before then. Reads below see the committed
	// state, so let the finalized block commit first (a few ms at most).
	if err := e.cfg.App.AwaitCommit(ctx); err != nil {
		return nil, nil, nil, err
	}
	if len(signedRequest) > 2*wire.MaxRequestBytes {
		return nil, nil, nil, refuse(app.ErrTooLarge)
	}
	var sr wire.SignedRequest
	if err := json.Unmarshal(signedRequest, &sr); err != nil {
		return nil, nil, nil, refuse(fmt.Errorf("%w: signed request", app.ErrMalformed))
	}
	req, client, err := e.cfg.App.VerifyRequest(&sr, time.Now().Unix())
	if err != nil {
		return nil, nil, nil, refuse(err)
	}
	return &sr, req, client, nil
}

// refusal marks an error of a helper of Handle as a refusal of the request
// (answered as a rejection), not an internal failure.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(err error) error { return &refusal{err: err} }

// refused returns the refusal inside err, or nil.
func refused(err error) error {
	var r *refusal
	if errors.As(err, &r) {
		return r.err
	}
	return nil
}

// taprootOf maps the wire option to threshold/schnorr's: nil is plain
// BIP-340, an empty merkle root BIP-86, 32 bytes a script tree (BIP-341).
func taprootOf(o *wire.TaprootOption) (schnorr.Taproot, error) {
	switch {
	case o == nil:
		return schnorr.Taproot{Mode: schnorr.TaprootNone}, nil
	case len(o.MerkleRoot) == 0:
		return schnorr.Taproot{Mode: schnorr.TaprootBIP86}, nil
	case len(o.MerkleRoot) == 32:
		tr := schnorr.Taproot{Mode: schnorr.TaprootScript}
		copy(tr.MerkleRoot[:], o.MerkleRoot)
		return tr, nil
	}
	return schnorr.Taproot{}, fmt.Errorf("%w: merkle root length", app.ErrBadBody)
}

// evaluate returns this replica's DiSE DPRF evaluation and its DLEQ proof
// for encrypt and decrypt, from committed state only. A refusal is marked
// (see refused).
func (e *Engine) evaluate(ctx context.Context, resp *wire.Response, req *wire.Request) ([]byte, error) {
	reject := func(err error) ([]byte, error) { return nil, refuse(err) }
	var b wire.EvalBody
	if err := json.Unmarshal(req.Body, &b); err != nil || len(b.Input) > wire.MaxMessageBytes {
		return reject(app.ErrBadBody)
	}
	k, err := e.authorizeUse(ctx, req.Client, b.KeyID)
	if err != nil {
		return reject(err)
	}
	if k.Info.Scheme != wire.SchemeSymmetric {
		return reject(fmt.Errorf("%w: %s key cannot evaluate the DPRF", app.ErrBadScheme, k.Info.Scheme))
	}
	in, err := dise.DecodeInput(b.Input)
	if err != nil {
		return reject(fmt.Errorf("%w: %w", app.ErrBadBody, err))
	}
	if in.KeyID != b.KeyID {
		return reject(fmt.Errorf("%w: input is for another key", app.ErrBadBody))
	}
	// DiSE encryption binds the encryptor identity j into the DPRF input:
	// a client may only encrypt under its own full (256-bit) identity, or
	// it could forge ciphertexts as another encryptor. A decryption input
	// must name a client that may use the key (its owner or a grantee),
	// the only ones that can have made a ciphertext under it: a "decrypt"
	// is otherwise an evaluation oracle on inputs naming anyone.
	switch req.Op {
	case wire.OpEncrypt:
		if in.Version != dise.InputVersion || !in.Names(wire.EncryptorID(req.Client)) {
			return reject(fmt.Errorf("%w: encryptor identity is not the requesting client", app.ErrUnauthorized))
		}
	case wire.OpDecrypt:
		if !namesKeyUser(in, k) {
			return reject(fmt.Errorf("%w: ciphertext names an encryptor that may not use the key", app.ErrUnauthorized))
		}
	}
	x, vk, err := e.shareAndKey(&k.Origin)
	if err != nil {
		return reject(err)
	}
	var ev dise.Evaluation
	if b.NoProof {
		ev, err = dise.EvaluateUnproven(faults.keyShare("dprf", x), e.cfg.Me, b.Input)
	} else {
		ev, err = dise.EvaluateWithKey(faults.keyShare("dprf", x), vk, e.cfg.Me, b.Input, e.cfg.Rand)
	}
	if err != nil {
		return nil, fmt.Errorf("dprf evaluate: %w", err)
	}
	resp.Height, _ = e.cfg.App.Committed()
	return ev.Bytes(), nil
}

// namesKeyUser reports whether a DPRF input names, as its encryptor, the
// owner of k or a client k is granted to.
func namesKeyUser(in dise.Input, k *app.KeyRecord) bool {
	if in.Names(wire.EncryptorID(k.Info.Owner)) {
		return true
	}
	for _, g := range k.Grants {
		if in.Names(wire.EncryptorID(g)) {
			return true
		}
	}
	return false
}
