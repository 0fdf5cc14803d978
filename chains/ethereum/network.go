package ethereum

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Network is the public data of a consensus network that signing needs.
type Network struct {
	// Name is the deposit CLI's network_name (lower case, [a-z0-9_.-]).
	Name string
	// GenesisForkVersion signs deposits and BLS-to-execution changes.
	GenesisForkVersion Version
	// CapellaForkVersion signs voluntary exits from Deneb on (EIP-7044).
	CapellaForkVersion Version
	// GenesisValidatorsRoot binds exits and changes to this chain.
	GenesisValidatorsRoot Root
	// DepositContractAddress is the execution-layer deposit contract.
	DepositContractAddress ExecutionAddress
	// DepositChainID is the execution chain id of the deposit contract.
	DepositChainID uint64
}

// Built-in networks. Sources: consensus-specs configs/mainnet.yaml and
// ethstaker-deposit-cli settings.py (mainnet); eth-clients/{holesky,hoodi,
// sepolia} metadata/config.yaml, README.md and genesis_validators_root.txt.
var builtinNetworks = map[string]Network{
	"mainnet": {
		Name:                   "mainnet",
		GenesisForkVersion:     Version{0x00, 0x00, 0x00, 0x00},
		CapellaForkVersion:     Version{0x03, 0x00, 0x00, 0x00},
		GenesisValidatorsRoot:  mustRoot("0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"),
		DepositContractAddress: mustAddress("0x00000000219ab540356cBB839Cbe05303d7705Fa"),
		DepositChainID:         1,
	},
	"holesky": {
		Name:                   "holesky",
		GenesisForkVersion:     Version{0x01, 0x01, 0x70, 0x00},
		CapellaForkVersion:     Version{0x04, 0x01, 0x70, 0x00},
		GenesisValidatorsRoot:  mustRoot("0x9143aa7c615a7f7115e2b6aac319c03529df8242ae705fba9df39b79c59fa8b1"),
		DepositContractAddress: mustAddress("0x4242424242424242424242424242424242424242"),
		DepositChainID:         17000,
	},
	"hoodi": {
		Name:                   "hoodi",
		GenesisForkVersion:     Version{0x10, 0x00, 0x09, 0x10},
		CapellaForkVersion:     Version{0x40, 0x00, 0x09, 0x10},
		GenesisValidatorsRoot:  mustRoot("0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f"),
		DepositContractAddress: mustAddress("0x00000000219ab540356cBB839Cbe05303d7705Fa"),
		DepositChainID:         560048,
	},
	"sepolia": {
		Name:                   "sepolia",
		GenesisForkVersion:     Version{0x90, 0x00, 0x00, 0x69},
		CapellaForkVersion:     Version{0x90, 0x00, 0x00, 0x72},
		GenesisValidatorsRoot:  mustRoot("0xd8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078"),
		DepositContractAddress: mustAddress("0x7f02C3E3c98b133055B8B348B2Ac625669Ed295D"),
		DepositChainID:         11155111,
	},
}

// mustRoot and mustAddress parse compile-time constants only.
func mustRoot(s string) Root {
	r, err := ParseRoot(s)
	if err != nil {
		panic(err)
	}
	return r
}

