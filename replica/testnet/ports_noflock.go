//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package testnet

import "os"

// portLocking: no flock(2) here; FreePorts only probes that a port is free.
const portLocking = false

const openNoFollow = 0

func tryLock(*os.File) bool { return true }
