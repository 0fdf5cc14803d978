//go:build !unix

package main

import "time"

// benchCPU is unavailable on this platform.
func benchCPU() (time.Duration, bool) { return 0, false }
