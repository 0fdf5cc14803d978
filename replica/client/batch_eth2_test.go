package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/eth2"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
)

// testAttestation is an ATTESTATION request of the remote-signing API.
func testAttestation(slot, source, target uint64) []byte {
	root := func(b byte) string { return "0x" + strings.Repeat(fmt.Sprintf("%02x", b), 32) }
	return []byte(fmt.Sprintf(`{"type":"ATTESTATION","fork_info":{"fork":{"previous_version":"0x00000000","current_version":"0x00000000","epoch":"0"},"genesis_validators_root":"%s"},"attestation":{"slot":"%d","index":"0","beacon_block_root":"%s","source":{"epoch":"%d","root":"%s"},"target":{"epoch":"%d","root":"%s"}}}`,
		root(0x47), slot, root(1), source, root(0x11), target, root(0x22)))
}

// eth2Fake is a fake cluster holding real shares of the validator key
// "val": keys.pub returns it; eth2.sign (alone or as a batch item) returns
// a partial signature over the request's signing root, made with each
// share (over another root for the replicas in lie), and hangs for those
// in silent.
func eth2Fake(t *testing.T, lie, silent map[int]bool) (*fakeCluster, wire.KeyInfo) {
	info, poly := testKey(t, "val", wire.SchemeBLS, 1)
	info.Usage = wire.UsageEth2Validator
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		switch req.Op {
		case wire.OpKeyPub:
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
		case wire.OpEth2Sign:
			if silent[replica] {
				return fakeReply{hang: true}
			}
			var b wire.Eth2SignBody
			if err := json.Unmarshal(req.Body, &b); err != nil {
				t.Error(err)
			}
			r, err := eth2.Parse(b.Request)
			if err != nil {
				t.Error(err)
				return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "parse"}}
			}
			root, _ := r.SigningRoot()
			msg := root[:]
			if lie[replica] {
				msg = append([]byte("other "), msg...)
			}
			p, err := bls.PartialSign(poly.Share(replica), msg)
			if err != nil {
				t.Error(err)
			}
			return fakeReply{resp: &wire.Response{Replica: replica, Partial: p, Height: 9}}
		}
		return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "op"}}
	})
	return fc, info
}

// eth2Batches returns, for each replica, the item counts of the eth2.batch
// requests it received, and whether any ordered eth2.sign arrived alone.
func (fc *fakeCluster) eth2Batches() (map[int][]int, bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	sizes, alone := map[int][]int{}, false
	for replica, all := range fc.seen {
		for _, signed := range all {
			var sr wire.SignedRequest
			var req wire.Request
			if json.Unmarshal(signed, &sr) != nil || json.Unmarshal(sr.Request, &req) != nil {
				continue
			}
			switch req.Op {
			case wire.OpEth2Sign:
				alone = true
			case wire.OpEth2Batch:
				var b wire.Eth2BatchBody
				if json.Unmarshal(req.Body, &b) == nil {
					sizes[replica] = append(sizes[replica], len(b.Items))
				}
			}
		}
	}
	return sizes, alone
}

// signAttestations signs n attestations of distinct epochs concurrently
// and checks every signature over its own signing root.
func signAttestations(t *testing.T, c *Client, info wire.KeyInfo, n int) {
	t.Helper()
	concurrently(t, n, func(ctx context.Context, i int) error {
		req := testAttestation(uint64(32*i), uint64(i), uint64(i+1))
		sig, err := c.SignEth2(ctx, "val", req)
		if err != nil {
			return fmt.Errorf("attestation %d: %w", i, err)
		}
		r, _ := eth2.Parse(req)
		root, _ := r.SigningRoot()
		if ok, _ := VerifyBLS(info.PublicKey, root[:], sig); !ok {
			return fmt.Errorf("attestation %d: signature does not verify over its root", i)
		}
		return nil
	})
}

