package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// Fault injection for tests of a Byzantine replica (issue 4, scenario 2).
//
// The engine calls the hooks of [faultHooks] at the few points where a
// Byzantine replica would deviate. In a normal build they are [honest]: each
// returns its input unchanged, and a replica started with [ByzantineEnv] set
// refuses to run ([CheckFaultInjection]). Only a binary built with the
// vhsm_byzantine build tag (faults_byzantine.go, never part of a release)
// replaces them with behaviours read from the control file that
// ByzantineEnv names.

// ByzantineEnv names the environment variable that points a replica built
// with the vhsm_byzantine tag at its fault-injection control file. A
// replica of a normal build refuses to start when it is set.
const ByzantineEnv = "VHSM_BYZANTINE"

// ErrFaultInjection is returned by [CheckFaultInjection] when
// [ByzantineEnv] is set in a build without fault injection.
var ErrFaultInjection = errors.New("engine: fault injection is not compiled into this build")

// faultInjectionBuilt is set by the vhsm_byzantine build.
var faultInjectionBuilt = false

// faults is the active set of hooks: honest unless the vhsm_byzantine build
// replaced it.
var faults faultHooks = honest{}

// CheckFaultInjection returns an error wrapping [ErrFaultInjection] when
// [ByzantineEnv] is set but this binary was built without the
// vhsm_byzantine tag, so that a misconfigured production replica says so
// instead of silently running honest (or, worse, a test believing it runs a
// Byzantine replica).
func CheckFaultInjection() error {
	if os.Getenv(ByzantineEnv) != "" && !faultInjectionBuilt {
		return fmt.Errorf("%w: %s is set; unset it (only test binaries built with -tags vhsm_byzantine accept it)", ErrFaultInjection, ByzantineEnv)
	}
	return nil
}

// faultHooks are the points where a Byzantine test replica deviates.
type faultHooks interface {
	// keyShare returns the key share used for this replica's partial
	// result of op ("schnorr", "bls" or "dprf").
	keyShare(op string, x group.Scalar) group.Scalar
	// withhold reports whether the replica withholds every answer to
	// clients and every DKG message (silent after consensus).
	withhold() bool
	// dkgMessage returns the DKG message to broadcast in place of msg.
	dkgMessage(e *Engine, sess *dkg.Session, msg dkg.Message) dkg.Message
}

// honest is the hook set of every normal build.
type honest struct{}

func (honest) keyShare(_ string, x group.Scalar) group.Scalar { return x }

func (honest) withhold() bool { return false }

func (honest) dkgMessage(_ *Engine, _ *dkg.Session, msg dkg.Message) dkg.Message { return msg }

// errWithheld is what a silent replica's Handle returns once the client
// has given up.
var errWithheld = errors.New("engine: answer withheld (fault injection)")

// withheld blocks until ctx ends, as a silent replica answers nothing.
func withheld(ctx context.Context) error {
	<-ctx.Done()
	return errWithheld
}
