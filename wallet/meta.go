package wallet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
)

// metaContext domain-separates the plaintext framing of encrypted metadata.
const metaContext = "vhsm/wallet/meta/v1"

// metaFrame binds a plaintext to the row and field it belongs to:
// context ‖ 0 ‖ table ‖ 0 ‖ row id ‖ 0 ‖ field ‖ 0 ‖ value. The framing is
// inside the DiSE ciphertext, so a ciphertext copied into another row or
// field fails openMeta.
func metaFrame(table, row, field string) []byte {
	return []byte(metaContext + "\x00" + table + "\x00" + row + "\x00" + field + "\x00")
}

// sealMeta encrypts value for (table, row, field) with the metadata key and
// returns hex. The empty value is stored as the empty string (nothing to
// hide, and no HSM round trip).
func (s *Service) sealMeta(ctx context.Context, table, row, field, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	pt := append(metaFrame(table, row, field), value...)
	ct, err := s.hsm.Encrypt(ctx, s.cfg.MetadataKeyID, pt)
	clear(pt)
	if err != nil {
		return "", hsmErr("encrypt metadata", err)
	}
	enc := hex.EncodeToString(ct)
	s.cache.putBound(enc, value, table, row, field)
	return enc, nil
}

// openMeta decrypts a value stored by sealMeta and checks that it was
// sealed for (table, row, field).
func (s *Service) openMeta(ctx context.Context, table, row, field, enc string) (string, error) {
	if enc == "" {
		return "", nil
	}
	// A cached plaintext is served only for the row and field it was
	// sealed or checked for, so a ciphertext moved to another row still
	// goes to the HSM and fails the frame check.
	if v, ok := s.cache.get(enc, table, row, field); ok {
		return v, nil
	}
	ct, err := hex.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("%w: stored metadata is corrupt", ErrUnavailable)
	}
	pt, err := s.hsm.Decrypt(ctx, s.cfg.MetadataKeyID, ct)
	if err != nil {
		return "", hsmErr("decrypt metadata", err)
	}
	frame := metaFrame(table, row, field)
	if !bytes.HasPrefix(pt, frame) {
		clear(pt)
		return "", fmt.Errorf("%w: stored metadata of %s %s does not belong to it", ErrRejected, table, row)
	}
	v := string(pt[len(frame):])
	clear(pt)
	s.cache.putBound(enc, v, table, row, field)
	return v, nil
}

// labelCache is a bounded map from ciphertext to plaintext, so that
// listing wallets does not decrypt every label through the HSM each time.
// When full it is emptied (simple and bounded; the working set refills).
type labelCache struct {
	mu  sync.Mutex
	max int
	m   map[string]cacheEntry
}

type cacheEntry struct {
	value string
	bind  [32]byte
}

func newLabelCache(max int) *labelCache {
	return &labelCache{max: max, m: map[string]cacheEntry{}}
}

func bindHash(table, row, field string) [32]byte {
	return sha256.Sum256(metaFrame(table, row, field))
}

func (c *labelCache) get(enc, table, row, field string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[enc]
	if !ok || e.bind != bindHash(table, row, field) {
		return "", false
	}
	return e.value, true
}

func (c *labelCache) putBound(enc, value, table, row, field string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[enc] = cacheEntry{value: value, bind: bindHash(table, row, field)}
}