// concurrently runs one(ctx, i) for i in [0, n) at once, with a minute's
// context, and reports every error.
func concurrently(t *testing.T, n int, one func(ctx context.Context, i int) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := one(ctx, i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestOrderedEth2Batches: concurrent attestations leave in eth2.batch
// requests (none alone), each batch goes to 2t+1 replicas only while they
// answer well, and every caller gets a valid signature over its own root.
func TestOrderedEth2Batches(t *testing.T) {
	fc, info := eth2Fake(t, nil, nil)
	// No hedge and no timeout on a loaded machine (or under -race): the
	// 2t+1 asked first are heard out.
	fc.cfg.Timeout = "60s"
	c := fc.client(WithMinHedge(30 * time.Second))
	signAttestations(t, c, info, 40)
	sizes, alone := fc.eth2Batches()
	if alone {
		t.Error("an ordered eth2.sign was sent on its own")
	}
	perBatch, largest := map[int]int{}, 0
	for _, s := range sizes {
		for _, n := range s {
			largest = max(largest, n)
		}
	}
	if largest < 2 {
		t.Errorf("40 concurrent attestations were never gathered: batch sizes %v", sizes)
	}
	// Every batch reached exactly 2t+1 = 3 replicas: count the batches by
	// how many replicas saw one of each (sizes per replica are in order).
	total := 0
	for r, s := range sizes {
		perBatch[r] = len(s)
		for _, n := range s {
			total += n
		}
	}
	if total != 3*40 {
		t.Errorf("items sent %d times over all replicas, want 3 × 40 (2t+1 each): batches %v", total, sizes)
	}
}

// TestOrderedEth2BatchLiar: a replica answering wrong partials in every
// batch is named, the batch then goes to the replica not asked first, and
// every signature is valid.
func TestOrderedEth2BatchLiar(t *testing.T) {
	for liar := 1; liar <= 4; liar++ {
		t.Run(fmt.Sprint("liar ", liar), func(t *testing.T) {
			fc, info := eth2Fake(t, map[int]bool{liar: true}, nil)
			var mu sync.Mutex
			named := false
			// No hedge: the liar answers only when asked first, and its
			// answer is then one of the 2t+1 the round needs.
			fc.cfg.Timeout = "60s"
			c := fc.client(WithMinHedge(30*time.Second), WithCulpritHandler(func(op string, cs []Culprit) {
				mu.Lock()
				defer mu.Unlock()
				for _, cu := range cs {
					if cu.Replica != liar {
						t.Errorf("replica %d named, the liar is %d", cu.Replica, liar)
					}
					named = true
				}
			}))
			signAttestations(t, c, info, 12)
			sizes, _ := fc.eth2Batches()
			mu.Lock()
			defer mu.Unlock()
			if len(sizes[liar]) > 0 && !named {
				t.Errorf("the liar answered %d batches and was never named", len(sizes[liar]))
			}
		})
	}
}

// TestOrderedEth2BatchSilentReplica: a replica that never answers costs
// a hedge delay; every signature is valid.
func TestOrderedEth2BatchSilentReplica(t *testing.T) {
	for silent := 1; silent <= 4; silent++ {
		t.Run(fmt.Sprint("silent ", silent), func(t *testing.T) {
			fc, info := eth2Fake(t, nil, map[int]bool{silent: true})
			start := time.Now()
			signAttestations(t, fc.client(), info, 12)
			t.Logf("12 attestations in %v", time.Since(start))
		})
	}
}

// TestOrderedEth2BatchTampered: a batch answer that does not open, or
// that swaps two items' partials, gives no signature to anyone from that
// replica (its partials are malformed or fail consistency) and names it.
func TestOrderedEth2BatchTampered(t *testing.T) {
	fc, info := eth2Fake(t, nil, nil)
	fc.mu.Lock()
	fc.tamper = func(replica int, resp *wire.Response, bundle, reply []byte, hash [32]byte) []byte {
		if replica != 2 {
			return bundle
		}
		parts, err := wire.SplitBundle(bundle, len(resp.Items))
		if err != nil || len(parts) < 2 {
			resp.Sealed = []byte("not a sealed bundle")
			return bundle
		}
		parts[0], parts[1] = parts[1], parts[0]
		var out []byte
		for _, p := range parts {
			out = wire.AppendBundle(out, p)
		}
		return out
	}
	fc.mu.Unlock()
	var mu sync.Mutex
	named := false
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) {
		mu.Lock()
		defer mu.Unlock()
		for _, cu := range cs {
			if cu.Replica != 2 {
				t.Errorf("replica %d named", cu.Replica)
			}
			named = true
		}
	}))
	signAttestations(t, c, info, 16)
	sizes, _ := fc.eth2Batches()
	mu.Lock()
	defer mu.Unlock()
	if len(sizes[2]) > 0 && !named {
		t.Error("replica 2 tampered with its answers and was never named")
	}
}
