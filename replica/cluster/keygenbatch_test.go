package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

// keys.gen.batch on a real cluster (wire/batch.go): items decided one by one
// in the log and answered by every replica from the committed result, in
// the clear; a replayed batch creates nothing new; substituted and
// truncated batches are refused; an item id is used once.

// keyGenBatchCluster runs the keys.gen.batch checks on a started cluster
// whose admin client is admin and whose raw splitter is s.
func keyGenBatchCluster(t *testing.T, ctx context.Context, admin *client.Client, s *splitter) {
	item := func(id, keyID string) wire.BatchItem {
		return wire.BatchItem{ID: id, Op: wire.OpKeyGen, Body: mustJSON(t, wire.KeyGenBody{KeyID: keyID, Scheme: wire.SchemeSymmetric})}
	}
	all := []int{1, 2, 3, 4}
	// answers posts a batch to every replica and returns each replica's
	// item answers, which must be the same everywhere (one decision, in the
	// log), in the clear and bound to the answering replica.
	answers := func(name string, signed []byte, n int) []wire.Response {
		t.Helper()
		var first []byte
		var items []wire.Response
		for i, a := range s.rw.post(signed, all...) {
			if a.err != nil || a.status != http.StatusOK {
				t.Fatalf("%s: replica %d: http %d, %v %s", name, i, a.status, a.err, a.resp.Error)
			}
			if len(a.resp.Items) != n || len(a.resp.Sealed) != 0 || len(a.resp.Partial) != 0 {
				t.Fatalf("%s: replica %d: %d item answers for %d items, sealed %d bytes", name, i, len(a.resp.Items), n, len(a.resp.Sealed))
			}
			for k := range a.resp.Items {
				if a.resp.Items[k].Replica != i {
					t.Fatalf("%s: replica %d answers item %d as replica %d", name, i, k, a.resp.Items[k].Replica)
				}
				a.resp.Items[k].Replica = 0
			}
			b, _ := json.Marshal(a.resp.Items)
			if first == nil {
				first, items = b, a.resp.Items
			} else if string(b) != string(first) {
				t.Fatalf("%s: replicas answer the batch differently:\n%s\n%s", name, first, b)
			}
		}
		return items
	}
	// The pools of the test cluster are small: an item may find the pool
	// empty, and is then refused alone (its key id stays free). Retry with
	// other key ids, after a lone generation that waits for a refill, until
	// both keys of one batch exist.
	var ids, names []string
	var batchSigned []byte
	var got []wire.Response
	for attempt := 0; ; attempt++ {
		ids = []string{newID(t), newID(t), newID(t)}
		names = []string{fmt.Sprintf("kb%d-1", attempt), fmt.Sprintf("kb%d-2", attempt)}
		batchSigned = signedRequest(t, s.key, s.cluster, s.id, newID(t), wire.OpKeyGenBatch, nil,
			wire.KeyGenBatchBody{Items: []wire.BatchItem{item(ids[0], names[0]), item(ids[1], names[0]), item(ids[2], names[1])}})
		got = answers("batch", batchSigned, 3)
		for _, k := range []int{0, 2} {
			if got[k].Key == nil && !strings.Contains(got[k].Error, "pool empty") {
				t.Fatalf("item %d refused: %s", k, got[k].Error)
			}
		}
		if got[0].Key != nil && got[2].Key != nil {
			break
		}
		if attempt == 20 {
			t.Fatalf("no batch found the pool full enough: %+v", got)
		}
		if _, err := admin.GenerateKey(ctx, fmt.Sprintf("kb%d-wait", attempt), wire.SchemeSymmetric); err != nil {
			t.Fatal(err)
		}
	}
	if got[0].Key.KeyID != names[0] || got[2].Key.KeyID != names[1] || got[0].Key.Owner != s.id {
		t.Fatalf("item keys %+v %+v", got[0].Key, got[2].Key)
	}
	if !strings.Contains(got[1].Error, "exists") || got[1].Key != nil {
		t.Fatalf("a key id taken by the item before: %+v", got[1])
	}
	// The client reads the keys the batch created.
	for k, id := range map[int]string{0: names[0], 2: names[1]} {
		info, err := admin.PublicKey(ctx, id)
		if err != nil || string(info.PublicKey) != string(got[k].Key.PublicKey) {
			t.Fatalf("key %s: %v", id, err)
		}
	}

	// The same bytes again, to every replica: the same answers, nothing new.
	if again, want := mustJSON(t, answers("replay", batchSigned, 3)), mustJSON(t, got); string(again) != string(want) {
		t.Fatalf("a replayed batch was answered differently:\n%s\n%s", again, want)
	}
	// A substituted item under the client's signature, and a truncated
	// batch: the signature fails, nothing is answered.
	sr, r := decodeSigned(t, batchSigned)
	r.Body = []byte(strings.Replace(string(r.Body), names[1], "kb-3", 1))
	sr.Request, _ = json.Marshal(r)
	swapped, _ := json.Marshal(sr)
	for _, bad := range [][]byte{swapped, batchSigned[:len(batchSigned)/2]} {
		for i, a := range s.rw.post(bad, all...) {
			if a.status == http.StatusOK || len(a.resp.Items) != 0 {
				t.Fatalf("tampered batch: replica %d answered http %d", i, a.status)
			}
		}
	}
	if _, err := admin.PublicKey(ctx, "kb-3"); err == nil {
		t.Fatal("a substituted item created its key")
	}
	// An item id is used once: in another batch it is refused alone.
	reused := signedRequest(t, s.key, s.cluster, s.id, newID(t), wire.OpKeyGenBatch, nil,
		wire.KeyGenBatchBody{Items: []wire.BatchItem{item(ids[2], "kb-4")}})
	if a := answers("reused", reused, 1); !strings.Contains(a[0].Error, "already used") {
		t.Fatalf("a reused item id: %+v", a[0])
	}

	// Through the client: concurrent generations leave together, and each
	// caller gets a key of its own.
	var wg sync.WaitGroup
	keys := make([]client.KeyInfo, 8)
	errs := make([]error, len(keys))
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = admin.GenerateKey(ctx, fmt.Sprintf("kc-%d", i), wire.SchemeSchnorr)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, k := range keys {
		if errs[i] != nil {
			t.Fatalf("key %d: %v", i, errs[i])
		}
		if k.KeyID != fmt.Sprintf("kc-%d", i) || seen[string(k.PublicKey)] {
			t.Fatalf("key %d: %s, or a public key handed out twice", i, k.KeyID)
		}
		seen[string(k.PublicKey)] = true
	}
}
