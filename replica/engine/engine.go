// Package engine is a vhsm replica's participant logic on top of the
// replicated state of [app.App]: it reacts to committed blocks by taking part
// in the DKG sessions the app opens (dealing, responding, voting timeouts,
// deriving and storing its shares), and it executes client requests end to
// end ([Engine.Handle]), returning this replica's partial results.
//
// # Shares
//
// When a DKG session completes, the engine derives its share of every batch
// slot and stores them in the [ShareStore] before it reports ready: a key
// session's in one record "dkg/<session>", a nonce session's one record per
// slot "dkg/<session>/<slot>" (shares.go). A share is checked against the
// public commitment before its first use: a replica whose share is missing
// or corrupt refuses the request ([ErrShareUnavailable]) and never computes
// with it. A replica that
// cannot derive its shares because a qualified dealer sent it bad ones
// (it missed the responding phase) files late complaints and is repaired
// from the others' reveals (repair.go); meanwhile it is not ready and
// refuses requests needing those shares.
//
// # Requests
//
// Ordered operations are broadcast as the signed request itself (every
// replica submits the same bytes, so the log holds one transaction) and
// answered from the committed [app.Result] of that request, which is also
// how a retried request gets the same answer. Reads are answered from the
// committed state.
package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/audit"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dise"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// ShareStore keeps secret values sealed at rest (implemented by
// replica/sealed).
type ShareStore interface {
	Put(name string, secret []byte) error // atomic, durable before returning
	Get(name string) ([]byte, error)      // ErrNotFound when absent; an error (never garbage) when corrupted
	Delete(name string) error
}

// Broadcaster submits a transaction to the local mempool.
type Broadcaster interface {
	BroadcastTx(ctx context.Context, tx []byte) error
}

// Config configures an Engine.
type Config struct {
	App       *app.App
	Me        int
	SignKey   ed25519.PrivateKey
	DKGKey    []byte // 32-byte secp256k1 secret
	Shares    ShareStore
	Broadcast Broadcaster
	Rand      io.Reader
	Log       *slog.Logger
	// PhaseTimeout is the wall-clock wait before voting to time out a DKG
	// phase (default 3s).
	PhaseTimeout time.Duration
	// Audit is the replica's audit chain (audit.go); nil records nothing.
	Audit *audit.Log
}

// Errors of the engine.
var (
	// ErrRejected wraps every refusal of a client request; the Response
	// returned with it has Error set.
	ErrRejected = errors.New("engine: request rejected")
	// ErrShareUnavailable: this replica's share for the key is missing or
	// does not match the public commitment.
	ErrShareUnavailable = errors.New("engine: share unavailable")
	// ErrNotReady: shares are not derived or pools are not primed yet.
	ErrNotReady = errors.New("engine: not ready")
	// ErrConfig: an invalid Config.
	ErrConfig = errors.New("engine: invalid config")
)

// Engine is one replica's participant and request executor.
type Engine struct {
	cfg Config
	sk  group.Scalar

	stepMu sync.Mutex // serializes session processing (step, on-demand derivation)

	mu       sync.Mutex
	tracks   map[string]*track       // open sessions
	stored   map[string]bool         // done sessions whose shares are stored
	shareErr error                   // last share derivation failure
	checked  map[string]checkedShare // key shares that passed their check (see share)
	records  recordCache             // decrypted session records (shares.go)
	scanned  bool                    // every committed session was visited once
	repair   repairer                // repairs of done sessions (repair.go)

	replay *replayCache // unordered requests answered, for their validity window
	nonces *nonceStore  // this process's FROST nonce pairs (nonces.go)
	fkeys  frostKeys    // prepared FROST keys (sign.go)
}

// track follows one open DKG session.
type track struct {
	sess    *dkg.Session
	applied int
	status  dkg.Status
	since   time.Time // when this replica saw the phase start
	mine    map[dkg.Kind]bool
	sent    map[dkg.Kind]time.Time
	voted   map[dkg.Phase]bool
	repairs int // repair transcript entries applied (repair.go)
}

