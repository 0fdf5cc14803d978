package node

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable (its size and other metadata are not
// needed: the sign-state file never changes size).
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
