package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func entry(i int) Entry {
	e := Entry{Time: int64(1_700_000_000_000 + i), Client: "admin", KeyID: fmt.Sprintf("k%d", i%3), Op: "sign"}
	m := sha256.Sum256([]byte{byte(i)})
	e.Message = m[:]
	e.Request = sha256.Sum256([]byte(fmt.Sprintf("req %d", i)))
	e.Result = sha256.Sum256([]byte(fmt.Sprintf("res %d", i)))
	if i%2 == 1 {
		e.Op, e.KeyID, e.Message = "keys.list", "", nil
	}
	return e
}

func open(t *testing.T, dir string) *Log {
	t.Helper()
	l, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendN(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		seq, err := l.Append(entry(i))
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("append %d: seq %d", i, seq)
		}
	}
}

// all returns every record of l.
func all(t *testing.T, l *Log) []Record {
	t.Helper()
	var out []Record
	var after uint64
	for {
		rs, _, err := l.Query(Query{After: after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
		if len(rs) < 100 {
			return out
		}
		after = rs[len(rs)-1].Seq
	}
}

// headsAt returns the heads of recs at the given seqs.
func headsAt(t *testing.T, recs []Record, seqs ...uint64) map[uint64][32]byte {
	t.Helper()
	m := map[uint64][32]byte{}
	for _, r := range recs {
		for _, s := range seqs {
			if r.Seq == s {
				h, err := r.Head()
				if err != nil {
					t.Fatal(err)
				}
				m[s] = h
			}
		}
	}
	return m
}

func TestAppendSyncReload(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 600)
	cp, err := l.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if cp.Seq != 600 || cp != l.Last() {
		t.Fatalf("durable %d, last %d", cp.Seq, l.Last().Seq)
	}
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("chain file mode: %v %v", st.Mode(), err)
	}
	recs := all(t, l)
	if len(recs) != 600 {
		t.Fatalf("%d records", len(recs))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = open(t, dir)
	defer l.Close()
	if got := l.Last(); got != cp {
		t.Fatalf("reloaded at %d, want %d", got.Seq, cp.Seq)
	}
	if len(l.Broken()) != 0 {
		t.Fatalf("broken: %v", l.Broken())
	}
	appendN(t, l, 600, 10)
	recs = all(t, l)
	if len(recs) != 610 {
		t.Fatalf("%d records after reload and append", len(recs))
	}
	v := Verify(recs, headsAt(t, recs, 100, 600, 605))
	if !v.OK() || v.Committed != 605 || v.Uncommitted != 5 || v.Last != 610 {
		t.Fatalf("verdict %+v", v)
	}

	// Queries: paging through the index, and the filters.
	rs, last, err := l.Query(Query{After: 300, Limit: 3})
	if err != nil || last != 610 || len(rs) != 3 || rs[0].Seq != 301 {
		t.Fatalf("after 300: %d records from %v, last %d, %v", len(rs), rs, last, err)
	}
	rs, _, _ = l.Query(Query{KeyID: "k1", Limit: 1000})
	for _, r := range rs {
		if r.KeyID != "k1" {
			t.Fatalf("key filter returned %q", r.KeyID)
		}
	}
	if len(rs) == 0 {
		t.Fatal("key filter returned nothing")
	}
	rs, _, _ = l.Query(Query{Since: entry(605).Time, Limit: 1000})
	if len(rs) != 5 || rs[0].Seq != 606 {
		t.Fatalf("since filter: %d records", len(rs))
	}
}

func TestTornTailTruncated(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 5)
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	want := l.Last()
	l.Close()
	path := filepath.Join(dir, FileName)
	good, _ := os.ReadFile(path)

	// A crash in the middle of writing a batch of two more records.
	r := Record{Seq: 6, Prev: want.Head, Op: "sign", Client: "c"}
	enc, _ := r.Encode()
	batch := frame(frame(nil, enc), enc)
	for _, cut := range []int{1, 3, 4, 20, len(enc) + 4, len(enc) + 7, len(enc) + 8 + 10} {
		if err := os.WriteFile(path, append(bytes.Clone(good), batch[:cut]...), 0o600); err != nil {
			t.Fatal(err)
		}
		l := open(t, dir)
		if got := l.Last(); cut < len(enc)+8 && got != want {
			t.Fatalf("cut %d: reloaded at %d, want %d", cut, got.Seq, want.Seq)
		}
		l.Close()
		b, _ := os.ReadFile(path)
		wantLen := len(good)
		if cut >= len(enc)+8 {
			wantLen += len(enc) + 8 // the first frame was complete
		}
		if len(b) != wantLen {
			t.Fatalf("cut %d: file has %d bytes, want %d", cut, len(b), wantLen)
		}
	}
	if tails, _ := filepath.Glob(filepath.Join(dir, FileName+".tail-*")); len(tails) == 0 {
		t.Fatal("the cut tail was not kept")
	}
	// Zeros after a crash (the size grew, the data did not land).
	os.WriteFile(path, append(bytes.Clone(good), make([]byte, 100)...), 0o600)
	l = open(t, dir)
	defer l.Close()
	if l.Last() != want || len(l.Broken()) != 0 {
		t.Fatalf("zero tail: at %d, broken %v", l.Last().Seq, l.Broken())
	}
	appendN(t, l, 5, 1)
	if v := Verify(all(t, l), nil); !v.OK() || v.Records != 6 {
		t.Fatalf("after truncation: %+v", v)
	}
}

