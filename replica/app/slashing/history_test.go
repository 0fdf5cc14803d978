package slashing

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func root(b byte) Root { return Root{b} }

func conflictKind(t *testing.T, err error) Kind {
	t.Helper()
	var c *Conflict
	if !errors.As(err, &c) {
		t.Fatalf("got %v, want a *Conflict", err)
	}
	if !errors.Is(err, ErrSlashable) {
		t.Fatalf("%v does not wrap ErrSlashable", err)
	}
	return c.Kind
}

func TestBlockRules(t *testing.T) {
	var h History
	p := Minimal
	if err := h.RecordBlock(p, 10, root(1)); err != nil {
		t.Fatal(err)
	}
	// Re-sign of the identical block signed here is allowed and changes nothing.
	before, _ := h.MarshalBinary()
	if err := h.RecordBlock(p, 10, root(1)); err != nil {
		t.Fatalf("re-sign: %v", err)
	}
	after, _ := h.MarshalBinary()
	if !bytes.Equal(before, after) {
		t.Fatal("re-sign changed the state")
	}
	if k := conflictKind(t, h.CheckBlock(10, root(2))); k != DoubleProposal {
		t.Fatalf("same slot, other root: %v", k)
	}
	if k := conflictKind(t, h.CheckBlock(9, root(1))); k != BlockBelowWatermark {
		t.Fatalf("lower slot: %v", k)
	}
	if err := h.RecordBlock(p, 11, root(3)); err != nil {
		t.Fatal(err)
	}
	// Slot 10 is now folded into the watermark: even its re-sign is refused.
	err := h.CheckBlock(10, root(1))
	if k := conflictKind(t, err); k != BlockBelowWatermark {
		t.Fatalf("folded slot: %v", k)
	}
	if !strings.Contains(err.Error(), "watermark 10") {
		t.Fatalf("error %q does not name the watermark", err)
	}
	if got, ok := h.BlockWatermark(); !ok || got != 10 {
		t.Fatalf("watermark %d %v", got, ok)
	}
	if n := len(h.Blocks()); n != 1 {
		t.Fatalf("minimal keeps %d blocks", n)
	}
}

func TestAttestationRules(t *testing.T) {
	var h History
	p := Complete(8)
	for _, st := range [][2]uint64{{1, 2}, {2, 3}, {3, 10}} {
		if err := h.RecordAttestation(p, st[0], st[1], root(byte(st[1]))); err != nil {
			t.Fatalf("%v: %v", st, err)
		}
	}
	cases := []struct {
		source, target uint64
		root           Root
		want           Kind // 0: allowed
	}{
		{3, 10, root(10), 0},                  // identical re-sign
		{3, 10, root(11), DoubleVote},         // same target, other root
		{2, 10, root(10), DoubleVote},         // same target, other source
		{5, 4, root(1), SourceAboveTarget},    // source > target
		{4, 9, root(1), SurroundedVote},       // (3,10) surrounds it
		{2, 11, root(1), SurroundingVote},     // surrounds (3,10)
		{0, 12, root(1), SurroundingVote},     // surrounds all
		{3, 11, root(1), 0},                   // next
		{0, 1, root(1), SourceBelowWatermark}, // below the lowest source kept
		{1, 1, root(1), TargetBelowWatermark}, // at or below the lowest target kept
		{3, 5, root(1), 0},                    // inside the record range, no conflict (complete)
	}
	for _, c := range cases {
		err := h.CheckAttestation(c.source, c.target, c.root)
		if c.want == 0 {
			if err != nil {
				t.Errorf("%d→%d: %v", c.source, c.target, err)
			}
			continue
		}
		if k := conflictKind(t, err); k != c.want {
			t.Errorf("%d→%d: got %v (%v), want %v", c.source, c.target, k, err, c.want)
		}
	}
	err := h.CheckAttestation(4, 9, root(1))
	var c *Conflict
	errors.As(err, &c)
	if c.Attestation == nil || c.Attestation.Source != 3 || c.Attestation.Target != 10 {
		t.Fatalf("conflict names %+v, want 3→10", c.Attestation)
	}
	if !strings.Contains(err.Error(), "3→10") {
		t.Fatalf("error %q does not name the record", err)
	}
}

func TestPolicyBounds(t *testing.T) {
	var h History
	if err := h.RecordBlock(Policy{}, 1, root(1)); !errors.Is(err, ErrPolicy) {
		t.Fatalf("keep 0: %v", err)
	}
	if err := h.RecordBlock(Policy{Keep: MaxKeep + 1}, 1, root(1)); !errors.Is(err, ErrPolicy) {
		t.Fatalf("keep MaxKeep+1: %v", err)
	}
	if _, err := NewDB(Policy{}); !errors.Is(err, ErrPolicy) {
		t.Fatalf("NewDB keep 0: %v", err)
	}
	p := Complete(4)
	for i := uint64(0); i < 20; i++ {
		if err := h.RecordBlock(p, 2*i, root(1)); err != nil {
			t.Fatal(err)
		}
		if err := h.RecordAttestation(p, i, i+1, root(1)); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.Blocks()) != 4 || len(h.Attestations()) != 4 {
		t.Fatalf("kept %d blocks, %d attestations, want 4 each", len(h.Blocks()), len(h.Attestations()))
	}
	if s, ok := h.BlockWatermark(); !ok || s != 30 {
		t.Fatalf("block watermark %d %v, want 30", s, ok)
	}
	if s, tg, ok := h.AttestationWatermark(); !ok || s != 15 || tg != 16 {
		t.Fatalf("attestation watermark %d %d %v, want 15 16", s, tg, ok)
	}
	// A gap below the kept records, once folded, is refused.
	if k := conflictKind(t, h.CheckBlock(29, root(1))); k != BlockBelowWatermark {
		t.Fatal(k)
	}
	if err := h.CheckBlock(33, root(1)); err != nil {
		t.Fatalf("gap above the watermark, inside the records: %v", err)
	}
}

