// Package sealed is the replica's sealed secret store: every secret (a key
// share, a nonce share, the replica's long-term keys) is kept in its own file,
// encrypted and authenticated with XChaCha20-Poly1305 under a 32-byte sealing
// key, with the record name bound as associated data so that a record cannot
// be swapped for another.
//
// # Sealing key
//
// The sealing key comes either from a 32-byte key file ([KeyFromFile]) or from
// a passphrase stretched with Argon2id (RFC 9106; [KeyFromPassphrase],
// [DefaultArgon2id]). The store directory's seal.json names the KDF and holds
// its parameters and a random salt; stores created before Argon2id name none
// and are keyed with scrypt, which stays readable. An unknown KDF or
// parameters beyond fixed bounds are refused with [ErrKDF] before any
// derivation. The key is derived once, when the store is opened. Every store
// holds a verifier record written when it is created, so that opening it with
// the wrong key (or parameters changed in seal.json) fails with [ErrWrongKey]
// instead of failing later on the first share.
//
// # Records
//
// A record named n is the file "r-" ‖ hex(n) ‖ ".sealed"; names are
// arbitrary bytes (1 to 120), slashes included.
//
//	magic "VHSMSEAL" ‖ version 0x01 ‖ nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)
//
// with associated data "vhsm/sealed/v1\x00" ‖ name. A truncated, corrupted or
// substituted record fails to decrypt and yields [ErrCorrupted], never data.
//
// # Durability
//
// Files are created 0600 in a 0700 directory. A write goes to a temporary
// file that is synced, renamed over the record and followed by a sync of the
// directory, so a crash leaves either the old or the new record. Put, PutMany,
// PutDelete and Delete return only once their changes are durable.
//
// The directory sync is a group commit: writers whose renames or deletions
// are done wait for one directory sync that started after them, so that
// concurrent writers (parallel signs, a batch of DKG shares) share one sync
// instead of queueing for one each. [Store.PutMany] writes a batch of records
// with one directory sync, and [Store.PutDelete] records a consumed nonce and
// deletes its shares with one.
package sealed

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Errors returned by the store.
var (
	// ErrNotFound is returned by Get when no record has the name.
	ErrNotFound = errors.New("sealed: not found")
	// ErrCorrupted is returned when a record fails to authenticate: it was
	// truncated, modified, or belongs to another name or another key.
	ErrCorrupted = errors.New("sealed: record corrupted or not authentic")
	// ErrWrongKey is returned by Open when the sealing key (passphrase or key
	// file) is not the one the store was created with.
	ErrWrongKey = errors.New("sealed: wrong passphrase or key file")
	// ErrInvalidName is returned for an empty record name or one longer than
	// 120 bytes.
	ErrInvalidName = errors.New("sealed: invalid record name")
	// ErrInvalidKey is returned for a sealing key or key file that is not 32
	// bytes, or an empty passphrase.
	ErrInvalidKey = errors.New("sealed: invalid sealing key")
	// ErrPermissions is returned by Open when the store directory or a key file
	// is readable by group or others.
	ErrPermissions = errors.New("sealed: insecure permissions")
)

const (
	// KeySize is the size of a sealing key.
	KeySize = chacha20poly1305.KeySize

	magic        = "VHSMSEAL"
	version      = 1
	headerLen    = len(magic) + 1
	nonceLen     = chacha20poly1305.NonceSizeX
	overhead     = headerLen + nonceLen + chacha20poly1305.Overhead
	aadPrefix    = "vhsm/sealed/v1\x00"
	recordSuffix = ".sealed"
	paramsFile   = "seal.json"
	verifierName = "seal-verifier"
	maxNameLen   = 120 // hex-encoded in a file name of at most 255 bytes
	// MaxSecretBytes bounds a secret (and so a record read from disk).
	MaxSecretBytes = 1 << 20
)

var verifierPlain = []byte("vhsm sealed store verifier v1")

// Key is a 32-byte sealing key.
type Key [KeySize]byte

// Store is a directory of sealed records. It is safe for concurrent use.
type Store struct {
	dir  string
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
	rand  io.Reader
	dsync groupSync // the directory's group-committed sync
}

// groupSync runs a sync function on behalf of many callers: a caller
// returns after a sync that started after it called has completed, and
// callers arriving while a sync runs share the next one.
type groupSync struct {
	mu      sync.Mutex
	cond    sync.Cond
	running bool
	started uint64 // syncs started so far
	done    uint64 // syncs completed so far (they run one at a time)
	err     error  // result of the last completed sync
}

