//go:build unix

package main

import (
	"syscall"
	"time"
)

// benchCPU returns the CPU time (user and system) this process has used so
// far, and true; with --replicas that includes the in-process replicas.
func benchCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