// New checks the configuration and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.App == nil || cfg.Shares == nil || cfg.Broadcast == nil || cfg.Rand == nil {
		return nil, fmt.Errorf("%w: missing app, share store, broadcaster or rand", ErrConfig)
	}
	g := cfg.App.Genesis()
	if cfg.Me < 1 || cfg.Me > g.N || len(cfg.SignKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: replica index or sign key", ErrConfig)
	}
	sk, err := group.Secp256k1().DecodeScalar(cfg.DKGKey)
	if err != nil || sk.IsZero() {
		return nil, fmt.Errorf("%w: dkg key", ErrConfig)
	}
	if !group.Secp256k1().BaseMul(sk).Equal(mustPoint(g.Replicas[cfg.Me-1].DKGKey)) {
		return nil, fmt.Errorf("%w: dkg key does not match the genesis", ErrConfig)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PhaseTimeout <= 0 {
		cfg.PhaseTimeout = 3 * time.Second
	}
	nonces, err := newNonceStore(cfg.Me, sk, cfg.Rand)
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, sk: sk, tracks: map[string]*track{}, stored: map[string]bool{}, checked: map[string]checkedShare{}, replay: newReplayCache(maxReplayEntries), nonces: nonces}, nil
}

func mustPoint(b []byte) group.Point {
	p, err := group.Secp256k1().DecodePoint(b)
	if err != nil {
		return group.Secp256k1().Identity()
	}
	return p
}

