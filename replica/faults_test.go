//go:build !vhsm_byzantine

package replica

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/engine"
	"github.com/vhsm/vhsm/replica/testnet"
)

// TestRefusesByzantineSwitch: a normal build refuses to run a replica whose
// environment asks for the test-only Byzantine behaviour, before it opens
// anything, with an error that names the variable.
func TestRefusesByzantineSwitch(t *testing.T) {
	tn, err := testnet.Generate(t.TempDir(), 4, testnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(engine.ByzantineEnv, "/tmp/control")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = Run(ctx, Config{Home: tn.Homes[0]})
	if !errors.Is(err, engine.ErrFaultInjection) || !strings.Contains(err.Error(), engine.ByzantineEnv) {
		t.Fatalf("Run with %s set: %v", engine.ByzantineEnv, err)
	}
	t.Setenv(engine.ByzantineEnv, "")
	if err := engine.CheckFaultInjection(); err != nil {
		t.Fatalf("unset: %v", err)
	}
}
