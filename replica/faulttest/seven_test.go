package faulttest

import (
	"os"
	"testing"
)

// SevenEnv, when set (to anything), also runs the longer (7,2) tests,
// TestSevenReplicasDown and TestSevenReplicasByzantine; TestSevenReplicas
// (about 30 s on an idle 2-core machine) always runs.
const SevenEnv = "VHSM_SEVEN"

func needSeven(t *testing.T) {
	t.Helper()
	if os.Getenv(SevenEnv) == "" {
		t.Skipf("a long (7,2) run: set %s=1", SevenEnv)
	}
}

// TestSevenReplicas runs scenario 1 with (n, f) = (7, 2): two replicas
// SIGKILLed under load, every request still completes with a valid
// signature. Issue 4, "(7,2) where time allows".
func TestSevenReplicas(t *testing.T) {
	c := startClusterN(t, 7, loadPools)
	killedUnderLoad(t, c, "seven-load", 6, 7)
}

// TestSevenReplicasDown runs scenario 3 with (7, 2): with f+1 = 3 replicas
// down, requests fail with a quorum timeout (t+1 = 3 needed) and nothing
// wrong is returned; service resumes when they are back. Needs SevenEnv.
func TestSevenReplicasDown(t *testing.T) {
	needSeven(t)
	c := startClusterN(t, 7, loadPools)
	replicasDown(t, c, "seven-down", 5, 6, 7)
}

// TestSevenReplicasByzantine runs scenario 2 with (7, 2): replicas 6 and 7
// both Byzantine, with TestByzantineReplica's behaviours. Needs SevenEnv.
func TestSevenReplicasByzantine(t *testing.T) {
	needSeven(t)
	byzantineScenario(t, 7, []int{6, 7})
}