// Run takes part in the DKG sessions until ctx ends. It wakes at every
// commit and periodically to vote timeouts.
func (e *Engine) Run(ctx context.Context) error {
	tick := time.NewTicker(e.cfg.PhaseTimeout / 4)
	defer tick.Stop()
	for {
		ch := e.cfg.App.Changed()
		if err := e.step(ctx); err != nil && ctx.Err() == nil {
			e.cfg.Log.Warn("engine_step_failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		case <-tick.C:
		}
	}
}

// step advances the open sessions and stores the shares of the sessions that
// completed. The first step after start scans every committed session, so
// that shares missed before a restart are derived.
func (e *Engine) step(ctx context.Context) error {
	e.stepMu.Lock()
	defer e.stepMu.Unlock()
	var sessions []app.SessionInfo
	var err error
	e.mu.Lock()
	scanned := e.scanned
	tracked := make([]string, 0, len(e.tracks))
	for n := range e.tracks {
		tracked = append(tracked, n)
	}
	e.mu.Unlock()
	if !scanned {
		sessions, err = e.cfg.App.Sessions()
	} else {
		sessions, err = e.cfg.App.OpenSessions()
		// Tracked sessions that are no longer open have just closed.
		for _, n := range tracked {
			s, err := e.cfg.App.Session(n)
			if err != nil {
				return err
			}
			if s.Status != app.StatusOpen {
				sessions = append(sessions, *s)
			}
		}
	}
	if err != nil {
		return err
	}
	var firstErr error
	for i := range sessions {
		s := &sessions[i]
		switch s.Status {
		case app.StatusDone:
			err = e.ensureShares(s)
		case app.StatusOpen:
			err = e.participate(ctx, s)
		default:
			e.mu.Lock()
			delete(e.tracks, s.Name)
			e.mu.Unlock()
			err = nil
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("session %s: %w", s.Name, err)
		}
	}
	if firstErr == nil {
		e.mu.Lock()
		e.scanned = true
		e.mu.Unlock()
	}
	if err := e.repairStep(ctx); err != nil && firstErr == nil { // repair.go
		firstErr = fmt.Errorf("repair: %w", err)
	}
	return firstErr
}

// follow applies the new committed transcript entries of s to its track.
func (e *Engine) follow(s *app.SessionInfo) (*track, error) {
	e.mu.Lock()
	t := e.tracks[s.Name]
	e.mu.Unlock()
	if t == nil {
		p, err := e.cfg.App.SessionParams(s)
		if err != nil {
			return nil, err
		}
		sess, err := dkg.NewSession(p)
		if err != nil {
			return nil, err
		}
		t = &track{sess: sess, status: sess.Status(), since: time.Now(), mine: map[dkg.Kind]bool{}, sent: map[dkg.Kind]time.Time{}, voted: map[dkg.Phase]bool{}}
		e.mu.Lock()
		e.tracks[s.Name] = t
		e.mu.Unlock()
	}
	entries, err := e.cfg.App.Transcript(s.Name, t.applied)
	if err != nil {
		return nil, err
	}
	g := app.GroupOf(s.Kind)
	for _, en := range entries {
		t.applied++
		m, err := e.cfg.App.DecodeMessage(g, en.Message) // cached: the app decoded it too
		if err != nil {
			return nil, fmt.Errorf("committed transcript: %w", err)
		}
		_ = t.sess.Apply(m) // rejections are the app's concern; replay is identical
		if en.Sender == e.cfg.Me {
			t.mine[m.Kind()] = true
			if v, ok := m.(*dkg.TimeoutVote); ok {
				t.voted[v.Phase] = true
			}
		}
	}
	if st := t.sess.Status(); st != t.status {
		t.status, t.since = st, time.Now()
	}
	return t, nil
}

// participate deals, responds or votes a timeout in an open session.
func (e *Engine) participate(ctx context.Context, s *app.SessionInfo) error {
	t, err := e.follow(s)
	if err != nil {
		return err
	}
	// A message not committed within 2·PhaseTimeout is sent again (it may
	// have been dropped from a mempool); re-dealing is safe (dkg doc).
	due := func(k dkg.Kind) bool {
		at, ok := t.sent[k]
		return !t.mine[k] && (!ok || time.Since(at) > 2*e.cfg.PhaseTimeout)
	}
	var msg dkg.Message
	switch t.status {
	case dkg.StatusDealing:
		if due(dkg.KindDealing) {
			d, err := dkg.NewDealing(t.sess.Params(), e.cfg.Me, e.cfg.Rand)
			if err != nil {
				return fmt.Errorf("deal: %w", err)
			}
			msg = d
		} else if time.Since(t.since) > e.cfg.PhaseTimeout && !t.voted[dkg.PhaseDealing] {
			msg = &dkg.TimeoutVote{Sender: e.cfg.Me, Phase: dkg.PhaseDealing}
		}
	case dkg.StatusResponding:
		if due(dkg.KindResponse) {
			r, err := t.sess.Respond(e.cfg.Me, e.sk, e.cfg.Rand)
			if err != nil {
				return fmt.Errorf("respond: %w", err)
			}
			msg = r
		} else if time.Since(t.since) > e.cfg.PhaseTimeout && !t.voted[dkg.PhaseResponding] {
			msg = &dkg.TimeoutVote{Sender: e.cfg.Me, Phase: dkg.PhaseResponding}
		}
	}
	if msg == nil {
		return nil
	}
	msg = faults.dkgMessage(e, t.sess, msg) // honest: msg itself (faults.go)
	tx, err := app.SignReplicaTx(e.cfg.App.Genesis().Cluster, e.cfg.Me, e.cfg.SignKey, app.DKGPayload{Session: s.Name, Message: msg.Marshal()})
	if err != nil {
		return err
	}
	if v, ok := msg.(*dkg.TimeoutVote); ok {
		t.voted[v.Phase] = true
	} else {
		t.sent[msg.Kind()] = time.Now()
	}
	if faults.withhold() {
		return nil
	}
	if err := e.cfg.Broadcast.BroadcastTx(ctx, tx); err != nil {
		return fmt.Errorf("broadcast %s: %w", msg.Kind(), err)
	}
	return nil
}

// shareName names the stored share of one batch slot.
func shareName(session string, slot int) string { return fmt.Sprintf("dkg/%s/%d", session, slot) }

// completeName names the marker written once all shares of a session are
// stored.
func completeName(session string) string { return fmt.Sprintf("dkg/%s/complete", session) }

// ensureShares derives and stores this replica's shares of a done session.
func (e *Engine) ensureShares(s *app.SessionInfo) error {
	e.mu.Lock()
	done := e.stored[s.Name]
	e.mu.Unlock()
	if done {
		return nil
	}
	// The session record (or, for a nonce session, the completion marker
	// written after every slot) exists once every share is stored. A nonce
	// share is consumed (and deleted) only after it, so shares are never
	// re-derived once a nonce may have been used (shares.go).
	if e.sharesStored(s) {
		e.markStored(s.Name, nil)
		return nil
	}
	e.mu.Lock()
	t := e.tracks[s.Name]
	e.mu.Unlock()
	if t == nil || t.sess.Status() != dkg.StatusDone {
		// Apply the entries committed since the track last followed the
		// session, or, after a restart (no track), the whole transcript.
		var err error
		if t, err = e.follow(s); err != nil {
			return err
		}
	}
	if err := e.followRepairs(s.Name, t); err != nil { // repair.go
		return err
	}
	shares, err := t.sess.Shares(e.cfg.Me, e.sk)
	if err != nil {
		if e.awaitRepair(s.Name, t, err) { // repair.go: kept tracked until repaired
			return nil
		}
		e.markStored(s.Name, fmt.Errorf("derive shares of %s: %w", s.Name, err))
		return err
	}
	if err := e.storeShares(s, shares); err != nil { // shares.go
		return err
	}
	e.markStored(s.Name, nil)
	e.cfg.Log.Info("dkg_shares_stored", "session", s.Name, "slots", len(shares))
	return nil
}

func (e *Engine) markStored(name string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.tracks, name)
	if err != nil {
		e.shareErr = err
		return
	}
	e.stored[name] = true
}

