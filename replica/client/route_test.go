package client

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
)

// Unordered requests go to t+1 replicas first: with every replica healthy a
// BLS signature costs t+1 requests, not n; with one of the first silent the
// others are asked after the hedge delay and the signature still comes.
// Ordered requests and the min height: an unordered request names the
// height of the last ordered result the client saw.
func TestRoutingToTPlusOne(t *testing.T) {
	info, poly := testKey(t, "eth1", wire.SchemeBLS, 2)
	var mu sync.Mutex
	signs := map[int]int{}
	var silent int
	var heights []int64
	fc := newFakeCluster(t, 7, 2, func(replica int, req wire.Request, _ []byte) fakeReply {
		switch req.Op {
		case wire.OpKeyPub:
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
		case wire.OpKeyGrant:
			return fakeReply{resp: &wire.Response{Replica: replica, Height: 42}}
		}
		mu.Lock()
		signs[replica]++
		heights = append(heights, req.MinHeight)
		hang := replica == silent
		mu.Unlock()
		if hang {
			return fakeReply{hang: true}
		}
		var b wire.SignBody
		json.Unmarshal(req.Body, &b)
		p, _ := bls.PartialSign(poly.Share(replica), b.Message)
		return fakeReply{resp: &wire.Response{Replica: replica, Partial: p}}
	})
	c := fc.client()
	c.lat.floor.Store(int64(time.Minute)) // no hedge, however loaded the machine
	for k := 0; k < 5; k++ {
		if _, err := c.SignBLS(context.Background(), "eth1", []byte{byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	total := 0
	for _, n := range signs {
		total += n
	}
	mu.Unlock()
	if total != 5*5 {
		t.Fatalf("5 signatures sent %d requests (%v), want 2t+1 = 5 each (consistent partials, no pairing)", total, signs)
	}
	// Replica 1 goes silent: whichever requests include it are hedged.
	mu.Lock()
	silent = 1
	mu.Unlock()
	c.lat.floor.Store(0)
	for k := 0; k < 10; k++ {
		sig, err := c.SignBLS(context.Background(), "eth1", []byte{byte(100 + k)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := VerifyBLS(info.PublicKey, []byte{byte(100 + k)}, sig); !ok {
			t.Fatal("signature does not verify")
		}
	}
	// After an ordered result at height 42, unordered requests name it.
	if err := c.GrantKey(context.Background(), "eth1", "bob"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	heights = nil
	silent = 0
	mu.Unlock()
	if _, err := c.SignBLS(context.Background(), "eth1", []byte("after grant")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range heights {
		if h != 42 {
			t.Fatalf("min heights %v, want 42", heights)
		}
	}
}

// The hedge delay is the p90 of the recent latencies, within bounds,
// recomputed every hedgeEvery samples (not sorted at every session).
func TestHedgeDelayP90(t *testing.T) {
	var l latencies
	if d := l.hedgeDelay(); d != defaultHedge {
		t.Fatalf("no samples: %v", d)
	}
	for range 16 {
		l.observe(10 * time.Millisecond)
	}
	if d := l.hedgeDelay(); d != 10*time.Millisecond {
		t.Fatalf("16 samples of 10ms: %v", d)
	}
	for range hedgeEvery - 1 {
		l.observe(100 * time.Millisecond)
	}
	if d := l.hedgeDelay(); d != 10*time.Millisecond {
		t.Fatalf("before hedgeEvery new samples: %v, want the cached 10ms", d)
	}
	l.observe(100 * time.Millisecond)
	if d := l.hedgeDelay(); d != 100*time.Millisecond {
		t.Fatalf("after hedgeEvery new samples: %v, want 100ms", d)
	}
	for range 300 {
		l.observe(time.Microsecond)
	}
	if d := l.hedgeDelay(); d != minHedge {
		t.Fatalf("tiny latencies: %v, want the minimum %v", d, minHedge)
	}
}

// TestHedgeWait: a round holds its hedge back only while every replica it
// waits for answered something of this client within the last hedge
// delay, until the first of them has been silent that long, and never
// beyond hedgeWaitFactor hedge delays since the round started.
func TestHedgeWait(t *testing.T) {
	c := &Client{}
	for i := 1; i <= 4; i++ {
		c.replicas = append(c.replicas, &replicaConn{index: i})
	}
	const hd = time.Second
	now := time.Now()
	heard := func(ago ...time.Duration) {
		for i, a := range ago {
			if a < 0 {
				c.replicas[i].heard.Store(0)
			} else {
				c.replicas[i].heard.Store(now.Add(-a).UnixNano())
			}
		}
	}
	sent := []bool{true, true, true, false}
	for _, tc := range []struct {
		name     string
		ago      []time.Duration // per replica; negative: never heard from
		answered []bool
		started  time.Duration // ago
		min, max time.Duration
	}{
		{"all progressing", []time.Duration{200 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond, -1}, []bool{false, false, false, false}, hd, 350 * time.Millisecond, 400 * time.Millisecond},
		{"one silent", []time.Duration{0, 0, 2 * hd, 0}, []bool{false, false, false, false}, hd, 0, 0},
		{"silent one answered", []time.Duration{2 * hd, 100 * time.Millisecond, 0, -1}, []bool{true, false, false, false}, hd, 850 * time.Millisecond, 900 * time.Millisecond},
		{"never heard from", []time.Duration{0, -1, 0, 0}, []bool{false, false, false, false}, hd, 0, 0},
		{"not asked is not waited for", []time.Duration{0, 0, 0, 5 * hd}, []bool{false, false, false, false}, hd, 950 * time.Millisecond, hd},
		{"bounded", []time.Duration{0, 0, 0, 0}, []bool{false, false, false, false}, hedgeWaitFactor*hd - 300*time.Millisecond, 250 * time.Millisecond, 300 * time.Millisecond},
		{"past the bound", []time.Duration{0, 0, 0, 0}, []bool{false, false, false, false}, hedgeWaitFactor * hd, 0, 0},
	} {
		heard(tc.ago...)
		got := c.hedgeWait(sent, tc.answered, now.Add(-tc.started), hd)
		if got < tc.min || got > tc.max {
			t.Errorf("%s: wait %v, want within [%v, %v]", tc.name, got, tc.min, tc.max)
		}
	}
}
