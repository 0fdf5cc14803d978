package ethereum

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// constantsFile mirrors testdata/eth-consensus-constants.yaml (copied from
// the shared vectors; values read from the consensus specs and eth-clients).
type constantsFile struct {
	Seen struct {
		DomainTypes map[string]string `yaml:"domain_types"`
		Networks    map[string]struct {
			GenesisForkVersion     string `yaml:"GENESIS_FORK_VERSION"`
			CapellaForkVersion     string `yaml:"CAPELLA_FORK_VERSION"`
			GenesisValidatorsRoot  string `yaml:"GENESIS_VALIDATORS_ROOT"`
			DepositChainID         uint64 `yaml:"DEPOSIT_CHAIN_ID"`
			DepositContractAddress string `yaml:"DEPOSIT_CONTRACT_ADDRESS"`
		} `yaml:"networks"`
	} `yaml:"seen"`
	Computed struct {
		Deposit   map[string]string `yaml:"deposit_domain"`
		Exit      map[string]string `yaml:"voluntary_exit_domain_eip7044"`
		BLSChange map[string]string `yaml:"bls_to_execution_change_domain"`
	} `yaml:"computed"`
}

func loadConstants(t *testing.T) constantsFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "eth-consensus-constants.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c constantsFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBuiltinNetworksMatchConstants(t *testing.T) {
	c := loadConstants(t)
	if len(c.Seen.Networks) != 4 || len(NetworkNames()) != 4 {
		t.Fatalf("networks: constants %d, built in %v", len(c.Seen.Networks), NetworkNames())
	}
	for name, want := range c.Seen.Networks {
		n, err := NetworkByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := n.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if n.GenesisForkVersion.String() != want.GenesisForkVersion ||
			n.CapellaForkVersion.String() != want.CapellaForkVersion ||
			n.GenesisValidatorsRoot.String() != want.GenesisValidatorsRoot ||
			n.DepositChainID != want.DepositChainID ||
			n.DepositContractAddress.String() != strings.ToLower(want.DepositContractAddress) {
			t.Errorf("%s: %+v differs from constants", name, n)
		}
		// Domains: against the constants file and against the reference SSZ.
		for _, d := range []struct {
			what     string
			got      Domain
			want     string
			dt       string
			fork     Version
			zeroRoot bool
		}{
			{"deposit", n.DepositDomain(), c.Computed.Deposit[name], "DOMAIN_DEPOSIT", n.GenesisForkVersion, true},
			{"exit", n.VoluntaryExitDomain(), c.Computed.Exit[name], "DOMAIN_VOLUNTARY_EXIT", n.CapellaForkVersion, false},
			{"bls change", n.BLSToExecutionChangeDomain(), c.Computed.BLSChange[name], "DOMAIN_BLS_TO_EXECUTION_CHANGE", n.GenesisForkVersion, false},
		} {
			if d.got.String() != strings.ToLower(d.want) {
				t.Errorf("%s %s domain: got %s want %s", name, d.what, d.got, d.want)
			}
			var dt DomainType
			if err := decodeHexFixed(dt[:], c.Seen.DomainTypes[d.dt], true); err != nil {
				t.Fatal(err)
			}
			gvr := n.GenesisValidatorsRoot[:]
			if d.zeroRoot {
				gvr = make([]byte, 32)
			}
			if ref := refDomain(dt[:], d.fork[:], gvr); Domain(ref) != d.got {
				t.Errorf("%s %s domain: reference SSZ gives %x", name, d.what, ref)
			}
		}
	}
	if _, err := NetworkByName("goerli"); !errors.Is(err, ErrUnknownNetwork) {
		t.Errorf("goerli: %v", err)
	}
}

const hoodiLikeConfig = `# a consensus client config.yaml plus the genesis validators root
PRESET_BASE: mainnet
CONFIG_NAME: hoodi
GENESIS_FORK_VERSION: 0x10000910
ALTAIR_FORK_VERSION: 0x20000910
CAPELLA_FORK_VERSION: 0x40000910
DEPOSIT_CHAIN_ID: 560048
DEPOSIT_NETWORK_ID: 560048
DEPOSIT_CONTRACT_ADDRESS: 0x00000000219ab540356cBB839Cbe05303d7705Fa
GENESIS_VALIDATORS_ROOT: "0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f"
BLOB_SCHEDULE:
  - EPOCH: 1
    MAX_BLOBS_PER_BLOCK: 9
`

