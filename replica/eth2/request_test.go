package eth2

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	blst "github.com/supranational/blst/bindings/go"
)

const fiJSON = `"fork_info":{"fork":{"previous_version":"0x00000001","current_version":"0x00000002","epoch":"5"},"genesis_validators_root":"0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673"}`

const attJSON = `{"type":"ATTESTATION",` + fiJSON + `,"attestation":{"slot":"32","index":"0",` +
	`"beacon_block_root":"0xb2eedb01adbd02c828d5eec09b4c70cbba12ffffba525ebf48aca33028e8ad89",` +
	`"source":{"epoch":"3","root":"0x0000000000000000000000000000000000000000000000000000000000000000"},` +
	`"target":{"epoch":"4","root":"0xb2eedb01adbd02c828d5eec09b4c70cbba12ffffba525ebf48aca33028e8ad89"}}}`

func TestParseRefusals(t *testing.T) {
	cases := map[string]struct {
		body string
		want error
	}{
		"not json":                   {`{"type":`, ErrBadRequest},
		"not object":                 {`[1]`, ErrBadRequest},
		"trailing":                   {attJSON + `{}`, ErrBadRequest},
		"no type":                    {`{"fork_info":{}}`, ErrBadRequest},
		"type not string":            {`{"type":1}`, ErrBadRequest},
		"unknown type":               {`{"type":"ATTESTATION_V9",` + fiJSON + `}`, ErrUnknownType},
		"lowercase type":             {strings.Replace(attJSON, `"ATTESTATION"`, `"attestation"`, 1), ErrUnknownType},
		"unknown field":              {strings.Replace(attJSON, `"slot":"32"`, `"slot":"32","extra":"1"`, 1), ErrBadRequest},
		"unknown top field":          {strings.Replace(attJSON, `"type"`, `"x":1,"type"`, 1), ErrBadRequest},
		"missing field":              {strings.Replace(attJSON, `"index":"0",`, ``, 1), ErrBadRequest},
		"null field":                 {strings.Replace(attJSON, `"index":"0"`, `"index":null`, 1), ErrBadRequest},
		"missing fork_info":          {strings.Replace(attJSON, fiJSON+",", ``, 1), ErrBadRequest},
		"duplicate key":              {strings.Replace(attJSON, `"slot":"32"`, `"slot":"32","slot":"33"`, 1), ErrBadRequest},
		"duplicate alias":            {strings.Replace(attJSON, `"type"`, `"signingRoot":"0x`+strings.Repeat("00", 32)+`","signing_root":"0x`+strings.Repeat("00", 32)+`","type"`, 1), ErrBadRequest},
		"negative number":            {strings.Replace(attJSON, `"slot":"32"`, `"slot":"-1"`, 1), ErrBadRequest},
		"overflow":                   {strings.Replace(attJSON, `"slot":"32"`, `"slot":"18446744073709551616"`, 1), ErrBadRequest},
		"float":                      {strings.Replace(attJSON, `"slot":"32"`, `"slot":32.5`, 1), ErrBadRequest},
		"hex slot":                   {strings.Replace(attJSON, `"slot":"32"`, `"slot":"0x20"`, 1), ErrBadRequest},
		"no 0x":                      {strings.Replace(attJSON, `"beacon_block_root":"0x`, `"beacon_block_root":"`, 1), ErrBadRequest},
		"short root":                 {strings.Replace(attJSON, `"beacon_block_root":"0xb2ee`, `"beacon_block_root":"0x`, 1), ErrBadRequest},
		"long root":                  {strings.Replace(attJSON, `"beacon_block_root":"0x`, `"beacon_block_root":"0x0000`, 1), ErrBadRequest},
		"odd hex":                    {strings.Replace(attJSON, `"beacon_block_root":"0x`, `"beacon_block_root":"0x0`, 1), ErrBadRequest},
		"bad hex":                    {strings.Replace(attJSON, `"beacon_block_root":"0xb2`, `"beacon_block_root":"0xzz`, 1), ErrBadRequest},
		"bad version":                {strings.Replace(attJSON, `"previous_version":"0x00000001"`, `"previous_version":"0x000001"`, 1), ErrBadRequest},
		"bad signingRoot":            {strings.Replace(attJSON, `"type"`, `"signingRoot":"0x00","type"`, 1), ErrBadRequest},
		"object as string":           {strings.Replace(attJSON, `"source":{"epoch":"3","root":"0x0000000000000000000000000000000000000000000000000000000000000000"}`, `"source":"x"`, 1), ErrBadRequest},
		"block and header":           {`{"type":"BLOCK_V2",` + fiJSON + `,"beacon_block":{"version":"DENEB","block_header":{"slot":"1","proposer_index":"1","parent_root":"0x` + strings.Repeat("00", 32) + `","state_root":"0x` + strings.Repeat("00", 32) + `","body_root":"0x` + strings.Repeat("00", 32) + `"},"block":{}}}`, ErrBadRequest},
		"unknown fork":               {`{"type":"BLOCK_V2",` + fiJSON + `,"beacon_block":{"version":"GLOAS","block_header":{"slot":"1","proposer_index":"1","parent_root":"0x` + strings.Repeat("00", 32) + `","state_root":"0x` + strings.Repeat("00", 32) + `","body_root":"0x` + strings.Repeat("00", 32) + `"}}}`, ErrBadRequest},
		"bitlist no delim":           {`{"type":"AGGREGATE_AND_PROOF",` + fiJSON + `,"aggregate_and_proof":{"aggregator_index":"1","selection_proof":"0x` + strings.Repeat("00", 96) + `","aggregate":{"aggregation_bits":"0x0100","signature":"0x` + strings.Repeat("00", 96) + `","data":{"slot":"0","index":"0","beacon_block_root":"0x` + strings.Repeat("00", 32) + `","source":{"epoch":"0","root":"0x` + strings.Repeat("00", 32) + `"},"target":{"epoch":"0","root":"0x` + strings.Repeat("00", 32) + `"}}}}}`, ErrBadRequest},
		"bitlist too long":           {`{"type":"AGGREGATE_AND_PROOF",` + fiJSON + `,"aggregate_and_proof":{"aggregator_index":"1","selection_proof":"0x` + strings.Repeat("00", 96) + `","aggregate":{"aggregation_bits":"0x` + strings.Repeat("ff", 256) + `03","signature":"0x` + strings.Repeat("00", 96) + `","data":{"slot":"0","index":"0","beacon_block_root":"0x` + strings.Repeat("00", 32) + `","source":{"epoch":"0","root":"0x` + strings.Repeat("00", 32) + `"},"target":{"epoch":"0","root":"0x` + strings.Repeat("00", 32) + `"}}}}}`, ErrBadRequest},
		"bls change without version": {`{"type":"BLS_TO_EXECUTION_CHANGE",` + fiJSON + `,"bls_to_execution_change":{"validator_index":"1","from_bls_pubkey":"0x` + strings.Repeat("11", 48) + `","to_execution_address":"0x` + strings.Repeat("22", 20) + `"}}`, ErrBadRequest},
		"deep nesting":               {strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100), ErrBadRequest},
		"too big":                    {`{"type":"ATTESTATION","x":"` + strings.Repeat("a", MaxBodySize) + `"}`, ErrBadRequest},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := Parse([]byte(c.body))
			if !errors.Is(err, c.want) || r != nil {
				t.Fatalf("got %v, %v; want %v", r, err, c.want)
			}
			if errors.Is(err, ErrBadRequest) == errors.Is(err, ErrUnknownType) {
				t.Fatalf("error wraps both or neither sentinel: %v", err)
			}
		})
	}
	// The valid base body parses, so the refusals above are about the change.
	if _, err := Parse([]byte(attJSON)); err != nil {
		t.Fatal(err)
	}
}

