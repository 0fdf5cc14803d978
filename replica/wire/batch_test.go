package wire

import (
	"bytes"
	"testing"
)

func TestBundleRoundTrip(t *testing.T) {
	parts := [][]byte{[]byte("share one"), nil, bytes.Repeat([]byte{7}, 300), {0}}
	var b []byte
	for _, p := range parts {
		b = AppendBundle(b, p)
	}
	got, err := SplitBundle(b, len(parts))
	if err != nil {
		t.Fatal(err)
	}
	for i := range parts {
		if !bytes.Equal(got[i], parts[i]) || (parts[i] == nil) != (got[i] == nil) {
			t.Fatalf("part %d: %x, want %x", i, got[i], parts[i])
		}
	}
	// Another count, a truncation or trailing bytes are errors.
	for _, tc := range []struct {
		b []byte
		n int
	}{
		{b, len(parts) - 1}, {b, len(parts) + 1}, {b[:len(b)-1], len(parts)},
		{append(bytes.Clone(b), 0), len(parts)}, {b, -1}, {nil, MaxBatchItems + 1}, {[]byte{0}, 1},
	} {
		if _, err := SplitBundle(tc.b, tc.n); err == nil {
			t.Fatalf("split of %d bytes into %d parts accepted", len(tc.b), tc.n)
		}
	}
	if got, err := SplitBundle(nil, 0); err != nil || len(got) != 0 {
		t.Fatalf("empty bundle: %v %v", got, err)
	}
}

func TestItemHash(t *testing.T) {
	base := BatchItem{ID: "00112233445566778899aabbccddeeff", Op: OpSign, Body: []byte(`{"key_id":"k"}`)}
	h := ItemHash("alice", &base)
	if h != ItemHash("alice", &base) {
		t.Fatal("item hash not deterministic")
	}
	seen := map[[32]byte]bool{h: true, RequestHash(base.Body): true}
	for _, tc := range []struct {
		client string
		it     BatchItem
	}{
		{"bob", base},
		{"alice", BatchItem{ID: "00112233445566778899aabbccddeef0", Op: base.Op, Body: base.Body}},
		{"alice", BatchItem{ID: base.ID, Op: OpDecrypt, Body: base.Body}},
		{"alice", BatchItem{ID: base.ID, Op: base.Op, Body: []byte(`{"key_id":"j"}`)}},
		{"alic", BatchItem{ID: "e" + base.ID, Op: base.Op, Body: base.Body}},
	} {
		h := ItemHash(tc.client, &tc.it)
		if seen[h] {
			t.Fatalf("item hash of %+v collides", tc)
		}
		seen[h] = true
	}
}

// FuzzSplitBundle: any bytes and count either split into parts that
// re-encode to the same bytes, or are refused; never a panic.
func FuzzSplitBundle(f *testing.F) {
	f.Add(AppendBundle(AppendBundle(nil, []byte("a")), nil), 2)
	f.Add([]byte{0, 5, 1}, 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		parts, err := SplitBundle(b, n)
		if err != nil {
			return
		}
		var again []byte
		for _, p := range parts {
			again = AppendBundle(again, p)
		}
		if !bytes.Equal(again, b) || len(parts) != n {
			t.Fatalf("split of %x into %d does not re-encode", b, n)
		}
	})
}
