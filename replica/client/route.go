package client

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// Routing of unordered requests (signing, encryption, decryption, nonce
// fetches): they need t+1 answers, not every replica's, so the client asks
// t+1 replicas first — healthy ones, in random order to spread the load —
// and the others only as a hedge: when one of the first fails, refuses or
// answers wrongly, or when the recent p90 latency passes without a result.

// unordered reports whether op is answered without the log.
func unordered(op string) bool {
	switch op {
	case wire.OpSign, wire.OpEncrypt, wire.OpDecrypt, wire.OpNonces, wire.OpEth2Sign:
		// eth2.sign of a block or an attestation is ordered by the
		// replicas; SignEth2 then asks every replica at once.
		return true
	}
	return false
}

// noteHeight records the height of an ordered result: later unordered
// requests name it as their min height, so that a replica that has not yet
// applied the key, grant or disable they depend on waits or refuses.
func (c *Client) noteHeight(h int64) {
	for {
		cur := c.minHeight.Load()
		if h <= cur || c.minHeight.CompareAndSwap(cur, h) {
			return
		}
	}
}

// latencies keeps the latest answer latencies.
type latencies struct {
	mu   sync.Mutex
	ring [256]time.Duration
	n    int // samples recorded so far (ring holds the last len(ring))
	// floor, when set (WithMinHedge), is a lower bound of the hedge delay:
	// on a loaded machine an answer can take longer than the recent p90,
	// and a caller that wants every replica asked first to be heard out
	// (a test counting requests, or naming liars) would see a hedge.
	floor atomic.Int64
	// p90 is the hedge delay computed at sample p90At: the ring is sorted
	// again only every hedgeEvery samples, not at every session.
	p90   time.Duration
	p90At int
}

// hedgeEvery is how many new samples make hedgeDelay sort the ring again.
const hedgeEvery = 16

// Hedge delay bounds; defaultHedge applies until enough samples exist.
const (
	minHedge     = 2 * time.Millisecond
	maxHedge     = time.Second
	defaultHedge = 50 * time.Millisecond
)

func (l *latencies) observe(d time.Duration) {
	l.mu.Lock()
	l.ring[l.n%len(l.ring)] = d
	l.n++
	l.mu.Unlock()
}

// hedgeDelay is the recent p90 latency, within [minHedge, maxHedge].
func (l *latencies) hedgeDelay() time.Duration {
	if f := time.Duration(l.floor.Load()); f > 0 {
		return max(l.recentP90(), f)
	}
	return l.recentP90()
}

// recentP90 is the recent p90 latency, within [minHedge, maxHedge].
func (l *latencies) recentP90() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := min(l.n, len(l.ring))
	if k < 16 {
		return defaultHedge
	}
	if l.p90At > 0 && l.n-l.p90At < hedgeEvery {
		return l.p90
	}
	s := slices.Clone(l.ring[:k])
	slices.Sort(s)
	l.p90 = min(max(s[k*9/10], minHedge), maxHedge)
	l.p90At = l.n
	return l.p90
}

// health remembers replicas that failed (no answer, transport error, or a
// wrong answer that named them culprits) so that the next requests ask
// others first; a replica is suspect for suspectFor after its last
// failure, or until it answers again.
type health struct {
	mu      sync.Mutex
	suspect map[int]time.Time
}

// How long a replica stays suspect: after a failure, and after it was
// silent past a hedge delay (which some answers of a healthy replica are,
// by definition of the p90: a short while only).
const (
	suspectFor = 5 * time.Second
	slowFor    = 500 * time.Millisecond
)

func (h *health) failed(replica int) { h.mark(replica, suspectFor) }

func (h *health) slow(replica int) { h.mark(replica, slowFor) }

func (h *health) mark(replica int, d time.Duration) {
	h.mu.Lock()
	if h.suspect == nil {
		h.suspect = map[int]time.Time{}
	}
	if until := time.Now().Add(d); until.After(h.suspect[replica]) {
		h.suspect[replica] = until
	}
	h.mu.Unlock()
}

func (h *health) answered(replica int) {
	h.mu.Lock()
	delete(h.suspect, replica)
	h.mu.Unlock()
}

func (h *health) isSuspect(replica int, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.suspect[replica]
	return ok && now.Before(until)
}

// pick returns k replicas to ask first, none in exclude: healthy ones in
// random order, then suspect ones. It returns fewer when fewer remain.
func (c *Client) pick(k int, exclude map[int]bool) []int {
	now := time.Now()
	var good, bad []int
	for _, i := range rand.Perm(c.n) {
		r := i + 1
		if exclude[r] {
			continue
		}
		if c.health.isSuspect(r, now) {
			bad = append(bad, r)
		} else {
			good = append(good, r)
		}
	}
	return append(good, bad...)[:min(k, len(good)+len(bad))]
}
