package ethereum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSignBLSToExecutionChange uses Lighthouse validator 0 of the 0x00
// vectors: its on-chain credentials (from the holesky deposit file) commit to
// the EIP-2334 withdrawal key m/12381/3600/0/0.
func TestSignBLSToExecutionChange(t *testing.T) {
	keys := lighthouseValidatorKeys(t)
	signer := newLocalSigner(t)
	wpub := signer.add(t, "w0", keys[0].withdrawal)
	data, err := os.ReadFile(filepath.Join("testdata", depositVectors[3].file))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseDepositFile(data)
	if err != nil {
		t.Fatal(err)
	}
	onchain := entries[0].WithdrawalCredentials
	if err := CheckBLSCredentials(onchain, wpub); err != nil {
		t.Fatal(err)
	}
	to, _ := ParseExecutionAddress(lighthouseEth1Addr)
	change := BLSToExecutionChange{ValidatorIndex: 42, FromBLSPubkey: wpub, ToExecutionAddress: to}
	for _, name := range NetworkNames() {
		net, _ := NetworkByName(name)
		sc, err := SignBLSToExecutionChange(context.Background(), signer, net, "w0", change, onchain)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		objRoot := refContainer(refUint64(42), refBytes(wpub[:]), refBytes(to[:]))
		domain := refDomain([]byte{0x0a, 0, 0, 0}, net.GenesisForkVersion[:], net.GenesisValidatorsRoot[:])
		if !blstVerify(t, wpub, refSigningRoot(objRoot, domain), sc.Signature) {
			t.Errorf("%s: blst rejects the change", name)
		}
		if err := sc.Verify(net); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		js, err := json.Marshal([]SignedBLSToExecutionChange{sc})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`[{"message":{"validator_index":"42","from_bls_pubkey":"%s","to_execution_address":"%s"},"signature":"%s"}]`, wpub, lighthouseEth1Addr, sc.Signature)
		if string(js) != want {
			t.Errorf("JSON\n got %s\nwant %s", js, want)
		}
		back, err := ParseSignedBLSToExecutionChanges(js)
		if err != nil || len(back) != 1 || back[0] != sc {
			t.Errorf("round trip: %v", err)
		}
	}

	mainnet, _ := NetworkByName("mainnet")
	calls := signer.calls
	// Credentials of validator 1 do not commit to validator 0's withdrawal key.
	if _, err := SignBLSToExecutionChange(context.Background(), signer, mainnet, "w0", change, entries[1].WithdrawalCredentials); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("foreign credentials: %v", err)
	}
	// Already 0x01: nothing to change.
	if _, err := SignBLSToExecutionChange(context.Background(), signer, mainnet, "w0", change, ExecutionCredentials(to)); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("0x01 credentials: %v", err)
	}
	zero := change
	zero.ToExecutionAddress = ExecutionAddress{}
	if _, err := SignBLSToExecutionChange(context.Background(), signer, mainnet, "w0", zero, onchain); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("zero address: %v", err)
	}
	if signer.calls != calls {
		t.Error("signer was asked to sign a rejected change")
	}
}