func TestSlashable(t *testing.T) {
	r, err := Parse([]byte(attJSON))
	if err != nil {
		t.Fatal(err)
	}
	s := r.Slashable()
	gvr := mustHex32("0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673")
	if s == nil || s.Kind != KindAttestation || s.Slot != 32 || s.SourceEpoch != 3 || s.TargetEpoch != 4 || s.GenesisValidatorsRoot != gvr {
		t.Fatalf("attestation: %+v", s)
	}
	for name, body := range specExamples(t) {
		if strings.Contains(name, "ALTAIR") || strings.HasPrefix(name, "SYNC_COMMITTEE_CONTRIBUTION") {
			continue
		}
		r, err := Parse(body)
		if err != nil {
			t.Fatal(name, err)
		}
		s := r.Slashable()
		switch r.Type {
		case TypeBlock, TypeBlockV2:
			if s == nil || s.Kind != KindBlock || s.Slot != 0 || s.GenesisValidatorsRoot != gvr {
				t.Fatalf("%s: %+v", name, s)
			}
		case TypeAttestation:
			if s == nil || s.Kind != KindAttestation || s.Slot != 32 {
				t.Fatalf("%s: %+v", name, s)
			}
		default:
			if s != nil {
				t.Fatalf("%s is not slashable: %+v", name, s)
			}
		}
	}
}

