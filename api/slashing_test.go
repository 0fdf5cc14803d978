package api

import (
	"context"
	"strings"
	"testing"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
)

// slashingHSM is a fake HSM keeping one interchange file per chain.
type slashingHSM struct {
	fakeHSM
	files   map[[32]byte][]byte
	refuse  error
	minimal []bool
}

func (h *slashingHSM) ImportSlashingProtection(_ context.Context, gvr [32]byte, file []byte) error {
	if h.refuse != nil {
		return h.refuse
	}
	h.files[gvr] = file
	return nil
}

func (h *slashingHSM) ExportSlashingProtection(_ context.Context, gvr [32]byte, minimal bool) ([]byte, error) {
	if h.refuse != nil {
		return nil, h.refuse
	}
	h.minimal = append(h.minimal, minimal)
	if f, ok := h.files[gvr]; ok {
		return f, nil
	}
	return []byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x` + strings.Repeat("00", 32) + `"},"data":[]}`), nil
}

// TestSlashingRoutes checks the slashing-protection routes over fakes: the
// admin scope, the required and known network, the chain the import goes
// to, the minimal flag, an HSM without slashing protection (422) and an
// HSM client that is not an HSM admin (403 saying so).
func TestSlashingRoutes(t *testing.T) {
	hsm := &slashingHSM{fakeHSM: fakeHSM{ready: 4}, files: map[[32]byte][]byte{}}
	h := newTestHandler(t, newFakeWallets(), Config{HSM: hsm})
	hoodi, _ := ethereum.NetworkByName("hoodi")
	file := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + hoodi.GenesisValidatorsRoot.String() + `"},"data":[]}`
	for _, c := range []struct {
		method, path, token string
		body                any
		want                int
	}{
		{"POST", "/v1/eth/slashing-protection/import?network=hoodi", fakeSpend, file, 403},
		{"POST", "/v1/eth/slashing-protection/import", fakeAdmin, file, 400},
		{"POST", "/v1/eth/slashing-protection/import?network=nonet", fakeAdmin, file, 400},
		{"POST", "/v1/eth/slashing-protection/import?network=hoodi", fakeAdmin, "", 400},
		{"POST", "/v1/eth/slashing-protection/import?network=hoodi", fakeAdmin, file, 200},
		{"GET", "/v1/eth/slashing-protection/export?network=hoodi", fakeRead, nil, 403},
		{"GET", "/v1/eth/slashing-protection/export?network=hoodi&minimal=2", fakeAdmin, nil, 400},
		{"GET", "/v1/eth/slashing-protection/export?network=hoodi&minimal=true", fakeAdmin, nil, 200},
	} {
		if code, _, b := call(t, h, c.method, c.path, c.token, c.body); code != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, code, c.want, b)
		}
	}
	if string(hsm.files[[32]byte(hoodi.GenesisValidatorsRoot)]) != file {
		t.Fatal("the import did not reach the HSM for hoodi's chain")
	}
	if len(hsm.minimal) != 1 || !hsm.minimal[0] {
		t.Fatalf("minimal flags %v", hsm.minimal)
	}
	hsm.refuse = &client.RejectedError{Op: "eth2.slashing.export", Reason: "app: unauthorized: slashing-protection export is for admin clients", Replicas: []int{1, 2}}
	if code, _, b := call(t, h, "GET", "/v1/eth/slashing-protection/export?network=hoodi", fakeAdmin, nil); code != 403 || !strings.Contains(string(b), "not an HSM admin") {
		t.Fatalf("HSM client not admin: %d %s", code, b)
	}
	plain := newTestHandler(t, newFakeWallets(), Config{})
	if code, _, _ := call(t, plain, "GET", "/v1/eth/slashing-protection/export?network=hoodi", fakeAdmin, nil); code != 422 {
		t.Fatalf("HSM without slashing protection: %d", code)
	}
}
