package client

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
)

// KeyInfo is the public description of a key, as agreed by t+1 replicas.
type KeyInfo = wire.KeyInfo

// GenerateKey asks for a new key of scheme ("schnorr", "bls" or
// "symmetric") named id, owned by this client. The key's public data is
// accepted only when t+1 replicas report identical bytes and the public key
// matches the DKG commitment.
func (c *Client) GenerateKey(ctx context.Context, id, scheme string) (KeyInfo, error) {
	return c.generateKey(ctx, id, scheme, "")
}

func (c *Client) generateKey(ctx context.Context, id, scheme, usage string) (KeyInfo, error) {
	if !validID(id) {
		return KeyInfo{}, fmt.Errorf("%w: key id must match [A-Za-z0-9._-]{1,64}", ErrInvalidArgument)
	}
	switch scheme {
	case wire.SchemeSchnorr, wire.SchemeBLS, wire.SchemeSymmetric:
	default:
		return KeyInfo{}, fmt.Errorf("%w: unknown scheme %q", ErrInvalidArgument, sanitize(scheme))
	}
	var km *keyMaterial
	refusedEmpty := false
	err := c.retryPoolEmpty(ctx, func() (err error) {
		km, err = c.agreeKey(ctx, wire.OpKeyGen, wire.KeyGenBody{KeyID: id, Scheme: scheme, Usage: usage}, id)
		refusedEmpty = refusedEmpty || isRejection(err, poolEmptyReason)
		return err
	})
	if refusedEmpty && isRejection(err, keyExistsReason) {
		// Replicas refuse an empty pool before the request is ordered, so an
		// attempt refused by t+1 of them may still have been committed
		// through a replica whose pool was already refilled, and the retry
		// then finds the id taken. The refusal showed the id free (it is
		// checked before the pool), so a key of this scheme owned by this
		// client is that attempt's.
		if info, perr := c.PublicKey(ctx, id); perr == nil && info.Owner == c.id && info.Scheme == scheme && info.Usage == usage {
			return info, nil
		}
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("generate key: %w", err)
	}
	if km.info.Scheme != scheme {
		return KeyInfo{}, fmt.Errorf("generate key: %w: replicas report scheme %q", ErrInvalidKey, sanitize(km.info.Scheme))
	}
	if km.info.Usage != usage {
		return KeyInfo{}, fmt.Errorf("generate key: %w: replicas report usage %q", ErrInvalidKey, sanitize(km.info.Usage))
	}
	return km.info, nil
}

// PublicKey returns a key's public data (answered from committed state,
// without a block).
func (c *Client) PublicKey(ctx context.Context, id string) (KeyInfo, error) {
	if !validID(id) {
		return KeyInfo{}, fmt.Errorf("%w: key id must match [A-Za-z0-9._-]{1,64}", ErrInvalidArgument)
	}
	km, err := c.agreeKey(ctx, wire.OpKeyPub, wire.KeyRefBody{KeyID: id}, id)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("public key: %w", err)
	}
	return km.info, nil
}

