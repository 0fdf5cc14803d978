package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// keysFake is a fake cluster that creates a key for each keys.gen (alone
// or as a keys.gen.batch item), the same at every replica, except that the
// replicas in lie answer a self-consistent key of their own. It returns the
// keys the honest replicas created, by id.
func keysFake(t *testing.T, lie map[int]bool) (*fakeCluster, func(id string) wire.KeyInfo) {
	var mu sync.Mutex
	good, evil := map[string]wire.KeyInfo{}, map[string]wire.KeyInfo{}
	key := func(m map[string]wire.KeyInfo, id string) wire.KeyInfo {
		mu.Lock()
		defer mu.Unlock()
		k, ok := m[id]
		if !ok {
			k, _ = testKey(t, id, wire.SchemeSchnorr, 1)
			m[id] = k
		}
		return k
	}
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		if req.Op != wire.OpKeyGen {
			return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: "op"}}
		}
		var b wire.KeyGenBody
		if err := json.Unmarshal(req.Body, &b); err != nil {
			t.Error(err)
		}
		k := key(good, b.KeyID)
		if lie[replica] {
			k = key(evil, b.KeyID)
		}
		return fakeReply{resp: &wire.Response{Replica: replica, Key: &k, Height: 9}}
	})
	return fc, func(id string) wire.KeyInfo { return key(good, id) }
}

// keyGenBatches returns, for each replica, the item counts of the
// keys.gen.batch requests it received, and how many keys.gen went alone.
func (fc *fakeCluster) keyGenBatches() (map[int][]int, int) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	sizes, alone := map[int][]int{}, 0
	for replica, all := range fc.seen {
		for _, signed := range all {
			var sr wire.SignedRequest
			var req wire.Request
			if json.Unmarshal(signed, &sr) != nil || json.Unmarshal(sr.Request, &req) != nil {
				continue
			}
			switch req.Op {
			case wire.OpKeyGen:
				alone++
			case wire.OpKeyGenBatch:
				var b wire.KeyGenBatchBody
				if json.Unmarshal(req.Body, &b) == nil {
					sizes[replica] = append(sizes[replica], len(b.Items))
				}
				if len(req.Reply) != 0 {
					fc.t.Error("a keys.gen.batch carries a reply key")
				}
			}
		}
	}
	return sizes, alone
}

// generateKeys generates n keys concurrently and checks each against the
// key the honest replicas created.
func generateKeys(t *testing.T, c *Client, want func(string) wire.KeyInfo, prefix string, n int) {
	t.Helper()
	concurrently(t, n, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("%s%d", prefix, i)
		got, err := c.GenerateKey(ctx, id, wire.SchemeSchnorr)
		if err != nil {
			return fmt.Errorf("key %s: %w", id, err)
		}
		if w := want(id); got.KeyID != id || string(got.PublicKey) != string(w.PublicKey) || string(got.Commitment) != string(w.Commitment) {
			return fmt.Errorf("key %s: not the key the honest replicas created", id)
		}
		return nil
	})
}

// TestKeyGenBatches: concurrent key generations leave in keys.gen.batch
// requests without a reply key (all but those that found no other on its
// way), each batch goes to t+1 replicas only while they agree, and every
// caller gets its own key.
func TestKeyGenBatches(t *testing.T) {
	fc, want := keysFake(t, nil)
	fc.cfg.Timeout = "60s"
	c := fc.client(WithMinHedge(30 * time.Second))
	generateKeys(t, c, want, "k", 40)
	sizes, alone := fc.keyGenBatches()
	largest, batched := 0, 0
	for _, s := range sizes {
		for _, n := range s {
			largest = max(largest, n)
			batched += n
		}
	}
	if largest < 2 {
		t.Errorf("40 concurrent key generations were never gathered: batch sizes %v", sizes)
	}
	// Alone or batched, each went to exactly t+1 = 2 replicas.
	if batched+alone != 2*40 {
		t.Errorf("%d batched and %d lone requests over all replicas, want 2 × 40 (t+1 each): batches %v", batched, alone, sizes)
	}
}

