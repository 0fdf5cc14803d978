package audit

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileName is the chain file's name in the log directory.
const FileName = "chain.log"

// Frame bounds: a frame is uint32(len) ‖ encoding ‖ CRC-32C(encoding).
const (
	minEncoding = 1 + 8 + 32 + 8 + 32 + 32 + 1 + 6
	maxEncoding = minEncoding + 32 + 3*maxField
	frameExtra  = 8
)

// indexEvery is the spacing, in records, of the in-memory offset index
// used to start a query near its After sequence number.
const indexEvery = 256

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry is what the engine records of a served request; the log adds the
// sequence number and the previous head.
type Entry struct {
	Time    int64 // Unix milliseconds
	Client  string
	KeyID   string
	Op      string
	Message []byte // SHA-256 of the message or DPRF input, or empty
	Request [32]byte
	Result  [32]byte
}

// Checkpoint is a position in the chain: the last sequence number and the
// head after it (zero for an empty chain).
type Checkpoint struct {
	Seq  uint64
	Head [32]byte
}

// Failure names a record of a chain that does not verify.
type Failure struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

func (f Failure) String() string { return fmt.Sprintf("seq %d: %s", f.Seq, f.Reason) }

// Query selects records (see wire.AuditRecordsBody).
type Query struct {
	Since int64  // Unix ms; 0: any
	KeyID string // "": any
	After uint64 // sequence numbers greater than this
	Limit int    // at most this many (at least 1)
}

// Log is a replica's append-only audit chain file. It is safe for
// concurrent use.
type Log struct {
	path string
	log  *slog.Logger

	fileMu  sync.Mutex // serializes file writes and reads
	f       *os.File
	size    int64      // bytes in the file
	durable Checkpoint // covered by the last fsync

	mu      sync.Mutex // guards the chain state and the buffer
	last    Checkpoint
	buf     []byte // frames appended and not written yet
	end     int64  // size + len(buf)
	count   int    // records, in file order
	index   []int64
	ordered bool // record k of the file has seq k (index usable)
	broken  []Failure
	err     error // sticky write failure
	closed  bool
}

// Open opens (creating it, mode 0600, in dir, mode 0700) the chain file,
// reloads and verifies the chain, and truncates a torn tail to the last
// complete record. A chain whose records do not link (altered or removed
// records) is still opened and appended to, so that the evidence is kept
// for clients to find: [Log.Broken] lists what reloading found.
func Open(dir string, log *slog.Logger) (*Log, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: create dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	l := &Log{path: path, log: log, f: f, ordered: true}
	if err := l.reload(); err != nil {
		f.Close()
		return nil, err
	}
	for _, b := range l.broken {
		log.Error("audit_chain_broken", "seq", b.Seq, "reason", b.Reason)
	}
	return l, nil
}

// reload reads every frame, verifies the chain and truncates a torn tail.
func (l *Log) reload() error {
	st, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: stat: %w", err)
	}
	total := st.Size()
	var off int64
	var prevSeq uint64
	err = scanFrames(io.NewSectionReader(l.f, 0, total), func(enc []byte, at int64) error {
		r, err := Decode(enc)
		if err != nil {
			return errTorn
		}
		if l.count%indexEvery == 0 {
			l.index = append(l.index, at)
		}
		l.count++
		switch {
		case r.Seq != prevSeq+1:
			l.broken = append(l.broken, Failure{Seq: prevSeq + 1, Reason: fmt.Sprintf("next record in the file has seq %d", r.Seq)})
		case r.Prev != l.last.Head:
			l.broken = append(l.broken, Failure{Seq: prevSeq, Reason: "record does not match the next record's link"})
		}
		if r.Seq != prevSeq+1 {
			l.ordered = false
		}
		prevSeq = r.Seq
		l.last = Checkpoint{Seq: r.Seq, Head: headOf(r.Prev, enc)}
		off = at + int64(len(enc)) + frameExtra
		return nil
	})
	if err != nil && !errors.Is(err, errTorn) {
		return fmt.Errorf("audit: read chain: %w", err)
	}
	if off < total {
		// A crash tore the last write: drop the incomplete frame(s), kept
		// aside in case they are not a torn write but damage.
		if err := l.keepTail(off, total); err != nil {
			return err
		}
		if err := l.f.Truncate(off); err != nil {
			return fmt.Errorf("audit: truncate torn tail: %w", err)
		}
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("audit: sync: %w", err)
		}
		l.log.Warn("audit_torn_tail_truncated", "bytes", total-off, "seq", l.last.Seq)
	}
	l.size, l.end, l.durable = off, off, l.last
	return nil
}

// keepTail copies the bytes of the chain file from off to total into a new
// file next to it, DIR/chain.log.tail-<unix ns>, before they are cut.
func (l *Log) keepTail(off, total int64) error {
	b := make([]byte, total-off)
	if _, err := l.f.ReadAt(b, off); err != nil {
		return fmt.Errorf("audit: read torn tail: %w", err)
	}
	name := fmt.Sprintf("%s.tail-%d", l.path, time.Now().UnixNano())
	if err := os.WriteFile(name, b, 0o600); err != nil {
		return fmt.Errorf("audit: keep torn tail: %w", err)
	}
	return nil
}

// errTorn stops a scan at a frame that is incomplete or corrupt.
var errTorn = errors.New("audit: torn frame")

