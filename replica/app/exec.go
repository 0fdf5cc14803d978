package app

import (
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// execOp runs an ordered operation of an admitted request on o. A sentinel
// error rejects the request; any other error is a storage failure.
func (a *App) execOp(o *overlay, req *wire.Request, height int64) (Result, error) {
	caller, err := lookupClient(o, req.Client)
	if err != nil {
		return Result{}, err
	}
	switch req.Op {
	case wire.OpRegisterClient:
		var b wire.RegisterClientBody
		if err := decodeStrict(req.Body, &b); err != nil || !validID(b.ClientID) || len(b.PublicKey) != ed25519.PublicKeySize {
			return Result{}, ErrBadBody
		}
		if !caller.Admin {
			return Result{}, ErrUnauthorized
		}
		if err := o.putJSON(pClient+b.ClientID, ClientInfo{ID: b.ClientID, PublicKey: b.PublicKey, Admin: b.Admin}); err != nil {
			return Result{}, err
		}
		return Result{Client: &b}, nil
	case wire.OpKeyGen:
		var b wire.KeyGenBody
		if err := decodeStrict(req.Body, &b); err != nil || !validID(b.KeyID) {
			return Result{}, ErrBadBody
		}
		if b.Scheme != wire.SchemeSchnorr && b.Scheme != wire.SchemeBLS && b.Scheme != wire.SchemeSymmetric {
			return Result{}, ErrBadScheme
		}
		if err := checkUsage(b.Scheme, b.Usage); err != nil {
			return Result{}, err
		}
		if v, err := o.get(pKey + b.KeyID); err != nil || v != nil {
			if err != nil {
				return Result{}, err
			}
			return Result{}, ErrKeyExists
		}
		item, err := a.take(o, b.Scheme, req)
		if err != nil {
			return Result{}, err
		}
		info := wire.KeyInfo{KeyID: b.KeyID, Scheme: b.Scheme, Owner: req.Client, PublicKey: publicKey(b.Scheme, item.PublicKey), Commitment: item.Commitment, Usage: b.Usage}
		if err := o.putJSON(pKey+b.KeyID, KeyRecord{Info: info, Origin: *item}); err != nil {
			return Result{}, err
		}
		return Result{Key: &info, Origin: item}, nil
	case wire.OpKeyValidator:
		return a.execKeyValidator(o, req, caller)
	case wire.OpEth2Sign:
		return a.execEth2Sign(o, req)
	case wire.OpEth2Batch:
		return a.execOrderedBatch(o, req, height, func(sub *wire.Request) (Result, error) { return a.execEth2Sign(o, sub) })
	case wire.OpKeyGenBatch:
		// parseOrderedBatch lets only keys.gen items through.
		return a.execOrderedBatch(o, req, height, func(sub *wire.Request) (Result, error) { return a.execOp(o, sub, height) })
	case wire.OpSlashingImport:
		return a.execSlashingImport(o, req, caller)
	case wire.OpSlashingExport:
		return a.execSlashingExport(o, req, caller)
	case wire.OpKeyDisable, wire.OpKeyGrant:
		var id, grantee string
		if req.Op == wire.OpKeyDisable {
			var b wire.KeyRefBody
			if err := decodeStrict(req.Body, &b); err != nil || !validID(b.KeyID) {
				return Result{}, ErrBadBody
			}
			id = b.KeyID
		} else {
			var b wire.KeyGrantBody
			if err := decodeStrict(req.Body, &b); err != nil || !validID(b.KeyID) || !validID(b.ClientID) {
				return Result{}, ErrBadBody
			}
			id, grantee = b.KeyID, b.ClientID
		}
		k, err := getKey(o, id)
		if err != nil {
			return Result{}, err
		}
		if req.Op == wire.OpKeyDisable {
			if k.Info.Owner != req.Client && !caller.Admin {
				return Result{}, ErrUnauthorized
			}
			k.Info.Disabled = true
		} else {
			if k.Info.Owner != req.Client {
				return Result{}, ErrUnauthorized
			}
			if c, err := lookupClient(o, grantee); err != nil || c == nil {
				if err != nil {
					return Result{}, err
				}
				return Result{}, fmt.Errorf("%w: grantee %q", ErrUnknownClient, grantee)
			}
			if !slices.Contains(k.Grants, grantee) {
				k.Grants = append(k.Grants, grantee)
				slices.Sort(k.Grants)
			}
		}
		if err := o.putJSON(pKey+id, k); err != nil {
			return Result{}, err
		}
		return Result{Key: &k.Info}, nil
	}
	return Result{}, fmt.Errorf("%w: %q", ErrBadOp, req.Op)
}

// authorizeUse reports whether client may use key k (owner or grantee, key
// enabled).
func authorizeUse(k *KeyRecord, client string) error {
	if k.Info.Owner != client && !slices.Contains(k.Grants, client) {
		return ErrUnauthorized
	}
	if k.Info.Disabled {
		return ErrKeyDisabled
	}
	return nil
}

// getKey reads key id from o, decoded through keyRecords.
func getKey(o *overlay, id string) (*KeyRecord, error) {
	b, err := o.get(pKey + id)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, id)
	}
	k, err := keyRecords.decode(b)
	if err != nil {
		return nil, fmt.Errorf("app: corrupt state at %q: %w", pKey+id, err)
	}
	return k, nil
}

