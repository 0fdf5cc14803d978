package ethereum

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/vhsm/vhsm/replica/eth2"
)

// TestEth2PackageAgrees: replica/eth2 (which the replicas use to compute
// validator-key signing roots from typed requests) gives the same signing
// roots as this package for deposits, EIP-7044 exits and BLS-to-execution
// changes on every built-in network.
func TestEth2PackageAgrees(t *testing.T) {
	pub := Pubkey{0x8f, 0x82, 0x59, 0x7c, 1, 2, 3}
	creds := Credentials{0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0xbb}
	addr := ExecutionAddress{0x6f, 0xdf, 0xab, 0x40}
	for _, name := range NetworkNames() {
		net, _ := NetworkByName(name)
		parse := func(v any) *eth2.Request {
			t.Helper()
			b, _ := json.Marshal(v)
			r, err := eth2.Parse(b)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return r
		}
		// Fork info as a validator client sends it after Deneb: the
		// current fork is the network's Electra (index 5) version.
		en, ok := eth2.NetworkByGenesisValidatorsRoot(net.GenesisValidatorsRoot)
		if !ok {
			t.Fatalf("%s unknown to replica/eth2", name)
		}
		if en.ForkVersions[0] != net.GenesisForkVersion || en.ForkVersions[3] != net.CapellaForkVersion {
			t.Fatalf("%s: fork versions differ", name)
		}
		forkInfo := map[string]any{
			"fork":                    map[string]string{"previous_version": Version(en.ForkVersions[4]).String(), "current_version": Version(en.ForkVersions[5]).String(), "epoch": "1"},
			"genesis_validators_root": net.GenesisValidatorsRoot.String(),
		}

		for _, amount := range []uint64{1_000_000_000, 32_000_000_000, 2048_000_000_000} {
			msg := DepositMessage{Pubkey: pub, WithdrawalCredentials: creds, Amount: amount}
			want := ComputeSigningRoot(msg.HashTreeRoot(), net.DepositDomain())
			r := parse(map[string]any{"type": "DEPOSIT", "deposit": map[string]string{
				"pubkey": pub.String(), "withdrawal_credentials": creds.String(),
				"amount": fmt.Sprint(amount), "genesis_fork_version": net.GenesisForkVersion.String()}})
			if got, err := r.SigningRoot(); err != nil || Root(got) != want {
				t.Fatalf("%s deposit: %x %v, want %x", name, got, err, want)
			}
		}
		exit := VoluntaryExit{Epoch: 194048, ValidatorIndex: 12345}
		want := ComputeSigningRoot(exit.HashTreeRoot(), net.VoluntaryExitDomain())
		r := parse(map[string]any{"type": "VOLUNTARY_EXIT", "fork_info": forkInfo,
			"voluntary_exit": map[string]string{"epoch": "194048", "validator_index": "12345"}})
		if got, err := r.SigningRoot(); err != nil || Root(got) != want {
			t.Fatalf("%s exit: %x %v, want %x", name, got, err, want)
		}
		change := BLSToExecutionChange{ValidatorIndex: 77, FromBLSPubkey: pub, ToExecutionAddress: addr}
		want = ComputeSigningRoot(change.HashTreeRoot(), net.BLSToExecutionChangeDomain())
		r = parse(map[string]any{"type": "BLS_TO_EXECUTION_CHANGE", "fork_info": forkInfo,
			"genesis_fork_version": net.GenesisForkVersion.String(),
			"bls_to_execution_change": map[string]string{"validator_index": "77", "from_bls_pubkey": pub.String(),
				"to_execution_address": addr.String()}})
		if got, err := r.SigningRoot(); err != nil || Root(got) != want {
			t.Fatalf("%s BLS change: %x %v, want %x", name, got, err, want)
		}
	}
}
