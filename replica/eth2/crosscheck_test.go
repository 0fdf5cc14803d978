package eth2

// Independent check of hash_tree_root: go-eth2-client (attestantio, with its
// generated SSZ code) hashes randomly filled objects of every fork; this
// package must compute the same roots from the objects' beacon-API JSON.
// go-eth2-client is a test-only dependency.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/OffchainLabs/go-bitfield"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/holiman/uint256"
)

var (
	bitlistType = reflect.TypeOf(bitfield.Bitlist{})
	u256Type    = reflect.TypeOf(uint256.Int{})
)

// filler fills go-eth2-client values with random content within their SSZ
// bounds (read from the ssz-size / ssz-max tags). maxLen caps list lengths
// to keep the objects small; some lists are left empty, some full.
type filler struct {
	rng    *rand.Rand
	maxLen int
}

func tagDims(tag string) []string {
	if tag == "" {
		return nil
	}
	return strings.Split(tag, ",")
}

func (f *filler) u64() uint64 {
	switch f.rng.IntN(4) {
	case 0:
		return 0
	case 1:
		return uint64(f.rng.IntN(1000))
	case 2:
		return ^uint64(0) - uint64(f.rng.IntN(3))
	}
	return f.rng.Uint64()
}

func (f *filler) length(max int) int {
	if max > f.maxLen {
		max = f.maxLen
	}
	switch f.rng.IntN(5) {
	case 0:
		return 0
	case 1:
		return max
	}
	return f.rng.IntN(max + 1)
}

func (f *filler) fill(v reflect.Value, sizes, maxes []string) {
	t := v.Type()
	switch {
	case t == bitlistType:
		max, _ := strconv.Atoi(maxes[0])
		n := f.rng.IntN(min(max, 300) + 1)
		if f.rng.IntN(4) == 0 {
			n = f.rng.IntN(3) * 8 // delimiter alone in its byte
		}
		bl := bitfield.NewBitlist(uint64(n))
		for i := 0; i < n; i++ {
			if f.rng.IntN(2) == 0 {
				bl.SetBitAt(uint64(i), true)
			}
		}
		v.Set(reflect.ValueOf(bl))
		return
	case t == u256Type:
		var b [32]byte
		for i := range b {
			b[i] = byte(f.rng.UintN(256))
		}
		if f.rng.IntN(2) == 0 {
			clear(b[:24])
		}
		v.Set(reflect.ValueOf(*new(uint256.Int).SetBytes(b[:])))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		f.fill(p.Elem(), sizes, maxes)
		v.Set(p)
	case reflect.Struct:
		if t == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(int64(f.rng.IntN(1<<40)), 0)))
			return
		}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			f.fill(v.Field(i), tagDims(sf.Tag.Get("ssz-size")), tagDims(sf.Tag.Get("ssz-max")))
		}
	case reflect.Uint64, reflect.Uint32, reflect.Uint8:
		v.SetUint(f.u64() & (1<<(8*t.Size()) - 1 | ^uint64(0)>>(64-8*t.Size())))
	case reflect.Bool:
		v.SetBool(f.rng.IntN(2) == 0)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			f.fill(v.Index(i), nil, nil)
		}
	case reflect.Slice:
		n := -1
		var innerSizes, innerMaxes []string
		if len(sizes) > 0 {
			innerSizes = sizes[1:]
			if sizes[0] != "?" {
				n, _ = strconv.Atoi(sizes[0])
			}
		}
		if len(maxes) > 0 {
			innerMaxes = maxes[1:]
		}
		if n < 0 {
			max := 1 << 30
			if len(maxes) > 0 {
				max, _ = strconv.Atoi(maxes[0])
			}
			if len(sizes) > 0 && len(maxes) > 1 && sizes[0] == "?" {
				// "?,?" with two maxes: outer max is maxes[0].
				max, _ = strconv.Atoi(maxes[0])
			}
			n = f.length(max)
			if t.Elem().Kind() == reflect.Uint8 {
				// Not empty: go-eth2-client writes an empty byte list
				// as "" (fmt %#x) instead of "0x".
				n = 1 + f.rng.IntN(min(max, 100))
			}
		}
		s := reflect.MakeSlice(t, n, n)
		for i := 0; i < n; i++ {
			f.fill(s.Index(i), innerSizes, innerMaxes)
		}
		v.Set(s)
	default:
		panic(fmt.Sprintf("filler: unsupported %v", t))
	}
}

type rooter interface{ HashTreeRoot() ([32]byte, error) }

func theirRoot(t *testing.T, x rooter) [32]byte {
	t.Helper()
	r, err := x.HashTreeRoot()
	if err != nil {
		t.Fatalf("go-eth2-client HashTreeRoot: %v", err)
	}
	return r
}