// publicKey converts a group key to the scheme's public key format: BIP-340
// x-only for schnorr (the even-Y point with that x, BIP-340 "lift_x"), the
// compressed G1 point otherwise.
func publicKey(scheme string, groupKey []byte) []byte {
	if scheme == wire.SchemeSchnorr && len(groupKey) == 33 {
		return slices.Clone(groupKey[1:])
	}
	return slices.Clone(groupKey)
}

// take hands out the next available item of a pool, assigning it to req.
func (a *App) take(o *overlay, kind string, req *wire.Request) (*PoolItem, error) {
	var m poolMeta
	if _, err := o.getJSON(pPoolM+kind, &m); err != nil {
		return nil, err
	}
	if m.Head >= m.Tail {
		return nil, fmt.Errorf("%w: %s", ErrPoolEmpty, kind)
	}
	k := pPool + kind + "/" + u64(m.Head)
	var it PoolItem
	if ok, err := o.getJSON(k, &it); err != nil || !ok {
		return nil, fmt.Errorf("app: pool item %s/%d missing: %v", kind, m.Head, err)
	}
	if err := transition(it.Status, StatusAssigned); err != nil {
		return nil, err
	}
	it.Status, it.Request = StatusAssigned, req.Client+"/"+req.ID
	m.Head++
	if err := o.putJSON(k, it); err != nil {
		return nil, err
	}
	if err := o.putJSON(pPoolM+kind, m); err != nil {
		return nil, err
	}
	return &it, nil
}

// groupOf returns the group a pool kind is generated in.
func groupOf(kind string) group.Group {
	if kind == KindSchnorr || kind == KindNonce {
		return group.Secp256k1()
	}
	return group.BLS12381G1()
}

// sessionParams returns the DKG parameters of a session, identical at every
// replica: the session ID is "vhsm/dkg/v1/" ‖ chain id ‖ "/" ‖ name.
func (a *App) sessionParams(chain []byte, s *SessionInfo) (dkg.Params, error) {
	keys := make([]group.Point, a.g.N)
	for i, r := range a.g.Replicas {
		p, err := group.Secp256k1().DecodePoint(r.DKGKey)
		if err != nil {
			return dkg.Params{}, fmt.Errorf("%w: replica %d dkg key", ErrBadGenesis, r.Index)
		}
		keys[i] = p
	}
	sid := append([]byte("vhsm/dkg/v1/"), chain...)
	sid = append(sid, '/')
	sid = append(sid, s.Name...)
	return dkg.Params{Group: groupOf(s.Kind), N: a.g.N, T: a.g.T, Batch: s.Batch, SessionID: sid, ReplicaKeys: keys}, nil
}

// openSessions returns the names of the open sessions, in opening order.
func openSessions(o *overlay) ([]string, error) {
	var names []string
	_, err := o.getJSON(kOpen, &names)
	return names, err
}

// refill opens, for every kind, new sessions while the items available
// plus those its open sessions will add are below the low watermark
// (deterministic): as many as the shortfall calls for, up to
// maxRefillsPerBlock per kind and block, so that a pool drained by a burst
// is refilled by sessions running in parallel from the next block on, not
// one more session per block. A low watermark of several batches thus
// keeps several sessions in flight.
func (a *App) refill(o *overlay, height int64) error {
	open, err := openSessions(o)
	if err != nil {
		return err
	}
	changed := false
	for _, kind := range Kinds {
		busy := 0
		for _, n := range open {
			var s SessionInfo
			if _, err := o.getJSON(pSession+n, &s); err != nil {
				return err
			}
			if s.Kind == kind {
				busy++
			}
		}
		var m poolMeta
		if _, err := o.getJSON(pPoolM+kind, &m); err != nil {
			return err
		}
		batch, low, items := a.g.Pools.KeyBatch, a.g.Pools.KeyLow, a.g.Pools.KeyBatch
		opened := 0
		for opened < maxRefillsPerBlock {
			// The first session of every kind opens at genesis.
			if m.Seq > 0 && m.Tail-m.Head+uint64(busy*items) >= uint64(low) {
				break
			}
			s := SessionInfo{Name: fmt.Sprintf("%s-%d", kind, m.Seq), Kind: kind, Batch: batch, Status: StatusOpen, Opened: height}
			m.Seq++
			if err := o.putJSON(pSession+s.Name, s); err != nil {
				return err
			}
			open = append(open, s.Name)
			busy++
			opened++
			a.log.Info("dkg_session_opened", "session", s.Name, "batch", batch, "height", height)
		}
		if opened > 0 {
			if err := o.putJSON(pPoolM+kind, m); err != nil {
				return err
			}
			changed = true
		}
	}
	if changed {
		return o.putJSON(kOpen, open)
	}
	return nil
}

// maxRefillsPerBlock bounds the sessions of one kind that refill opens in
// one block.
const maxRefillsPerBlock = 4
