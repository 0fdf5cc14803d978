package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	blst "github.com/supranational/blst/bindings/go"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/app"
)

// runPlain runs the CLI in-process without --json and returns its stdout.
func runPlain(t *testing.T, cfgPath string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"--config", cfgPath}, args...), &stdout, &stderr)
	if err != nil && stdout.Len() != 0 {
		t.Fatalf("vhsm %v failed (%v) but printed %q", args, err, stdout.String())
	}
	return stdout.String(), err
}

// blstOK verifies sig on root under pub with supranational/blst, an
// implementation independent of the herumi code that signed and checked it.
func blstOK(pub ethereum.Pubkey, root ethereum.Root, sig ethereum.Signature) bool {
	pk := new(blst.P1Affine).Uncompress(pub[:])
	s := new(blst.P2Affine).Uncompress(sig[:])
	if pk == nil || s == nil {
		return false
	}
	return s.Verify(true, pk, true, root[:], []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"))
}

// TestEthCommands drives vhsm eth against a real in-process 4-replica
// cluster: deposit files for 0x01, 0x02 and 0x00 credentials (on a custom
// network file too), a voluntary exit and a BLS-to-execution change that
// vhsm broadcast eth then submits to a schema-checking beacon node, and a
// generic signing root that reproduces the exit's signature. Every
// signature is checked with blst on a signing root computed here.
func TestEthCommands(t *testing.T) {
	cfg := startTestCluster(t, &app.PoolConfig{KeyBatch: 8, KeyLow: 2, NonceBatch: 16, NonceLow: 4}).ClientPath
	hoodi, err := ethereum.NetworkByName("hoodi")
	if err != nil {
		t.Fatal(err)
	}
	pubOf := map[string]ethereum.Pubkey{}
	for _, id := range []string{"val-1", "val-2", "withdraw"} {
		k := mustJSON(t, cfg, "keys", "gen", id, "bls")
		pub, err := ethereum.ParsePubkey("0x" + wantHex(t, k, "public_key", 48))
		if err != nil {
			t.Fatal(err)
		}
		pubOf[id] = pub
	}
	mustJSON(t, cfg, "keys", "gen", "btc", "schnorr")

	t.Run("deposit", func(t *testing.T) {
		addr := "0x" + strings.Repeat("ab", 20)
		exec, _ := ethereum.ParseExecutionAddress(addr)
		custom, customNet := customNetworkFile(t, 7)
		cases := []struct {
			name  string
			net   ethereum.Network
			args  []string
			creds ethereum.Credentials
			gwei  uint64
		}{
			{"0x01", hoodi, []string{"--network", "hoodi", "--withdrawal-address", addr}, ethereum.ExecutionCredentials(exec), 32e9},
			{"0x02 64 ETH", hoodi, []string{"--network", "hoodi", "--withdrawal-address", addr, "--compounding", "--amount-gwei", "64000000000"},
				ethereum.CompoundingCredentials(exec), 64e9},
			{"0x00", hoodi, []string{"--network", "hoodi", "--bls-withdrawal-key", "withdraw"}, ethereum.BLSCredentials(pubOf["withdraw"]), 32e9},
			{"custom network", customNet, []string{"--network-config", custom, "--withdrawal-address", addr}, ethereum.ExecutionCredentials(exec), 32e9},
		}
		for _, tc := range cases {
			dir := t.TempDir()
			args := append([]string{"eth", "deposit", "val-1", "val-2", "--out", dir}, tc.args...)
			out := mustJSON(t, cfg, args...)
			wantFields(t, out, "file", "network", "deposits")
			file, _ := out["file"].(string)
			if filepath.Dir(file) != dir || !strings.HasPrefix(filepath.Base(file), "deposit_data-") || out["network"] != tc.net.Name {
				t.Fatalf("%s: output %v", tc.name, out)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := ethereum.ParseDepositFile(data)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if len(entries) != 2 {
				t.Fatalf("%s: %d entries", tc.name, len(entries))
			}
			for i, id := range []string{"val-1", "val-2"} {
				e := entries[i]
				if e.Pubkey != pubOf[id] || e.WithdrawalCredentials != tc.creds || e.Amount != tc.gwei || e.NetworkName != tc.net.Name {
					t.Fatalf("%s: entry %d: %+v", tc.name, i, e)
				}
				if err := e.Verify(tc.net); err != nil {
					t.Fatalf("%s: entry %d: %v", tc.name, i, err)
				}
				msg := ethereum.DepositMessage{Pubkey: e.Pubkey, WithdrawalCredentials: e.WithdrawalCredentials, Amount: e.Amount}
				root := ethereum.ComputeSigningRoot(msg.HashTreeRoot(), tc.net.DepositDomain())
				if !blstOK(e.Pubkey, root, e.Signature) {
					t.Fatalf("%s: entry %d: blst rejects the deposit signature", tc.name, i)
				}
			}
		}

		// Refused before anything is signed or written.
		dir := t.TempDir()
		for _, args := range [][]string{
			{"eth", "deposit", "val-1", "--out", dir, "--withdrawal-address", addr},                                                           // no network
			{"eth", "deposit", "val-1", "--out", dir, "--network", "hoodi"},                                                                   // no credentials
			{"eth", "deposit", "val-1", "--out", dir, "--network", "hoodi", "--withdrawal-address", addr, "--bls-withdrawal-key", "withdraw"}, // both
			{"eth", "deposit", "val-1", "--out", dir, "--network", "hoodi", "--withdrawal-address", addr, "--amount-gwei", "1000000000"},      // 1 ETH on 0x01
			{"eth", "deposit", "val-1", "--out", dir, "--network", "hoodi", "--withdrawal-address", "0x1234"},
			{"eth", "deposit", "val-1", "--out", dir, "--network", "hoodi", "--bls-withdrawal-key", "btc"},
			{"eth", "deposit", "btc", "--out", dir, "--network", "hoodi", "--withdrawal-address", addr},
			{"eth", "deposit", "val-1", "val-1", "--out", dir, "--network", "hoodi", "--withdrawal-address", addr},
			{"eth", "deposit", "val-1", "--out", dir, "--network", "nowhere", "--withdrawal-address", addr},
		} {
			if _, err := runJSON(t, cfg, args...); err == nil {
				t.Fatalf("vhsm %v succeeded", args)
			}
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("refused deposits left %d files", len(left))
		}
	})

	t.Run("exit", func(t *testing.T) {
		payload, err := runPlain(t, cfg, "eth", "exit", "val-1", "--network", "hoodi", "--validator-index", "7", "--epoch", "300")
		if err != nil {
			t.Fatal(err)
		}
		exit, err := ethereum.ParseSignedVoluntaryExit([]byte(payload))
		if err != nil {
			t.Fatalf("exit output is not a SignedVoluntaryExit: %v\n%s", err, payload)
		}
		if exit.Message.ValidatorIndex != 7 || exit.Message.Epoch != 300 {
			t.Fatalf("exit %+v", exit.Message)
		}
		// EIP-7044: the Capella fork version, whatever the current fork.
		domain := ethereum.ComputeDomain(ethereum.DomainVoluntaryExit, hoodi.CapellaForkVersion, hoodi.GenesisValidatorsRoot)
		root := ethereum.ComputeSigningRoot(exit.Message.HashTreeRoot(), domain)
		if !blstOK(pubOf["val-1"], root, exit.Signature) {
			t.Fatal("blst rejects the exit signature")
		}
		j := mustJSON(t, cfg, "eth", "exit", "val-1", "--network", "hoodi", "--validator-index", "7", "--epoch", "300")
		wantFields(t, j, "key_id", "network", "signing_root", "voluntary_exit")
		if j["signing_root"] != root.String() {
			t.Fatalf("signing_root %v, want %s", j["signing_root"], root)
		}

		// The printed exit goes straight into vhsm broadcast eth.
		srv := newBeaconServer(t, hoodi)
		srv.keys["7"] = pubOf["val-1"]
		if _, err := runBroadcast(t, payload, true, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", "-"); err != nil {
			t.Fatalf("broadcast: %v", err)
		}
		if srv.posts.Load() != 1 {
			t.Fatalf("%d posts", srv.posts.Load())
		}

		// The generic command reproduces the signature (BLS is deterministic).
		sr := mustJSON(t, cfg, "eth", "sign-root", "val-1", "--object-root", exit.Message.HashTreeRoot().String(),
			"--domain-type", "0x04000000", "--fork-version", hoodi.CapellaForkVersion.String(), "--network", "hoodi")
		wantFields(t, sr, "key_id", "public_key", "domain", "signing_root", "signature")
		if sr["signing_root"] != root.String() || sr["signature"] != exit.Signature.String() || sr["domain"] != domain.String() {
			t.Fatalf("sign-root %v, want root %s and the exit's signature", sr, root)
		}
		whole := mustJSON(t, cfg, "eth", "sign-root", "val-1", "--object-root", exit.Message.HashTreeRoot().String(), "--domain", domain.String())
		if whole["signature"] != exit.Signature.String() {
			t.Fatalf("sign-root --domain %v", whole)
		}

		for _, args := range [][]string{
			{"eth", "exit", "val-1", "--network", "hoodi", "--epoch", "300"},
			{"eth", "exit", "val-1", "--network", "hoodi", "--validator-index", "-1", "--epoch", "300"},
			{"eth", "exit", "val-1", "--network", "hoodi", "--validator-index", "07", "--epoch", "300"},
			{"eth", "exit", "btc", "--network", "hoodi", "--validator-index", "7", "--epoch", "300"},
			{"eth", "exit", "missing", "--network", "hoodi", "--validator-index", "7", "--epoch", "300"},
			{"eth", "sign-root", "val-1", "--object-root", "0x12", "--domain", domain.String()},
			{"eth", "sign-root", "val-1", "--object-root", root.String()},
			{"eth", "sign-root", "val-1", "--object-root", root.String(), "--domain", domain.String(), "--network", "hoodi"},
			{"eth", "sign-root", "val-1", "--object-root", root.String(), "--domain-type", "0x0400", "--network", "hoodi"},
		} {
			if _, err := runJSON(t, cfg, args...); err == nil {
				t.Fatalf("vhsm %v succeeded", args)
			}
		}
	})

	t.Run("bls-change", func(t *testing.T) {
		to := "0x" + strings.Repeat("cd", 20)
		creds := ethereum.BLSCredentials(pubOf["withdraw"])
		payload, err := runPlain(t, cfg, "eth", "bls-change", "withdraw", "--network", "hoodi", "--validator-index", "9",
			"--to-address", to, "--withdrawal-credentials", creds.String())
		if err != nil {
			t.Fatal(err)
		}
		changes, err := ethereum.ParseSignedBLSToExecutionChanges([]byte(payload))
		if err != nil || len(changes) != 1 {
			t.Fatalf("bls-change output: %v\n%s", err, payload)
		}
		ch := changes[0]
		if ch.Message.ValidatorIndex != 9 || ch.Message.FromBLSPubkey != pubOf["withdraw"] || ch.Message.ToExecutionAddress.String() != to {
			t.Fatalf("change %+v", ch.Message)
		}
		// Capella: the genesis fork version, not the current one.
		domain := ethereum.ComputeDomain(ethereum.DomainBLSToExecutionChange, hoodi.GenesisForkVersion, hoodi.GenesisValidatorsRoot)
		if !blstOK(pubOf["withdraw"], ethereum.ComputeSigningRoot(ch.Message.HashTreeRoot(), domain), ch.Signature) {
			t.Fatal("blst rejects the change signature")
		}

		// Credentials read from the node; the result goes to the node.
		srv := newBeaconServer(t, hoodi)
		srv.keys["9"] = pubOf["val-2"]
		srv.creds["9"] = creds
		fromNode, err := runPlain(t, cfg, "eth", "bls-change", "withdraw", "--network", "hoodi", "--validator-index", "9",
			"--to-address", to, "--beacon", srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(fromNode) != strings.TrimSpace(payload) {
			t.Fatalf("change from node credentials differs:\n%s\n%s", fromNode, payload)
		}
		if _, err := runBroadcast(t, payload, true, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", "-"); err != nil {
			t.Fatalf("broadcast: %v", err)
		}
		var sent []json.RawMessage
		if b, _ := srv.last.Load().([]byte); json.Unmarshal(b, &sent) != nil || len(sent) != 1 {
			t.Fatalf("node received %s", srv.last.Load())
		}

		// Credentials that commit to another key are refused, from the flag or the node.
		srv.creds["9"] = ethereum.BLSCredentials(pubOf["val-1"])
		if _, err := runJSON(t, cfg, "eth", "bls-change", "withdraw", "--network", "hoodi", "--validator-index", "9",
			"--to-address", to, "--beacon", srv.URL); err == nil {
			t.Fatal("signed a change for credentials of another key (node)")
		}
		for _, args := range [][]string{
			{"eth", "bls-change", "withdraw", "--network", "hoodi", "--validator-index", "9", "--to-address", to,
				"--withdrawal-credentials", ethereum.BLSCredentials(pubOf["val-1"]).String()},
			{"eth", "bls-change", "withdraw", "--network", "hoodi", "--validator-index", "9", "--to-address", to},
			{"eth", "bls-change", "withdraw", "--network", "hoodi", "--validator-index", "9", "--to-address", "0xzz",
				"--withdrawal-credentials", creds.String()},
			{"eth", "bls-change", "withdraw", "--network", "hoodi", "--validator-index", "9", "--to-address", to,
				"--withdrawal-credentials", "0x00"},
		} {
			_, err := runJSON(t, cfg, args...)
			if err == nil {
				t.Fatalf("vhsm %v succeeded", args)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("vhsm %v timed out", args)
			}
		}
	})
}