const testForkInfo = `{"fork":{"previous_version":"0x00000001","current_version":"0x00000002","epoch":"5"},` +
	`"genesis_validators_root":"0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673"}`

func wrapParse(t *testing.T, head string, obj any) *Request {
	t.Helper()
	js, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	body := head + string(js) + strings.Repeat("}", strings.Count(head, "{")-strings.Count(head, "}"))
	r, err := Parse([]byte(body))
	if err != nil {
		t.Fatalf("Parse: %v\nbody: %.2000s", err, body)
	}
	return r
}

// TestCrossCheckBlocks: full blocks of every fork.
func TestCrossCheckBlocks(t *testing.T) {
	type blk interface {
		rooter
	}
	cases := []struct {
		version string
		mk      func() (blk, rooter)
	}{
		{"PHASE0", func() (blk, rooter) { b := &phase0.BeaconBlock{}; return b, nil }},
		{"ALTAIR", func() (blk, rooter) { b := &altair.BeaconBlock{}; return b, nil }},
		{"BELLATRIX", func() (blk, rooter) { b := &bellatrix.BeaconBlock{}; return b, nil }},
		{"CAPELLA", func() (blk, rooter) { b := &capella.BeaconBlock{}; return b, nil }},
		{"DENEB", func() (blk, rooter) { b := &deneb.BeaconBlock{}; return b, nil }},
		{"ELECTRA", func() (blk, rooter) { b := &electra.BeaconBlock{}; return b, nil }},
		{"FULU", func() (blk, rooter) { b := &electra.BeaconBlock{}; return b, nil }},
	}
	for _, c := range cases {
		t.Run(c.version, func(t *testing.T) {
			for seed := uint64(0); seed < 25; seed++ {
				f := &filler{rng: rand.New(rand.NewPCG(seed, 7)), maxLen: 3}
				b, _ := c.mk()
				f.fill(reflect.ValueOf(b).Elem(), nil, nil)
				want := theirRoot(t, b)
				r := wrapParse(t, `{"type":"BLOCK_V2","fork_info":`+testForkInfo+`,"beacon_block":{"version":"`+c.version+`","block":`, b)
				if got := r.Block.HashTreeRoot(); got != want {
					t.Fatalf("seed %d: block root %x, go-eth2-client %x", seed, got, want)
				}
				// The header form gives the same signing root.
				h := r.Block.Header()
				hr := wrapParse(t, `{"type":"BLOCK_V2","fork_info":`+testForkInfo+`,"beacon_block":{"version":"`+c.version+`","block_header":`,
					&phase0.BeaconBlockHeader{Slot: phase0.Slot(h.Slot), ProposerIndex: phase0.ValidatorIndex(h.ProposerIndex),
						ParentRoot: h.ParentRoot, StateRoot: h.StateRoot, BodyRoot: h.BodyRoot})
				r1, err1 := r.SigningRoot()
				r2, err2 := hr.SigningRoot()
				if err1 != nil || err2 != nil || r1 != r2 {
					t.Fatalf("block vs header signing roots: %x %v / %x %v", r1, err1, r2, err2)
				}
			}
		})
	}
}