func TestParseNetworkConfig(t *testing.T) {
	n, err := ParseNetworkConfig([]byte(hoodiLikeConfig))
	if err != nil {
		t.Fatal(err)
	}
	hoodi, _ := NetworkByName("hoodi")
	if n != hoodi {
		t.Errorf("got %+v\nwant %+v", n, hoodi)
	}
	path := filepath.Join(t.TempDir(), "net.yaml")
	if err := os.WriteFile(path, []byte(hoodiLikeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if n2, err := LoadNetworkConfig(path); err != nil || n2 != hoodi {
		t.Errorf("LoadNetworkConfig: %+v, %v", n2, err)
	}
	if _, err := LoadNetworkConfig(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte(hoodiLikeConfig+"# "+strings.Repeat("x", maxConfigSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNetworkConfig(big); !errors.Is(err, ErrInvalidNetwork) {
		t.Errorf("oversized file: %v", err)
	}

	bad := map[string]string{
		"missing gvr":     strings.Replace(hoodiLikeConfig, "GENESIS_VALIDATORS_ROOT", "X", 1),
		"short fork":      strings.Replace(hoodiLikeConfig, "0x10000910", "0x100009", 1),
		"no 0x":           strings.Replace(hoodiLikeConfig, "GENESIS_FORK_VERSION: 0x10000910", "GENESIS_FORK_VERSION: 10000910", 1),
		"bad chain id":    strings.Replace(hoodiLikeConfig, "DEPOSIT_CHAIN_ID: 560048", "DEPOSIT_CHAIN_ID: -1", 1),
		"zero chain id":   strings.Replace(hoodiLikeConfig, "DEPOSIT_CHAIN_ID: 560048", "DEPOSIT_CHAIN_ID: 0", 1),
		"bad name":        strings.Replace(hoodiLikeConfig, "CONFIG_NAME: hoodi", "CONFIG_NAME: \"Hoodi net\"", 1),
		"duplicate":       hoodiLikeConfig + "CONFIG_NAME: other\n",
		"not a map":       "- a\n- b\n",
		"empty":           "",
		"list value":      strings.Replace(hoodiLikeConfig, "CONFIG_NAME: hoodi", "CONFIG_NAME: [hoodi]", 1),
		"zero gvr":        strings.Replace(hoodiLikeConfig, "0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f", "0x"+strings.Repeat("0", 64), 1),
		"invalid yaml":    "CONFIG_NAME: [",
		"zero contract":   strings.Replace(hoodiLikeConfig, "0x00000000219ab540356cBB839Cbe05303d7705Fa", "0x"+strings.Repeat("0", 40), 1),
		"contract length": strings.Replace(hoodiLikeConfig, "0x00000000219ab540356cBB839Cbe05303d7705Fa", "0x00000000219ab540356cBB839Cbe05303d7705", 1),
		"missing capella": strings.Replace(hoodiLikeConfig, "CAPELLA_FORK_VERSION", "DENEB_FORK_VERSION", 1),
		"missing genesis": strings.Replace(hoodiLikeConfig, "GENESIS_FORK_VERSION", "ALTAIR2_FORK_VERSION", 1),
		"missing name":    strings.Replace(hoodiLikeConfig, "CONFIG_NAME: hoodi", "", 1),
		"missing chain":   strings.Replace(hoodiLikeConfig, "DEPOSIT_CHAIN_ID: 560048", "", 1),
		"missing address": strings.Replace(hoodiLikeConfig, "DEPOSIT_CONTRACT_ADDRESS", "DEPOSIT_ADDRESS", 1),
		"empty value":     strings.Replace(hoodiLikeConfig, "CAPELLA_FORK_VERSION: 0x40000910", "CAPELLA_FORK_VERSION:", 1),
		"map value":       strings.Replace(hoodiLikeConfig, "CAPELLA_FORK_VERSION: 0x40000910", "CAPELLA_FORK_VERSION: {a: 1}", 1),
		"hex chain id":    strings.Replace(hoodiLikeConfig, "DEPOSIT_CHAIN_ID: 560048", "DEPOSIT_CHAIN_ID: 0x88bb0", 1),
		"bad gvr digit":   strings.Replace(hoodiLikeConfig, "0x212f13fc", "0x212f13fg", 1),
		"too large":       hoodiLikeConfig + "# " + strings.Repeat("x", maxConfigSize) + "\n",
	}
	for name, c := range bad {
		if c == hoodiLikeConfig {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if _, err := ParseNetworkConfig([]byte(c)); !errors.Is(err, ErrInvalidNetwork) {
			t.Errorf("%s: err = %v, want ErrInvalidNetwork", name, err)
		}
	}
}

func FuzzParseNetworkConfig(f *testing.F) {
	f.Add([]byte(hoodiLikeConfig))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseNetworkConfig(data)
		if err != nil {
			return
		}
		if err := n.Validate(); err != nil {
			t.Fatalf("accepted an invalid network: %v", err)
		}
		_ = n.DepositDomain()
	})
}

func TestHexAndUint64Parsing(t *testing.T) {
	var v Version
	for _, ok := range []string{"0x01017000", "0X0101700A", "0xabcdefAB"} {
		if err := v.UnmarshalText([]byte(ok)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"01017000", "0x0101700", "0x010170000", "0x0101700g", "", "0x", "0x 1017000"} {
		if err := v.UnmarshalText([]byte(bad)); !errors.Is(err, ErrInvalidHex) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
	for s, want := range map[string]uint64{"0": 0, "1": 1, "18446744073709551615": 1<<64 - 1} {
		if got, err := ParseUint64(s); err != nil || got != want {
			t.Errorf("%q: %d, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "01", "-1", "+1", "1.0", "1e3", " 1", "18446744073709551616", "0x10", "123456789012345678901"} {
		if _, err := ParseUint64(bad); !errors.Is(err, ErrInvalidUint64) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func FuzzHexFields(f *testing.F) {
	f.Add("0x88b6b3a9b391fa5593e8bce8d06102df1a56248368086929709fbb4a8570dc6a560febeef8159b19789e9c1fd13572f0")
	f.Add("0x0f51bb10119727a7e5ea3538074fb341f56b09ad")
	f.Add("12345")
	f.Fuzz(func(t *testing.T, s string) {
		var p Pubkey
		if p.UnmarshalText([]byte(s)) == nil {
			if !strings.EqualFold(p.String(), s) {
				t.Fatalf("pubkey round trip: %q -> %q", s, p)
			}
			_ = p.Validate() // must not panic on any 48 bytes
		}
		var a ExecutionAddress
		if a.UnmarshalText([]byte(s)) == nil && !strings.EqualFold(a.String(), s) {
			t.Fatalf("address round trip: %q -> %q", s, a)
		}
		var sig Signature
		if sig.UnmarshalText([]byte(s)) == nil && !strings.EqualFold(sig.String(), s) {
			t.Fatalf("signature round trip: %q", s)
		}
		if u, err := ParseUint64(s); err == nil && Uint64(u).String() != s {
			t.Fatalf("uint64 round trip: %q -> %d", s, u)
		}
	})
}

// TestCheckJSONKeys: exact-case keys at any depth, no duplicates per object
// (the same key in sibling objects is fine), values never taken for keys.
func TestCheckJSONKeys(t *testing.T) {
	keys := keySet("a", "b", "list")
	for _, ok := range []string{
		`{}`, `[]`, `"a"`, `1`,
		`{"a":"b","b":"a"}`,
		`[{"a":1},{"a":2}]`,
		`{"a":{"a":{"b":[1,{"a":"list"},[]]}},"list":[[{"b":null}]],"b":{}}`,
	} {
		if err := checkJSONKeys([]byte(ok), keys); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		`{"A":1}`, `{"a":1,"a":1}`, `[{"a":{"b":1,"b":2}}]`, `{"list":[{"c":1}]}`,
		`{"a":1`, `{"a":}`, `{"` + strings.Repeat("x", 1000) + `":1}`,
	} {
		err := checkJSONKeys([]byte(bad), keys)
		if !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("%s: err = %v", bad, err)
		} else if len(err.Error()) > 200 {
			t.Errorf("error not bounded: %d bytes", len(err.Error()))
		}
	}
}
