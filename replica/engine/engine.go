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
// Ordered operations (key generation, grants, disables, registration) are
// broadcast as the signed request itself (every replica submits the same
// bytes, so the log holds one transaction) and answered from the committed
// [app.Result] of that request, which binds the request's hash; a retry of
// the same bytes gets the same answer, other bytes under the same id get
// nothing. Signing, encryption and decryption are not ordered: they are
// authorized against committed state at least as new as the request's min
// height, each id is held in a replay cache for its validity window, and
// every partial result is sealed to the request's reply key. Schnorr
// signing is FROST with this replica's own nonces, each used once
// (nonces.go states the argument). Reads are answered from the committed
// state. Every served request is appended to the audit chain (audit.go).
//
// # Files
//
//   - engine.go: configuration, lifecycle, the one wait on committed state;
//   - participate.go: DKG participation; repair.go: late complaints and
//     reveals;
//   - storage.go, shares.go: shares at rest, readiness;
//   - handle.go: request dispatch, sealed answers, DiSE evaluation;
//     ordered.go: requests through the log; sign.go: FROST and BLS
//     signing; nonces.go: nonce bookkeeping; replay.go: the replay cache;
//   - audit.go: the audit chain.
package engine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/audit"
	"github.com/vhsm/vhsm/threshold/group"
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
	tracks   map[string]*track // open sessions
	stored   map[string]bool   // done sessions whose shares are stored
	shareErr error             // last share derivation failure
	shares   shareCache        // opened, checked key shares (sharecache.go)
	records  recordCache       // decrypted session records (shares.go)
	scanned  bool              // every committed session was visited once
	repair   repairer          // repairs of done sessions (repair.go)

	replay *replayCache // unordered requests answered, for their validity window
	nonces *nonceStore  // this process's FROST nonce pairs (nonces.go)
	fkeys  frostKeys    // prepared FROST keys (sign.go)
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
	return &Engine{cfg: cfg, sk: sk, tracks: map[string]*track{}, stored: map[string]bool{}, replay: newReplayCache(maxReplayEntries), nonces: nonces}, nil
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

// waitFor is the engine's one wait on the committed state: it runs cond at
// once and again at every commit, until cond reports done, ctx ends or
// staleGrace passes (a replica that is only behind catches up within it).
// It returns whether cond was done and cond's last error.
func (e *Engine) waitFor(ctx context.Context, cond func() (done bool, err error)) (bool, error) {
	deadline := time.NewTimer(staleGrace)
	defer deadline.Stop()
	for {
		changed := e.cfg.App.Changed()
		done, err := cond()
		if done {
			return true, err
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false, err
		case <-ctx.Done():
			return false, err
		}
	}
}
