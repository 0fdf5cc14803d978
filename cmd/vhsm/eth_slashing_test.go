package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/app"
)

// TestEthSlashingCommands runs, against a real cluster, vhsm eth
// mark-validator (raw signing and sign-root are refused afterwards), vhsm
// eth slashing import (refusing a malformed file and another chain's) and
// export (complete, minimal, --out never overwriting).
func TestEthSlashingCommands(t *testing.T) {
	cl := startTestCluster(t, &app.PoolConfig{KeyBatch: 4, KeyLow: 1, NonceBatch: 2, NonceLow: 1})
	cfg := cl.ClientPath
	k := mustJSON(t, cfg, "keys", "gen", "val", "bls")
	mustJSON(t, cfg, "sign", "val", "before the mark")
	mustJSON(t, cfg, "eth", "mark-validator", "val")
	if _, err := runJSON(t, cfg, "sign", "val", "raw"); err == nil || !strings.Contains(err.Error(), "validator key") {
		t.Fatalf("raw sign with a validator key: %v", err)
	}
	if _, err := runJSON(t, cfg, "eth", "sign-root", "val", "--object-root", "0x"+strings.Repeat("11", 32), "--domain", "0x"+strings.Repeat("01", 32)); err == nil {
		t.Fatal("sign-root with a validator key")
	}
	// Exits and deposits of a validator key are signed as typed requests.
	ex := mustJSON(t, cfg, "eth", "exit", "val", "--validator-index", "5", "--epoch", "10", "--network", "hoodi")
	wantFields(t, ex, "key_id", "network", "signing_root", "voluntary_exit")
	mustJSON(t, cfg, "eth", "deposit", "val", "--withdrawal-address", "0x"+strings.Repeat("ab", 20), "--network", "hoodi", "--out", t.TempDir())
	hoodi, _ := ethereum.NetworkByName("hoodi")
	pk, _ := k["public_key"].(string)
	pk = "0x" + strings.TrimPrefix(pk, "0x")
	dir := t.TempDir()
	file := filepath.Join(dir, "in.json")
	content := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + hoodi.GenesisValidatorsRoot.String() + `"},"data":[{"pubkey":"` + pk + `","signed_blocks":[{"slot":"77"}],"signed_attestations":[{"source_epoch":"5","target_epoch":"6"}]}]}`
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"metadata":{}}`), 0o600)
	if _, err := runJSON(t, cfg, "eth", "slashing", "import", bad, "--network", "hoodi"); err == nil {
		t.Fatal("malformed file imported")
	}
	if _, err := runJSON(t, cfg, "eth", "slashing", "import", file, "--network", "mainnet"); err == nil {
		t.Fatal("another chain's file imported")
	}
	mustJSON(t, cfg, "eth", "slashing", "import", file, "--network", "hoodi")
	out, err := runPlain(t, cfg, "eth", "slashing", "export", "--network", "hoodi", "--minimal")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, strings.ToLower(pk)) || !strings.Contains(out, `"77"`) || !strings.Contains(out, `"6"`) {
		t.Fatalf("minimal export: %s", out)
	}
	dst := filepath.Join(dir, "out.json")
	mustJSON(t, cfg, "eth", "slashing", "export", "--network", "hoodi", "--out", dst)
	b, err := os.ReadFile(dst)
	if err != nil || !strings.Contains(string(b), `"interchange_format_version":"5"`) {
		t.Fatalf("export file: %v %s", err, b)
	}
	if _, err := runJSON(t, cfg, "eth", "slashing", "export", "--network", "hoodi", "--out", dst); err == nil {
		t.Fatal("export overwrote a file")
	}

	// vhsm eth new: N validator keys, marked, and one deposit file.
	if _, err := runJSON(t, cfg, "eth", "new", "--count", "0", "--withdrawal-address", "0x"+strings.Repeat("ab", 20), "--network", "hoodi"); err == nil {
		t.Fatal("--count 0 accepted")
	}
	ddir := t.TempDir()
	res := mustJSON(t, cfg, "eth", "new", "--count", "3", "--prefix", "nv", "--withdrawal-address", "0x"+strings.Repeat("ab", 20), "--network", "hoodi", "--out", ddir)
	path, _ := res["file"].(string)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ethereum.ParseDepositFile(raw)
	if err != nil || len(entries) != 3 {
		t.Fatalf("deposit file: %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if err := e.Verify(hoodi); err != nil {
			t.Fatalf("deposit does not verify: %v", err)
		}
	}
	if _, err := runJSON(t, cfg, "sign", "nv-2", "raw"); err == nil || !strings.Contains(err.Error(), "validator key") {
		t.Fatalf("a new validator key signed raw: %v", err)
	}
	if _, err := runJSON(t, cfg, "eth", "new", "--count", "1", "--prefix", "nv", "--withdrawal-address", "0x"+strings.Repeat("ab", 20), "--network", "hoodi", "--out", ddir); err == nil {
		t.Fatal("an existing key id was reused")
	}
}
