package main

import (
	"os"
	"runtime"
)

// setProcs runs the process with twice the runtime's default number of Ps
// (GOMAXPROCS), unless the GOMAXPROCS environment variable chooses.
//
// Why: a replica spends much of its wall time in blocking system calls —
// an fsync of the consensus WAL and of the sign state at every vote, of the
// block store and of the app state at every height — and in small network
// writes. A goroutine in a blocking system call keeps its P until the
// runtime's monitor takes it back (after 20 µs to 10 ms), so with one P per
// core the goroutines that are ready meanwhile (a vote to gossip, a
// finished result to answer) wait behind it while a core is idle. Measured
// on the 2-core development machine, 4 replicas and the client in one
// process, alternated (BENCHMARKS.md, round 8): key generation at one
// client p50 29.8 → 25.1 ms and 64 clients 395–430 → 448–479/s, an
// attestation at one client 32.5–35.3 → 26.2–26.6 ms, BLS at 64 clients
// 710–843 → 951–972/s; 4× the cores measured no better than 2×.
func setProcs() {
	if n := procs(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0)); n > 0 {
		runtime.GOMAXPROCS(n)
	}
}

// procs is how many Ps setProcs sets given the GOMAXPROCS environment
// variable and the runtime's default (which follows the CPU count and a
// container's CPU limit), or 0 to leave the default alone.
func procs(env string, def int) int {
	if env != "" {
		return 0
	}
	return 2 * max(def, 1)
}
