package audit

import (
	"fmt"
	"sort"
)

// Verdict is the outcome of checking one replica's chain against its
// committed heads.
type Verdict struct {
	// Records is the number of records checked; Last the highest seq.
	Records int    `json:"records"`
	Last    uint64 `json:"last"`
	// Committed is the highest seq covered by a committed head.
	Committed uint64 `json:"committed"`
	// Uncommitted counts the records after the last committed head: no
	// head covers them yet, so they prove nothing either way (not an
	// error).
	Uncommitted int `json:"uncommitted"`
	// Failures lists the records that do not verify, by seq.
	Failures []Failure `json:"failures,omitempty"`
}

// OK reports whether the chain verified.
func (v *Verdict) OK() bool { return len(v.Failures) == 0 }

// Verify recomputes a replica's chain from its records (in any order) and
// checks it against the heads committed for that replica (seq → head).
// Every record up to the last committed head must be present exactly once,
// link to the one before it (Prev is that record's head) and reproduce
// every committed head. A record missing, altered, reordered or inserted
// before the last committed head yields a [Failure] naming its seq: an
// altered record is named by its own seq (its head no longer matches the
// next record's link, nor a committed head at it); a missing one by the
// seq absent.
func Verify(records []Record, heads map[uint64][32]byte) Verdict {
	recs := append([]Record(nil), records...)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	var v Verdict
	for s := range heads {
		v.Committed = max(v.Committed, s)
	}
	failed := map[uint64]bool{}
	fail := func(seq uint64, format string, args ...any) {
		if !failed[seq] {
			failed[seq] = true
			v.Failures = append(v.Failures, Failure{Seq: seq, Reason: fmt.Sprintf(format, args...)})
		}
	}
	var running [32]byte // head_0
	next := uint64(1)
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Seq < next:
			fail(r.Seq, "recorded twice (or seq 0)")
			continue
		case r.Seq > next:
			if r.Seq == next+1 {
				fail(next, "record missing")
			} else {
				fail(next, "records %d to %d missing", next, r.Seq-1)
			}
		case r.Prev != running && r.Seq == 1:
			fail(1, "first record does not start the chain")
		case r.Prev != running:
			// The record before does not produce this one's link: it was
			// altered (or this link was).
			fail(r.Seq-1, "record does not match the next record's link")
		}
		h, err := r.Head()
		if err != nil {
			fail(r.Seq, "record does not encode")
			continue
		}
		if c, ok := heads[r.Seq]; ok && c != h {
			fail(r.Seq, "chain differs from the committed head")
		}
		v.Records++
		v.Last = r.Seq
		if r.Seq > v.Committed {
			v.Uncommitted++
		}
		running, next = h, r.Seq+1
	}
	if v.Committed >= next {
		fail(next, "records %d to %d missing (committed through %d)", next, v.Committed, v.Committed)
	}
	sort.Slice(v.Failures, func(i, j int) bool { return v.Failures[i].Seq < v.Failures[j].Seq })
	return v
}
