package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/wire"
)

// Ordered requests: through the log and answered from the committed
// result; waiting out a replica that is only behind.

// ordered returns the committed result of an ordered request, broadcasting
// it first if it is not committed yet.
func (e *Engine) ordered(ctx context.Context, req *wire.Request, sr *wire.SignedRequest) (*app.Result, error) {
	res, err := e.cfg.App.Result(req.Client, req.ID)
	if err != nil || res != nil {
		return res, err
	}
	tx, err := json.Marshal(wire.Tx{Client: sr})
	if err != nil {
		return nil, fmt.Errorf("encode tx: %w", err)
	}
	if err := e.cfg.App.Precheck(tx); err != nil {
		if staleRejection(err) {
			// This replica may only be behind: the key, client or grant the
			// request needs can be in a block the others committed and this
			// one has not applied yet, or in the block it has just
			// finalized and not committed yet (results are answered from
			// FinalizeBlock, so a client can follow up that fast). Give the
			// log a moment before refusing.
			var res *app.Result
			if res, err = e.recheck(ctx, req, tx, err); res != nil {
				return res, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		switch {
		case errors.Is(err, app.ErrReplay):
			// Committed since the check above: answer from its result.
			return e.cfg.App.WaitResult(ctx, req.Client, req.ID)
		case err != nil:
			// Rejected by CheckTx rules: not worth a broadcast — unless the
			// request itself was committed while the check ran (the check
			// reads committed state key by key, so a commit landing between
			// its replay check and, say, its key check makes the request's
			// own key look taken): then answer from its result.
			if res, rerr := e.cfg.App.Result(req.Client, req.ID); rerr != nil || res != nil {
				return res, rerr
			}
			h := wire.RequestHash(sr.Request)
			return &app.Result{Request: h[:], Code: 1, Error: err.Error()}, nil
		}
	}
	if err := e.cfg.Broadcast.BroadcastTx(ctx, tx); err != nil {
		return nil, fmt.Errorf("broadcast request: %w", err)
	}
	return e.cfg.App.WaitResult(ctx, req.Client, req.ID)
}

// recheck follows a precheck refusal err that may only mean this replica is
// behind: until staleGrace passes it waits for commits, returning the
// request's result once other replicas got it finalized, or nil and the
// precheck's new verdict (nil when it now passes) once that is no longer a
// stale refusal.
func (e *Engine) recheck(ctx context.Context, req *wire.Request, tx []byte, err error) (*app.Result, error) {
	var res *app.Result
	first := true
	_, werr := e.waitFor(ctx, func() (bool, error) {
		if !first {
			err = e.cfg.App.Precheck(tx)
		}
		first = false
		if !staleRejection(err) {
			return true, nil
		}
		var rerr error
		res, rerr = e.cfg.App.Result(req.Client, req.ID)
		return rerr != nil || res != nil, rerr
	})
	switch {
	case werr != nil:
		return nil, werr
	case res != nil:
		return res, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, err
}

// authorizeUse is App.AuthorizeUse that, when the refusal may only mean
// this replica is behind (a key or grant committed elsewhere a moment ago),
// waits up to staleGrace for new blocks before refusing.
func (e *Engine) authorizeUse(ctx context.Context, client, keyID string) (*app.KeyRecord, error) {
	var k *app.KeyRecord
	err := e.fresh(ctx, func() error {
		var err error
		k, err = e.cfg.App.AuthorizeUse(client, keyID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// fresh runs check, and while its refusal may only mean this replica is
// behind (staleRejection), runs it again at every new block for up to
// staleGrace; it returns check's last error.
func (e *Engine) fresh(ctx context.Context, check func() error) error {
	_, err := e.waitFor(ctx, func() (bool, error) {
		err := check()
		return err == nil || !staleRejection(err), err
	})
	return err
}

// staleGrace bounds how long a replica waits for a request it would refuse
// from possibly stale state to be committed through the other replicas.
const staleGrace = time.Second

// staleRejection reports whether a precheck refusal depends on state that a
// lagging replica may not have applied yet (a new key, client or grant, a
// refilled pool), as opposed to a refusal of the request itself.
func staleRejection(err error) bool {
	for _, e := range []error{app.ErrUnknownKey, app.ErrUnknownClient, app.ErrUnauthorized, app.ErrPoolEmpty} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
