package app

import (
	"encoding/json"
	"slices"
	"sync"
)

// keyRecords caches decoded key records by their stored bytes. A signing,
// encryption or attestation reads its key's record at every replica, once
// or twice per request (authorization, the partial), and decoding its JSON
// cost more than the read. The cache is addressed by the exact bytes read,
// so it can never answer for another version of a record (a disable, a
// grant, a validator mark writes new bytes): it needs no invalidation, and
// the replicas of one process may share it.
var keyRecords = recordCache{max: 4096}

// recordCache is a bounded map from stored bytes to decoded records,
// evicting the oldest entry first.
type recordCache struct {
	mu    sync.Mutex
	max   int
	m     map[string]*KeyRecord
	order []string // insertion order, for eviction
}

// decode returns the record stored as b: a copy of the cached one, or b
// decoded and remembered. The caller owns the returned record (nothing it
// holds is shared with the cache).
func (c *recordCache) decode(b []byte) (*KeyRecord, error) {
	c.mu.Lock()
	k, ok := c.m[string(b)]
	c.mu.Unlock()
	if ok {
		return k.clone(), nil
	}
	k = new(KeyRecord)
	if err := json.Unmarshal(b, k); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*KeyRecord, c.max)
	}
	if _, ok := c.m[string(b)]; !ok {
		if len(c.order) >= c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		key := string(b)
		c.m[key] = k.clone()
		c.order = append(c.order, key)
	}
	return k, nil
}

// clone returns a deep copy of k.
func (k *KeyRecord) clone() *KeyRecord {
	c := *k
	c.Info.PublicKey = slices.Clone(k.Info.PublicKey)
	c.Info.Commitment = slices.Clone(k.Info.Commitment)
	c.Grants = slices.Clone(k.Grants)
	c.Origin.PublicKey = slices.Clone(k.Origin.PublicKey)
	c.Origin.Commitment = slices.Clone(k.Origin.Commitment)
	c.Origin.BindingKey = slices.Clone(k.Origin.BindingKey)
	c.Origin.BindingCommitment = slices.Clone(k.Origin.BindingCommitment)
	return &c
}
