//go:build nosofthsm

package main

import (
	"context"
	"errors"
	"time"
)

// benchSoftHSMBuilt reports that this binary cannot drive SoftHSM2.
const benchSoftHSMBuilt = false

// measureSoftHSM is unavailable in a binary built with the nosofthsm tag
// (the static container build, which cannot dlopen a PKCS#11 library).
func measureSoftHSM(context.Context, string, time.Duration) ([]benchPeerResult, error) {
	return nil, errors.New("this vhsm was built without PKCS#11 support (build tag nosofthsm); use a dynamically linked build")
}