// TestCamelCaseAliases: camelCase keys are the same fields.
func TestCamelCaseAliases(t *testing.T) {
	camel := strings.NewReplacer(`"beacon_block_root"`, `"beaconBlockRoot"`, `"previous_version"`, `"previousVersion"`,
		`"genesis_validators_root"`, `"genesisValidatorsRoot"`, `"fork_info"`, `"forkInfo"`).Replace(attJSON)
	a, err := Parse([]byte(attJSON))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(camel))
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := a.SigningRoot()
	rb, _ := b.SigningRoot()
	if ra != rb {
		t.Fatal("alias changed the root")
	}
}

// TestDomains checks domains against the constants of
// shared/vectors/eth-consensus-constants.yaml and the fork choice rules.
func TestDomains(t *testing.T) {
	mainnetGVR := mustHex32("0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95")
	hexd := func(d [32]byte) string { return "0x" + hex.EncodeToString(d[:]) }
	if got := hexd(ComputeDomain(DomainDeposit, [4]byte{}, [32]byte{})); got != "0x03000000f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a9" {
		t.Fatalf("mainnet deposit domain %s", got)
	}
	for _, c := range []struct {
		gvr, cur, want string
	}{
		// Deneb and later on a known network: EIP-7044 Capella domain.
		{"0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95", "0x04000000", "0x04000000bba4da96354c9f25476cf1bc69bf583a7f9e0af049305b62de676640"},
		{"0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95", "0x06000000", "0x04000000bba4da96354c9f25476cf1bc69bf583a7f9e0af049305b62de676640"},
		{"0x9143aa7c615a7f7115e2b6aac319c03529df8242ae705fba9df39b79c59fa8b1", "0x06017000", "0x0400000017e2dad36f1d3595152042a9ad23430197557e2e7e82bc7f7fc72972"},
		{"0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f", "0x60000910", "0x0400000072bbc3705de0766b1ea9cfd60f0a5cc5f2dca3b942b222e8320b035b"},
		{"0xd8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078", "0x90000073", "0x0400000047eb72b3be36f08feffcaba760f0a2ed78c1a85f0654941a0d19d0fa"},
	} {
		body := `{"type":"VOLUNTARY_EXIT","fork_info":{"fork":{"previous_version":"0x00000000","current_version":"` + c.cur +
			`","epoch":"0"},"genesis_validators_root":"` + c.gvr + `"},"voluntary_exit":{"epoch":"9","validator_index":"7"}}`
		r, err := Parse([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		_, d, _ := r.ObjectRootAndDomain()
		if hexd(d) != c.want {
			t.Fatalf("exit domain %s/%s = %s, want %s", c.gvr, c.cur, hexd(d), c.want)
		}
	}
	// Capella on mainnet: get_domain at the exit epoch (previous before fork.epoch).
	body := `{"type":"VOLUNTARY_EXIT","fork_info":{"fork":{"previous_version":"0x02000000","current_version":"0x03000000",` +
		`"epoch":"10"},"genesis_validators_root":"0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"},"voluntary_exit":{"epoch":"9","validator_index":"7"}}`
	r, _ := Parse([]byte(body))
	if _, d, _ := r.ObjectRootAndDomain(); d != ComputeDomain(DomainVoluntaryExit, [4]byte{2}, mainnetGVR) {
		t.Fatalf("pre-Deneb exit before fork epoch: %x", d)
	}
	r, _ = Parse([]byte(strings.Replace(body, `"epoch":"9"`, `"epoch":"10"`, 1)))
	if _, d, _ := r.ObjectRootAndDomain(); d != ComputeDomain(DomainVoluntaryExit, [4]byte{3}, mainnetGVR) {
		t.Fatalf("pre-Deneb exit at fork epoch: %x", d)
	}
	// BLS change: genesis fork version and the real gvr.
	bc := `{"type":"BLS_TO_EXECUTION_CHANGE","genesis_fork_version":"0x00000000","fork_info":{"fork":{"previous_version":"0x05000000",` +
		`"current_version":"0x06000000","epoch":"1"},"genesis_validators_root":"0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"},` +
		`"bls_to_execution_change":{"validator_index":"1","from_bls_pubkey":"0x` + strings.Repeat("11", 48) + `","to_execution_address":"0x` + strings.Repeat("22", 20) + `"}}`
	r, err := Parse([]byte(bc))
	if err != nil {
		t.Fatal(err)
	}
	if _, d, _ := r.ObjectRootAndDomain(); hexd(d) != "0x0a000000b5303f2ad2010d699a76c8e62350947421a3e4a979779642cfdb0f66" {
		t.Fatalf("bls change domain %s", hexd(d))
	}
	// Attestations take the domain at the target epoch.
	a, _ := Parse([]byte(attJSON))
	if _, d, _ := a.ObjectRootAndDomain(); d != ComputeDomain(DomainBeaconAttester, [4]byte{0, 0, 0, 1}, a.ForkInfo.GenesisValidatorsRoot) {
		t.Fatal("attestation before fork epoch must use previous_version")
	}
}

// TestDomainSeparation: the same number signed as different types gives
// different roots (a selection proof is never a RANDAO reveal).
func TestDomainSeparation(t *testing.T) {
	roots := map[[32]byte]string{}
	for _, b := range []string{
		`{"type":"AGGREGATION_SLOT",` + fiJSON + `,"aggregation_slot":{"slot":"320"}}`,
		`{"type":"RANDAO_REVEAL",` + fiJSON + `,"randao_reveal":{"epoch":"320"}}`,
		`{"type":"SYNC_COMMITTEE_SELECTION_PROOF",` + fiJSON + `,"sync_aggregator_selection_data":{"slot":"320","subcommittee_index":"0"}}`,
		`{"type":"VOLUNTARY_EXIT",` + fiJSON + `,"voluntary_exit":{"epoch":"320","validator_index":"0"}}`,
	} {
		r, err := Parse([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		root, err := r.SigningRoot()
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := roots[root]; dup {
			t.Fatalf("%s and %s share a root", prev, r.Type)
		}
		roots[root] = r.Type
	}
}

// TestLighthouseDeposits: DEPOSIT requests built from Lighthouse deposit-data
// files give the file's deposit_message_root, and the file's signature
// verifies (blst) over this package's signing root.
func TestLighthouseDeposits(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/vectors/eth-deposit-data/*.json")
	if len(files) == 0 {
		files, _ = filepath.Glob("/work/shared/vectors/eth-deposit-data/*.json")
	}
	if len(files) == 0 {
		t.Skip("shared vectors not present")
	}
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var entries []struct {
			Pubkey, WithdrawalCredentials, Signature, DepositMessageRoot, ForkVersion string
			Amount                                                                    uint64
		}
		dec := json.NewDecoder(strings.NewReader(strings.NewReplacer("withdrawal_credentials", "withdrawalcredentials",
			"deposit_message_root", "depositmessageroot", "fork_version", "forkversion").Replace(string(raw))))
		if err := dec.Decode(&entries); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			body := `{"type":"DEPOSIT","deposit":{"pubkey":"0x` + e.Pubkey + `","withdrawal_credentials":"0x` + e.WithdrawalCredentials +
				`","amount":"` + strconv.FormatUint(e.Amount, 10) + `","genesis_fork_version":"0x` + e.ForkVersion + `"}}`
			r, err := Parse([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			obj, _, _ := r.ObjectRootAndDomain()
			if hex.EncodeToString(obj[:]) != e.DepositMessageRoot {
				t.Fatalf("%s: deposit message root %x", f, obj)
			}
			root, err := r.SigningRoot()
			if err != nil {
				t.Fatal(err)
			}
			pk := new(blst.P1Affine).Uncompress(mustHex(t, e.Pubkey))
			sig := new(blst.P2Affine).Uncompress(mustHex(t, e.Signature))
			if pk == nil || sig == nil || !sig.Verify(true, pk, true, root[:], []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")) {
				t.Fatalf("%s: signature does not verify over the signing root", f)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("only %d deposits checked", n)
	}
}

// TestEmptyByteList: an empty extra_data ("0x") hashes as an empty ByteList.
func TestEmptyByteList(t *testing.T) {
	if got, want := byteListRoot(nil, 32), mixInLength([32]byte{}, 0); got != want {
		t.Fatal(got)
	}
	d := &dec{}
	if b := d.hexBytes("x", "0x", 32); b == nil || len(b) != 0 || d.err != nil {
		t.Fatalf("%v %v", b, d.err)
	}
}

func FuzzParse(f *testing.F) {
	for _, b := range specExamples(f) {
		f.Add(b)
	}
	f.Add([]byte(attJSON))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Parse(body)
		if err != nil {
			if r != nil || !(errors.Is(err, ErrBadRequest) || errors.Is(err, ErrUnknownType)) {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		// Every accepted request has a root (or a clear mismatch), and
		// parsing is deterministic.
		root, err := r.SigningRoot()
		if err != nil && !errors.Is(err, ErrRootMismatch) {
			t.Fatalf("SigningRoot: %v", err)
		}
		r2, err2 := Parse(body)
		if err2 != nil {
			t.Fatal("second parse failed")
		}
		root2, _ := r2.SigningRoot()
		if root != root2 {
			t.Fatal("nondeterministic root")
		}
		_ = r.Slashable()
	})
}
