package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/app"
)

// TestEthExits: vhsm eth exits presigns exits for validators made by vhsm
// eth new against a real 4-replica cluster, into one 0600 file that vhsm
// broadcast eth's parser takes as it is; every signature is checked with
// blst on a signing root computed here. Refusals sign and write nothing,
// and an existing file is never overwritten.
func TestEthExits(t *testing.T) {
	cfg := startTestCluster(t, &app.PoolConfig{KeyBatch: 8, KeyLow: 2, NonceBatch: 16, NonceLow: 4}).ClientPath
	hoodi, err := ethereum.NetworkByName("hoodi")
	if err != nil {
		t.Fatal(err)
	}
	res := mustJSON(t, cfg, "eth", "new", "--count", "3", "--prefix", "xv", "--withdrawal-address", "0x"+strings.Repeat("ab", 20), "--network", "hoodi", "--out", t.TempDir())
	deps, _ := res["deposits"].([]any)
	if len(deps) != 3 {
		t.Fatalf("eth new: %v", res)
	}
	pubOf := map[string]ethereum.Pubkey{}
	for _, d := range deps {
		m := d.(map[string]any)
		pub, err := ethereum.ParsePubkey(m["pubkey"].(string))
		if err != nil {
			t.Fatal(err)
		}
		pubOf[m["key_id"].(string)] = pub
	}
	if _, err := runJSON(t, cfg, "keys", "gen", "xs-1", "schnorr"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	from := filepath.Join(dir, "indices.txt")
	if err := os.WriteFile(from, []byte("# key=index\nxv-3 = 12\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "exits.json")
	base := []string{"eth", "exits", "--network", "hoodi", "--out", out, "--validator", "xv-1=10", "--validator", "xv-2=11", "--from", from}
	for name, args := range map[string][]string{
		"missing epoch":  base,
		"unknown key":    append(base, "--epoch", "100", "--validator", "xv-9=13"),
		"not a bls key":  append(base, "--epoch", "100", "--validator", "xs-1=13"),
		"same index":     append(base, "--epoch", "100", "--validator", "xv-4=10"),
		"same key":       append(base, "--epoch", "100", "--validator", "xv-1=14"),
		"bad index":      append(base, "--epoch", "100", "--validator", "xv-4=-1"),
		"no index":       append(base, "--epoch", "100", "--validator", "xv-4"),
		"missing out":    {"eth", "exits", "--network", "hoodi", "--epoch", "100", "--validator", "xv-1=10"},
		"no validators":  {"eth", "exits", "--network", "hoodi", "--epoch", "100", "--out", out},
		"missing --from": append(base, "--epoch", "100", "--from", filepath.Join(dir, "nope")),
	} {
		if _, err := runJSON(t, cfg, args...); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: wrote %s", name, out)
		}
	}
	got := mustJSON(t, cfg, append(base, "--epoch", "4096")...)
	if got["file"] != out {
		t.Fatalf("output %v", got)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v", st, err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	in, err := decodeETHInput(raw) // vhsm broadcast eth's parser
	if err != nil || len(in.exits) != 3 {
		t.Fatalf("broadcast parser: %v", err)
	}
	want := []struct {
		key   string
		index uint64
	}{{"xv-3", 12}, {"xv-1", 10}, {"xv-2", 11}} // --from lines first, then --validator
	for i, ex := range in.exits {
		if uint64(ex.Message.ValidatorIndex) != want[i].index || ex.Message.Epoch != 4096 {
			t.Fatalf("exit %d: %+v", i, ex.Message)
		}
		root := ethereum.ComputeSigningRoot(ex.Message.HashTreeRoot(), hoodi.VoluntaryExitDomain())
		if !blstOK(pubOf[want[i].key], root, ex.Signature) {
			t.Fatalf("exit %d does not verify with blst under %s", i, want[i].key)
		}
	}
	// Never overwritten.
	if _, err := runJSON(t, cfg, append(base, "--epoch", "5000")...); err == nil {
		t.Fatal("an existing file was overwritten")
	}
	if again, _ := os.ReadFile(out); string(again) != string(raw) {
		t.Fatal("the file changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestParseExitTargets(t *testing.T) {
	ts, err := parseExitTargets([]byte("# c\n a-1=1 \n\nb=2\n"), []string{"c = 3"})
	if err != nil || len(ts) != 3 || ts[0] != (exitTarget{"a-1", 1}) || ts[2] != (exitTarget{"c", 3}) {
		t.Fatalf("%+v %v", ts, err)
	}
	for _, bad := range [][]string{{"a"}, {"=1"}, {"a=01"}, {"a=x"}, {"a=1", "a=2"}, {"a=1", "b=1"}, {"a/b=1"}, {"a=18446744073709551616"}} {
		if _, err := parseExitTargets(nil, bad); !errors.Is(err, errETHInput) {
			t.Errorf("%v: %v", bad, err)
		}
	}
	if _, err := parseExitTargets(nil, nil); err == nil {
		t.Error("no validators accepted")
	}
}

func FuzzParseExitTargets(f *testing.F) {
	f.Add([]byte("a=1\nb=2\n# c\n"))
	f.Add([]byte("a==1\n=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := parseExitTargets(data, nil)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, x := range ts {
			if !validKeyID(x.keyID) || seen[x.keyID] {
				t.Fatalf("bad target %+v", x)
			}
			seen[x.keyID] = true
		}
	})
}