// ListKeys returns the keys this client may use, as listed identically by
// t+1 replicas.
func (c *Client) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	g := newAgreement(c.t)
	var keys []KeyInfo
	err := c.exchange(ctx, wire.OpKeyList, struct{}{}, func(r *round, replica int, resp *wire.Response) (bool, error) {
		b, err := json.Marshal(resp.Keys)
		if err != nil {
			r.culprit(replica, ReasonMalformed)
			return false, nil
		}
		g.add(replica, b)
		v, ok := g.value()
		if !ok {
			return false, nil
		}
		r.valid = len(g.votes[string(v)])
		if err := json.Unmarshal(v, &keys); err != nil {
			return false, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		markDisagreeing(r, g, v)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if keys == nil {
		keys = []KeyInfo{}
	}
	return keys, nil
}

// RegisterClient registers a client (or replaces its key); admin only.
func (c *Client) RegisterClient(ctx context.Context, id string, pub ed25519.PublicKey, admin bool) error {
	if !validID(id) {
		return fmt.Errorf("%w: client id must match [A-Za-z0-9._-]{1,64}", ErrInvalidArgument)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key must be %d bytes", ErrInvalidArgument, ed25519.PublicKeySize)
	}
	err := c.exchange(ctx, wire.OpRegisterClient, wire.RegisterClientBody{ClientID: id, PublicKey: pub, Admin: admin}, acceptOK(c.t))
	if err != nil {
		return fmt.Errorf("register client: %w", err)
	}
	return nil
}

// GrantKey lets another client use a key; owner only.
func (c *Client) GrantKey(ctx context.Context, keyID, clientID string) error {
	if !validID(keyID) || !validID(clientID) {
		return fmt.Errorf("%w: identifiers must match [A-Za-z0-9._-]{1,64}", ErrInvalidArgument)
	}
	if err := c.exchange(ctx, wire.OpKeyGrant, wire.KeyGrantBody{KeyID: keyID, ClientID: clientID}, acceptOK(c.t)); err != nil {
		return fmt.Errorf("grant key: %w", err)
	}
	return nil
}

// DisableKey disables a key for good; owner or admin.
func (c *Client) DisableKey(ctx context.Context, keyID string) error {
	if !validID(keyID) {
		return fmt.Errorf("%w: key id must match [A-Za-z0-9._-]{1,64}", ErrInvalidArgument)
	}
	if err := c.exchange(ctx, wire.OpKeyDisable, wire.KeyRefBody{KeyID: keyID}, acceptOK(c.t)); err != nil {
		return fmt.Errorf("disable key: %w", err)
	}
	c.mu.Lock()
	delete(c.keys, keyID)
	c.mu.Unlock()
	return nil
}

// acceptOK completes an ordered operation without a result once t+1
// replicas report success (one of them is honest, so it was committed and
// applied).
func acceptOK(t int) acceptFunc {
	return func(r *round, replica int, resp *wire.Response) (bool, error) {
		r.valid++
		return r.valid >= t+1, nil
	}
}

// agreeKey runs a request answered with a KeyInfo (keys.gen, keys.pub) and
// returns the key data t+1 replicas report identically, checked and cached.
// Only the key's immutable material is compared (id, scheme, owner, public
// key, commitment): an honest replica a block behind may not show a disable
// or a validator mark yet, and must not be named a culprit for it. The
// returned Disabled is true, and Usage set, when t+1 of the replicas that
// agreed report it.
//
// A keys.gen goes to t+1 replicas first, like the unordered requests
// (route.go), and to the others once one of those fails, refuses or
// answers wrongly, or the hedge delay passes. This is as safe as asking all
// of them: every replica that receives the signed request submits the same
// bytes to the log, so one honest replica among those asked gets it
// ordered, every replica applies it from the log, and the ones asked later
// answer from its committed result. It halves the replicas' request
// handling (authentication, the CheckTx precheck, answering) and the
// client's connections for each key. A keys.pub still asks every replica
// at once: an unknown key is refused only after each replica has waited
// for the log (a replica may be behind), and asking in two steps would
// double that wait.
func (c *Client) agreeKey(ctx context.Context, op string, body any, id string) (*keyMaterial, error) {
	g := newAgreement(c.t)
	var km *keyMaterial
	disabled := map[int]bool{}
	usage := map[int]string{}
	var out *outgoing
	var first []int // every replica at once
	var err error
	if op == wire.OpKeyGen {
		// While another keys.gen of this client is on its way, this one
		// joins the next keys.gen.batch (batch_eth2.go): one transaction
		// for all of them. Alone, it goes as a request of its own, which
		// the replicas refuse before the log when its key id is taken or
		// the pool is empty.
		if c.keygens.Add(1) > 1 {
			out, first, err = c.newOrderedRequest(ctx, &c.keyq, body)
		}
		defer c.keygens.Add(-1)
		if out == nil {
			first = c.pick(c.t+1, nil)
		}
	}
	if out == nil && err == nil {
		out, err = c.newSignedRequest(ctx, op, body)
	}
	if err != nil {
		return nil, err
	}
	err = c.exchangeTo(ctx, op, out, first, func(r *round, replica int, resp *wire.Response) (bool, error) {
		if resp.Key == nil || resp.Key.KeyID != id {
			r.culprit(replica, ReasonMalformed)
			return false, nil
		}
		immutable := *resp.Key
		immutable.Disabled, immutable.Usage = false, ""
		b, err := json.Marshal(immutable)
		if err != nil {
			r.culprit(replica, ReasonMalformed)
			return false, nil
		}
		disabled[replica], usage[replica] = resp.Key.Disabled, resp.Key.Usage
		g.add(replica, b)
		// Every answer so far may still be part of t+1 identical ones.
		r.unverified = len(g.by)
		v, ok := g.value()
		if !ok {
			return false, nil
		}
		var info KeyInfo
		if err := json.Unmarshal(v, &info); err != nil {
			return false, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		votes := 0
		for _, rep := range g.votes[string(v)] {
			if disabled[rep] {
				votes++
			}
		}
		info.Disabled = votes >= c.t+1
		// The validator mark is one-way too: taken when t+1 report it.
		marks := map[string]int{}
		for _, rep := range g.votes[string(v)] {
			if marks[usage[rep]]++; marks[usage[rep]] >= c.t+1 {
				info.Usage = usage[rep]
			}
		}
		// t+1 identical reports include an honest replica: data that fails
		// the checks is a bug or an incompatibility, not a lie.
		km, err = newKeyMaterial(info, c.n, c.t)
		if err != nil {
			return false, err
		}
		r.valid = len(g.votes[string(v)])
		markDisagreeing(r, g, v)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.keys[id] = km
	c.mu.Unlock()
	return km, nil
}

// markDisagreeing names the replicas that reported something other than the
// agreed value v.
func markDisagreeing(r *round, g *agreement, v []byte) {
	for replica, got := range g.by {
		if got != string(v) {
			r.culprit(replica, ReasonDisagreement)
		}
	}
}

// key returns the verified public data of key id, from the cache or by a
// keys.pub request. Commitments never change for a key id, so the cache
// needs no invalidation except on disable.
func (c *Client) keyData(ctx context.Context, id string) (*keyMaterial, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: key id must match [A-Za-z0-9._-]{1,64}", ErrInvalidArgument)
	}
	c.mu.Lock()
	km := c.keys[id]
	c.mu.Unlock()
	if km != nil {
		return km, nil
	}
	return c.agreeKey(ctx, wire.OpKeyPub, wire.KeyRefBody{KeyID: id}, id)
}
