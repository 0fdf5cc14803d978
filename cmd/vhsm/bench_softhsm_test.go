//go:build !nosofthsm

package main

import "github.com/vhsm/vhsm/cmd/vhsm/internal/softhsm"

// softhsmModule returns the SoftHSM2 library, or why there is none.
func softhsmModule() (string, error) { return softhsm.FindModule() }
