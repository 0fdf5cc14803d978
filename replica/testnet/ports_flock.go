//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package testnet

import (
	"os"
	"syscall"
)

// portLocking: ports are reserved across processes with flock(2).
const portLocking = true

const openNoFollow = syscall.O_NOFOLLOW

// tryLock takes f's exclusive flock without waiting. The lock belongs to
// f's open file description: it is dropped when f is closed or the process
// ends, and a child process does not inherit it (os opens files
// close-on-exec).
func tryLock(f *os.File) bool {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err == nil
		}
	}
}
