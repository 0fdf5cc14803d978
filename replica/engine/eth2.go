package engine

import (
	"context"
	"fmt"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
)

// Typed Ethereum signing (eth2.sign) with validator keys. The replica
// computes the signing root itself (replica/eth2, through App.ParseEth2, remembered per replica)
// and never signs a root a client supplies. A block proposal or an
// attestation is ordered: the app decides it against the slashing history
// in the log, and this replica signs only the root of a committed success
// (eth2Partial). Every other type is answered like a BLS sign: authorized
// against committed state, replay-checked, sealed to the reply key.

// eth2Body decodes and checks an eth2.sign body.
func eth2Body(req *wire.Request) (*wire.Eth2SignBody, error) {
	var b wire.Eth2SignBody
	if err := app.DecodeStrict(req.Body, &b); err != nil || !app.ValidID(b.KeyID) || len(b.Request) == 0 {
		return nil, app.ErrBadBody
	}
	return &b, nil
}

// eth2Ordered reports whether an eth2.sign request goes through the log (a
// block proposal or an attestation).
func (e *Engine) eth2Ordered(req *wire.Request) (bool, error) {
	b, err := eth2Body(req)
	if err != nil {
		return false, err
	}
	_, slashable, err := e.cfg.App.ParseEth2(b.Request)
	return slashable, err
}

// handleEth2Sign returns this replica's BLS partial over the signing root
// of a non-slashable typed request.
func (e *Engine) handleEth2Sign(ctx context.Context, req *wire.Request) ([]byte, error) {
	b, err := eth2Body(req)
	if err != nil {
		return nil, refuse(err)
	}
	k, err := e.authorizeUse(ctx, req.Client, b.KeyID)
	if err != nil {
		return nil, refuse(err)
	}
	if !app.IsValidatorKey(k) {
		return nil, refuse(fmt.Errorf("%w: key %s is not a validator key", app.ErrValidatorKey, b.KeyID))
	}
	root, slashable, err := e.cfg.App.ParseEth2(b.Request)
	if err != nil {
		return nil, refuse(err)
	}
	if slashable {
		return nil, refuse(fmt.Errorf("%w: block proposals and attestations are ordered", app.ErrBadOp))
	}
	return e.blsPartial(k, root[:])
}

// eth2Partial returns this replica's partial over the signing root that a
// committed eth2.sign result allows.
func (e *Engine) eth2Partial(res *app.Eth2Signed) ([]byte, error) {
	if res == nil || len(res.SigningRoot) != 32 {
		return nil, fmt.Errorf("engine: committed eth2.sign result without a signing root")
	}
	k, err := e.cfg.App.Key(res.KeyID)
	if err != nil {
		return nil, refuse(err)
	}
	if !app.IsValidatorKey(k) || k.Info.Scheme != wire.SchemeBLS {
		return nil, fmt.Errorf("engine: committed eth2.sign result for a key that is not a validator key")
	}
	if k.Info.Disabled {
		return nil, refuse(app.ErrKeyDisabled) // disabled since the decision: it signs nothing more
	}
	return e.blsPartial(k, res.SigningRoot)
}

// eth2BatchAnswer answers a committed eth2.batch (wire/batch.go): for each
// item the log allowed, this replica's partial over the signing root it
// allowed; for each item it refused, the refusal. The partials leave
// sealed together as those of an unordered batch do (sealItems), and each
// item served is recorded in the audit chain under its wire.ItemHash.
func (e *Engine) eth2BatchAnswer(resp *wire.Response, req *wire.Request, reqHash [32]byte, res *app.Result) (*wire.Response, error) {
	items, hashes, err := batchResultHashes(req, res)
	if err != nil {
		return resp, err
	}
	resp.Items = make([]wire.Response, len(items))
	partials := make([][]byte, len(items))
	for i := range res.Items {
		r, ir := &res.Items[i], &resp.Items[i]
		ir.Replica, ir.Height = e.cfg.Me, r.Height
		if r.Code != 0 {
			ir.Error = r.Error
			continue
		}
		p, err := e.eth2Partial(r.Eth2)
		if rf := refused(err); rf != nil {
			ir.Error = rf.Error()
		} else if err != nil {
			for _, p := range partials {
				clear(p)
			}
			return resp, err
		}
		partials[i] = p
	}
	if err := e.sealItems(resp, req, reqHash, items, hashes, partials); err != nil {
		resp.Items = nil
		resp.Error = err.Error()
		return resp, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return resp, nil
}

// blsPartial is this replica's BLS partial signature on msg with k's share.
func (e *Engine) blsPartial(k *app.KeyRecord, msg []byte) ([]byte, error) {
	x, err := e.share(&k.Origin)
	if err != nil {
		return nil, refuse(err)
	}
	partial, err := bls.PartialSignUncompressed(faults.keyShare("bls", x), msg)
	if err != nil {
		return nil, fmt.Errorf("bls partial: %w", err)
	}
	return partial, nil
}
