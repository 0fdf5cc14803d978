package sealed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPutManyAndPutDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := openPass(t, dir, "pw")
	if err != nil {
		t.Fatal(err)
	}
	// More records than one chunk.
	var recs []Record
	for i := range putManyChunk + 7 {
		recs = append(recs, Record{Name: fmt.Sprintf("dkg/s/%d", i), Secret: []byte(fmt.Sprintf("share %d", i))})
	}
	if err := s.PutMany(recs); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if got, err := s.Get(r.Name); err != nil || !bytes.Equal(got, r.Secret) {
			t.Fatalf("Get(%s) = %q, %v", r.Name, got, err)
		}
	}
	// A bad record anywhere refuses the whole batch before writing.
	bad := []Record{{Name: "fresh", Secret: []byte("x")}, {Name: "", Secret: []byte("y")}}
	if err := s.PutMany(bad); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("PutMany with an empty name: %v", err)
	}
	if _, err := s.Get("fresh"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused batch wrote a record: %v", err)
	}

	if err := s.PutDelete("used/s/0", []byte("partial"), "dkg/s/0", "dkg/s/1", "absent"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("used/s/0"); err != nil || string(got) != "partial" {
		t.Fatalf("Get(used) = %q, %v", got, err)
	}
	for _, n := range []string{"dkg/s/0", "dkg/s/1"} {
		if _, err := s.Get(n); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s not deleted: %v", n, err)
		}
	}
	if _, err := s.Get("dkg/s/2"); err != nil {
		t.Fatalf("an unrelated record was deleted: %v", err)
	}
	if err := s.PutDelete("x", []byte("y"), ""); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("PutDelete with an empty deletion name: %v", err)
	}
	if _, err := s.Get("x"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a refused PutDelete wrote its record")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name()[0] == '.' {
			t.Errorf("leftover temp file %s", e.Name())
		}
	}
}

// TestGroupSync checks the group commit: every caller returns after a sync
// that started after it called, concurrent callers share syncs, and a
// sync's error reaches the callers it covers.
func TestGroupSync(t *testing.T) {
	var g groupSync
	var mu sync.Mutex
	changes, synced := 0, 0 // changes made; changes covered by the last completed sync
	var runs atomic.Int32
	fn := func() error {
		runs.Add(1)
		mu.Lock()
		covered := changes
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		synced = covered
		mu.Unlock()
		return nil
	}
	const callers = 32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			mu.Lock()
			changes++
			mine := changes
			mu.Unlock()
			if err := g.sync(fn); err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if synced < mine {
				t.Errorf("returned before its change %d was synced (synced %d)", mine, synced)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := runs.Load(); n < 1 || n >= callers {
		t.Errorf("%d syncs for %d concurrent callers, want fewer (shared)", n, callers)
	}
	boom := errors.New("boom")
	if err := g.sync(func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("sync error = %v", err)
	}
	if err := g.sync(func() error { return nil }); err != nil {
		t.Fatalf("a later successful sync reported %v", err)
	}
}
