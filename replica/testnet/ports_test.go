package testnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment of the child process of TestFreePortsAcrossProcesses (the
// test binary run again).
const (
	envPortsChild = "VHSM_TESTNET_PORTS_CHILD" // ports to reserve
	envPortsDir   = "VHSM_TESTNET_PORTS_DIR"
	envPortsRange = "VHSM_TESTNET_PORTS_RANGE" // "lo-hi"
)

// usePorts points FreePorts at lock directory dir and range [lo, hi) for
// the rest of the test.
func usePorts(t *testing.T, dir string, lo, hi int) {
	oldDir, oldRange := PortLockDir, portRange
	held.Lock()
	oldSwept := held.swept
	PortLockDir, held.swept = dir, false
	portRange = func() (int, int, bool) { return lo, hi, true }
	held.Unlock()
	t.Cleanup(func() {
		held.Lock()
		PortLockDir, portRange, held.swept = oldDir, oldRange, oldSwept
		held.Unlock()
	})
}

// TestFreePortsChild is the child of TestFreePortsAcrossProcesses: it
// reserves the ports asked for, prints them, and holds them until its
// stdin closes; then it exits without releasing them (a crash, as far as
// the reservation goes).
func TestFreePortsChild(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(envPortsChild))
	if err != nil {
		t.Skip("only run as the child of TestFreePortsAcrossProcesses")
	}
	var lo, hi int
	if _, err := fmt.Sscanf(os.Getenv(envPortsRange), "%d-%d", &lo, &hi); err != nil {
		t.Fatal(err)
	}
	usePorts(t, os.Getenv(envPortsDir), lo, hi)
	ports, err := FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("PORTS %s\n", strings.Trim(fmt.Sprint(ports), "[]"))
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// portsChild runs TestFreePortsChild reserving k ports of [lo, hi) and
// returns them once reserved; closing hold ends the child.
func portsChild(t *testing.T, dir string, lo, hi, k int) (ports []int, hold io.Closer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFreePortsChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envPortsChild+"="+strconv.Itoa(k), envPortsDir+"="+dir,
		envPortsRange+"="+strconv.Itoa(lo)+"-"+strconv.Itoa(hi))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	got := make(chan []int, 1)
	go func() {
		defer close(done)
		defer func() { _ = cmd.Wait() }()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f, ok := strings.CutPrefix(sc.Text(), "PORTS "); ok {
				var ps []int
				for _, s := range strings.Fields(f) {
					p, _ := strconv.Atoi(s)
					ps = append(ps, p)
				}
				got <- ps
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case ports = <-got:
	case <-done:
		t.Fatal("child exited without reserving ports")
	case <-time.After(60 * time.Second):
		t.Fatal("child did not report its ports within 60s")
	}
	if len(ports) != k {
		t.Fatalf("child reserved %v, want %d ports", ports, k)
	}
	return ports, closerFunc(func() error {
		_ = stdin.Close()
		select {
		case <-done:
			return nil
		case <-time.After(30 * time.Second):
			return errors.New("child did not exit")
		}
	})
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// freeRange finds n consecutive ports in [20000, 30000) that are free now.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for base := 20000 + int(time.Now().UnixNano()%5000); base+n < 30000; base += n {
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if ok = err == nil; ok {
				l.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func inRange(ps []int, lo, hi int) (in []int) {
	for _, p := range ps {
		if p >= lo && p < hi {
			in = append(in, p)
		}
	}
	return in
}

func disjoint(t *testing.T, what string, a, b []int) {
	t.Helper()
	for _, p := range a {
		if slices.Contains(b, p) {
			t.Fatalf("%s: port %d handed out twice (%v, %v)", what, p, a, b)
		}
	}
}

// TestFreePortsAcrossProcesses: FreePorts in two processes drawing from
// the same 8 ports never hands out one port to both while both hold them
// (without the reservation the second would get the first's ports, whose
// probe listeners are closed); a port held by another process is skipped;
// a released port, and one whose holder died, is handed out again; and
// releasing removes the lock file.
func TestFreePortsAcrossProcesses(t *testing.T) {
	if !portLocking {
		t.Skip("no flock on this platform")
	}
	dir := t.TempDir()
	lo := freeRange(t, 8)
	hi := lo + 8
	usePorts(t, dir, lo, hi)

	mine, err := FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	if len(inRange(mine, lo, hi)) == 0 {
		t.Fatalf("no port of [%d, %d) reserved: %v", lo, hi, mine)
	}
	for _, p := range inRange(mine, lo, hi) {
		if st, err := os.Stat(filepath.Join(dir, strconv.Itoa(p)+".lock")); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("lock file of %d: %v %v", p, st, err)
		}
	}
	// The child must take the other free ports of the range, or ports
	// outside it, never ours.
	theirs, child1 := portsChild(t, dir, lo, hi, 4)
	disjoint(t, "parent and child", mine, theirs)
	if len(inRange(theirs, lo, hi)) == 0 {
		t.Fatalf("child reserved no port of [%d, %d) (%v): the test proves nothing", lo, hi, theirs)
	}

	// Every port of the range is now held by one process or the other:
	// a second call here gets none of them.
	more, err := FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	disjoint(t, "held here", mine, more)
	disjoint(t, "held by the child", theirs, more)
	ReleasePorts(more...)

	// Released: the lock file goes, and another process can take the port.
	p := inRange(mine, lo, hi)[0]
	ReleasePorts(mine...)
	if _, err := os.Stat(filepath.Join(dir, strconv.Itoa(p)+".lock")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file of released port %d: %v", p, err)
	}
	again, child2 := portsChild(t, dir, p, p+1, 1)
	if again[0] != p {
		t.Fatalf("released port %d not handed out again: child got %v", p, again)
	}
	// Still held by child 2: skipped here (the range holds only p).
	usePorts(t, dir, p, p+1)
	if got, err := FreePorts(1); err != nil || got[0] == p {
		t.Fatalf("port %d held by a child handed out here: %v %v", p, got, err)
	} else {
		ReleasePorts(got...)
	}

	// A holder that exits without releasing leaves its lock file behind,
	// unlocked: the port is free to reserve again, and the sweep removes
	// such files.
	q := inRange(theirs, lo, hi)[0]
	if err := child1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := child2.Close(); err != nil {
		t.Fatal(err)
	}
	usePorts(t, dir, q, q+1)
	got, err := FreePorts(1)
	if err != nil || got[0] != q {
		t.Fatalf("port %d of an exited process: got %v %v", q, got, err)
	}
	held.Lock()
	sweepPortLocks()
	held.Unlock()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != strconv.Itoa(q)+".lock" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("after the sweep: %v, want only %d.lock (held here)", names, q)
	}
	ReleasePorts(q)
}
