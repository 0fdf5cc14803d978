package sealed

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// testCost keeps Argon2id fast in tests.
var testCost = &Argon2idCost{Time: 1, MemoryKiB: MinArgon2idMemoryKiB, Threads: 1}

func openPass(t *testing.T, dir, pass string) (*Store, error) {
	t.Helper()
	k, err := KeyFromPassphrase(dir, []byte(pass), testCost)
	if err != nil {
		return nil, err
	}
	return Open(dir, k)
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := openPass(t, dir, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("share bytes 0123456789")
	if err := s.Put("key-1.share", secret); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("empty", nil); err != nil {
		t.Fatal(err)
	}
	// Reopen with the same passphrase.
	s2, err := openPass(t, dir, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Get("key-1.share")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Get = %x, %v", got, err)
	}
	if got, err := s2.Get("empty"); err != nil || len(got) != 0 {
		t.Fatalf("Get empty = %x, %v", got, err)
	}
	if err := s2.Put("key-1.share", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s2.Get("key-1.share"); string(got) != "replaced" {
		t.Fatalf("after replace got %q", got)
	}
	if err := s2.Delete("key-1.share"); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get("key-1.share"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s2.Delete("key-1.share"); err != nil {
		t.Fatalf("delete absent: %v", err)
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name()[0] == '.' {
			t.Errorf("leftover temp file %s", e.Name())
		}
	}
}

func TestWrongPassphrase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := openPass(t, dir, "right")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("x", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if _, err := openPass(t, dir, "wrong"); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v, want ErrWrongKey", err)
	}
	if _, err := KeyFromPassphrase(dir, nil, testCost); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("empty passphrase: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	tmp := t.TempDir()
	kf := filepath.Join(tmp, "seal.key")
	if err := NewKeyFile(kf, bytes.NewReader(bytes.Repeat([]byte{7}, 32))); err != nil {
		t.Fatal(err)
	}
	k, err := KeyFromFile(kf)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "store")
	s, err := Open(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("a", []byte("b")); err != nil {
		t.Fatal(err)
	}
	var other Key
	other[0] = 1
	if _, err := Open(dir, &other); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("other key: %v", err)
	}
	if err := os.Chmod(kf, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := KeyFromFile(kf); !errors.Is(err, ErrPermissions) {
		t.Fatalf("world-readable key file: %v", err)
	}
	short := filepath.Join(tmp, "short.key")
	if err := os.WriteFile(short, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := KeyFromFile(short); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("short key file: %v", err)
	}
}

func TestCorruptedAnyByte(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	var k Key
	s, err := Open(dir, &k)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("share", []byte("sixteen byte sec")); err != nil {
		t.Fatal(err)
	}
	path := s.path("share")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range orig {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(orig)
			bad[i] ^= mask
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get("share")
			if !errors.Is(err, ErrCorrupted) || got != nil {
				t.Fatalf("byte %d flipped: got %x, %v", i, got, err)
			}
		}
	}
	// Truncated at every length.
	for n := 0; n < len(orig); n++ {
		if err := os.WriteFile(path, orig[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get("share"); !errors.Is(err, ErrCorrupted) || got != nil {
			t.Fatalf("truncated to %d: got %x, %v", n, got, err)
		}
	}
	// Extended.
	if err := os.WriteFile(path, append(bytes.Clone(orig), 0), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("share"); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("extended: %v", err)
	}
}

func TestNameBound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	var k Key
	s, err := Open(dir, &k)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("a", []byte("secret a")); err != nil {
		t.Fatal(err)
	}
	// Copy record a over record b: it must not authenticate as b.
	rec, _ := os.ReadFile(s.path("a"))
	if err := os.WriteFile(s.path("b"), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("b"); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("swapped record: %v", err)
	}
	for _, odd := range []string{"dkg/bls-0/3", "../x", ".hidden", "a b"} {
		if err := s.Put(odd, []byte(odd)); err != nil {
			t.Fatalf("Put(%q): %v", odd, err)
		}
		if got, err := s.Get(odd); err != nil || string(got) != odd {
			t.Fatalf("Get(%q) = %q, %v", odd, got, err)
		}
		if filepath.Dir(s.path(odd)) != dir {
			t.Fatalf("record %q escapes the store", odd)
		}
	}
	for _, bad := range []string{"", string(make([]byte, 121))} {
		if err := s.Put(bad, nil); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Put(%q) = %v", bad, err)
		}
		if _, err := s.Get(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Get(%q) = %v", bad, err)
		}
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	var k Key
	s, err := Open(dir, &k)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("p", []byte("x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.path("p"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("record mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, &k); !errors.Is(err, ErrPermissions) {
		t.Fatalf("open 0755 dir: %v", err)
	}
}

func TestCorruptedVerifierRefusesToOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	var k Key
	if _, err := Open(dir, &k); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "r-"+hex.EncodeToString([]byte(verifierName))+recordSuffix), []byte("VHSMSEAL\x01junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, &k); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("corrupted verifier: %v", err)
	}
}

// FuzzOpenRecord feeds arbitrary bytes to the record decoder: it must never
// panic and never return data for anything but a record it sealed itself.
func FuzzOpenRecord(f *testing.F) {
	var k Key
	s, err := Open(filepath.Join(f.TempDir(), "store"), &k)
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Put("n", []byte("fuzz secret")); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(s.path("n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		got, err := s.open("n", rec)
		if err != nil {
			if !errors.Is(err, ErrCorrupted) || got != nil {
				t.Fatalf("error %v with data", err)
			}
			return
		}
		// Only a record sealed by this key under this name authenticates
		// (fuzz workers each seal their own copy, with their own nonce).
		if string(got) != "fuzz secret" {
			t.Fatalf("forged record accepted")
		}
	})
}
