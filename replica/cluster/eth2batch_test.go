package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

// Ordered eth2.batch on a real cluster (wire/batch.go): items decided one
// by one in the log, answered by every replica from the committed result,
// their partials sealed together to the batch's reply key; replayed,
// substituted, truncated and id-reusing batches get nothing new.

// batchItem is an eth2.sign item of an eth2.batch.
func batchItem(t *testing.T, id, keyID string, typed []byte) wire.BatchItem {
	t.Helper()
	return wire.BatchItem{ID: id, Op: wire.OpEth2Sign, Body: mustJSON(t, wire.Eth2SignBody{KeyID: keyID, Request: typed})}
}

// batchReq is a signed eth2.batch with its reply key, hash and items.
type batchReq struct {
	splitReq
	items []wire.BatchItem
	roots [][32]byte
}

func (s *splitter) batch(id string, items ...wire.BatchItem) *batchReq {
	s.t.Helper()
	reply, err := wire.NewReplyKey(rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	b := &batchReq{items: items}
	for _, it := range items {
		var body wire.Eth2SignBody
		mustUnmarshal(s.t, it.Body, &body)
		root, _, _ := app.ParseEth2(body.Request)
		b.roots = append(b.roots, root)
	}
	b.signed = signedRequest(s.t, s.key, s.cluster, s.id, id, wire.OpEth2Batch, reply, wire.Eth2BatchBody{Items: items})
	sr, _ := decodeSigned(s.t, b.signed)
	b.hash, b.reply = wire.RequestHash(sr.Request), reply
	return b
}

// batchAnswers posts b to replicas and returns, per replica, each item's
// opened partial (nil when refused) and refusal.
func (s *splitter) batchAnswers(b *batchReq, replicas ...int) (map[int][][]byte, map[int][]string) {
	s.t.Helper()
	parts, refusals := map[int][][]byte{}, map[int][]string{}
	for i, a := range s.rw.post(b.signed, replicas...) {
		if a.err != nil || a.status != http.StatusOK {
			s.t.Fatalf("replica %d: http %d, %v %s", i, a.status, a.err, a.resp.Error)
		}
		if len(a.resp.Items) != len(b.items) || len(a.resp.Partial) != 0 {
			s.t.Fatalf("replica %d: %d item answers for %d items, clear partial %d bytes", i, len(a.resp.Items), len(b.items), len(a.resp.Partial))
		}
		bundle, err := wire.OpenReply(b.reply, b.hash, i, a.resp.Sealed)
		if err != nil {
			s.t.Fatalf("replica %d: sealed bundle does not open: %v", i, err)
		}
		ps, err := wire.SplitBundle(bundle, len(b.items))
		if err != nil {
			s.t.Fatalf("replica %d: %v", i, err)
		}
		parts[i] = ps
		for _, ir := range a.resp.Items {
			refusals[i] = append(refusals[i], ir.Error)
		}
	}
	return parts, refusals
}

// eth2BatchCluster runs the eth2.batch checks on a started cluster whose
// admin client is admin and whose raw splitter is s.
func eth2BatchCluster(t *testing.T, ctx context.Context, admin *client.Client, s *splitter) {
	keys := map[string][]byte{}
	for _, id := range []string{"b1", "b2"} {
		info, err := admin.GenerateValidatorKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = info.PublicKey
	}
	all := []int{1, 2, 3, 4}
	ids := []string{newID(t), newID(t), newID(t), newID(t)}
	first := s.batch(newID(t),
		batchItem(t, ids[0], "b1", attestationReq(32, 0, 1, 1)),
		batchItem(t, ids[1], "b1", attestationReq(32, 0, 1, 2)), // a double vote of the item before
		batchItem(t, ids[2], "b1", randaoReq(1)),                // not slashable: not ordered
		batchItem(t, ids[3], "b2", attestationReq(32, 0, 1, 2)),
	)
	check := func(name string, parts map[int][][]byte, refusals map[int][]string) {
		t.Helper()
		for i := range parts {
			for k, want := range []bool{true, false, false, true} {
				if got := parts[i][k] != nil && refusals[i][k] == ""; got != want {
					t.Fatalf("%s: replica %d, item %d: partial %v (refusal %q), want %v", name, i, k, parts[i][k] != nil, refusals[i][k], want)
				}
			}
			if !strings.Contains(refusals[i][1], "refused by slashing protection") {
				t.Fatalf("%s: replica %d: double vote refused with %q", name, i, refusals[i][1])
			}
		}
		pk := s.groupPK
		defer func() { s.groupPK = pk }()
		for _, k := range []int{0, 3} {
			s.groupPK = keys[[]string{"b1", "", "", "b2"}[k]]
			byReplica := map[int][]byte{}
			for i := range parts {
				byReplica[i] = parts[i][k]
			}
			if !s.signs(&splitReq{root: first.roots[k]}, byReplica) {
				t.Fatalf("%s: item %d's partials do not combine to a signature over its root", name, k)
			}
		}
	}

	t.Run("decided item by item, answered by every replica", func(t *testing.T) {
		parts, refusals := s.batchAnswers(first, all...)
		check("batch", parts, refusals)
	})

	t.Run("a replayed batch decides nothing again and opens for its client only", func(t *testing.T) {
		parts, refusals := s.batchAnswers(first, all...)
		check("replay", parts, refusals)
		for i, a := range s.rw.post(first.signed, all...) {
			mine, _ := wire.NewReplyKey(rand.Reader)
			if _, err := wire.OpenReply(mine, first.hash, i, a.resp.Sealed); err == nil {
				t.Fatal("a replayed answer opens without the client's reply key")
			}
		}
	})

	t.Run("an item id is used once", func(t *testing.T) {
		reuse := s.batch(newID(t),
			batchItem(t, ids[0], "b1", attestationReq(64, 1, 2, 1)),
			batchItem(t, newID(t), "b2", attestationReq(64, 1, 2, 1)),
		)
		parts, refusals := s.batchAnswers(reuse, all...)
		for i := range parts {
			if parts[i][0] != nil || !strings.Contains(refusals[i][0], "already used") || parts[i][1] == nil {
				t.Fatalf("replica %d: reused item id: partials %v, refusals %q", i, []bool{parts[i][0] != nil, parts[i][1] != nil}, refusals[i])
			}
		}
		if got, refused := s.partials(s.requestID(ids[3], "b2", attestationReq(96, 2, 3, 1)), all...); len(got) != 0 || len(refused) != 4 {
			t.Fatalf("a request reusing an item's id: %d partials, refusals %v", len(got), refused)
		}
	})

	t.Run("substituted and truncated batches get nothing", func(t *testing.T) {
		b := s.batch(newID(t), batchItem(t, newID(t), "b1", attestationReq(128, 3, 4, 1)))
		sr, r := decodeSigned(t, b.signed)
		r.Body = []byte(strings.Replace(string(r.Body), `"slot":"128"`, `"slot":"129"`, 1))
		if string(r.Body) == string(mustJSON(t, wire.Eth2BatchBody{Items: b.items})) {
			t.Fatal("substitution changed nothing")
		}
		sr.Request = mustJSON(t, r)
		for _, bad := range [][]byte{mustJSON(t, sr), b.signed[:len(b.signed)/2]} {
			for i, a := range s.rw.post(bad, all...) {
				if a.status == http.StatusOK || len(a.resp.Sealed) != 0 || len(a.resp.Items) != 0 {
					t.Fatalf("tampered batch: replica %d answered http %d", i, a.status)
				}
			}
		}
		// The genuine batch still signs: the tampered ones decided nothing.
		if parts, _ := s.batchAnswers(b, all...); parts[1][0] == nil {
			t.Fatal("the genuine batch was refused after the tampered ones")
		}
	})

	t.Run("concurrent attestations through the client", func(t *testing.T) {
		// The client gathers them into batches; each gets its own valid
		// signature.
		// signature. Per key one attestation and one block: requests of
		// one validator that arrive in either order must not conflict.
		const n = 16
		for i := range n / 2 {
			id := fmt.Sprint("c", i)
			info, err := admin.GenerateValidatorKey(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			keys[id] = info.PublicKey
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprint("c", i/2)
				req := attestationReq(uint64(1000+i), 100, 101, 1)
				if i%2 == 1 {
					req = blockReq(uint64(1000+i), 1)
				}
				sig, err := admin.SignEth2(ctx, key, req)
				if err != nil {
					errs <- fmt.Errorf("request %d: %w", i, err)
					return
				}
				root, _, _ := app.ParseEth2(req)
				if ok, _ := client.VerifyBLS(keys[key], root[:], sig); !ok {
					errs <- fmt.Errorf("request %d: signature does not verify", i)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
