//go:build !vhsm_byzantine

package engine

import (
	"errors"
	"testing"

	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// TestNormalBuildIsHonest: without the vhsm_byzantine tag the fault hooks
// change nothing, whatever the environment says, and the Byzantine switch
// is refused.
func TestNormalBuildIsHonest(t *testing.T) {
	t.Setenv(ByzantineEnv, t.TempDir()+"/control")
	if _, ok := faults.(honest); !ok || faultInjectionBuilt {
		t.Fatalf("normal build has fault hooks %T", faults)
	}
	if err := CheckFaultInjection(); !errors.Is(err, ErrFaultInjection) {
		t.Fatalf("CheckFaultInjection with %s set: %v", ByzantineEnv, err)
	}
	x := group.Secp256k1().ScalarFromUint64(7)
	if got := faults.keyShare("schnorr", x); !got.Equal(x) {
		t.Fatal("keyShare changed the share")
	}
	v := &dkg.TimeoutVote{Sender: 1, Phase: dkg.PhaseDealing}
	if faults.withhold() || faults.dkgMessage(nil, nil, v) != v {
		t.Fatal("honest hooks withhold or replace messages")
	}
	t.Setenv(ByzantineEnv, "")
	if err := CheckFaultInjection(); err != nil {
		t.Fatalf("CheckFaultInjection unset: %v", err)
	}
}