// sync returns the result of a run of fn that started after sync was
// called. A later run covers the changes of earlier callers, so a caller
// whose own run was overtaken takes the latest result.
func (g *groupSync) sync(fn func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond.L == nil {
		g.cond.L = &g.mu
	}
	need := g.started + 1 // the first run that starts after this call
	for g.done < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		run := g.started
		g.mu.Unlock()
		err := fn()
		g.mu.Lock()
		g.running = false
		g.done, g.err = run, err
		g.cond.Broadcast()
	}
	return g.err
}

// Open opens (creating if needed) the store in dir under key. A new store
// gets a verifier record; an existing one is checked against it, so the wrong
// key gives ErrWrongKey and a damaged verifier gives ErrCorrupted.
func Open(dir string, key *Key) (*Store, error) {
	if key == nil {
		return nil, ErrInvalidKey
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("sealed: new cipher: %w", err)
	}
	s := &Store{dir: dir, aead: aead, rand: rand.Reader}
	got, err := s.Get(verifierName)
	switch {
	case errors.Is(err, ErrNotFound):
		if err := s.Put(verifierName, verifierPlain); err != nil {
			return nil, fmt.Errorf("write verifier: %w", err)
		}
	case errors.Is(err, ErrCorrupted):
		// The verifier authenticates under the right key unless the key is wrong
		// or the file was damaged; tell the two apart by its length.
		if fi, statErr := os.Stat(s.path(verifierName)); statErr == nil && fi.Size() == int64(overhead+len(verifierPlain)) {
			return nil, ErrWrongKey
		}
		return nil, fmt.Errorf("verifier: %w", ErrCorrupted)
	case err != nil:
		return nil, err
	case subtle.ConstantTimeCompare(got, verifierPlain) != 1:
		return nil, ErrWrongKey
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Put seals secret under name, replacing any previous record; it returns
// once the record is durable.
func (s *Store) Put(name string, secret []byte) error {
	return s.PutDelete(name, secret)
}

// Record is one named secret of [Store.PutMany].
type Record struct {
	Name   string
	Secret []byte
}

// PutMany seals every record like Put, with one directory sync for the
// batch; it returns once all are durable. It checks every name and size
// before writing anything. On an error some records may have been written
// (each whole, never torn) and none is reported durable.
func (s *Store) PutMany(recs []Record) error {
	for _, r := range recs {
		if err := checkRecord(r.Name, r.Secret); err != nil {
			return err
		}
	}
	for len(recs) > 0 {
		n := min(len(recs), putManyChunk)
		if err := s.putChunk(recs[:n]); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return s.syncDir()
}

// putManyChunk bounds the temporary files PutMany holds open at once.
const putManyChunk = 64

// putChunk writes and renames a few checked records, without the directory
// sync.
func (s *Store) putChunk(recs []Record) error {
	// Write every temporary file first and sync them afterwards: the
	// first sync commits the others' data too on journaling file systems.
	tmps := make([]*os.File, len(recs))
	defer func() {
		for _, f := range tmps {
			if f != nil {
				_ = f.Close()
				_ = os.Remove(f.Name())
			}
		}
	}()
	for i, r := range recs {
		rec, err := s.seal(r.Name, r.Secret)
		if err != nil {
			return err
		}
		if tmps[i], err = writeTemp(s.path(r.Name), rec, 0o600); err != nil {
			return fmt.Errorf("sealed: write %s: %w", r.Name, err)
		}
	}
	for i, r := range recs {
		if err := syncClose(tmps[i]); err != nil {
			return fmt.Errorf("sealed: write %s: %w", r.Name, err)
		}
		if err := os.Rename(tmps[i].Name(), s.path(r.Name)); err != nil {
			return fmt.Errorf("sealed: write %s: %w", r.Name, err)
		}
		tmps[i] = nil
	}
	return nil
}

// PutDelete seals secret under name like Put and deletes the records del,
// with one directory sync; it returns once the record and the deletions
// are durable. A crash before it returns may leave any subset of the
// deletions done, with or without the new record: callers put nothing in
// del whose early loss would be unsafe. A vhsm replica records a consumed
// nonce share this way and deletes the share itself in the same step; a
// share lost before its consumption record only makes that one nonce
// unusable.
func (s *Store) PutDelete(name string, secret []byte, del ...string) error {
	if err := checkRecord(name, secret); err != nil {
		return err
	}
	for _, d := range del {
		if !validName(d) {
			return ErrInvalidName
		}
	}
	rec, err := s.seal(name, secret)
	if err != nil {
		return err
	}
	f, err := writeTemp(s.path(name), rec, 0o600)
	if err == nil {
		err = syncClose(f)
		if err == nil {
			err = os.Rename(f.Name(), s.path(name))
		}
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("sealed: write %s: %w", name, err)
	}
	for _, d := range del {
		if err := os.Remove(s.path(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sealed: delete %s: %w", d, err)
		}
	}
	return s.syncDir()
}

// checkRecord validates a record's name and size.
func checkRecord(name string, secret []byte) error {
	if !validName(name) {
		return ErrInvalidName
	}
	if len(secret) > MaxSecretBytes {
		return fmt.Errorf("sealed: secret too large (%d bytes)", len(secret))
	}
	return nil
}

// seal encrypts secret into the record format under a fresh nonce.
func (s *Store) seal(name string, secret []byte) ([]byte, error) {
	nonce := make([]byte, nonceLen)
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, fmt.Errorf("sealed: read nonce: %w", err)
	}
	rec := make([]byte, 0, overhead+len(secret))
	rec = append(rec, magic...)
	rec = append(rec, version)
	rec = append(rec, nonce...)
	return s.aead.Seal(rec, nonce, secret, aad(name)), nil
}

// syncDir makes the store directory's renames and deletions durable, in a
// group commit shared by concurrent writers.
func (s *Store) syncDir() error {
	return s.dsync.sync(func() error { return syncDir(s.dir) })
}

// Get returns the secret sealed under name: ErrNotFound when absent,
// ErrCorrupted when the record does not authenticate.
func (s *Store) Get(name string) ([]byte, error) {
	if !validName(name) {
		return nil, ErrInvalidName
	}
	f, err := os.Open(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sealed: open %s: %w", name, err)
	}
	defer f.Close()
	rec, err := io.ReadAll(io.LimitReader(f, int64(overhead+MaxSecretBytes+1)))
	if err != nil {
		return nil, fmt.Errorf("sealed: read %s: %w", name, err)
	}
	secret, err := s.open(name, rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return secret, nil
}

// Delete removes the record name; deleting an absent record is not an error.
func (s *Store) Delete(name string) error {
	if !validName(name) {
		return ErrInvalidName
	}
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sealed: delete %s: %w", name, err)
	}
	return s.syncDir()
}

// open decodes and authenticates one record.
func (s *Store) open(name string, rec []byte) ([]byte, error) {
	if len(rec) < overhead || len(rec) > overhead+MaxSecretBytes {
		return nil, ErrCorrupted
	}
	if !bytes.Equal(rec[:len(magic)], []byte(magic)) || rec[len(magic)] != version {
		return nil, ErrCorrupted
	}
	nonce := rec[headerLen : headerLen+nonceLen]
	secret, err := s.aead.Open(nil, nonce, rec[headerLen+nonceLen:], aad(name))
	if err != nil {
		return nil, ErrCorrupted
	}
	return secret, nil
}

// path maps a record name to its file: the name hex-encoded, so that any
// name (slashes included) is a single safe file name.
func (s *Store) path(name string) string {
	return filepath.Join(s.dir, "r-"+hex.EncodeToString([]byte(name))+recordSuffix)
}

func aad(name string) []byte { return append([]byte(aadPrefix), name...) }

func validName(name string) bool {
	return len(name) > 0 && len(name) <= maxNameLen
}

// ensureDir creates dir 0700 or checks that an existing one is not open to
// group or others.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sealed: create dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("sealed: stat dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("sealed: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s is %v, want 0700", ErrPermissions, dir, fi.Mode().Perm())
	}
	return nil
}

// WriteFileAtomic writes data to path with perm: temporary file in the same
// directory, fsync, rename, fsync of the directory.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	f, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := syncClose(f); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data with perm to a new temporary file next to path and
// returns it open and not yet synced; on error nothing is left behind.
func writeTemp(path string, data []byte, perm fs.FileMode) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err = f.Chmod(perm); err == nil {
		_, err = f.Write(data)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// syncClose syncs and closes f (closing it even when the sync fails).
func syncClose(f *os.File) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sealed: sync dir: %w", err)
	}
	return nil
}

// KeyFromFile reads a 32-byte sealing key from path, which must not be
// readable by group or others.
func KeyFromFile(path string) (*Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sealed: key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: key file %s is %v, want 0600", ErrPermissions, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sealed: key file: %w", err)
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("%w: key file holds %d bytes, want %d", ErrInvalidKey, len(b), KeySize)
	}
	var k Key
	copy(k[:], b)
	clear(b)
	return &k, nil
}

// NewKeyFile writes a fresh random sealing key to path (0600) unless the
// file exists already.
func NewKeyFile(path string, rnd io.Reader) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	var k Key
	if _, err := io.ReadFull(rnd, k[:]); err != nil {
		return fmt.Errorf("sealed: key file: %w", err)
	}
	defer clear(k[:])
	if err := WriteFileAtomic(path, k[:], 0o600); err != nil {
		return fmt.Errorf("sealed: key file: %w", err)
	}
	return nil
}
