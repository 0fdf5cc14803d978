package client

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Unordered requests (sign, encrypt, decrypt, eth2.sign of non-slashable
// types, nonces) are answered from each replica's committed state without a
// block. A replica that has not yet applied a disable, a grant change or a
// validator-key mark would still answer from the older state; the request's
// min height prevents that: a replica behind it waits (bounded) or refuses.
//
// A client learns heights from the ordered results it sees (noteHeight).
// A client that did not see the change itself — a new process (each CLI
// command), or a long-lived service while an administrator disables a key
// elsewhere — learns it from the replicas' status: before its first
// unordered request it asks every replica for its committed height and
// takes the (t+1)-th highest. At most t replicas are faulty, so some honest
// replica has reached that height (a lying replica cannot push the client
// above every honest one and stall it), and a change whose result was
// agreed by t+1 replicas (as every ordered result is) is at or below it.
// Afterwards the height is refreshed in the background at most every
// heightRefresh, so a long-lived client follows changes made by others
// within that time plus a block.
const heightRefresh = 2 * time.Second

// heightSync is the state of the status-based height learning.
type heightSync struct {
	mu      sync.Mutex
	last    time.Time // last completed sync (zero: never)
	running bool      // a background refresh is under way
}

// learnHeight makes sure the min height of the next unordered request is
// at least what t+1 replicas report as committed: synchronously the first
// time, in the background afterwards.
func (c *Client) learnHeight(ctx context.Context) {
	c.hsync.mu.Lock()
	first := c.hsync.last.IsZero()
	stale := !first && c.now().Sub(c.hsync.last) >= heightRefresh && !c.hsync.running
	if stale {
		c.hsync.running = true
	}
	c.hsync.mu.Unlock()
	switch {
	case first:
		c.syncHeight(ctx)
	case stale:
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			defer cancel()
			c.syncHeight(ctx)
		}()
	}
}

// syncHeight queries every replica's status and notes the (t+1)-th highest
// committed height. Unreachable replicas count as height 0.
func (c *Client) syncHeight(ctx context.Context) {
	st := c.Status(ctx)
	heights := make([]int64, 0, len(st))
	for _, s := range st {
		if s.Error == "" {
			heights = append(heights, s.Height)
		}
	}
	slices.Sort(heights)
	slices.Reverse(heights)
	if len(heights) > c.t {
		c.noteHeight(heights[c.t])
	}
	c.hsync.mu.Lock()
	c.hsync.last = c.now()
	c.hsync.running = false
	c.hsync.mu.Unlock()
}