// Ready returns nil when the shares of every completed session are stored
// and every pool has an available item.
func (e *Engine) Ready() error {
	e.mu.Lock()
	scanned, shareErr := e.scanned, e.shareErr
	tracked := make([]string, 0, len(e.tracks))
	for n := range e.tracks {
		tracked = append(tracked, n)
	}
	e.mu.Unlock()
	if shareErr != nil {
		return fmt.Errorf("%w: %w", ErrNotReady, shareErr)
	}
	if !scanned {
		return fmt.Errorf("%w: committed sessions not scanned yet", ErrNotReady)
	}
	for _, n := range tracked {
		s, err := e.cfg.App.Session(n)
		if err != nil {
			return err
		}
		if s.Status == app.StatusDone {
			return fmt.Errorf("%w: shares of %s not stored yet", ErrNotReady, n)
		}
	}
	for _, k := range app.Kinds {
		if n, err := e.cfg.App.Available(k); err != nil || n == 0 {
			return fmt.Errorf("%w: %s pool empty", ErrNotReady, k)
		}
	}
	return nil
}

// share loads this replica's share of a pool item and checks it against the
// item's commitment.
func (e *Engine) share(it *app.PoolItem) (group.Scalar, error) {
	x, _, err := e.shareAndKey(it)
	return x, err
}

// checkedShare remembers a key share that passed its check: the digest of
// what was checked and the public verification key x·G it matched.
type checkedShare struct {
	d  digest
	vk group.Point
}

// shareAndKey is share, also returning this replica's verification key
// x·G (evaluated from the public commitment).
func (e *Engine) shareAndKey(it *app.PoolItem) (group.Scalar, group.Point, error) {
	g := app.GroupOf(it.Kind)
	b, err := e.loadShare(it) // shares.go
	if errors.Is(err, sealed.ErrNotFound) {
		// The session may have completed in the last block, before Run
		// derived its shares: derive them now. A request answered from
		// FinalizeBlock may even use an item of a session completed in that
		// very block, committed a moment later.
		e.awaitDone(it.Session)
		if s, serr := e.cfg.App.Session(it.Session); serr == nil && s.Status == app.StatusDone {
			e.stepMu.Lock()
			derr := e.ensureShares(s)
			e.stepMu.Unlock()
			if derr == nil {
				b, err = e.loadShare(it)
			}
		}
	}
	if err != nil {
		if !errors.Is(err, sealed.ErrNotFound) {
			// A record that exists but cannot be opened (corrupted, not
			// authentic): the store is damaged, so this replica reports
			// itself not ready until an operator restores it.
			e.mu.Lock()
			if e.shareErr == nil {
				e.shareErr = fmt.Errorf("share store damaged: %w", err)
			}
			e.mu.Unlock()
		}
		return nil, nil, fmt.Errorf("%w: %s/%d: %w", ErrShareUnavailable, it.Session, it.Slot, err)
	}
	defer clear(b) // the decoded scalar is what is used from here on
	x, err := g.DecodeScalar(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s/%d undecodable", ErrShareUnavailable, it.Session, it.Slot)
	}
	// A key share is loaded at every use: once it passed the check below,
	// later loads of the very same bytes for the same commitment are
	// recognized by a digest (no secret is kept) and not checked again.
	d := shareDigest(it, b)
	e.mu.Lock()
	known, ok := e.checked[shareName(it.Session, it.Slot)]
	e.mu.Unlock()
	if ok && known.d == d {
		return x, known.vk, nil
	}
	c, err := vss.DecodeCommitment(g, it.Commitment)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s/%d does not match its commitment", ErrShareUnavailable, it.Session, it.Slot)
	}
	// Feldman check x·G == Σ_k C_k·me^k: the secret x is multiplied in
	// constant time, the public commitment evaluated in variable time.
	vk := c.Eval(e.cfg.Me)
	if vk == nil || !g.BaseMul(x).Equal(vk) {
		return nil, nil, fmt.Errorf("%w: %s/%d does not match its commitment", ErrShareUnavailable, it.Session, it.Slot)
	}
	if it.Kind != app.KindNonce { // a nonce share is used once
		e.mu.Lock()
		if len(e.checked) >= maxChecked {
			clear(e.checked)
		}
		e.checked[shareName(it.Session, it.Slot)] = checkedShare{d: d, vk: vk}
		e.mu.Unlock()
	}
	return x, vk, nil
}

