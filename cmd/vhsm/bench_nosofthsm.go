//go:build nosofthsm

package main

import (
	"context"
	"errors"
	"time"
)

// errNoSoftHSM says why this binary cannot drive SoftHSM2: it was built
// with the nosofthsm tag (the static container build, which cannot dlopen
// a PKCS#11 library).
var errNoSoftHSM = errors.New("this vhsm was built without PKCS#11 support (build tag nosofthsm); use a dynamically linked build")

// measureSoftHSM is unavailable in this build.
func measureSoftHSM(context.Context, string, time.Duration) ([]benchPeerResult, error) {
	return nil, errNoSoftHSM
}

// findSoftHSM fails: this build cannot load SoftHSM2.
func findSoftHSM() error { return errNoSoftHSM }
