package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bip32"
	"github.com/vhsm/vhsm/threshold/bls"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// Signing is not ordered (issue 14): a signature needs an authorized
// client, for Schnorr a nonce this replica uses once, and a record (the
// audit chain) — not a total order. Authorization is checked against the
// committed state, at least as new as the request's min height; a key
// disabled or a grant changed applies from its commit on.

// ErrBehind refuses an unordered request whose min height this replica has
// not reached within staleGrace.
var ErrBehind = errors.New("engine: replica behind the request's min height")

// piggyback is how many fresh commitments an answer to a Schnorr sign
// carries while the client holds fewer than nonceTarget of this replica's:
// the client's supply refills with its use, without a round trip.
const (
	piggyback   = 2
	nonceTarget = 32
)

// awaitHeight waits, up to staleGrace, until this replica has committed
// height h.
func (e *Engine) awaitHeight(ctx context.Context, h int64) error {
	if h <= 0 {
		return nil
	}
	done, _ := e.waitFor(ctx, func() (bool, error) {
		got, _ := e.cfg.App.Committed()
		return got >= h, nil
	})
	if done {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	got, _ := e.cfg.App.Committed()
	return fmt.Errorf("%w: at %d, request needs %d", ErrBehind, got, h)
}

// handleNonces hands the client fresh nonce commitments of this replica.
func (e *Engine) handleNonces(resp *wire.Response, req *wire.Request) error {
	var b wire.NoncesBody
	if err := app.DecodeStrict(req.Body, &b); err != nil || b.Count < 1 || b.Count > wire.MaxNonces {
		return refuse(fmt.Errorf("%w: nonce count 1..%d", app.ErrBadBody, wire.MaxNonces))
	}
	coms, err := e.nonces.issue(req.Client, b.Count)
	if err != nil {
		if errors.Is(err, errTooManyNonces) {
			return refuse(err)
		}
		return err
	}
	resp.Commitments = coms
	return nil
}

// handleSign returns this replica's partial signature: a FROST signature
// share for a schnorr key, a BLS partial for a bls key.
func (e *Engine) handleSign(ctx context.Context, resp *wire.Response, req *wire.Request) ([]byte, error) {
	var b wire.SignBody
	if err := app.DecodeStrict(req.Body, &b); err != nil || !app.ValidID(b.KeyID) || len(b.Message) > wire.MaxMessageBytes {
		return nil, refuse(app.ErrBadBody)
	}
	k, err := e.authorizeUse(ctx, req.Client, b.KeyID)
	if err != nil {
		return nil, refuse(err)
	}
	if app.IsValidatorKey(k) {
		// Raw signing would let a client sign an attestation's or a block's
		// root and skip the slashing protection (eth2.go).
		return nil, refuse(fmt.Errorf("%w: key %s is an Ethereum validator key: it signs typed eth2 requests only", app.ErrValidatorKey, b.KeyID))
	}
	switch k.Info.Scheme {
	case wire.SchemeBLS:
		if b.Taproot != nil || len(b.Signers) != 0 || b.Path != nil {
			return nil, refuse(fmt.Errorf("%w: taproot option, path or signers on a bls key", app.ErrBadBody))
		}
		x, err := e.share(&k.Origin)
		if err != nil {
			return nil, refuse(err)
		}
		partial, err := bls.PartialSignUncompressed(faults.keyShare("bls", x), b.Message)
		if err != nil {
			return nil, fmt.Errorf("bls partial: %w", err)
		}
		return partial, nil
	case wire.SchemeSchnorr:
		return e.signFROST(resp, req, k, &b)
	default:
		return nil, refuse(fmt.Errorf("%w: %s keys do not sign", app.ErrBadScheme, k.Info.Scheme))
	}
}

// signFROST checks the session, takes this replica's nonce (once: see
// nonces.go) and returns its signature share z_i (RFC 9591 §5.2).
func (e *Engine) signFROST(resp *wire.Response, req *wire.Request, k *app.KeyRecord, b *wire.SignBody) ([]byte, error) {
	g := e.cfg.App.Genesis()
	if len(b.Signers) < g.T+1 || len(b.Signers) > g.N {
		return nil, refuse(fmt.Errorf("%w: %d signers, need %d to %d", app.ErrBadBody, len(b.Signers), g.T+1, g.N))
	}
	ec := group.Secp256k1()
	coms := make([]frost.Commitment, 0, len(b.Signers))
	seen := make(map[int]bool, len(b.Signers))
	var mine *wire.SignerCommitment
	for i := range b.Signers {
		sc := &b.Signers[i]
		if sc.Replica < 1 || sc.Replica > g.N || seen[sc.Replica] {
			return nil, refuse(fmt.Errorf("%w: signer %d out of range or repeated", app.ErrBadBody, sc.Replica))
		}
		seen[sc.Replica] = true
		if sc.Replica == e.cfg.Me {
			if com, ok := e.nonces.commitment(req.Client, sc.Nonce, sc.Hiding, sc.Binding); ok {
				coms, mine = append(coms, com), sc // our own points, already decoded
				continue
			}
		}
		D, derr := ec.DecodePoint(sc.Hiding)
		E, eerr := ec.DecodePoint(sc.Binding)
		if derr != nil || eerr != nil || D.IsIdentity() || E.IsIdentity() {
			return nil, refuse(fmt.Errorf("%w: signer %d commitment", app.ErrBadBody, sc.Replica))
		}
		coms = append(coms, frost.Commitment{ID: sc.Replica, Hiding: D, Binding: E})
		if sc.Replica == e.cfg.Me {
			mine = sc
		}
	}
	if mine == nil {
		return nil, refuse(fmt.Errorf("%w: replica %d is not a signer of this session", app.ErrBadBody, e.cfg.Me))
	}
	tr, err := taprootOf(b.Taproot)
	if err != nil {
		return nil, refuse(err)
	}
	if err := checkPath(b.Path); err != nil {
		return nil, refuse(err)
	}
	key, err := e.frostKey(k, tr, b.Path)
	if err != nil {
		return nil, err
	}
	x, err := e.share(&k.Origin)
	if err != nil {
		return nil, refuse(err)
	}
	// Mark the nonce used (remove it) before anything can leave.
	nonce, err := e.nonces.take(req.Client, mine.Nonce, mine.Hiding, mine.Binding)
	if err != nil {
		return nil, refuse(err)
	}
	defer nonce.Wipe()
	ss, err := frost.Taproot.Prepare(&frost.SigningPackage{Commitments: coms, Message: b.Message}, key)
	var z group.Scalar
	if err == nil {
		z, err = ss.Sign(e.cfg.Me, faults.keyShare("schnorr", x), nonce)
	}
	if err != nil {
		return nil, refuse(fmt.Errorf("%w: %w", app.ErrBadBody, err))
	}
	rx := group.XOnly(ss.GroupCommitment()) // public: saves the client computing R
	resp.GroupCommitment = rx[:]
	// Fresh commitments for the next sessions, while the client is short.
	if e.nonces.outstanding(req.Client) < nonceTarget {
		if coms, err := e.nonces.issue(req.Client, piggyback); err == nil {
			resp.Commitments = coms
		}
	}
	return z.Bytes(), nil
}

// frostKeys caches prepared FROST keys (the Taproot tweak computed once per
// key and option, not at every signature).
type frostKeys struct {
	mu sync.Mutex
	m  map[string]*frost.Key
}

// maxFrostKeys bounds the cache.
const maxFrostKeys = 1 << 14

// checkPath refuses a derivation path a replica does not sign for: more
// than wire.MaxPathDepth indices or a hardened index (which needs the
// private key).
func checkPath(path []uint32) error {
	if len(path) > wire.MaxPathDepth {
		return fmt.Errorf("%w: derivation path of %d indices, at most %d", app.ErrBadBody, len(path), wire.MaxPathDepth)
	}
	for _, i := range path {
		if i >= bip32.HardenedOffset {
			return fmt.Errorf("%w: hardened derivation index", app.ErrBadBody)
		}
	}
	return nil
}

// frostKey returns k's group key, or its BIP-32 child at path, prepared
// for tr. The child is derived from committed data only: the group key P
// as committed (33 bytes, its real Y parity) and the chain code of its
// commitment (threshold/bip32), so K = P + t·G with t public, and every
// share is shifted by t (frost NewDerivedKey) before the Taproot tweak.
func (e *Engine) frostKey(k *app.KeyRecord, tr schnorr.Taproot, path []uint32) (*frost.Key, error) {
	id := fmt.Sprintf("%s/%d/%x/%x/%v", k.Info.KeyID, tr.Mode, tr.MerkleRoot, k.Origin.PublicKey, path)
	e.fkeys.mu.Lock()
	key := e.fkeys.m[id]
	e.fkeys.mu.Unlock()
	if key != nil {
		return key, nil
	}
	P, err := group.Secp256k1().DecodePoint(k.Origin.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("engine: committed group key: %w", err)
	}
	if len(path) == 0 {
		key, err = frost.Taproot.NewKey(P, tr)
	} else {
		// BIP-32 CKDpub along path from (P, chain code of the commitment).
		cc := bip32.ChainCode(k.Origin.PublicKey, k.Origin.Commitment)
		var t group.Scalar
		if _, t, err = bip32.Derive(P, cc, path, wire.MaxPathDepth); err != nil {
			return nil, refuse(fmt.Errorf("%w: %w", app.ErrBadBody, err))
		}
		key, err = frost.Taproot.NewDerivedKey(P, t, tr)
	}
	if err != nil {
		return nil, refuse(fmt.Errorf("%w: %w", app.ErrBadBody, err))
	}
	e.fkeys.mu.Lock()
	if e.fkeys.m == nil || len(e.fkeys.m) >= maxFrostKeys {
		e.fkeys.m = map[string]*frost.Key{}
	}
	e.fkeys.m[id] = key
	e.fkeys.mu.Unlock()
	return key, nil
}