// maxChecked bounds the digests of checked key shares kept in memory.
const maxChecked = 1 << 14

// shareDigest binds a loaded share's bytes to the commitment it is checked
// against: SHA-256("vhsm/engine/share-checked/v1" ‖ len ‖ commitment ‖
// share). The share is a uniformly random scalar, so the digest reveals
// nothing usable about it.
func shareDigest(it *app.PoolItem, share []byte) digest {
	h := sha256.New()
	h.Write([]byte("vhsm/engine/share-checked/v1"))
	h.Write([]byte{byte(len(it.Commitment) >> 8), byte(len(it.Commitment))})
	h.Write(it.Commitment)
	h.Write(share)
	var d digest
	h.Sum(d[:0])
	return d
}

// digest is a SHA-256 digest.
type digest [sha256.Size]byte

// awaitDone waits, up to staleGrace, until the committed state shows the
// session closed (done or failed).
func (e *Engine) awaitDone(session string) {
	deadline := time.NewTimer(staleGrace)
	defer deadline.Stop()
	for {
		changed := e.cfg.App.Changed()
		if s, err := e.cfg.App.Session(session); err == nil && s.Status != app.StatusOpen {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			return
		}
	}
}

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
	// Results are answered from FinalizeBlock, before the block is
	// committed: a client may send its next request (with the client, key
	// or grant just created) before then. Reads below see the committed
	// state, so let the finalized block commit first (a few ms at most).
	if err := e.cfg.App.AwaitCommit(ctx); err != nil {
		return resp, err
	}
	if len(signedRequest) > 2*wire.MaxRequestBytes {
		return reject(app.ErrTooLarge)
	}
	var sr wire.SignedRequest
	if err := json.Unmarshal(signedRequest, &sr); err != nil {
		return reject(fmt.Errorf("%w: signed request", app.ErrMalformed))
	}
	req, client, err := e.cfg.App.VerifyRequest(&sr, time.Now().Unix())
	if err != nil {
		return reject(err)
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
	case wire.OpEncrypt, wire.OpDecrypt, wire.OpSign, wire.OpNonces:
		// Not ordered: authorized against committed state at least as new
		// as the request's min height. An id is used once per client: by
		// one ordered request (its committed result binds the bytes) or by
		// one unordered request.
		if err := e.awaitHeight(ctx, req.MinHeight); err != nil {
			return reject(err)
		}
		if res, err := e.cfg.App.Result(req.Client, req.ID); err != nil || res != nil {
			if err != nil {
				return resp, err
			}
			return reject(fmt.Errorf("%w: %s", app.ErrIDReused, req.ID))
		}
		if err := e.replay.admit(req.Client, req.ID, reqHash, req.Expires, time.Now().Unix()); err != nil {
			return reject(err)
		}
		var partial []byte
		var err error
		switch req.Op {
		case wire.OpNonces:
			err = e.handleNonces(resp, req)
		case wire.OpSign:
			partial, err = e.handleSign(ctx, resp, req)
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
	res, err := e.ordered(ctx, req, &sr)
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
	return resp, nil
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

// putShares stores the shares of a session's slots, in one batch (one
// directory sync) when the store supports it (sealed.Store.PutMany).
func putShares(st ShareStore, session string, shares []group.Scalar) error {
	if pm, ok := st.(interface{ PutMany([]sealed.Record) error }); ok {
		recs := make([]sealed.Record, len(shares))
		for b, x := range shares {
			recs[b] = sealed.Record{Name: shareName(session, b), Secret: x.Bytes()}
		}
		return pm.PutMany(recs)
	}
	for b, x := range shares {
		if err := st.Put(shareName(session, b), x.Bytes()); err != nil {
			return err
		}
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
	ev, err := dise.EvaluateWithKey(faults.keyShare("dprf", x), vk, e.cfg.Me, b.Input, e.cfg.Rand)
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
	deadline := time.NewTimer(staleGrace)
	defer deadline.Stop()
	for staleRejection(err) {
		changed := e.cfg.App.Changed()
		if res, rerr := e.cfg.App.Result(req.Client, req.ID); rerr != nil || res != nil {
			if rerr != nil {
				return nil, rerr
			}
			return res, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		err = e.cfg.App.Precheck(tx)
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
	deadline := time.NewTimer(staleGrace)
	defer deadline.Stop()
	for {
		changed := e.cfg.App.Changed()
		err := check()
		if err == nil || !staleRejection(err) {
			return err
		}
		select {
		case <-changed:
		case <-deadline.C:
			return err
		case <-ctx.Done():
			return err
		}
	}
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
