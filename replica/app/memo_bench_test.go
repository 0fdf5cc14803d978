package app

import (
	"testing"

	"github.com/vhsm/vhsm/replica/wire"
)

// BenchmarkPrecheckAttestation: one replica's CheckTx of an ordered
// eth2.sign attestation seen before (the engine's Precheck, then CheckTx,
// and FinalizeBlock check the same bytes).
func BenchmarkPrecheckAttestation(b *testing.B) {
	tn := newTestNet(b, 4, smallPools())
	a, err := New(b.TempDir(), tn.G, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	c := startChain(b, a)
	c.block()
	putValidatorKey(b, a, "val", "admin", append([]byte{0xb1}, make([]byte, 47)...), wire.UsageEth2Validator)
	tx := txOf(b, signed(b, tn.AdminKey, "admin", wire.OpEth2Sign, testStart.Unix()+300, wire.Eth2SignBody{KeyID: "val", Request: benchAttestation}))
	if err := a.Precheck(tx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := a.Precheck(tx); err != nil {
			b.Fatal(err)
		}
	}
}

var benchAttestation = []byte(`{"type":"ATTESTATION","fork_info":{"fork":{"previous_version":"0x05000000","current_version":"0x06000000","epoch":"411392"},"genesis_validators_root":"0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"},"attestation":{"slot":"13172736","index":"0","beacon_block_root":"0x0202020202020202020202020202020202020202020202020202020202020202","source":{"epoch":"411647","root":"0x0303030303030303030303030303030303030303030303030303030303030303"},"target":{"epoch":"411648","root":"0x0404040404040404040404040404040404040404040404040404040404040404"}}}`)
