package engine

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/threshold/group"
)

// TestSessionRecord: a session record holds every slot's share; a record
// with another version, a length that disagrees with its header or a slot
// out of range is refused, never read past.
func TestSessionRecord(t *testing.T) {
	for _, g := range []group.Group{group.Secp256k1(), group.BLS12381G1()} {
		shares := make([]group.Scalar, 5)
		for b := range shares {
			shares[b], _ = g.RandomScalar(rand.Reader)
		}
		rec, err := encodeSessionRecord(shares)
		if err != nil {
			t.Fatal(err)
		}
		for b, x := range shares {
			got, err := recordSlot(rec, b)
			if err != nil || !bytes.Equal(got, x.Bytes()) {
				t.Fatalf("%s slot %d: %v", g.Name(), b, err)
			}
		}
		bad := map[string][]byte{
			"empty":         nil,
			"version":       append([]byte{2}, rec[1:]...),
			"truncated":     rec[:len(rec)-1],
			"trailing byte": append(bytes.Clone(rec), 0),
			"zero length":   append([]byte{1, 0, 5, 0}, rec[4:]...),
		}
		for name, r := range bad {
			if _, err := recordSlot(r, 0); !errors.Is(err, errBadRecord) {
				t.Errorf("%s: %v", name, err)
			}
		}
		for _, slot := range []int{-1, 5, 1 << 20} {
			if _, err := recordSlot(rec, slot); !errors.Is(err, errBadRecord) {
				t.Errorf("slot %d: %v", slot, err)
			}
		}
	}
	if _, err := encodeSessionRecord(nil); err == nil {
		t.Fatal("empty session encoded")
	}
}

// TestSharesStoredAndLoaded: a key session's shares are one record (the
// completion marker is not written), read back slot by slot through the
// cache; a nonce session's are one record per slot and a marker; a store
// of the previous version (per-slot records and a marker) is read; a
// missing share is ErrNotFound and a malformed record an error that is not.
func TestSharesStoredAndLoaded(t *testing.T) {
	g := group.Secp256k1()
	shares := make([]group.Scalar, 4)
	for b := range shares {
		shares[b], _ = g.RandomScalar(rand.Reader)
	}
	st := &memStore{m: map[string][]byte{}}
	e := &Engine{cfg: Config{Shares: st}}
	key := &app.SessionInfo{Name: "schnorr-3", Kind: app.KindSchnorr}
	if e.sharesStored(key) {
		t.Fatal("nothing stored yet")
	}
	if err := e.storeShares(key, shares); err != nil {
		t.Fatal(err)
	}
	if len(st.m) != 1 || st.m["dkg/schnorr-3"] == nil || !e.sharesStored(key) {
		t.Fatalf("key session stored as %d records", len(st.m))
	}
	for b, x := range shares {
		got, err := e.loadShare(&app.PoolItem{Kind: app.KindSchnorr, Session: "schnorr-3", Slot: b})
		if err != nil || !bytes.Equal(got, x.Bytes()) {
			t.Fatalf("slot %d: %v", b, err)
		}
	}
	if _, ok := e.records.get("dkg/schnorr-3"); !ok {
		t.Fatal("record not cached")
	}

	nonce := &app.SessionInfo{Name: "nonce-1", Kind: app.KindNonce}
	if err := e.storeShares(nonce, shares); err != nil {
		t.Fatal(err)
	}
	if st.m["dkg/nonce-1"] != nil || st.m["dkg/nonce-1/complete"] == nil || st.m["dkg/nonce-1/3"] == nil || !e.sharesStored(nonce) {
		t.Fatal("nonce session not stored per slot")
	}
	if got, err := e.loadShare(&app.PoolItem{Kind: app.KindNonce, Session: "nonce-1", Slot: 2}); err != nil || !bytes.Equal(got, shares[2].Bytes()) {
		t.Fatalf("nonce slot: %v", err)
	}

	// The previous version's layout for a key session.
	old := &app.SessionInfo{Name: "bls-9", Kind: app.KindBLS}
	if err := putShares(st, old.Name, shares); err != nil {
		t.Fatal(err)
	}
	st.Put(completeName(old.Name), []byte{1})
	if !e.sharesStored(old) {
		t.Fatal("old marker not recognized")
	}
	if got, err := e.loadShare(&app.PoolItem{Kind: app.KindBLS, Session: "bls-9", Slot: 1}); err != nil || !bytes.Equal(got, shares[1].Bytes()) {
		t.Fatalf("old per-slot record: %v", err)
	}

	if _, err := e.loadShare(&app.PoolItem{Kind: app.KindBLS, Session: "bls-10", Slot: 0}); !errors.Is(err, sealed.ErrNotFound) {
		t.Fatalf("missing share: %v", err)
	}
	st.Put("dkg/symmetric-1", []byte{1, 0, 9})
	if _, err := e.loadShare(&app.PoolItem{Kind: app.KindSymmetric, Session: "symmetric-1", Slot: 0}); err == nil || errors.Is(err, sealed.ErrNotFound) {
		t.Fatalf("malformed record: %v", err)
	}
}

