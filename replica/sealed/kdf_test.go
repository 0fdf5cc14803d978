package sealed

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// copyStore copies a checked-in store into a fresh 0700 directory (git
// does not keep directory modes, and Open refuses a group-readable one).
func copyStore(t *testing.T, from string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestScryptStoreOpens opens testdata/scrypt-store, written by the code
// before Argon2id (scrypt N=2^10, r=8, p=1; seal.json without a kdf field),
// and checks it keeps its format when written to.
func TestScryptStoreOpens(t *testing.T) {
	dir := copyStore(t, filepath.Join("testdata", "scrypt-store"))
	header, _ := os.ReadFile(filepath.Join(dir, paramsFile))
	k, err := KeyFromPassphrase(dir, []byte("correct horse battery staple"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("replica-sign-key")
	if err != nil || string(got) != "scrypt-era secret 0123456789" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := s.Put("new", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, paramsFile)); !bytes.Equal(after, header) {
		t.Fatalf("seal.json rewritten: %s", after)
	}
	h, err := readKDFHeader(filepath.Join(dir, paramsFile))
	if err != nil || h.KDF != kdfScrypt || h.N != 1<<10 {
		t.Fatalf("header %+v, %v", h, err)
	}
	k2, err := KeyFromPassphrase(dir, []byte("wrong"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, k2); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

// TestNewStoreUsesArgon2id checks that a new passphrase store records
// Argon2id with the default RFC 9106 cost, and that a cost out of bounds is
// refused before anything is written.
func TestNewStoreUsesArgon2id(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	k, err := KeyFromPassphrase(dir, []byte("pw"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, k); err != nil {
		t.Fatal(err)
	}
	h, err := readKDFHeader(filepath.Join(dir, paramsFile))
	if err != nil {
		t.Fatal(err)
	}
	if h.KDF != kdfArgon2id || h.Argon2 != (Argon2idCost{Time: 3, MemoryKiB: 64 << 10, Threads: 4}) || len(h.Salt) != 32 {
		t.Fatalf("header %+v", h)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, paramsFile))
	if !bytes.Contains(raw, []byte(`"kdf":"argon2id"`)) {
		t.Fatalf("seal.json %s does not name argon2id", raw)
	}
	k2, err := KeyFromPassphrase(dir, []byte("pw"), testCost) // cost ignored: the store has one
	if err != nil || *k2 != *k {
		t.Fatalf("reopen derived another key: %v", err)
	}

	other := filepath.Join(t.TempDir(), "store")
	for _, c := range []Argon2idCost{{Time: 0, MemoryKiB: 1 << 16, Threads: 1}, {Time: 1, MemoryKiB: 1 << 21, Threads: 1}, {Time: 1, MemoryKiB: 1 << 10, Threads: 0}, {Time: 11, MemoryKiB: 1 << 10, Threads: 1}} {
		if _, err := KeyFromPassphrase(other, []byte("pw"), &c); !errors.Is(err, ErrKDF) {
			t.Errorf("cost %+v: %v, want ErrKDF", c, err)
		}
	}
	if _, err := os.Stat(filepath.Join(other, paramsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("seal.json written for a refused cost: %v", err)
	}
}

// TestTamperedKDFHeader: an unknown KDF or absurd parameters are refused
// with ErrKDF before any derivation, malformed JSON with ErrCorrupted, and
// parameters changed within bounds derive another key, refused by Open.
func TestTamperedKDFHeader(t *testing.T) {
	base := filepath.Join(t.TempDir(), "store")
	s, err := openPass(t, base, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("x", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(base, paramsFile))
	if err != nil {
		t.Fatal(err)
	}
	salt := `"salt":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`
	cases := []struct {
		name, header string
		want         error
	}{
		{"unknown kdf", `{"kdf":"pbkdf2","time":1,"memory_kib":1024,"threads":1,` + salt + `}`, ErrKDF},
		{"empty kdf", `{"kdf":"","n":1024,"r":8,"p":1,` + salt + `}`, ErrKDF},
		{"argon2id memory 4 TiB", `{"kdf":"argon2id","time":1,"memory_kib":4294967295,"threads":1,` + salt + `}`, ErrKDF},
		{"argon2id time 1000", `{"kdf":"argon2id","time":1000,"memory_kib":1024,"threads":1,` + salt + `}`, ErrKDF},
		{"argon2id 255 threads", `{"kdf":"argon2id","time":1,"memory_kib":1024,"threads":255,` + salt + `}`, ErrKDF},
		{"argon2id no salt", `{"kdf":"argon2id","time":1,"memory_kib":1024,"threads":1}`, ErrKDF},
		{"scrypt N=2^30", `{"n":1073741824,"r":8,"p":1,` + salt + `}`, ErrKDF},
		{"scrypt p=16 r=32", `{"n":65536,"r":32,"p":16,` + salt + `}`, ErrKDF},
		{"scrypt N not a power of two", `{"n":32767,"r":8,"p":1,` + salt + `}`, ErrKDF},
		{"argon2id 8 passes over 1 GiB", `{"kdf":"argon2id","time":8,"memory_kib":1048576,"threads":4,` + salt + `}`, ErrKDF},
		{"scrypt fields in argon2id", `{"kdf":"argon2id","n":1024,"time":1,"memory_kib":1024,"threads":1,` + salt + `}`, ErrCorrupted},
		{"trailing data", string(good) + `{}`, ErrCorrupted},
		{"not json", `argon2id`, ErrCorrupted},
		{"argon2id time changed", string(bytes.Replace(good, []byte(`"time":1`), []byte(`"time":2`), 1)), ErrWrongKey},
		{"argon2id salt changed", `{"kdf":"argon2id","time":1,"memory_kib":1024,"threads":1,` + salt + `}`, ErrWrongKey},
		{"downgraded to scrypt", `{"n":1024,"r":8,"p":1,` + salt + `}`, ErrWrongKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyStore(t, base)
			if err := os.WriteFile(filepath.Join(dir, paramsFile), []byte(tc.header), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := openPass(t, dir, "pw")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzKDFHeader feeds arbitrary bytes to the seal.json decoder: it never
// panics, refuses with ErrKDF or ErrCorrupted only, and what it accepts is
// within bounds and re-encodes to a header that decodes to the same.
func FuzzKDFHeader(f *testing.F) {
	salt := `"salt":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`
	f.Add([]byte(`{"kdf":"argon2id","time":3,"memory_kib":65536,"threads":4,` + salt + `}`))
	f.Add([]byte(`{"n":32768,"r":8,"p":1,` + salt + `}`))
	f.Add([]byte(`{"kdf":"scrypt","n":32768,"r":8,"p":1,` + salt + `}`))
	f.Add([]byte(`{"kdf":"argon2id","time":4294967295,"memory_kib":4294967295,"threads":255,` + salt + `}`))
	if b, err := os.ReadFile(filepath.Join("testdata", "scrypt-store", paramsFile)); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeKDFHeader(b)
		if err != nil {
			if !errors.Is(err, ErrKDF) && !errors.Is(err, ErrCorrupted) {
				t.Fatalf("error %v wraps neither ErrKDF nor ErrCorrupted", err)
			}
			return
		}
		if err := h.check(); err != nil {
			t.Fatalf("accepted a header out of bounds: %v", err)
		}
		enc, err := h.marshal()
		if err != nil {
			t.Fatal(err)
		}
		h2, err := decodeKDFHeader(enc)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		if h2.KDF != h.KDF || h2.Argon2 != h.Argon2 || h2.N != h.N || h2.R != h.R || h2.P != h.P || !bytes.Equal(h2.Salt, h.Salt) {
			t.Fatalf("round trip changed %+v to %+v", h, h2)
		}
	})
}
