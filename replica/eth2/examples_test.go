package eth2

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// specExamples returns the request examples of the remote-signing API
// v1.1.0 (testdata/remote-signing-sign.yaml, a copy of
// ethereum/remote-signing-api signing/paths/sign.yaml) as JSON bodies.
func specExamples(t testing.TB) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/remote-signing-sign.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Post struct {
			RequestBody struct {
				Content map[string]struct {
					Examples map[string]struct {
						Value map[string]any `yaml:"value"`
					} `yaml:"examples"`
				} `yaml:"content"`
			} `yaml:"requestBody"`
		} `yaml:"post"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for name, ex := range doc.Post.RequestBody.Content["application/json"].Examples {
		b, err := json.Marshal(ex.Value)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	if len(out) < 14 {
		t.Fatalf("only %d examples", len(out))
	}
	return out
}

// TestSpecExamples parses every example body of the specification and
// computes its signing root; every example carries the signingRoot the
// specification's authors computed, which SigningRoot checks.
func TestSpecExamples(t *testing.T) {
	for name, body := range specExamples(t) {
		t.Run(name, func(t *testing.T) {
			switch name {
			case "BLOCK_V2 (ALTAIR)", "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF":
				// These two examples use the minimal preset's sync
				// committee size (their bitvectors are 4 and 1 bytes);
				// Parse uses the mainnet preset and must refuse them.
				// TestSpecExamplesMinimalPreset recomputes their roots.
				if _, err := Parse(body); !errors.Is(err, ErrBadRequest) {
					t.Fatalf("minimal-preset example accepted: %v", err)
				}
				return
			case "VALIDATOR_REGISTRATION":
				// The example was signed on a network whose genesis fork
				// version is 0x00000001 (the fork_info of the other
				// examples); the request carries no fork data, so vhsm's
				// genesis_fork_version extension field names it.
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatal(err)
				}
				if r, err := Parse(body); err != nil {
					t.Fatal(err)
				} else if _, err := r.SigningRoot(); !errors.Is(err, ErrRootMismatch) {
					t.Fatalf("mainnet genesis fork version: %v", err)
				}
				m["genesis_fork_version"] = "0x00000001"
				body, _ = json.Marshal(m)
			}
			r, err := Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if r.ExpectedRoot == nil {
				t.Fatal("example has no signingRoot")
			}
			root, err := r.SigningRoot()
			if err != nil {
				obj, dom, _ := r.ObjectRootAndDomain()
				t.Fatalf("%v (object %x domain %x)", err, obj, dom)
			}
			// A changed root must be refused.
			flipped := *r.ExpectedRoot
			flipped[0] ^= 1
			r.ExpectedRoot = &flipped
			if _, err := r.SigningRoot(); !errors.Is(err, ErrRootMismatch) {
				t.Fatalf("flipped root: %v", err)
			}
			_ = root
		})
	}
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSpecExamplesMinimalPreset recomputes the signing roots of the two
// minimal-preset examples from their parts, with the minimal preset's
// bitvector sizes and everything else from this package.
func TestSpecExamplesMinimalPreset(t *testing.T) {
	ex := specExamples(t)
	t.Run("altair block", func(t *testing.T) {
		var m map[string]any
		if err := json.Unmarshal(ex["BLOCK_V2 (ALTAIR)"], &m); err != nil {
			t.Fatal(err)
		}
		bb := m["beacon_block"].(map[string]any)
		body := bb["block"].(map[string]any)["body"].(map[string]any)
		sa := body["sync_aggregate"].(map[string]any)
		delete(body, "sync_aggregate")
		bb["version"] = "PHASE0"
		raw, _ := json.Marshal(m)
		r, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		b := r.Block.Body
		syncBits := mustHex(t, sa["sync_committee_bits"].(string))
		syncSig := mustHex(t, sa["sync_committee_signature"].(string))
		if len(syncBits) != 4 {
			t.Fatalf("sync bits %d bytes", len(syncBits))
		}
		bodyRoot := container(bytesRoot(b.RandaoReveal[:]), b.Eth1Data.HashTreeRoot(), b.Graffiti,
			listRoot(rootsOf(b.ProposerSlashings), 16), listRoot(rootsOf(b.AttesterSlashings), 2),
			listRoot(rootsOf(b.Attestations), 128), listRoot(rootsOf(b.Deposits), 16),
			listRoot(rootsOf(b.VoluntaryExits), 16),
			container(bitvectorRoot(syncBits), bytesRoot(syncSig)))
		h := r.Block.Header()
		h.BodyRoot = bodyRoot
		got := ComputeSigningRoot(h.HashTreeRoot(), r.ForkInfo.Domain(DomainBeaconProposer, h.Slot/8))
		if got != *r.ExpectedRoot {
			t.Fatalf("altair root %x, example %x", got, *r.ExpectedRoot)
		}
	})
	t.Run("contribution", func(t *testing.T) {
		var m map[string]any
		if err := json.Unmarshal(ex["SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF"], &m); err != nil {
			t.Fatal(err)
		}
		c := m["contribution_and_proof"].(map[string]any)["contribution"].(map[string]any)
		bitsHex := c["aggregation_bits"].(string)
		c["aggregation_bits"] = "0x" + strings.Repeat("00", 16) // mainnet size, to parse the rest
		raw, _ := json.Marshal(m)
		r, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		cp := r.ContributionAndProof
		bits := mustHex(t, bitsHex)
		contrib := container(uint64Root(cp.Contribution.Slot), cp.Contribution.BeaconBlockRoot,
			uint64Root(cp.Contribution.SubcommitteeIndex), bitvectorRoot(bits), bytesRoot(cp.Contribution.Signature[:]))
		obj := container(uint64Root(cp.AggregatorIndex), contrib, bytesRoot(cp.SelectionProof[:]))
		got := ComputeSigningRoot(obj, r.ForkInfo.Domain(DomainContributionAndProof, cp.Contribution.Slot/8))
		if got != *r.ExpectedRoot {
			t.Fatalf("contribution root %x, example %x", got, *r.ExpectedRoot)
		}
	})
}
