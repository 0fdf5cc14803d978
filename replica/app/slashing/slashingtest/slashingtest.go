// Package slashingtest loads the eth-clients slashing-protection
// interchange test cases (EIP-3076) for the tests of slashing and of the
// state machine that enforces it.
package slashingtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Case is a case file of eth-clients/slashing-protection-interchange-tests
// (its README, "How to run").
type Case struct {
	Name  string `json:"name"`
	GVR   string `json:"genesis_validators_root"`
	Steps []struct {
		ShouldSucceed bool            `json:"should_succeed"`
		Interchange   json.RawMessage `json:"interchange"`
		Blocks        []struct {
			Pubkey                string `json:"pubkey"`
			Slot                  string `json:"slot"`
			SigningRoot           string `json:"signing_root"`
			ShouldSucceed         bool   `json:"should_succeed"`
			ShouldSucceedComplete *bool  `json:"should_succeed_complete"`
		} `json:"blocks"`
		Attestations []struct {
			Pubkey                string `json:"pubkey"`
			Source                string `json:"source_epoch"`
			Target                string `json:"target_epoch"`
			SigningRoot           string `json:"signing_root"`
			ShouldSucceed         bool   `json:"should_succeed"`
			ShouldSucceedComplete *bool  `json:"should_succeed_complete"`
		} `json:"attestations"`
	} `json:"steps"`
}

// File is one case with the file it came from.
type File struct {
	Path string
	Case Case
}

// Load reads every *.json case of dir (the cases kept in the repository;
// there must be some) and, when VHSM_INTERCHANGE_TESTS names a directory,
// every *.json case there too, so that cases can be added without code
// changes.
func Load(t testing.TB, dir string) []File {
	t.Helper()
	paths := glob(t, dir)
	if len(paths) == 0 {
		t.Fatalf("no interchange cases in %s", dir)
	}
	if extra := os.Getenv("VHSM_INTERCHANGE_TESTS"); extra != "" {
		more := glob(t, extra)
		if len(more) == 0 {
			t.Fatalf("VHSM_INTERCHANGE_TESTS=%s holds no *.json case", extra)
		}
		paths = append(paths, more...)
	}
	out := make([]File, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := File{Path: p}
		if err := json.Unmarshal(data, &f.Case); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, f)
	}
	return out
}

// glob lists the *.json files of dir, sorted.
func glob(t testing.TB, dir string) []string {
	t.Helper()
	fs, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(fs)
	return fs
}
