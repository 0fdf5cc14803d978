package app

import (
	"encoding/json"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/vhsm/vhsm/replica/wire"
)

// putPoolItems adds n available items to the pool of kind, as a completed
// DKG session would.
func putPoolItems(t testing.TB, a *App, kind string, n int) {
	t.Helper()
	err := a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		var m poolMeta
		if v := b.Get([]byte(pPoolM + kind)); v != nil {
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
		}
		for range n {
			pub := make([]byte, 48)
			pub[0], pub[1] = 0xb0, byte(m.Tail)
			it, _ := json.Marshal(PoolItem{Kind: kind, Session: "test", Slot: int(m.Tail), PublicKey: pub, Commitment: pub, Status: StatusAvailable})
			if err := b.Put([]byte(pPool+kind+"/"+u64(m.Tail)), it); err != nil {
				return err
			}
			m.Tail++
		}
		v, _ := json.Marshal(m)
		return b.Put([]byte(pPoolM+kind), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKeyGenBatchThroughStateMachine drives keys.gen.batch through
// FinalizeBlock: items are decided in order, each as a keys.gen of its own
// (a key id taken by an item before, or a pool emptied by the items
// before, refuses that item only); each item's result binds its hash and
// carries its key; a replayed batch decides nothing again; an item id is
// single-use across batches and requests; a malformed batch is refused
// whole and takes nothing from the pool.
func TestKeyGenBatchThroughStateMachine(t *testing.T) {
	tn, a, ch, exp, bob := eth2Chain(t)
	putPoolItems(t, a, KindSymmetric, 4)
	item := func(id, key string) wire.BatchItem {
		body, _ := json.Marshal(wire.KeyGenBody{KeyID: key, Scheme: wire.SchemeSymmetric})
		return wire.BatchItem{ID: id, Op: wire.OpKeyGen, Body: body}
	}
	batch := func(client, id string, items ...wire.BatchItem) []byte {
		key := tn.AdminKey
		if client == "bob" {
			key = bob
		}
		return txOf(t, signedID(t, key, client, id, wire.OpKeyGenBatch, exp, wire.KeyGenBatchBody{Items: items}))
	}

	ids := []string{newID(), newID(), newID(), newID()}
	first := []wire.BatchItem{item(ids[0], "a"), item(ids[1], "a"), item(ids[2], "b"), item(ids[3], "c")}
	firstTx := batch("admin", newID(), first...)
	r := ch.block(firstTx)
	if r[0].Code != 0 {
		t.Fatalf("batch: %s", r[0].Log)
	}
	items := itemResults(t, "batch", r[0].Data)
	wantItemCodes(t, "batch", items, nil, ErrKeyExists, nil, nil)
	taken := map[string]bool{}
	for i, it := range items {
		h := wire.ItemHash("admin", &first[i])
		if string(it.Request) != string(h[:]) || it.Op != wire.OpKeyGen || it.Height != ch.height {
			t.Errorf("item %d does not bind its hash, op and height", i)
		}
		if it.Code != 0 {
			continue
		}
		var b wire.KeyGenBody
		json.Unmarshal(first[i].Body, &b)
		if it.Key == nil || it.Key.KeyID != b.KeyID || it.Key.Owner != "admin" || it.Origin == nil || it.Origin.Request != "admin/"+first[i].ID {
			t.Fatalf("item %d: key %+v from pool item %+v", i, it.Key, it.Origin)
		}
		if taken[string(it.Key.PublicKey)] {
			t.Fatalf("item %d was given a pool item handed out before", i)
		}
		taken[string(it.Key.PublicKey)] = true
		k, err := a.Key(b.KeyID)
		if err != nil || string(k.Info.PublicKey) != string(it.Key.PublicKey) {
			t.Fatalf("key %s not committed as answered: %v", b.KeyID, err)
		}
	}

	// The same bytes again decide nothing: the batch is a replay.
	if r := ch.block(firstTx); r[0].Code != codeOf(ErrReplay) {
		t.Fatalf("replayed batch: code %d (%s)", r[0].Code, r[0].Log)
	}

	// An item id is used once: in a later batch, or as a request's id. The
	// pool (one item left) is emptied by the first item that needs it.
	r = ch.block(
		batch("admin", newID(), item(ids[0], "d"), item(newID(), "e"), item(newID(), "f")),
		txOf(t, signedID(t, tn.AdminKey, "admin", ids[3], wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "g", Scheme: wire.SchemeSymmetric})),
	)
	wantItemCodes(t, "reused item id", itemResults(t, "reused", r[0].Data), ErrIDReused, nil, ErrPoolEmpty)
	if r[1].Code == 0 {
		t.Fatal("a request reusing an item's id was executed")
	}
	for _, id := range []string{"d", "f", "g"} {
		if _, err := a.Key(id); err == nil {
			t.Fatalf("key %s was created by a refused item or request", id)
		}
	}

	// Malformed batches are refused whole and take nothing from the pool:
	// the pool item added below is still there afterwards.
	putPoolItems(t, a, KindSymmetric, 1)
	dup := newID()
	bid := newID()
	eth2Item := item(newID(), "h")
	eth2Item.Op = wire.OpEth2Sign
	tooMany := make([]wire.BatchItem, wire.MaxBatchItems+1)
	for i := range tooMany {
		tooMany[i] = item(newID(), "m"+strings.Repeat("x", i))
	}
	badID := item("ABC", "h")
	for name, tx := range map[string][]byte{
		"no items":              batch("admin", newID()),
		"too many items":        batch("admin", newID(), tooMany...),
		"an item not keys.gen":  batch("admin", newID(), item(newID(), "h"), eth2Item),
		"duplicate item ids":    batch("admin", newID(), item(dup, "h"), item(dup, "i")),
		"item id is batch id":   batch("admin", bid, item(newID(), "h"), item(bid, "i")),
		"malformed item id":     batch("admin", newID(), item(newID(), "h"), badID),
		"keys.gen in eth2":      txOf(t, signedID(t, tn.AdminKey, "admin", newID(), wire.OpEth2Batch, exp, wire.Eth2BatchBody{Items: []wire.BatchItem{item(newID(), "h")}})),
		"unknown field in body": txOf(t, signedID(t, tn.AdminKey, "admin", newID(), wire.OpKeyGenBatch, exp, map[string]any{"items": []wire.BatchItem{item(newID(), "h")}, "replica": 1})),
	} {
		if r := ch.block(tx); r[0].Code != codeOf(ErrBadBody) {
			t.Errorf("%s: code %d (%s), want a bad body", name, r[0].Code, r[0].Log)
		}
		if _, err := a.Key("h"); err == nil {
			t.Fatalf("%s: created key h", name)
		}
	}
	// CheckTx passes a batch whose items would be refused (they are
	// decided in the log, one by one) and refuses a malformed one.
	if err := a.Precheck(batch("admin", newID(), item(newID(), "a"))); err != nil {
		t.Fatalf("precheck of a batch with a taken key id: %v", err)
	}
	if err := a.Precheck(batch("admin", newID())); err == nil {
		t.Fatal("precheck passed an empty batch")
	}
	r = ch.block(batch("bob", newID(), item(newID(), "h"), item(newID(), "a")))
	wantItemCodes(t, "after the malformed batches", itemResults(t, "after", r[0].Data), nil, ErrKeyExists)
	if k, err := a.Key("h"); err != nil || k.Info.Owner != "bob" {
		t.Fatalf("key h: %+v, %v", k, err)
	}
}
