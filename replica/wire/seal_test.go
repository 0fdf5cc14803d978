package wire

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func TestSealReply(t *testing.T) {
	k, err := NewReplyKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey().Bytes()
	h := RequestHash([]byte(`{"id":"x"}`))
	msg := []byte("a DPRF evaluation")
	s, err := SealReply(pub, h, 3, msg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s, msg) {
		t.Fatal("plaintext visible in the sealed answer")
	}
	got, err := OpenReply(k, h, 3, s)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %q, %v", got, err)
	}
	other, _ := NewReplyKey(rand.Reader)
	flipped := bytes.Clone(s)
	flipped[len(flipped)-1] ^= 1
	flippedEnc := bytes.Clone(s)
	flippedEnc[0] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another key":      func() ([]byte, error) { return OpenReply(other, h, 3, s) },
		"another request":  func() ([]byte, error) { return OpenReply(k, RequestHash([]byte("other")), 3, s) },
		"another replica":  func() ([]byte, error) { return OpenReply(k, h, 2, s) },
		"truncated":        func() ([]byte, error) { return OpenReply(k, h, 3, s[:len(s)-1]) },
		"shorter than enc": func() ([]byte, error) { return OpenReply(k, h, 3, s[:10]) },
		"flipped tag":      func() ([]byte, error) { return OpenReply(k, h, 3, flipped) },
		"flipped enc":      func() ([]byte, error) { return OpenReply(k, h, 3, flippedEnc) },
		"nil key":          func() ([]byte, error) { return OpenReply(nil, h, 3, s) },
	} {
		if pt, err := open(); !errors.Is(err, ErrSealed) || pt != nil {
			t.Errorf("%s: opened (%v)", name, err)
		}
	}
	// Unusable reply keys are refused, never sealed to.
	for name, key := range map[string][]byte{
		"short":     pub[:31],
		"long":      append(bytes.Clone(pub), 0),
		"low order": make([]byte, 32), // the X25519 identity: all-zero shared secret
	} {
		if _, err := SealReply(key, h, 1, msg); !errors.Is(err, ErrSealed) {
			t.Errorf("%s reply key: %v", name, err)
		}
	}
}

// Two seals of the same answer differ (fresh HPKE encapsulation each time).
func TestSealReplyFresh(t *testing.T) {
	k, _ := NewReplyKey(rand.Reader)
	h := RequestHash(nil)
	a, _ := SealReply(k.PublicKey().Bytes(), h, 1, []byte("x"))
	b, _ := SealReply(k.PublicKey().Bytes(), h, 1, []byte("x"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals are equal")
	}
}

func FuzzOpenReply(f *testing.F) {
	k, _ := NewReplyKey(rand.Reader)
	h := RequestHash([]byte("r"))
	s, _ := SealReply(k.PublicKey().Bytes(), h, 1, []byte("partial"))
	f.Add(s)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := OpenReply(k, h, 1, b)
		if err == nil && (!bytes.Equal(b, s) || !bytes.Equal(pt, []byte("partial"))) {
			t.Fatalf("a forged seal opened")
		}
	})
}

func TestRequestHashBindsContext(t *testing.T) {
	a := RequestHash([]byte("x"))
	b := RequestHash([]byte("y"))
	if a == b {
		t.Fatal("hash ignores the request")
	}
}
