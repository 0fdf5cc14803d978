package cluster

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/testnet"
)

// takePortOnce returns an Options.beforeStart that, on the first
// generation of the testnet only, binds replica r's address (as a program
// outside the port reservation could), and the address it took.
func takePortOnce(t *testing.T, r int, p2p bool) (func(*testnet.Testnet), *string) {
	taken := new(string)
	return func(tn *testnet.Testnet) {
		if *taken != "" {
			return
		}
		rc, err := layout.LoadReplicaConfig(tn.Homes[r-1])
		if err != nil {
			t.Fatal(err)
		}
		addr := rc.APIListen
		if p2p {
			addr = strings.TrimPrefix(rc.P2PListen, "tcp://")
		}
		*taken = addr
		holdPort(t, addr)
	}, taken
}

// holdPort binds addr until the test ends; closing the returned listener
// frees it earlier.
func holdPort(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestStartOnTakenPort: a replica whose API port was taken between the
// pick and its bind exits; the cluster is generated again on fresh ports
// and starts. Then a restart whose port is taken retries the bind on the
// same port until it is free (a restart keeps the cluster's addresses).
func TestStartOnTakenPort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	take, taken := takePortOnce(t, 2, false)
	c := StartInProcess(t, t.TempDir(), 4, Options{Pools: smallPools, PhaseTimeout: 2 * time.Second, beforeStart: take})
	t.Cleanup(func() { dumpLogs(t, c) })
	if *taken == "" {
		t.Fatal("no port taken")
	}
	rc, err := layout.LoadReplicaConfig(c.Home(2))
	if err != nil {
		t.Fatal(err)
	}
	if rc.APIListen == *taken {
		t.Fatalf("replica 2 still configured on the taken %s", *taken)
	}
	if err := c.WaitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Restart on a taken port: the start is retried on the same address.
	c.stopOne(2)
	l := holdPort(t, rc.APIListen)
	started := make(chan error, 1)
	go func() { started <- c.startRetrying(2) }()
	log := filepath.Join(c.Home(2), LogFile)
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(log)
		if strings.Count(string(b), "address already in use") >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica 2 never reported its address in use")
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.Close()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * restartBindTimeout):
		t.Fatal("restart did not return")
	}
	after, err := layout.LoadReplicaConfig(c.Home(2))
	if err != nil || after.APIListen != rc.APIListen || after.P2PListen != rc.P2PListen {
		t.Fatalf("restart changed replica 2's addresses: %+v %v", after, err)
	}
	if err := c.WaitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
}