func TestParseSignedBLSToExecutionChangesRejects(t *testing.T) {
	pk := "0x" + strings.Repeat("a1", 48)
	sig := "0x" + strings.Repeat("ab", 96)
	good := `[{"message":{"validator_index":"1","from_bls_pubkey":"` + pk + `","to_execution_address":"0x0f51bb10119727a7e5ea3538074fb341f56b09ad"},"signature":"` + sig + `"}]`
	if _, err := ParseSignedBLSToExecutionChanges([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]string{
		"empty":       `[]`,
		"object":      strings.TrimSuffix(strings.TrimPrefix(good, "["), "]"),
		"short addr":  strings.Replace(good, "0x0f51", "0x0f5", 1),
		"missing pk":  strings.Replace(good, `"from_bls_pubkey":"`+pk+`",`, ``, 1),
		"null elem":   `[null]`,
		"num index":   strings.Replace(good, `"validator_index":"1"`, `"validator_index":1`, 1),
		"extra field": strings.Replace(good, `"signature"`, `"x":"1","signature"`, 1),
		"case key":    strings.Replace(good, `"from_bls_pubkey"`, `"From_BLS_Pubkey"`, 1),
		"dup index":   strings.Replace(good, `"validator_index":"1"`, `"validator_index":"1","validator_index":"2"`, 1),
		"trailing":    good + `[]`,
	} {
		if _, err := ParseSignedBLSToExecutionChanges([]byte(c)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseSignedBLSToExecutionChanges(f *testing.F) {
	f.Add([]byte(`[{"message":{"validator_index":"1","from_bls_pubkey":"0x` + strings.Repeat("a1", 48) + `","to_execution_address":"0x0f51bb10119727a7e5ea3538074fb341f56b09ad"},"signature":"0x` + strings.Repeat("ab", 96) + `"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := ParseSignedBLSToExecutionChanges(data)
		if err != nil {
			return
		}
		js, err := json.Marshal(cs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSignedBLSToExecutionChanges(js)
		if err != nil || len(back) != len(cs) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range back {
			if back[i] != cs[i] {
				t.Fatalf("change %d differs", i)
			}
		}
		mainnet, _ := NetworkByName("mainnet")
		_ = cs[0].Verify(mainnet) // must not panic
	})
}

// TestParseBLSToExecutionChangeFile reads the deposit CLI's
// bls_to_execution_change-*.json (entries with a "metadata" object) as well
// as the beacon-API array, and refuses incomplete or inconsistent metadata.
func TestParseBLSToExecutionChangeFile(t *testing.T) {
	pk := "0x" + strings.Repeat("a1", 48)
	sig := "0x" + strings.Repeat("ab", 96)
	holesky, _ := NetworkByName("holesky")
	meta := `"metadata":{"network_name":"holesky","genesis_validators_root":"` + holesky.GenesisValidatorsRoot.String() + `","deposit_cli_version":"0.1.4-dev"}`
	entry := func(index, meta string) string {
		e := `{"message":{"validator_index":"` + index + `","from_bls_pubkey":"` + pk + `","to_execution_address":"0x0f51bb10119727a7e5ea3538074fb341f56b09ad"},"signature":"` + sig + `"`
		if meta != "" {
			e += "," + meta
		}
		return e + "}"
	}
	beaconForm := "[" + entry("1", "") + "," + entry("2", "") + "]"
	cliForm := "[" + entry("1", meta) + ",\n  " + entry("2", meta) + "]"

	want, err := ParseSignedBLSToExecutionChanges([]byte(beaconForm))
	if err != nil {
		t.Fatal(err)
	}
	got, m, err := ParseBLSToExecutionChangeFile([]byte(beaconForm))
	if err != nil || m != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("beacon form: %v %+v", err, m)
	}
	got, m, err = ParseBLSToExecutionChangeFile([]byte(cliForm))
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("deposit CLI form: %v", err)
	}
	if m == nil || *m != (ChangeFileMetadata{NetworkName: "holesky", GenesisValidatorsRoot: holesky.GenesisValidatorsRoot, DepositCLIVersion: "0.1.4-dev"}) {
		t.Fatalf("metadata %+v", m)
	}
	// What is submitted is the beacon-API body, without the metadata.
	if js, _ := json.Marshal(got); string(js) != beaconForm {
		t.Fatalf("re-encoded %s", js)
	}
	// The beacon-API parser keeps refusing the metadata key.
	if _, err := ParseSignedBLSToExecutionChanges([]byte(cliForm)); err == nil {
		t.Fatal("beacon-API parser accepted metadata")
	}

	other := strings.Replace(meta, "0.1.4-dev", "2.7.0", 1)
	for name, c := range map[string]string{
		"in one entry only":   "[" + entry("1", meta) + "," + entry("2", "") + "]",
		"differs":             "[" + entry("1", meta) + "," + entry("2", other) + "]",
		"no version":          "[" + entry("1", strings.Replace(meta, `,"deposit_cli_version":"0.1.4-dev"`, "", 1)) + "]",
		"no root":             "[" + entry("1", `"metadata":{"network_name":"holesky","deposit_cli_version":"1"}`) + "]",
		"empty":               "[" + entry("1", `"metadata":{}`) + "]",
		"null":                "[" + entry("1", `"metadata":null`) + "," + entry("2", meta) + "]",
		"bad name":            "[" + entry("1", strings.Replace(meta, `"holesky"`, `"Hole sky"`, 1)) + "]",
		"bad version":         "[" + entry("1", strings.Replace(meta, "0.1.4-dev", "0.1 4", 1)) + "]",
		"short root":          "[" + entry("1", strings.Replace(meta, `"genesis_validators_root":"0x`, `"genesis_validators_root":"0x00`, 1)) + "]",
		"unknown key":         "[" + entry("1", strings.Replace(meta, `"network_name"`, `"chain":"x","network_name"`, 1)) + "]",
		"metadata in message": strings.Replace(beaconForm, `"validator_index":"1"`, `"validator_index":"1",`+meta, 1),
	} {
		if _, _, err := ParseBLSToExecutionChangeFile([]byte(c)); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseBLSToExecutionChangeFile(f *testing.F) {
	f.Add([]byte(`[{"message":{"validator_index":"1","from_bls_pubkey":"0x` + strings.Repeat("a1", 48) + `","to_execution_address":"0x0f51bb10119727a7e5ea3538074fb341f56b09ad"},"signature":"0x` + strings.Repeat("ab", 96) +
		`","metadata":{"network_name":"hoodi","genesis_validators_root":"0x` + strings.Repeat("21", 32) + `","deposit_cli_version":"2.7.0"}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, m, err := ParseBLSToExecutionChangeFile(data)
		if err != nil {
			return
		}
		// Without metadata it is exactly the beacon-API form.
		plain, perr := ParseSignedBLSToExecutionChanges(data)
		if (m == nil) != (perr == nil) {
			t.Fatalf("metadata %v, beacon parser %v", m, perr)
		}
		if m == nil && len(plain) != len(cs) {
			t.Fatal("parsers disagree")
		}
		if m != nil && (!validName(m.NetworkName) || !validVersion(m.DepositCLIVersion)) {
			t.Fatalf("metadata accepted unchecked: %+v", m)
		}
	})
}
