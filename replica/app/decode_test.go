package app

import (
	"crypto/rand"
	"testing"

	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

func TestDecodeCache(t *testing.T) {
	var c decodeCache
	ec := group.Secp256k1()
	tn := newTestNet(t, 4, smallPools())
	a, err := New(t.TempDir(), tn.G, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	p, err := a.sessionParams([]byte("test"), &SessionInfo{Name: "nonce-0", Kind: KindNonce, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dkg.NewDealing(p, 1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := d.Marshal()
	m1, err := c.decode(ec, b)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := c.decode(ec, b)
	if err != nil || m2 != m1 {
		t.Fatalf("second decode = %p, %v; want the cached %p", m2, err, m1)
	}
	if string(m1.Marshal()) != string(b) {
		t.Fatal("cached message does not re-encode to its bytes")
	}
	// The group is part of the key: the bytes do not decode in G1.
	if _, err := c.decode(group.BLS12381G1(), b); err == nil {
		t.Fatal("secp256k1 dealing decoded in BLS12-381 G1")
	}
	bad := append([]byte{}, b...)
	bad[len(bad)/2] ^= 0xff
	for range 2 {
		if m, err := c.decode(ec, bad[:len(bad)-1]); err == nil {
			t.Fatalf("truncated dealing decoded: %v", m.Kind())
		}
	}
	if len(c.m) != 1 {
		t.Fatalf("cache holds %d messages, want 1 (failures are not cached)", len(c.m))
	}
	for range decodeCacheSize + 5 {
		d, err := dkg.NewDealing(p, 2, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.decode(ec, d.Marshal()); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.m) != decodeCacheSize || len(c.order) != decodeCacheSize {
		t.Fatalf("cache holds %d (%d ordered), want the bound %d", len(c.m), len(c.order), decodeCacheSize)
	}
}
