package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// TestSigCache: a remembered success never vouches for another key, message
// or signature, failures are never remembered, and the cache stays bounded.
func TestSigCache(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("request")
	sig := ed25519.Sign(priv, msg)
	var c sigCache
	for range 2 { // miss, then hit
		if !c.verify(pub, msg, sig) {
			t.Fatal("valid signature refused")
		}
	}
	bad := append([]byte(nil), sig...)
	bad[5] ^= 1
	for _, tc := range []struct {
		name          string
		pub, msg, sig []byte
	}{
		{"other key", pub2, msg, sig},
		{"other message", pub, []byte("requesT"), sig},
		{"other signature", pub, msg, bad},
		{"truncated signature", pub, msg, sig[:63]},
	} {
		for range 2 {
			if c.verify(tc.pub, tc.msg, tc.sig) {
				t.Fatalf("%s accepted", tc.name)
			}
		}
	}
	if len(c.m) != 1 {
		t.Fatalf("%d entries remembered, want 1", len(c.m))
	}
	for i := range sigCacheSize + 10 {
		m := []byte{byte(i), byte(i >> 8), byte(i >> 16)}
		if !c.verify(pub, m, ed25519.Sign(priv, m)) {
			t.Fatal("valid signature refused")
		}
		if len(c.m) > sigCacheSize {
			t.Fatalf("cache grew to %d", len(c.m))
		}
	}
	var none *sigCache
	if !none.verify(pub, msg, sig) || none.verify(pub, msg, bad) {
		t.Fatal("nil cache")
	}
}
