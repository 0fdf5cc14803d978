package engine

import (
	"fmt"
	"sync"

	"github.com/vhsm/vhsm/replica/app"
)

// replayCache remembers, for the validity window of each request, the hash
// of every unordered request (encrypt, decrypt) this replica answered, by
// (client, id). Ordered requests are bound by their committed result
// (app.Result.Request); unordered ones never reach the log, so this cache is
// what refuses an id reused for other bytes. The same bytes again are a
// retry and are answered again: an answer is sealed to the request's own
// reply key, so a replayer gains nothing from it — except a nonces request,
// answered once: each answer issues new nonces to the client, and replays
// would exhaust its allowance.
//
// The cache is in memory: after a restart an id may be reused once more
// for an unordered request, which yields only an answer sealed to that
// request's key (a fresh request in all but its id).
type replayCache struct {
	mu      sync.Mutex
	entries map[string]replayEntry
	max     int
}

type replayEntry struct {
	hash    [32]byte
	expires int64
}

// maxReplayEntries bounds the cache (about 100 bytes an entry). Only
// authenticated requests enter it, and an entry leaves at its request's
// expiry (at most wire.MaxValidity seconds).
const maxReplayEntries = 1 << 18

// errReplayFull refuses an unordered request while the cache is full of
// unexpired entries.
var errReplayFull = fmt.Errorf("engine: too many requests in flight, retry later")

func newReplayCache(max int) *replayCache {
	return &replayCache{entries: map[string]replayEntry{}, max: max}
}

// admit records (client, id) → hash until expires, and refuses an id that
// is recorded with another hash; with once set it refuses the same bytes
// again too (a request whose every answer changes state, like handing out
// nonces). now is Unix seconds.
func (c *replayCache) admit(client, id string, hash [32]byte, expires, now int64, once bool) error {
	k := client + "/" + id
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok && e.expires >= now {
		if e.hash != hash {
			return fmt.Errorf("%w: %s", app.ErrIDReused, id)
		}
		if once {
			return fmt.Errorf("%w: %s (answered once)", app.ErrIDReused, id)
		}
		return nil
	}
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if e.expires < now {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			return errReplayFull
		}
	}
	c.entries[k] = replayEntry{hash: hash, expires: expires}
	return nil
}

// conflicts reports whether (client, id) is recorded with a hash other
// than hash.
func (c *replayCache) conflicts(client, id string, hash [32]byte, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[client+"/"+id]
	return ok && e.expires >= now && e.hash != hash
}
