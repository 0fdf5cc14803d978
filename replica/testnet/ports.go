package testnet

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// PortLockDir is the directory of the per-port lock files through which
// every process on the machine using [FreePorts] reserves its ports.
var PortLockDir = filepath.Join(os.TempDir(), "vhsm-test-ports")

// portRange is the range FreePorts draws from first (replaced by tests).
var portRange = belowEphemeral

// held are the ports this process reserved: port → its locked lock file.
var held = struct {
	sync.Mutex
	files map[int]*os.File
	swept bool
}{files: map[int]*os.File{}}

// FreePorts returns k distinct free TCP ports on 127.0.0.1, reserved for
// this process until [ReleasePorts] or the process's exit (the package
// doc's "Ports" says how).
//
// It picks them at random below the kernel's ephemeral port range when it
// can: a port the kernel handed out as free is also what it hands to the
// next outgoing connection, so between this call and a replica binding the
// port, any connection made on the machine could take it.
func FreePorts(k int) ([]int, error) {
	if k < 0 {
		return nil, fmt.Errorf("%w: %d ports", ErrInvalid, k)
	}
	held.Lock()
	defer held.Unlock()
	if portLocking {
		if err := preparePortLockDir(); err != nil {
			return nil, err
		}
		if !held.swept {
			sweepPortLocks()
			held.swept = true
		}
	}
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, k)
	// take reserves p when it is neither reserved (here or by another
	// process) nor bound; l, when set, is a listener already bound to p.
	take := func(p int, l net.Listener) bool {
		if held.files[p] != nil || slices.Contains(ports, p) {
			return false
		}
		f, ok := lockPort(p)
		if !ok {
			return false
		}
		if l == nil {
			var err error
			if l, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err != nil {
				unlockPort(p, f) // bound by someone: free only in name
				return false
			}
		}
		lns = append(lns, l)
		held.files[p] = f
		ports = append(ports, p)
		return true
	}
	if lo, hi, ok := portRange(); ok && hi > lo {
		for tries := 0; len(ports) < k && tries < 64*k; tries++ {
			take(lo+mrand.IntN(hi-lo), nil)
		}
	}
	for tries := 0; len(ports) < k && tries < 64*k; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			releaseLocked(ports)
			return nil, fmt.Errorf("testnet: free port: %w", err)
		}
		if !take(l.Addr().(*net.TCPAddr).Port, l) {
			_ = l.Close()
		}
	}
	if len(ports) < k {
		releaseLocked(ports)
		return nil, fmt.Errorf("testnet: no %d free ports that no other process reserved (locks in %s)", k, PortLockDir)
	}
	return ports, nil
}

// ReleasePorts ends this process's reservation of the given ports (those it
// does not hold are ignored), once nothing will bind them any more: another
// process's FreePorts may then hand them out.
func ReleasePorts(ports ...int) {
	held.Lock()
	defer held.Unlock()
	releaseLocked(ports)
}

func releaseLocked(ports []int) {
	for _, p := range ports {
		if f := held.files[p]; f != nil {
			unlockPort(p, f)
			delete(held.files, p)
		}
	}
}

func portLockPath(p int) string {
	return filepath.Join(PortLockDir, strconv.Itoa(p)+".lock")
}

// preparePortLockDir creates PortLockDir, shared by every user like the
// temporary directory itself (sticky, world-writable; each lock file is
// its owner's, 0600).
func preparePortLockDir() error {
	err := os.Mkdir(PortLockDir, 0o700)
	if err == nil {
		err = os.Chmod(PortLockDir, 0o777|os.ModeSticky)
	} else if errors.Is(err, os.ErrExist) {
		var st os.FileInfo
		if st, err = os.Lstat(PortLockDir); err == nil && !st.IsDir() {
			err = errors.New("not a directory")
		}
	}
	if err != nil {
		return fmt.Errorf("testnet: port lock directory %s: %w", PortLockDir, err)
	}
	return nil
}

// lockPort opens (creating) p's lock file and takes its exclusive lock
// without waiting. It fails when another process holds the lock, when the
// file is not ours to lock (another user's), or when the file was unlinked
// by its releaser between our open and our lock (the lock would then guard
// nothing: a third process could create and lock a new file by the name).
// Lock files are only ever unlinked by a holder of their lock, so a lock on
// the file the name still points to is the port's one lock.
func lockPort(p int) (*os.File, bool) {
	if !portLocking {
		return nil, true
	}
	path := portLockPath(p)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|openNoFollow, 0o600)
	if err != nil {
		return nil, false
	}
	if !tryLock(f) {
		_ = f.Close()
		return nil, false
	}
	st, err1 := f.Stat()
	cur, err2 := os.Lstat(path)
	if err1 != nil || err2 != nil || !os.SameFile(st, cur) {
		_ = f.Close()
		return nil, false
	}
	return f, true
}

// unlockPort removes p's lock file, then drops the lock.
func unlockPort(p int, f *os.File) {
	if f == nil {
		return
	}
	_ = os.Remove(portLockPath(p))
	_ = f.Close()
}

// sweepPortLocks removes the lock files of processes that ended without
// releasing their ports (their locks died with them), so the directory does
// not grow. A file whose lock is held is left alone.
func sweepPortLocks() {
	ents, err := os.ReadDir(PortLockDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".lock"))
		if err != nil || !strings.HasSuffix(e.Name(), ".lock") || held.files[p] != nil {
			continue
		}
		if f, ok := lockPort(p); ok {
			unlockPort(p, f)
		}
	}
}

// belowEphemeral returns the port range [lo, hi) that FreePorts draws
// from: from 10000 up to the start of the kernel's ephemeral range (Linux
// /proc/sys/net/ipv4/ip_local_port_range), if that leaves room.
func belowEphemeral() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start < 11000 {
		return 0, 0, false
	}
	return 10000, start, true
}
