package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
	bolt "go.etcd.io/bbolt"
)

// This file is the engine's read view: every method reads committed state
// only and is safe for concurrent use.

// committed returns an overlay with no staged writes: reads hit the
// committed bbolt state.
func (a *App) committed() *overlay { return newOverlay(a.db) }

// Changed returns a channel closed at the next Commit.
func (a *App) Changed() <-chan struct{} {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	return a.commitCh
}

// AwaitCommit returns once the block finalized last, if it is not committed
// yet, is committed, so that reads see every result Result has returned.
func (a *App) AwaitCommit(ctx context.Context) error {
	a.rmu.Lock()
	pending, ch := a.pending, a.commitCh
	a.rmu.Unlock()
	if !pending {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for commit: %w", ctx.Err())
	}
}

// resultsChanged returns a channel closed at the next FinalizeBlock or
// Commit.
func (a *App) resultsChanged() <-chan struct{} {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	return a.resultCh
}

// VerifyRequest authenticates a signed request against the committed client
// keys and checks its expiry against now (Unix seconds). Replay is not
// checked: a committed request is answered again on retries.
func (a *App) VerifyRequest(sr *wire.SignedRequest, now int64) (*wire.Request, *ClientInfo, error) {
	o := a.committed()
	req, c, err := verifyRequest(sr, a.g.Cluster, func(id string) (*ClientInfo, error) { return lookupClient(o, id) }, &a.sigs, &a.reqs)
	if err != nil {
		return nil, nil, err
	}
	if err := checkExpiry(req, now); err != nil {
		return nil, nil, err
	}
	return req, c, nil
}

// Result returns the result of request (client, id) in a finalized block,
// or nil. The block may not be committed yet (see FinalizeBlock): the result
// is final, but the state it changed is visible to the other read methods
// only after the Commit.
func (a *App) Result(client, id string) (*Result, error) {
	a.rmu.Lock()
	fr := a.final[client+"/"+id]
	a.rmu.Unlock()
	if fr != nil {
		var r Result
		if err := json.Unmarshal(fr, &r); err != nil {
			return nil, fmt.Errorf("app: finalized result: %w", err)
		}
		return &r, nil
	}
	var r requestRecord
	ok, err := a.committed().getJSON(pReq+client+"/"+id, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r.Result, nil
}

// WaitResult waits until request (client, id) is in a finalized block and
// returns its result (see Result).
func (a *App) WaitResult(ctx context.Context, client, id string) (*Result, error) {
	for {
		ch := a.resultsChanged()
		r, err := a.Result(client, id)
		if err != nil || r != nil {
			return r, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for commit: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Key returns a committed key, or an error wrapping ErrUnknownKey.
func (a *App) Key(id string) (*KeyRecord, error) { return getKey(a.committed(), id) }

// AuthorizeUse returns the key if client may use it (owner or grantee, key
// enabled), for encrypt and decrypt.
func (a *App) AuthorizeUse(client, keyID string) (*KeyRecord, error) {
	k, err := a.Key(keyID)
	if err != nil {
		return nil, err
	}
	if err := authorizeUse(k, client); err != nil {
		return nil, err
	}
	return k, nil
}

// KeysOf lists the keys client owns or was granted (every key for an admin),
// by key id.
func (a *App) KeysOf(client string) ([]wire.KeyInfo, error) {
	c, err := lookupClient(a.committed(), client)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, ErrUnknownClient
	}
	var out []wire.KeyInfo
	err = scan(a.db, pKey, func(_, v []byte) error {
		var k KeyRecord
		if err := json.Unmarshal(v, &k); err != nil {
			return fmt.Errorf("app: corrupt key record: %w", err)
		}
		if c.Admin || k.Info.Owner == client || slices.Contains(k.Grants, client) {
			out = append(out, k.Info)
		}
		return nil
	})
	return out, err
}

// Client returns a registered client, or nil.
func (a *App) Client(id string) (*ClientInfo, error) { return lookupClient(a.committed(), id) }

// Sessions lists every committed DKG session (open, done and failed).
func (a *App) Sessions() ([]SessionInfo, error) {
	var out []SessionInfo
	err := scan(a.db, pSession, func(_, v []byte) error {
		var s SessionInfo
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("app: corrupt session record: %w", err)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// OpenSessions lists the committed open DKG sessions, in opening order.
func (a *App) OpenSessions() ([]SessionInfo, error) {
	o := a.committed()
	names, err := openSessions(o)
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(names))
	for _, n := range names {
		s, err := a.Session(n)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	return out, nil
}

// Session returns a committed DKG session, or an error wrapping
// ErrUnknownSess.
func (a *App) Session(name string) (*SessionInfo, error) {
	var s SessionInfo
	ok, err := a.committed().getJSON(pSession+name, &s)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSess, name)
	}
	return &s, nil
}

// Transcript returns the committed transcript of a session from entry from.
// It reads the entries from from on only: a follower that asks for what
// is new since its last call pays for the new entries, not the whole
// transcript again.
func (a *App) Transcript(name string, from int) ([]TranscriptEntry, error) {
	return transcriptFrom(a.db, pTx+name+"/", from)
}

// transcriptFrom decodes the committed entries prefix ‖ seq(8) with seq ≥
// from, in order.
func transcriptFrom(db *bolt.DB, prefix string, from int) ([]TranscriptEntry, error) {
	var out []TranscriptEntry
	err := scanFrom(db, prefix, prefix+u64(uint64(max(from, 0))), func(_, v []byte) error {
		var e TranscriptEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("app: corrupt transcript: %w", err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// SessionParams returns the DKG parameters of a committed session.
func (a *App) SessionParams(s *SessionInfo) (dkg.Params, error) {
	chain, err := a.committed().get(kChain)
	if err != nil {
		return dkg.Params{}, err
	}
	return a.sessionParams(chain, s)
}

// Available returns the number of available items of a pool kind.
func (a *App) Available(kind string) (int, error) {
	var m poolMeta
	if _, err := a.committed().getJSON(pPoolM+kind, &m); err != nil {
		return 0, err
	}
	return int(m.Tail - m.Head), nil
}

// GroupOf returns the group of a pool kind.
func GroupOf(kind string) group.Group { return groupOf(kind) }