// TestKeyGenBatchLiar: a replica answering other keys in every batch is
// named, the batch then goes to the replicas not asked first, and every
// caller gets the honest replicas' key.
func TestKeyGenBatchLiar(t *testing.T) {
	for liar := 1; liar <= 4; liar++ {
		t.Run(fmt.Sprint("liar ", liar), func(t *testing.T) {
			fc, want := keysFake(t, map[int]bool{liar: true})
			var mu sync.Mutex
			named := false
			fc.cfg.Timeout = "60s"
			c := fc.client(WithMinHedge(30*time.Second), WithCulpritHandler(func(op string, cs []Culprit) {
				mu.Lock()
				defer mu.Unlock()
				for _, cu := range cs {
					if cu.Replica != liar || cu.Reason != ReasonDisagreement {
						t.Errorf("culprit %+v, the liar is %d", cu, liar)
					}
					named = true
				}
			}))
			generateKeys(t, c, want, "k", 16)
			sizes, _ := fc.keyGenBatches()
			mu.Lock()
			defer mu.Unlock()
			if len(sizes[liar]) > 0 && !named {
				t.Errorf("the liar answered %d batches and was never named", len(sizes[liar]))
			}
		})
	}
}

// TestKeyGenBatchTampered: a replica's batch answer with its items cut
// short, reordered, or carrying a sealed part gives nothing from that
// replica to any caller and names it; every caller still gets its key.
func TestKeyGenBatchTampered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(resp *wire.Response)
	}{
		{"truncated", func(resp *wire.Response) { resp.Items = resp.Items[:len(resp.Items)-1] }},
		{"swapped", func(resp *wire.Response) {
			if len(resp.Items) > 1 {
				resp.Items[0], resp.Items[1] = resp.Items[1], resp.Items[0]
			} else {
				resp.Items[0].Key = nil
			}
		}},
		{"sealed", func(resp *wire.Response) { resp.Sealed = []byte("sealed") }},
		{"item sealed", func(resp *wire.Response) { resp.Items[0].Sealed = []byte("sealed") }},
		{"another replica's", func(resp *wire.Response) { resp.Items[0].Replica++ }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc, want := keysFake(t, nil)
			// The fake answers a batch by its items; tamper with replica
			// 2's whole answer on the way out.
			srv := fc.servers[1]
			orig := srv.Config.Handler
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := &captureWriter{header: http.Header{}}
				orig.ServeHTTP(rec, r)
				var resp wire.Response
				if rec.status == http.StatusOK && json.Unmarshal(rec.body, &resp) == nil && len(resp.Items) > 0 {
					tc.tamper(&resp)
					rec.body, _ = json.Marshal(resp)
				}
				for k, v := range rec.header {
					w.Header()[k] = v
				}
				w.WriteHeader(max(rec.status, http.StatusOK))
				w.Write(rec.body)
			})
			var mu sync.Mutex
			named, tampered := false, 0
			srv.Config.Handler = countTampered(srv.Config.Handler, &mu, &tampered)
			// Rounds of 16 until replica 2 was asked for a batch (each
			// batch goes to t+1 random replicas first), each round with a
			// new client, which has not named it yet.
			for round := 0; round < 20; round++ {
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
				generateKeys(t, c, want, fmt.Sprintf("r%dk", round), 16)
				mu.Lock()
				done := tampered > 0
				mu.Unlock()
				if done {
					break
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if tampered == 0 {
				t.Fatal("replica 2 was never asked for a batch")
			}
			if !named {
				t.Errorf("replica 2 tampered with %d batch answers and was never named", tampered)
			}
		})
	}
}

// countTampered counts, in *n, the batch answers h sends with items.
func countTampered(h http.Handler, mu *sync.Mutex, n *int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &captureWriter{header: http.Header{}}
		h.ServeHTTP(rec, r)
		var resp wire.Response
		if json.Unmarshal(rec.body, &resp) == nil && (len(resp.Items) > 0 || len(resp.Sealed) > 0) {
			mu.Lock()
			*n++
			mu.Unlock()
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(max(rec.status, http.StatusOK))
		w.Write(rec.body)
	})
}

// captureWriter records a handler's answer.
type captureWriter struct {
	header http.Header
	status int
	body   []byte
}

func (w *captureWriter) Header() http.Header { return w.header }
func (w *captureWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}
