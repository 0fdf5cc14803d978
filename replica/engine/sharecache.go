package engine

import (
	"container/list"
	"crypto/sha256"
	"sync"

	"github.com/vhsm/vhsm/threshold/group"
)

// Opened key shares.
//
// A key share (any scheme: schnorr, bls, symmetric) is used at every
// signature or evaluation with the key. Opening it each time (reading the
// sealed record, decoding the scalar, recognizing it as checked) cost more
// than a millisecond of CPU per attestation across a cluster, so the
// engine keeps the shares it opened and checked in a bounded LRU cache,
// keyed by the key's origin (session and slot, shareName). The sealed store
// stays the source of truth: an entry is made only from a share that was
// read from it and passed its commitment check, and it is used only for the
// very commitment it was checked against (a different commitment for the
// same origin — a store rebuilt, a refreshed key — misses and reloads).
//
// The cache holds secrets: nothing in it is ever logged or put in an
// error. It only replaces the loading of a share; every caller still
// authorizes the request against committed state (owner, grants, disabled)
// before asking for the share, so a disabled key signs nothing whether or
// not its share is cached. group.Scalar values are immutable and offer no
// way to overwrite them in place; an evicted entry's references are dropped
// (the slots of the list element and the map entry are cleared) so that
// the scalar is unreachable at once. Nonce shares are never cached (a
// nonce is used once and then deleted).

// maxCachedShares bounds the opened key shares kept in memory (about 200
// bytes each): a slot's worth of 1,000 validators and more stays opened.
const maxCachedShares = 1 << 12

// openedShare is a key share that was loaded from the store and passed its
// commitment check.
type openedShare struct {
	name string       // shareName(session, slot): the key's origin
	com  digest       // SHA-256 of the commitment it was checked against
	x    group.Scalar // the share
	vk   group.Point  // x·G, this replica's verification key
}

// shareCache is a bounded LRU of opened key shares. The zero value is
// ready.
type shareCache struct {
	mu  sync.Mutex
	m   map[string]*list.Element
	lru list.List // front: most recently used; values *openedShare
}

// digest is a SHA-256 digest.
type digest [sha256.Size]byte

// commitmentDigest identifies the commitment a share was checked against.
func commitmentDigest(commitment []byte) digest {
	return sha256.Sum256(commitment)
}

// get returns the opened share of name checked against a commitment with
// digest com.
func (c *shareCache) get(name string, com digest) (group.Scalar, group.Point, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[name]
	if !ok {
		return nil, nil, false
	}
	s := el.Value.(*openedShare)
	if s.com != com {
		return nil, nil, false
	}
	c.lru.MoveToFront(el)
	return s.x, s.vk, true
}

// put remembers an opened, checked share (replacing an entry for another
// commitment), evicting the least recently used beyond maxCachedShares.
func (c *shareCache) put(name string, com digest, x group.Scalar, vk group.Point) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*list.Element)
	}
	if el, ok := c.m[name]; ok {
		s := el.Value.(*openedShare)
		s.com, s.x, s.vk = com, x, vk
		c.lru.MoveToFront(el)
		return
	}
	c.m[name] = c.lru.PushFront(&openedShare{name: name, com: com, x: x, vk: vk})
	for c.lru.Len() > maxCachedShares {
		c.evict(c.lru.Back())
	}
}

// forget drops the entry of name, if any.
func (c *shareCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[name]; ok {
		c.evict(el)
	}
}

// drop forgets every opened share.
func (c *shareCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		c.evict(c.lru.Back())
	}
}

// evict removes el, clearing its references to the secret. Called with
// c.mu held.
func (c *shareCache) evict(el *list.Element) {
	s := c.lru.Remove(el).(*openedShare)
	delete(c.m, s.name)
	*s = openedShare{}
}

// len reports the number of opened shares (tests).
func (c *shareCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// forgetOpened forgets every decrypted session record and opened share, as
// a restart does: the next use of a key loads and checks its share again.
func (e *Engine) forgetOpened() {
	e.records.drop()
	e.shares.drop()
}