// TestSignedNeverSlashable records random requests under several policies
// and checks that what was allowed never forms a slashable pair
// (process_proposer_slashing, is_slashable_attestation_data) and never
// moves below an earlier watermark.
func TestSignedNeverSlashable(t *testing.T) {
	for _, p := range []Policy{Minimal, Complete(1), Complete(3), Complete(64)} {
		r := rand.New(rand.NewPCG(1, uint64(p.Keep)))
		var h History
		var blocks []SignedBlock
		var atts []SignedAttestation
		for i := 0; i < 3000; i++ {
			rt := root(byte(r.IntN(3)))
			if r.IntN(2) == 0 {
				slot := r.Uint64N(60)
				if h.RecordBlock(p, slot, rt) == nil {
					blocks = append(blocks, SignedBlock{Slot: slot, SigningRoot: &rt})
				}
			} else {
				s := r.Uint64N(40)
				tg := s + r.Uint64N(8)
				if h.RecordAttestation(p, s, tg, rt) == nil {
					atts = append(atts, SignedAttestation{Source: s, Target: tg, SigningRoot: &rt})
				}
			}
			enc, _ := h.MarshalBinary()
			d, err := UnmarshalHistory(enc)
			if err != nil {
				t.Fatalf("keep %d: own encoding refused: %v", p.Keep, err)
			}
			if enc2, _ := d.MarshalBinary(); !bytes.Equal(enc, enc2) {
				t.Fatalf("keep %d: encoding not canonical", p.Keep)
			}
		}
		for i, a := range blocks {
			for _, b := range blocks[i+1:] {
				if a.Slot == b.Slot && *a.SigningRoot != *b.SigningRoot {
					t.Fatalf("keep %d: double proposal at %d", p.Keep, a.Slot)
				}
			}
		}
		for i, a := range atts {
			for _, b := range atts[i+1:] {
				same := a.Source == b.Source && a.Target == b.Target && *a.SigningRoot == *b.SigningRoot
				double := !same && a.Target == b.Target
				surround := (a.Source < b.Source && b.Target < a.Target) || (b.Source < a.Source && a.Target < b.Target)
				if double || surround {
					t.Fatalf("keep %d: slashable pair %d→%d, %d→%d", p.Keep, a.Source, a.Target, b.Source, b.Target)
				}
			}
		}
		if len(blocks) < 5 || len(atts) < 5 {
			t.Fatalf("keep %d: only %d blocks, %d attestations signed", p.Keep, len(blocks), len(atts))
		}
	}
}

func TestHistoryEncoding(t *testing.T) {
	var h History
	if err := h.RecordBlock(Complete(2), 5, root(9)); err != nil {
		t.Fatal(err)
	}
	enc, _ := h.MarshalBinary()
	ok, err := UnmarshalHistory(enc)
	if err != nil {
		t.Fatal(err)
	}
	if b := ok.Blocks(); len(b) != 1 || b[0].Slot != 5 || *b[0].SigningRoot != root(9) {
		t.Fatalf("decoded %+v", b)
	}
	empty, _ := new(History).MarshalBinary()
	bad := map[string][]byte{
		"empty":        nil,
		"version":      append([]byte{2}, enc[1:]...),
		"flags":        append([]byte{1, 4}, enc[2:]...),
		"truncated":    enc[:len(enc)-1],
		"trailing":     append(bytes.Clone(enc), 0),
		"root flag":    func() []byte { b := bytes.Clone(enc); b[2+2+8] = 2; return b }(),
		"empty+junk":   append(bytes.Clone(empty), 1),
		"out of order": {1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0}, // two blocks at slot 5
		"too many":     {1, 0, 0xff, 0xff},
	}
	for name, b := range bad {
		if _, err := UnmarshalHistory(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzUnmarshalHistory: whatever decodes re-encodes to the same bytes.
func FuzzUnmarshalHistory(f *testing.F) {
	var h History
	_ = h.RecordBlock(Complete(3), 7, root(1))
	_ = h.RecordAttestation(Complete(3), 1, 2, root(2))
	_ = h.RecordAttestation(Complete(3), 2, 3, root(2))
	h.foldAtt(0, 1)
	h.blockMark, h.hasBlockMark = 3, true
	enc, _ := h.MarshalBinary()
	f.Add(enc)
	empty, _ := new(History).MarshalBinary()
	f.Add(empty)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := UnmarshalHistory(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		out, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip: %x → %x", b, out)
		}
		// A decoded history answers without panicking.
		_ = d.CheckBlock(5, root(1))
		_ = d.CheckAttestation(1, 5, root(1))
	})
}