func mustAddress(s string) ExecutionAddress {
	a, err := ParseExecutionAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

// NetworkByName returns a built-in network: "mainnet", "hoodi", "sepolia" or
// "holesky".
func NetworkByName(name string) (Network, error) {
	n, ok := builtinNetworks[name]
	if !ok {
		return Network{}, fmt.Errorf("%w: %q", ErrUnknownNetwork, name)
	}
	return n, nil
}

// NetworkNames lists the built-in network names, sorted.
func NetworkNames() []string {
	names := make([]string, 0, len(builtinNetworks))
	for n := range builtinNetworks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DepositDomain is the domain of deposit signatures: compute_domain(
// DOMAIN_DEPOSIT, GENESIS_FORK_VERSION, Root()) — fork-agnostic, with a zero
// genesis_validators_root (phase0 is_valid_deposit_signature /
// electra apply_deposit).
func (n Network) DepositDomain() Domain {
	return ComputeDomain(DomainDeposit, n.GenesisForkVersion, Root{})
}

// VoluntaryExitDomain is the EIP-7044 exit domain, valid from Deneb on:
// compute_domain(DOMAIN_VOLUNTARY_EXIT, CAPELLA_FORK_VERSION,
// genesis_validators_root) (deneb/beacon-chain.md process_voluntary_exit).
func (n Network) VoluntaryExitDomain() Domain {
	return ComputeDomain(DomainVoluntaryExit, n.CapellaForkVersion, n.GenesisValidatorsRoot)
}

// BLSToExecutionChangeDomain is compute_domain(DOMAIN_BLS_TO_EXECUTION_CHANGE,
// genesis_validators_root=...) with the default GENESIS_FORK_VERSION
// (capella/beacon-chain.md process_bls_to_execution_change).
func (n Network) BLSToExecutionChangeDomain() Domain {
	return ComputeDomain(DomainBLSToExecutionChange, n.GenesisForkVersion, n.GenesisValidatorsRoot)
}

// Validate checks that n is complete: a well-formed name, a non-zero genesis
// validators root, deposit contract and chain id. (A zero fork version is
// legitimate: mainnet's genesis fork version is 0x00000000.)
func (n Network) Validate() error {
	if !validName(n.Name) {
		return fmt.Errorf("%w: name %q (want 1-64 of [a-z0-9_.-])", ErrInvalidNetwork, n.Name)
	}
	if n.GenesisValidatorsRoot == (Root{}) {
		return fmt.Errorf("%w: %s: zero genesis validators root", ErrInvalidNetwork, n.Name)
	}
	if n.DepositContractAddress == (ExecutionAddress{}) {
		return fmt.Errorf("%w: %s: zero deposit contract address", ErrInvalidNetwork, n.Name)
	}
	if n.DepositChainID == 0 {
		return fmt.Errorf("%w: %s: zero deposit chain id", ErrInvalidNetwork, n.Name)
	}
	return nil
}

// validName reports whether s is usable as network_name (and as a file name
// component): 1-64 of [a-z0-9_.-]. Such a name needs no JSON escaping.
func validName(s string) bool { return validToken(s, false, "_.-") }

// validToken reports whether s is 1 to 64 bytes of lower-case letters,
// digits, upper-case letters if upper, and the bytes in punct.
func validToken(s string, upper bool, punct string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || upper && c >= 'A' && c <= 'Z' || strings.IndexByte(punct, c) >= 0) {
			return false
		}
	}
	return true
}

// maxConfigSize bounds a network config file.
const maxConfigSize = 1 << 20

// Network config keys. The names are those of a consensus client's
// config.yaml (e.g. eth-clients/hoodi metadata/config.yaml), so such a file can
// be used after adding GENESIS_VALIDATORS_ROOT; other keys are ignored.
const (
	keyConfigName      = "CONFIG_NAME"
	keyGenesisFork     = "GENESIS_FORK_VERSION"
	keyCapellaFork     = "CAPELLA_FORK_VERSION"
	keyGVR             = "GENESIS_VALIDATORS_ROOT"
	keyDepositContract = "DEPOSIT_CONTRACT_ADDRESS"
	keyDepositChainID  = "DEPOSIT_CHAIN_ID"
)

// LoadNetworkConfig reads a custom network from a YAML file; see
// [ParseNetworkConfig].
func LoadNetworkConfig(path string) (Network, error) {
	f, err := os.Open(path)
	if err != nil {
		return Network{}, fmt.Errorf("open network config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return Network{}, fmt.Errorf("read network config: %w", err)
	}
	return ParseNetworkConfig(data)
}

// ParseNetworkConfig parses a custom network from YAML: a top-level mapping
// with scalar values for CONFIG_NAME, GENESIS_FORK_VERSION,
// CAPELLA_FORK_VERSION, GENESIS_VALIDATORS_ROOT, DEPOSIT_CONTRACT_ADDRESS (all
// hex with 0x) and DEPOSIT_CHAIN_ID (decimal). Unknown keys are ignored,
// duplicate or aliased keys rejected, and the result is [Network.Validate]d.
func ParseNetworkConfig(data []byte) (Network, error) {
	if len(data) > maxConfigSize {
		return Network{}, fmt.Errorf("%w: config larger than %d bytes", ErrInvalidNetwork, maxConfigSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Network{}, fmt.Errorf("%w: yaml: %v", ErrInvalidNetwork, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return Network{}, fmt.Errorf("%w: want a YAML mapping", ErrInvalidNetwork)
	}
	m := doc.Content[0]
	values := make(map[string]string)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return Network{}, fmt.Errorf("%w: non-scalar key", ErrInvalidNetwork)
		}
		if _, dup := values[k.Value]; dup {
			return Network{}, fmt.Errorf("%w: duplicate key %q", ErrInvalidNetwork, k.Value)
		}
		if v.Kind != yaml.ScalarNode {
			values[k.Value] = "" // only scalars are read; mark as seen
			continue
		}
		values[k.Value] = v.Value
	}
	get := func(key string) (string, error) {
		v, ok := values[key]
		if !ok || v == "" {
			return "", fmt.Errorf("%w: missing or empty %s", ErrInvalidNetwork, key)
		}
		return v, nil
	}
	var n Network
	var err error
	var s string
	if n.Name, err = get(keyConfigName); err != nil {
		return Network{}, err
	}
	if s, err = get(keyGenesisFork); err != nil {
		return Network{}, err
	}
	if err = n.GenesisForkVersion.UnmarshalText([]byte(s)); err != nil {
		return Network{}, fmt.Errorf("%w: %s: %w", ErrInvalidNetwork, keyGenesisFork, err)
	}
	if s, err = get(keyCapellaFork); err != nil {
		return Network{}, err
	}
	if err = n.CapellaForkVersion.UnmarshalText([]byte(s)); err != nil {
		return Network{}, fmt.Errorf("%w: %s: %w", ErrInvalidNetwork, keyCapellaFork, err)
	}
	if s, err = get(keyGVR); err != nil {
		return Network{}, err
	}
	if err = n.GenesisValidatorsRoot.UnmarshalText([]byte(s)); err != nil {
		return Network{}, fmt.Errorf("%w: %s: %w", ErrInvalidNetwork, keyGVR, err)
	}
	if s, err = get(keyDepositContract); err != nil {
		return Network{}, err
	}
	if err = n.DepositContractAddress.UnmarshalText([]byte(s)); err != nil {
		return Network{}, fmt.Errorf("%w: %s: %w", ErrInvalidNetwork, keyDepositContract, err)
	}
	if s, err = get(keyDepositChainID); err != nil {
		return Network{}, err
	}
	if n.DepositChainID, err = ParseUint64(s); err != nil {
		return Network{}, fmt.Errorf("%w: %s: %w", ErrInvalidNetwork, keyDepositChainID, err)
	}
	if err := n.Validate(); err != nil {
		return Network{}, err
	}
	return n, nil
}