// scanFrames calls fn with every complete, checksummed frame of r and its
// offset. It returns errTorn at the first frame that is not, and nil at a
// clean end.
func scanFrames(r io.Reader, fn func(enc []byte, at int64) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var at int64
	var hdr [4]byte
	buf := make([]byte, maxEncoding+4)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			if err == io.ErrUnexpectedEOF {
				return errTorn
			}
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n < minEncoding || n > maxEncoding {
			return errTorn
		}
		b := buf[:n+4]
		if _, err := io.ReadFull(br, b); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return errTorn
			}
			return err
		}
		if crc32.Checksum(b[:n], castagnoli) != binary.BigEndian.Uint32(b[n:]) {
			return errTorn
		}
		if err := fn(b[:n], at); err != nil {
			return err
		}
		at += int64(n) + frameExtra
	}
}

// frame appends the file frame of enc to b.
func frame(b, enc []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(enc)))
	b = append(b, enc...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(enc, castagnoli))
}

// Append adds a record for e to the chain, in memory: it is written and
// fsynced by the next [Log.Sync] (or [Log.Query]: written, not synced). It
// returns the record's sequence number.
func (l *Log) Append(e Entry) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	r := Record{
		Seq: l.last.Seq + 1, Prev: l.last.Head, Time: e.Time,
		Client: e.Client, KeyID: e.KeyID, Op: e.Op, Message: e.Message,
		Request: e.Request, Result: e.Result,
	}
	enc, err := r.Encode()
	if err != nil {
		return 0, err
	}
	if l.count%indexEvery == 0 {
		l.index = append(l.index, l.end)
	}
	l.count++
	l.buf = frame(l.buf, enc)
	l.end += int64(len(enc)) + frameExtra
	l.last = Checkpoint{Seq: r.Seq, Head: headOf(r.Prev, enc)}
	return r.Seq, nil
}

// Last returns the chain's last record position, durable or not.
func (l *Log) Last() Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Broken returns the links that did not verify when the chain was loaded.
func (l *Log) Broken() []Failure {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Failure(nil), l.broken...)
}

// Sync writes the buffered records and fsyncs the file, and returns the
// position it made durable: a head may be committed through the log only
// once Sync covered it.
func (l *Log) Sync() (Checkpoint, error) {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	cp, wrote, err := l.writeLocked()
	if err != nil {
		return l.durable, err
	}
	if wrote || cp != l.durable {
		if err := l.f.Sync(); err != nil {
			l.fail(err)
			return l.durable, fmt.Errorf("audit: sync: %w", err)
		}
		l.durable = cp
	}
	return l.durable, nil
}

// writeLocked writes the buffered frames (fileMu held) and returns the
// position they end at.
func (l *Log) writeLocked() (Checkpoint, bool, error) {
	l.mu.Lock()
	buf, cp, err := l.buf, l.last, l.err
	l.buf = nil
	if l.f == nil {
		err = ErrClosed
	}
	l.mu.Unlock()
	if err != nil {
		return cp, false, err
	}
	if len(buf) == 0 {
		return cp, false, nil
	}
	if _, err := l.f.Write(buf); err != nil {
		l.fail(err)
		return cp, false, fmt.Errorf("audit: write: %w", err)
	}
	l.size += int64(len(buf))
	return cp, true, nil
}

// fail records a write failure: the file's tail is unknown from now on, so
// nothing more is written.
func (l *Log) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = fmt.Errorf("audit: chain file unusable: %w", err)
		l.log.Error("audit_write_failed", "err", err)
	}
}

// Query returns the records selected by q, in file order, and the chain's
// last sequence number. Buffered records are written first (not fsynced).
func (l *Log) Query(q Query) ([]Record, uint64, error) {
	if q.Limit < 1 {
		q.Limit = 1
	}
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	if _, _, err := l.writeLocked(); err != nil {
		return nil, 0, err
	}
	l.mu.Lock()
	var start int64
	if l.ordered && q.After > 0 && len(l.index) > 0 {
		// The index holds the offsets of the records at file positions
		// 0, indexEvery, …, which in an ordered chain have seqs
		// 1, 1+indexEvery, ….
		if i := q.After / indexEvery; i < uint64(len(l.index)) {
			start = l.index[i]
		} else {
			start = l.index[len(l.index)-1]
		}
	}
	last, size := l.last.Seq, l.size
	l.mu.Unlock()
	var out []Record
	err := scanFrames(io.NewSectionReader(l.f, start, size-start), func(enc []byte, _ int64) error {
		r, err := Decode(enc)
		if err != nil {
			return err
		}
		if r.Seq <= q.After || r.Time < q.Since || q.KeyID != "" && r.KeyID != q.KeyID {
			return nil
		}
		out = append(out, *r)
		if len(out) >= q.Limit {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, 0, fmt.Errorf("audit: read chain: %w", err)
	}
	return out, last, nil
}

var errStop = errors.New("stop")

// Close writes and fsyncs the buffered records and closes the file.
func (l *Log) Close() error {
	_, serr := l.Sync()
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.mu.Lock()
	l.closed = true
	f := l.f
	l.f = nil
	l.mu.Unlock()
	if f == nil {
		return nil
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit: close: %w", err)
	}
	if serr != nil && !errors.Is(serr, ErrClosed) {
		return serr
	}
	return nil
}