// rewrite replaces the chain file of dir by recs, framed as the log does.
func rewrite(t *testing.T, dir string, recs []Record) {
	t.Helper()
	var b []byte
	for i := range recs {
		enc, err := recs[i].Encode()
		if err != nil {
			t.Fatal(err)
		}
		b = frame(b, enc)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTamperDetected(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 20)
	recs := all(t, l)
	l.Close()
	heads := headsAt(t, recs, 5, 10, 15)

	cases := []struct {
		name   string
		change func([]Record) []Record
		want   uint64
	}{
		{"altered", func(r []Record) []Record { r[6].KeyID = "other"; return r }, 7},
		{"altered at a head", func(r []Record) []Record { r[9].Time++; return r }, 10},
		{"altered last committed", func(r []Record) []Record { r[14].Op = "keys.gen"; return r }, 15},
		{"deleted", func(r []Record) []Record { return append(r[:7:7], r[8:]...) }, 8},
		{"deleted tail", func(r []Record) []Record { return r[:12] }, 13},
		{"inserted", func(r []Record) []Record {
			x := r[3]
			x.Seq, x.Client = 5, "intruder"
			out := append(r[:4:4], x)
			for _, y := range r[4:] {
				y.Seq++
				out = append(out, y)
			}
			return out
		}, 4},
		{"reordered", func(r []Record) []Record {
			r[2], r[3] = r[3], r[2]
			r[2].Seq, r[3].Seq = 3, 4
			return r
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			changed := tc.change(append([]Record(nil), recs...))
			rewrite(t, d, changed)
			l := open(t, d) // the evidence is kept
			defer l.Close()
			if len(l.Broken()) == 0 && tc.name != "deleted tail" {
				t.Error("reload found nothing")
			}
			got := all(t, l)
			v := Verify(got, heads)
			if v.OK() || v.Failures[0].Seq != tc.want {
				t.Fatalf("verdict %+v, want a failure at seq %d", v, tc.want)
			}
			// Appending goes on after the evidence.
			if _, err := l.Append(entry(99)); err != nil {
				t.Fatal(err)
			}
		})
	}
	if v := Verify(recs, heads); !v.OK() || v.Uncommitted != 5 {
		t.Fatalf("untouched chain: %+v", v)
	}
}

func TestClosed(t *testing.T) {
	l := open(t, t.TempDir())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(entry(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for i := 0; i < 4; i++ {
		e := entry(i)
		r := Record{Seq: uint64(i), Time: e.Time, Client: e.Client, KeyID: e.KeyID, Op: e.Op, Message: e.Message, Request: e.Request, Result: e.Result}
		enc, _ := r.Encode()
		f.Add(enc)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatal("decode → encode is not the identity")
		}
		w := r.Wire()
		back, err := FromWire(&w)
		if err != nil {
			t.Fatal(err)
		}
		if e2, _ := back.Encode(); !bytes.Equal(e2, b) {
			t.Fatal("wire round trip changed the record")
		}
	})
}
