// Package audit is a replica's audit log (issue 14, "Audit without the log
// in the path"): every request the replica served is appended to a hash
// chain kept in the replica's home, and the chain's head is committed
// through the replicated log at least once per second (by replica/engine).
// Anyone holding the committed heads can then check a replica's chain
// ([Verify]): a record missing, altered, reordered or inserted before a
// committed head is found and named by its sequence number.
//
// # Chain
//
// Record k is (k, head_{k-1}, fields) and
//
//	head_k = SHA-256("vhsm/audit/v1\x00" ‖ head_{k-1} ‖ Encode(record_k))
//
// with head_0 thirty-two zero bytes ([Record.Head]). The canonical encoding
// ([Record.Encode]) is binary and strict: [Decode] accepts exactly the
// bytes Encode produces.
//
// # File
//
// [Log] appends records to DIR/chain.log (mode 0600) as frames
// uint32(len) ‖ encoding ‖ CRC-32C(encoding). Appends go to a memory buffer;
// [Log.Sync] writes and fsyncs it, and the engine calls it before
// committing the head that covers the records. [Open] reloads and verifies
// the chain, and truncates a torn tail left by a crash (an incomplete or
// corrupt last frame) to the last complete record; the bytes cut are kept
// in DIR/chain.log.tail-<unix ns>. Records lost that way were never covered
// by a committed head.
//
// The log is not in the request path: a request is answered whether or not
// its record is durable yet; a replica that crashed before a sync loses
// only records no committed head covers.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/vhsm/vhsm/replica/wire"
)

// Domain is the domain tag of the head hash.
const Domain = "vhsm/audit/v1\x00"

// recordVersion is the first byte of a record encoding.
const recordVersion = 1

// maxField bounds the client, key id and operation strings of a record.
const maxField = 1024

// Errors of the package.
var (
	// ErrMalformed: a record encoding or wire record that is not canonical.
	ErrMalformed = errors.New("audit: malformed record")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("audit: log closed")
)

// Record is one served request in a replica's chain.
type Record struct {
	Seq     uint64
	Prev    [32]byte // head of the chain before this record
	Time    int64    // Unix milliseconds
	Client  string
	KeyID   string
	Op      string
	Message []byte // SHA-256 of the signed message or DPRF input, or empty
	Request [32]byte
	Result  [32]byte
}

// Encode returns the canonical encoding of r:
//
//	version(1) ‖ seq(8) ‖ prev(32) ‖ time(8) ‖ request(32) ‖ result(32) ‖
//	len(message)(1) ‖ message ‖ for client, key id, op: len(2) ‖ bytes
//
// integers big-endian. It fails for a message hash that is not empty or 32
// bytes, and for a string longer than 1024 bytes or not UTF-8.
func (r *Record) Encode() ([]byte, error) {
	if n := len(r.Message); n != 0 && n != sha256.Size {
		return nil, fmt.Errorf("%w: message hash of %d bytes", ErrMalformed, n)
	}
	for _, s := range []string{r.Client, r.KeyID, r.Op} {
		if len(s) > maxField || !utf8.ValidString(s) {
			return nil, fmt.Errorf("%w: field", ErrMalformed)
		}
	}
	b := make([]byte, 0, 1+8+32+8+32+32+1+len(r.Message)+6+len(r.Client)+len(r.KeyID)+len(r.Op))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = append(b, r.Prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	b = append(b, r.Request[:]...)
	b = append(b, r.Result[:]...)
	b = append(b, byte(len(r.Message)))
	b = append(b, r.Message...)
	for _, s := range []string{r.Client, r.KeyID, r.Op} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

// Decode parses a canonical record encoding; anything Encode would not
// produce is refused with ErrMalformed.
func Decode(b []byte) (*Record, error) {
	const fixed = 1 + 8 + 32 + 8 + 32 + 32 + 1
	if len(b) < fixed || b[0] != recordVersion {
		return nil, fmt.Errorf("%w: header", ErrMalformed)
	}
	r := &Record{}
	r.Seq = binary.BigEndian.Uint64(b[1:9])
	copy(r.Prev[:], b[9:41])
	r.Time = int64(binary.BigEndian.Uint64(b[41:49]))
	copy(r.Request[:], b[49:81])
	copy(r.Result[:], b[81:113])
	n := int(b[113])
	rest := b[fixed:]
	if n != 0 && n != sha256.Size || len(rest) < n {
		return nil, fmt.Errorf("%w: message hash", ErrMalformed)
	}
	if n > 0 {
		r.Message = bytes.Clone(rest[:n])
	}
	rest = rest[n:]
	var fields [3]string
	for i := range fields {
		if len(rest) < 2 {
			return nil, fmt.Errorf("%w: field length", ErrMalformed)
		}
		l := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if l > maxField || len(rest) < l || !utf8.Valid(rest[:l]) {
			return nil, fmt.Errorf("%w: field", ErrMalformed)
		}
		fields[i] = string(rest[:l])
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrMalformed)
	}
	r.Client, r.KeyID, r.Op = fields[0], fields[1], fields[2]
	return r, nil
}

// Head returns head_k = SHA-256(Domain ‖ r.Prev ‖ Encode(r)): the head of
// the chain ending with r, given that r.Prev is the head before it.
func (r *Record) Head() ([32]byte, error) {
	enc, err := r.Encode()
	if err != nil {
		return [32]byte{}, err
	}
	return headOf(r.Prev, enc), nil
}

func headOf(prev [32]byte, enc []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(Domain))
	h.Write(prev[:])
	h.Write(enc)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// Wire returns r in its JSON form.
func (r *Record) Wire() wire.AuditRecord {
	return wire.AuditRecord{
		Seq: r.Seq, Prev: bytes.Clone(r.Prev[:]), Time: r.Time,
		Client: r.Client, KeyID: r.KeyID, Op: r.Op,
		Message: bytes.Clone(r.Message), Request: bytes.Clone(r.Request[:]), Result: bytes.Clone(r.Result[:]),
	}
}

// FromWire checks a record received in JSON form and returns it; the
// record must encode (see [Record.Encode]).
func FromWire(w *wire.AuditRecord) (*Record, error) {
	if len(w.Prev) != 32 || len(w.Request) != 32 || len(w.Result) != 32 {
		return nil, fmt.Errorf("%w: hash lengths", ErrMalformed)
	}
	r := &Record{Seq: w.Seq, Time: w.Time, Client: w.Client, KeyID: w.KeyID, Op: w.Op}
	if len(w.Message) > 0 {
		r.Message = bytes.Clone(w.Message)
	}
	copy(r.Prev[:], w.Prev)
	copy(r.Request[:], w.Request)
	copy(r.Result[:], w.Result)
	if _, err := r.Encode(); err != nil {
		return nil, err
	}
	return r, nil
}