// TestCrossCheckMessages: every other signed object.
func TestCrossCheckMessages(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		f := &filler{rng: rand.New(rand.NewPCG(seed, 11)), maxLen: 3}
		fi := `{"type":"%s","fork_info":` + testForkInfo + `,"%s":`

		var ad phase0.AttestationData
		f.fill(reflect.ValueOf(&ad).Elem(), nil, nil)
		r := wrapParse(t, fmt.Sprintf(fi, "ATTESTATION", "attestation"), &ad)
		if got, want := r.Attestation.HashTreeRoot(), theirRoot(t, &ad); got != want {
			t.Fatalf("AttestationData %x != %x", got, want)
		}

		var ap phase0.AggregateAndProof
		f.fill(reflect.ValueOf(&ap).Elem(), nil, nil)
		r = wrapParse(t, fmt.Sprintf(fi, "AGGREGATE_AND_PROOF", "aggregate_and_proof"), &ap)
		if got, want := r.AggregateAndProof.HashTreeRoot(), theirRoot(t, &ap); got != want {
			t.Fatalf("AggregateAndProof %x != %x", got, want)
		}

		var ape electra.AggregateAndProof
		f.fill(reflect.ValueOf(&ape).Elem(), nil, nil)
		r = wrapParse(t, fmt.Sprintf(fi, "AGGREGATE_AND_PROOF", "aggregate_and_proof"), &ape)
		if got, want := r.AggregateAndProof.HashTreeRoot(), theirRoot(t, &ape); got != want {
			t.Fatalf("electra AggregateAndProof %x != %x", got, want)
		}
		r = wrapParse(t, fmt.Sprintf(fi, "AGGREGATE_AND_PROOF_V2", "aggregate_and_proof")+`{"version":"ELECTRA","data":`, &ape)
		if got, want := r.AggregateAndProof.HashTreeRoot(), theirRoot(t, &ape); got != want {
			t.Fatalf("AGGREGATE_AND_PROOF_V2 %x != %x", got, want)
		}

		var cp altair.ContributionAndProof
		f.fill(reflect.ValueOf(&cp).Elem(), nil, nil)
		r = wrapParse(t, fmt.Sprintf(fi, "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF", "contribution_and_proof"), &cp)
		if got, want := r.ContributionAndProof.HashTreeRoot(), theirRoot(t, &cp); got != want {
			t.Fatalf("ContributionAndProof %x != %x", got, want)
		}

		var sd altair.SyncAggregatorSelectionData
		f.fill(reflect.ValueOf(&sd).Elem(), nil, nil)
		r = wrapParse(t, fmt.Sprintf(fi, "SYNC_COMMITTEE_SELECTION_PROOF", "sync_aggregator_selection_data"), &sd)
		if got, want := r.SyncSelectionData.HashTreeRoot(), theirRoot(t, &sd); got != want {
			t.Fatalf("SyncAggregatorSelectionData %x != %x", got, want)
		}

		var ve phase0.VoluntaryExit
		f.fill(reflect.ValueOf(&ve).Elem(), nil, nil)
		r = wrapParse(t, fmt.Sprintf(fi, "VOLUNTARY_EXIT", "voluntary_exit"), &ve)
		if got, want := r.VoluntaryExit.HashTreeRoot(), theirRoot(t, &ve); got != want {
			t.Fatalf("VoluntaryExit %x != %x", got, want)
		}

		var bc capella.BLSToExecutionChange
		f.fill(reflect.ValueOf(&bc).Elem(), nil, nil)
		r = wrapParse(t, fmt.Sprintf(fi, "BLS_TO_EXECUTION_CHANGE", "bls_to_execution_change")[:0]+
			`{"type":"BLS_TO_EXECUTION_CHANGE","genesis_fork_version":"0x00000000","fork_info":`+testForkInfo+`,"bls_to_execution_change":`, &bc)
		if got, want := r.BLSToExecutionChange.HashTreeRoot(), theirRoot(t, &bc); got != want {
			t.Fatalf("BLSToExecutionChange %x != %x", got, want)
		}

		var vr apiv1.ValidatorRegistration
		f.fill(reflect.ValueOf(&vr).Elem(), nil, nil)
		r = wrapParse(t, `{"type":"VALIDATOR_REGISTRATION","validator_registration":`, &vr)
		if got, want := r.ValidatorRegistration.HashTreeRoot(), theirRoot(t, &vr); got != want {
			t.Fatalf("ValidatorRegistration %x != %x", got, want)
		}

		var dm phase0.DepositMessage
		f.fill(reflect.ValueOf(&dm).Elem(), nil, nil)
		dep := map[string]any{"pubkey": fmt.Sprintf("%#x", dm.PublicKey[:]), "withdrawal_credentials": fmt.Sprintf("%#x", dm.WithdrawalCredentials),
			"amount": strconv.FormatUint(uint64(dm.Amount), 10), "genesis_fork_version": "0x00000000"}
		r = wrapParse(t, `{"type":"DEPOSIT","deposit":`, dep)
		if got, want := r.Deposit.DepositMessage.HashTreeRoot(), theirRoot(t, &dm); got != want {
			t.Fatalf("DepositMessage %x != %x", got, want)
		}
	}
}

// TestCrossCheckDomains compares compute_domain with go-eth2-client's
// ForkData root.
func TestCrossCheckDomains(t *testing.T) {
	gvr := mustHex32("0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95")
	fd := phase0.ForkData{CurrentVersion: phase0.Version{3, 0, 0, 0}, GenesisValidatorsRoot: gvr}
	want := theirRoot(t, &fd)
	d := ComputeDomain(DomainVoluntaryExit, [4]byte{3, 0, 0, 0}, gvr)
	if [28]byte(d[4:]) != [28]byte(want[:28]) || [4]byte(d[:4]) != DomainVoluntaryExit {
		t.Fatalf("domain %x, fork data root %x", d, want)
	}
	sd := phase0.SigningData{ObjectRoot: gvr, Domain: d}
	if got := ComputeSigningRoot(gvr, d); got != theirRoot(t, &sd) {
		t.Fatal("signing root differs")
	}
}