// TestRecordCacheBounded: the cache keeps at most maxCachedRecords records
// and wipes the ones it evicts.
func TestRecordCacheBounded(t *testing.T) {
	var c recordCache
	first := []byte{1, 2, 3}
	c.put("a", first)
	for i := range 2 * maxCachedRecords {
		c.put(string(rune('b'+i)), []byte{9})
	}
	if len(c.m) != maxCachedRecords || len(c.order) != maxCachedRecords {
		t.Fatalf("%d records cached", len(c.m))
	}
	if _, ok := c.get("a"); ok || !bytes.Equal(first, []byte{0, 0, 0}) {
		t.Fatal("evicted record kept or not wiped")
	}
	c.drop()
	if len(c.m) != 0 {
		t.Fatal("drop kept records")
	}
}

// TestShareCacheLRU: the cache of opened key shares answers only for the
// commitment a share was checked against, keeps at most maxCachedShares
// (evicting the least recently used, whose references are cleared), and
// forget/drop empty it.
func TestShareCacheLRU(t *testing.T) {
	g := group.BLS12381G1()
	var c shareCache
	x, _ := g.RandomScalar(rand.Reader)
	vk := g.BaseMul(x)
	com := commitmentDigest([]byte("commitment"))
	c.put("k/0", com, x, vk)
	if gx, gvk, ok := c.get("k/0", com); !ok || !gx.Equal(x) || !gvk.Equal(vk) {
		t.Fatal("opened share not returned")
	}
	if _, _, ok := c.get("k/0", commitmentDigest([]byte("another commitment"))); ok {
		t.Fatal("share returned for another commitment")
	}
	if _, _, ok := c.get("k/1", com); ok {
		t.Fatal("share returned for another origin")
	}
	el := c.m["k/0"]
	victim := el.Value.(*openedShare)
	for i := range maxCachedShares {
		c.put(fmt.Sprintf("o/%d", i), com, x, vk)
		if i == maxCachedShares/2 {
			c.get(fmt.Sprintf("o/%d", 0), com) // recently used: kept
		}
	}
	if c.len() != maxCachedShares || len(c.m) != maxCachedShares {
		t.Fatalf("%d shares cached", c.len())
	}
	if _, _, ok := c.get("k/0", com); ok {
		t.Fatal("least recently used share kept")
	}
	if victim.x != nil || victim.vk != nil {
		t.Fatal("evicted entry still references the share")
	}
	if _, _, ok := c.get("o/0", com); !ok {
		t.Fatal("recently used share evicted")
	}
	c.put("extra", com, x, vk)
	if _, _, ok := c.get("o/1", com); ok || c.len() != maxCachedShares {
		t.Fatal("o/1 should be the next evicted")
	}
	c.forget("o/0")
	if _, _, ok := c.get("o/0", com); ok {
		t.Fatal("forgotten share kept")
	}
	c.drop()
	if c.len() != 0 || len(c.m) != 0 {
		t.Fatal("drop kept shares")
	}
}
