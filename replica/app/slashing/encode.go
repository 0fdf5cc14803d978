package slashing

import (
	"encoding/binary"
	"fmt"
)

// historyVersion is the first byte of an encoded History.
const historyVersion = 1

const (
	flagBlockMark = 1 << iota
	flagAttMark
)

// MarshalBinary encodes h canonically (integers big-endian):
//
//	version (1) ‖ flags (1: bit 0 block watermark, bit 1 attestation watermarks)
//	‖ [blockMark (8)] ‖ [sourceMark (8) ‖ targetMark (8)]
//	‖ n (2) ‖ n × (slot (8) ‖ hasRoot (1) ‖ [root (32)])
//	‖ m (2) ‖ m × (source (8) ‖ target (8) ‖ hasRoot (1) ‖ [root (32)])
//
// Blocks are in strictly increasing slot order, attestations in strictly
// increasing (target, source, root) order, at most [MaxKeep] of each.
// [UnmarshalHistory] accepts exactly the encodings this produces.
func (h *History) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, 2+24+4+len(h.blocks)*41+len(h.atts)*49)
	var flags byte
	if h.hasBlockMark {
		flags |= flagBlockMark
	}
	if h.hasAttMark {
		flags |= flagAttMark
	}
	out = append(out, historyVersion, flags)
	if h.hasBlockMark {
		out = binary.BigEndian.AppendUint64(out, h.blockMark)
	}
	if h.hasAttMark {
		out = binary.BigEndian.AppendUint64(out, h.sourceMark)
		out = binary.BigEndian.AppendUint64(out, h.targetMark)
	}
	out = binary.BigEndian.AppendUint16(out, uint16(len(h.blocks)))
	for _, b := range h.blocks {
		out = binary.BigEndian.AppendUint64(out, b.Slot)
		out = appendRoot(out, b.SigningRoot)
	}
	out = binary.BigEndian.AppendUint16(out, uint16(len(h.atts)))
	for _, a := range h.atts {
		out = binary.BigEndian.AppendUint64(out, a.Source)
		out = binary.BigEndian.AppendUint64(out, a.Target)
		out = appendRoot(out, a.SigningRoot)
	}
	return out, nil
}

func appendRoot(out []byte, r *Root) []byte {
	if r == nil {
		return append(out, 0)
	}
	return append(append(out, 1), r[:]...)
}

// UnmarshalHistory decodes an encoding made by [History.MarshalBinary]. It
// refuses, with [ErrMalformed], any other input: an unknown version or
// flag, a truncated or overlong input, records out of order or repeated,
// more than [MaxKeep] records of a kind.
func UnmarshalHistory(data []byte) (*History, error) {
	d := decoder{b: data}
	h := new(History)
	if v := d.byte(); v != historyVersion {
		return nil, d.fail("version %d", v)
	}
	flags := d.byte()
	if flags&^(flagBlockMark|flagAttMark) != 0 {
		return nil, d.fail("flags %#x", flags)
	}
	if flags&flagBlockMark != 0 {
		h.hasBlockMark, h.blockMark = true, d.u64()
	}
	if flags&flagAttMark != 0 {
		h.hasAttMark, h.sourceMark, h.targetMark = true, d.u64(), d.u64()
	}
	n := int(d.u16())
	if n > MaxKeep {
		return nil, d.fail("%d blocks", n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		b := SignedBlock{Slot: d.u64(), SigningRoot: d.root()}
		if i > 0 && b.Slot <= h.blocks[i-1].Slot {
			return nil, d.fail("block %d out of order", i)
		}
		h.blocks = append(h.blocks, b)
	}
	m := int(d.u16())
	if m > MaxKeep {
		return nil, d.fail("%d attestations", m)
	}
	for i := 0; i < m && d.err == nil; i++ {
		a := SignedAttestation{Source: d.u64(), Target: d.u64(), SigningRoot: d.root()}
		if i > 0 && cmpAtt(h.atts[i-1], a) >= 0 {
			return nil, d.fail("attestation %d out of order", i)
		}
		h.atts = append(h.atts, a)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, d.fail("%d trailing bytes", len(d.b))
	}
	return h, nil
}

// decoder reads big-endian fields; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) error {
	if d.err == nil {
		d.err = fmt.Errorf("%w: history: "+format, append([]any{ErrMalformed}, args...)...)
	}
	return d.err
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if p := d.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) root() *Root {
	switch d.byte() {
	case 0:
		return nil
	case 1:
		var r Root
		copy(r[:], d.take(32))
		return &r
	default:
		d.fail("root flag")
		return nil
	}
}
