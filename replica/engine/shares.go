package engine

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/threshold/group"
)

// Session records.
//
// The shares of a key session (schnorr, bls, symmetric) are stored in one
// sealed record, "dkg/<session>", written once all of them are derived:
//
//	version 0x01 ‖ uint16 slots ‖ uint8 scalar length ‖ slots × scalar
//
// One record is one synced file write per session instead of one per slot
// (and a completion marker): the record's presence is the completion
// marker. Stores written before hold one record per slot,
// "dkg/<session>/<slot>", and the marker "dkg/<session>/complete"; they are
// still read, slot by slot.
//
// Nonce sessions keep one record per slot: a nonce share is deleted once
// used, so that it can never sign twice.
//
// Loaded records are kept decrypted in a small cache (at most
// maxCachedRecords sessions, wiped when evicted), so that using a key does
// not read and open a record of the whole batch; every share is still
// checked against its commitment before its first use (shareAndKey). A
// record damaged on disk after it was loaded is thus noticed when it is
// loaded again (after eviction or a restart); until then the replica
// computes with the copy that opened and passed its checks. Key shares
// that passed are further kept decoded in the engine's cache of opened
// shares (sharecache.go), so that a use touches neither the record nor
// the check.

// sessionRecordVersion is the first byte of a session record.
const sessionRecordVersion = 0x01

// sessionRecordHeader is the length of a session record's header.
const sessionRecordHeader = 4

// maxCachedRecords bounds the decrypted session records kept in memory.
const maxCachedRecords = 8

// errBadRecord: a session record that opened (it is authentic) but does not
// hold the slot asked for or is not a session record at all.
var errBadRecord = errors.New("engine: malformed session record")

// sessionRecordName names the record of all of a key session's shares.
func sessionRecordName(session string) string { return "dkg/" + session }

// perSession reports whether the shares of a session of this kind are
// stored in one session record.
func perSession(kind string) bool { return kind != app.KindNonce }

// encodeSessionRecord encodes the shares of every slot of a session.
func encodeSessionRecord(shares []group.Scalar) ([]byte, error) {
	if len(shares) == 0 || len(shares) > 0xffff {
		return nil, fmt.Errorf("%w: %d slots", errBadRecord, len(shares))
	}
	sl := len(shares[0].Bytes())
	b := make([]byte, sessionRecordHeader, sessionRecordHeader+len(shares)*sl)
	b[0] = sessionRecordVersion
	b[1], b[2], b[3] = byte(len(shares)>>8), byte(len(shares)), byte(sl)
	for _, x := range shares {
		xb := x.Bytes()
		if len(xb) != sl {
			clear(b)
			return nil, fmt.Errorf("%w: scalar length", errBadRecord)
		}
		b = append(b, xb...)
		clear(xb)
	}
	return b, nil
}

// recordSlot returns a copy of slot's scalar bytes in a session record.
func recordSlot(rec []byte, slot int) ([]byte, error) {
	if len(rec) < sessionRecordHeader || rec[0] != sessionRecordVersion {
		return nil, fmt.Errorf("%w: header", errBadRecord)
	}
	n, sl := int(rec[1])<<8|int(rec[2]), int(rec[3])
	if sl == 0 || len(rec) != sessionRecordHeader+n*sl {
		return nil, fmt.Errorf("%w: length", errBadRecord)
	}
	if slot < 0 || slot >= n {
		return nil, fmt.Errorf("%w: slot %d of %d", errBadRecord, slot, n)
	}
	off := sessionRecordHeader + slot*sl
	return append([]byte(nil), rec[off:off+sl]...), nil
}

// recordCache holds recently loaded session records, decrypted.
type recordCache struct {
	mu    sync.Mutex
	m     map[string][]byte
	order []string // insertion order, for eviction
}

func (c *recordCache) get(name string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.m[name]
	return rec, ok
}

func (c *recordCache) put(name string, rec []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string][]byte, maxCachedRecords)
	}
	if _, ok := c.m[name]; ok {
		clear(rec)
		return
	}
	if len(c.order) >= maxCachedRecords {
		clear(c.m[c.order[0]])
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[name] = rec
	c.order = append(c.order, name)
}

// drop forgets every cached record (and wipes it).
func (c *recordCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rec := range c.m {
		clear(rec)
	}
	c.m, c.order = nil, nil
}

// loadShare returns the stored bytes of this replica's share of a pool
// item (a copy the caller may wipe): from the session record of a key
// session (cached), else from the per-slot record of a nonce session or of
// a store written before session records. It returns an error wrapping
// sealed.ErrNotFound when neither exists.
func (e *Engine) loadShare(it *app.PoolItem) ([]byte, error) {
	if !perSession(it.Kind) {
		return e.cfg.Shares.Get(shareName(it.Session, it.Slot))
	}
	name := sessionRecordName(it.Session)
	if rec, ok := e.records.get(name); ok {
		return recordSlot(rec, it.Slot)
	}
	rec, err := e.cfg.Shares.Get(name)
	if errors.Is(err, sealed.ErrNotFound) {
		// A store written before session records: one record per slot.
		return e.cfg.Shares.Get(shareName(it.Session, it.Slot))
	}
	if err != nil {
		return nil, err
	}
	x, err := recordSlot(rec, it.Slot)
	if err != nil {
		clear(rec)
		return nil, err
	}
	e.records.put(name, rec)
	return x, nil
}

// sharesStored reports whether the shares of a done session are stored:
// its session record (key sessions), or the completion marker written
// after the per-slot records (nonce sessions, and stores written before
// session records).
//
// A record that exists but does not open (corrupted, not authentic) counts
// as stored: the store is damaged, the replica reports itself not ready
// until an operator restores it, and refuses every request needing those
// shares — it never silently replaces what it cannot read.
func (e *Engine) sharesStored(s *app.SessionInfo) bool {
	if perSession(s.Kind) {
		rec, err := e.cfg.Shares.Get(sessionRecordName(s.Name))
		if err == nil {
			clear(rec)
			return true
		}
		if !errors.Is(err, sealed.ErrNotFound) {
			e.storeDamaged(err)
			return true
		}
	}
	_, err := e.cfg.Shares.Get(completeName(s.Name))
	if err != nil && !errors.Is(err, sealed.ErrNotFound) {
		e.storeDamaged(err)
		return true
	}
	return err == nil
}

// storeDamaged records a share record that does not open: the replica is
// not ready from then on (Ready reports it).
func (e *Engine) storeDamaged(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shareErr == nil {
		e.shareErr = fmt.Errorf("share store damaged: %w", err)
	}
}

// storeShares durably stores the shares of every slot of a done session:
// one session record for a key session; for a nonce session one record
// per slot (in one batch when the store can), then the completion marker.
func (e *Engine) storeShares(s *app.SessionInfo, shares []group.Scalar) error {
	if perSession(s.Kind) {
		rec, err := encodeSessionRecord(shares)
		if err != nil {
			return err
		}
		defer clear(rec)
		if err := e.cfg.Shares.Put(sessionRecordName(s.Name), rec); err != nil {
			return fmt.Errorf("store shares: %w", err)
		}
		return nil
	}
	if err := putShares(e.cfg.Shares, s.Name, shares); err != nil {
		return fmt.Errorf("store share: %w", err)
	}
	if err := e.cfg.Shares.Put(completeName(s.Name), []byte{1}); err != nil {
		return fmt.Errorf("store share marker: %w", err)
	}
	return nil
}
