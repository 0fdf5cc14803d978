package engine

import (
	"bytes"
	"testing"
)

func FuzzDecodeUsed(f *testing.F) {
	f.Add(encodeUsed("alice/00112233445566778899aabbccddeeff", bytes.Repeat([]byte{1}, 32)))
	f.Add([]byte{0, 0})
	f.Add([]byte{0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, partial, ok := decodeUsed(b)
		if !ok {
			return
		}
		if len(req) > 0xffff {
			t.Skip()
		}
		again := encodeUsed(req, partial)
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x != %x", again, b)
		}
	})
}
