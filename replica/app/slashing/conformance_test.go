package slashing

import (
	"encoding/hex"
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vhsm/vhsm/replica/app/slashing/slashingtest"
)

// TestInterchangeVectors runs every case in testdata/eip3076 (see
// testdata/SOURCES.md) and, when VHSM_INTERCHANGE_TESTS names a directory,
// every *.json case there. Each case runs twice: under [Minimal] against
// should_succeed, and under a complete policy against
// should_succeed_complete (should_succeed where a check has none). Imports
// must succeed or fail exactly as should_succeed says: slashable data is
// never a reason to refuse one.
func TestInterchangeVectors(t *testing.T) {
	files := slashingtest.Load(t, filepath.Join("testdata", "eip3076"))
	modes := []struct {
		name     string
		policy   Policy
		complete bool
	}{
		{"minimal", Minimal, false},
		{"complete", Complete(MaxKeep), true},
	}
	passed := map[string]int{}
	for _, f := range files {
		for _, m := range modes {
			ok := t.Run(m.name+"/"+filepath.Base(f.Path), func(t *testing.T) {
				runCase(t, &f.Case, m.policy, m.complete)
			})
			if ok {
				passed[m.name]++
			}
		}
	}
	t.Logf("cases: %d; passed: minimal %d, complete %d", len(files), passed["minimal"], passed["complete"])
}

func runCase(t *testing.T, c *slashingtest.Case, p Policy, complete bool) {
	db, err := NewDB(p)
	if err != nil {
		t.Fatal(err)
	}
	gvr := mustRoot(t, c.GVR)
	want := func(min bool, comp *bool) bool {
		if complete && comp != nil {
			return *comp
		}
		return min
	}
	for i, s := range c.Steps {
		err := db.Import(gvr, s.Interchange)
		if (err == nil) != s.ShouldSucceed {
			t.Fatalf("step %d: import: got %v, want success %v", i, err, s.ShouldSucceed)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrGenesisMismatch) {
				t.Errorf("step %d: import error %v is neither ErrMalformed nor ErrGenesisMismatch", i, err)
			}
			continue
		}
		for k, b := range s.Blocks {
			err := db.RecordBlock(mustPubkey(t, b.Pubkey), gvr, mustUint(t, b.Slot), mustRoot(t, b.SigningRoot))
			if w := want(b.ShouldSucceed, b.ShouldSucceedComplete); (err == nil) != w {
				t.Errorf("step %d block %d (slot %s): got %v, want success %v", i, k, b.Slot, err, w)
			}
			checkRefusal(t, err)
		}
		for k, a := range s.Attestations {
			err := db.RecordAttestation(mustPubkey(t, a.Pubkey), gvr, mustUint(t, a.Source), mustUint(t, a.Target), mustRoot(t, a.SigningRoot))
			if w := want(a.ShouldSucceed, a.ShouldSucceedComplete); (err == nil) != w {
				t.Errorf("step %d attestation %d (%s→%s): got %v, want success %v", i, k, a.Source, a.Target, err, w)
			}
			checkRefusal(t, err)
		}
	}
	checkExportRoundTrip(t, db, gvr)
}

// checkRefusal checks that a refusal is a *Conflict.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var c *Conflict
	if err != nil && (!errors.As(err, &c) || !errors.Is(err, ErrSlashable)) {
		t.Errorf("refusal %v is not a *Conflict wrapping ErrSlashable", err)
	}
}

// checkExportRoundTrip checks that both exports parse and that importing
// the complete export into an empty DB under the same policy refuses at
// least what db refuses at and around every kept record.
func checkExportRoundTrip(t *testing.T, db *DB, gvr Root) {
	t.Helper()
	for _, mode := range []ExportMode{ExportComplete, ExportMinimal} {
		out, err := db.Export(gvr, mode)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseInterchange(out); err != nil {
			t.Fatalf("export %d does not parse: %v", mode, err)
		}
		fresh, _ := NewDB(db.policy)
		if err := fresh.Import(gvr, out); err != nil {
			t.Fatalf("export %d does not import: %v", mode, err)
		}
		for _, v := range db.Validators() {
			if v.GenesisValidatorsRoot != gvr {
				continue
			}
			h := db.m[v]
			for _, b := range h.blocks {
				for _, slot := range []uint64{b.Slot, b.Slot - 1, b.Slot + 1} {
					if db.CheckBlock(v.Pubkey, gvr, slot, Root{0xee}) != nil && fresh.CheckBlock(v.Pubkey, gvr, slot, Root{0xee}) == nil {
						t.Errorf("export %d: block at %d allowed after re-import", mode, slot)
					}
				}
			}
			for _, a := range h.atts {
				for _, st := range [][2]uint64{{a.Source, a.Target}, {a.Source - 1, a.Target + 1}, {a.Source + 1, a.Target - 1}, {a.Source, a.Target + 1}} {
					if db.CheckAttestation(v.Pubkey, gvr, st[0], st[1], Root{0xee}) != nil && fresh.CheckAttestation(v.Pubkey, gvr, st[0], st[1], Root{0xee}) == nil {
						t.Errorf("export %d: attestation %d→%d allowed after re-import", mode, st[0], st[1])
					}
				}
			}
		}
	}
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustRoot(t *testing.T, s string) Root {
	t.Helper()
	var r Root
	if s == "" {
		return r
	}
	if err := parseHex(s, r[:]); err != nil {
		t.Fatalf("root %q: %v", s, err)
	}
	return r
}

func mustPubkey(t *testing.T, s string) Pubkey {
	t.Helper()
	var p Pubkey
	b, err := hex.DecodeString(s[2:])
	if err != nil || len(b) != len(p) {
		t.Fatalf("pubkey %q: %v", s, err)
	}
	copy(p[:], b)
	return p
}
