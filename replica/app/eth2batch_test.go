package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vhsm/vhsm/replica/wire"
)

// newID returns a fresh request or item id.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// signedID is signed with the request id chosen by the caller.
func signedID(t testing.TB, key ed25519.PrivateKey, client, id, op string, expires int64, body any) *wire.SignedRequest {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r := wire.Request{ID: id, Client: client, Op: op, Expires: expires, Cluster: testCluster, Body: b, Reply: make([]byte, wire.ReplyKeyLen)}
	rand.Read(r.Reply)
	req, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.SignedRequest{Request: req, Signature: ed25519.Sign(key, append([]byte(wire.RequestContext), req...))}
}

// itemResults decodes the item results of an ordered batch's committed
// result r.
func itemResults(t *testing.T, name string, r []byte) []Result {
	t.Helper()
	var res Result
	if err := json.Unmarshal(r, &res); err != nil {
		t.Fatalf("%s: result: %v", name, err)
	}
	return res.Items
}

// wantItemCodes checks that an ordered batch's item results have the codes
// of want (nil: success).
func wantItemCodes(t *testing.T, name string, items []Result, want ...error) {
	t.Helper()
	if len(items) != len(want) {
		t.Fatalf("%s: %d item results, want %d", name, len(items), len(want))
	}
	for i, w := range want {
		if items[i].Code != codeOf(w) {
			t.Errorf("%s: item %d: code %d (%s), want %v", name, i, items[i].Code, items[i].Error, w)
		}
	}
}

// TestEth2BatchThroughStateMachine drives eth2.batch through FinalizeBlock:
// items are decided in order, each as an eth2.sign of its own (a double
// vote inside one batch loses to the item before it); each item's result
// binds its hash; a replayed batch decides nothing again; an item id is
// single-use across batches and requests; a malformed batch is refused
// whole and records nothing.
func TestEth2BatchThroughStateMachine(t *testing.T) {
	tn, a, ch, exp, bob := eth2Chain(t)
	putValidatorKey(t, a, "val", "admin", append([]byte{0xa1}, make([]byte, 47)...), wire.UsageEth2Validator)
	putValidatorKey(t, a, "val2", "admin", append([]byte{0xa2}, make([]byte, 47)...), wire.UsageEth2Validator)
	gvr := "0x" + strings.Repeat("0a", 32)
	item := func(id, key string, s testSlashable) wire.BatchItem {
		s.GVR = gvr
		req, _ := json.Marshal(s)
		body, _ := json.Marshal(wire.Eth2SignBody{KeyID: key, Request: req})
		return wire.BatchItem{ID: id, Op: wire.OpEth2Sign, Body: body}
	}
	att := func(src, tgt uint64, root byte) testSlashable {
		return testSlashable{Source: src, Target: tgt, Root: "0x" + strings.Repeat(hex.EncodeToString([]byte{root}), 32)}
	}
	batch := func(key ed25519.PrivateKey, client, id string, items ...wire.BatchItem) []byte {
		return txOf(t, signedID(t, key, client, id, wire.OpEth2Batch, exp, wire.Eth2BatchBody{Items: items}))
	}

	ids := []string{newID(), newID(), newID(), newID(), newID()}
	first := []wire.BatchItem{
		item(ids[0], "val", att(1, 2, 1)),
		item(ids[1], "val", att(1, 2, 2)), // a double vote of the item before
		item(ids[2], "nope", att(1, 2, 1)),
		item(ids[3], "val", testSlashable{Block: true, Slot: 10, Root: "0x" + strings.Repeat("01", 32)}),
		item(ids[4], "val2", att(1, 2, 2)),
	}
	firstTx := batch(tn.AdminKey, "admin", newID(), first...)
	r := ch.block(firstTx)
	if r[0].Code != 0 {
		t.Fatalf("batch: %s", r[0].Log)
	}
	items := itemResults(t, "batch", r[0].Data)
	wantItemCodes(t, "batch", items, nil, ErrSlashable, ErrUnknownKey, nil, nil)
	for i, it := range items {
		h := wire.ItemHash("admin", &first[i])
		if string(it.Request) != string(h[:]) || it.Op != wire.OpEth2Sign || it.Height != ch.height {
			t.Errorf("item %d does not bind its hash, op and height", i)
		}
		if (it.Code == 0) != (it.Eth2 != nil && len(it.Eth2.SigningRoot) == 32) {
			t.Errorf("item %d: code %d with decision %+v", i, it.Code, it.Eth2)
		}
	}
	if !strings.Contains(items[1].Error, "signed") {
		t.Errorf("double vote refusal does not name the record: %s", items[1].Error)
	}

	// The same bytes again decide nothing: the batch is a replay.
	if r := ch.block(firstTx); r[0].Code != codeOf(ErrReplay) {
		t.Fatalf("replayed batch: code %d (%s)", r[0].Code, r[0].Log)
	}

	// An item id is used once: in a later batch, or as a request's id.
	r = ch.block(
		batch(tn.AdminKey, "admin", newID(), item(ids[0], "val", att(2, 3, 1)), item(newID(), "val", att(2, 3, 1))),
		txOf(t, signedID(t, tn.AdminKey, "admin", ids[3], wire.OpEth2Sign, exp, wire.Eth2SignBody{KeyID: "val", Request: []byte(`{"source":4,"target":5}`)})),
	)
	wantItemCodes(t, "reused item id", itemResults(t, "reused", r[0].Data), ErrIDReused, nil)
	if r[1].Code == 0 {
		t.Fatal("a request reusing an item's id was executed")
	}

	// Bob may not use admin's validator key: each item is refused.
	r = ch.block(batch(bob, "bob", newID(), item(newID(), "val", att(3, 4, 1))))
	wantItemCodes(t, "bob", itemResults(t, "bob", r[0].Data), ErrUnauthorized)

	// Malformed batches are refused whole, and record nothing: the
	// attestation (5, 6) inside them is still free afterwards.
	candidate := func() wire.BatchItem { return item(newID(), "val", att(5, 6, 9)) }
	dup := newID()
	bid := newID()
	signItem := candidate()
	signItem.Op = wire.OpSign
	tooMany := make([]wire.BatchItem, wire.MaxBatchItems+1)
	for i := range tooMany {
		tooMany[i] = item(newID(), "val2", att(uint64(10+i), uint64(11+i), 1))
	}
	badID := candidate()
	badID.ID = "ABC"
	for name, tx := range map[string][]byte{
		"no items":            batch(tn.AdminKey, "admin", newID()),
		"too many items":      batch(tn.AdminKey, "admin", newID(), tooMany...),
		"an item not eth2":    batch(tn.AdminKey, "admin", newID(), candidate(), signItem),
		"duplicate item ids":  batch(tn.AdminKey, "admin", newID(), item(dup, "val", att(5, 6, 9)), item(dup, "val2", att(5, 6, 9))),
		"item id is batch id": batch(tn.AdminKey, "admin", bid, candidate(), item(bid, "val2", att(5, 6, 9))),
		"malformed item id":   batch(tn.AdminKey, "admin", newID(), candidate(), badID),
	} {
		if r := ch.block(tx); r[0].Code != codeOf(ErrBadBody) {
			t.Errorf("%s: code %d (%s), want a bad body", name, r[0].Code, r[0].Log)
		}
	}
	r = ch.block(batch(tn.AdminKey, "admin", newID(), item(newID(), "val", att(5, 6, 8)), item(newID(), "val2", att(5, 6, 8))))
	wantItemCodes(t, "after the malformed batches", itemResults(t, "after", r[0].Data), nil, nil)

	// CheckTx passes a batch whose items would be refused (they are
	// decided in the log, one by one) and refuses a malformed one.
	if err := a.Precheck(batch(tn.AdminKey, "admin", newID(), item(newID(), "val", att(5, 6, 7)))); err != nil {
		t.Fatalf("precheck of a batch with a slashable item: %v", err)
	}
	if err := a.Precheck(batch(tn.AdminKey, "admin", newID())); err == nil {
		t.Fatal("precheck passed an empty batch")
	}
}
