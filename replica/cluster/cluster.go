// Package cluster starts real vhsm replica clusters on loopback for tests:
// in-process ([StartInProcess], each replica a [replica.Run] in its own
// goroutine) or as separate OS processes running `vhsm replica --home DIR`
// ([StartProcesses]), with fault injection: Kill, Pause/Resume (processes
// only), Restart, Stop, and WaitReady.
//
// Every replica's log goes to replica-i/replica.log in the testnet
// directory; a failing test names the files to read.
//
// A start (and Restart) returns once every replica has bound its addresses
// (logged replica.ListeningMessage) or exited. A replica whose address was
// taken before it could bind it is started again: a new cluster on fresh
// ports, a restarted replica on its own ports (see startAll and
// startRetrying; the port rule is in replica/testnet's package doc).
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica"
	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/testnet"
)

// Errors of the harness.
var (
	// ErrNotReady is returned by WaitReady when replicas are not all ready
	// before the deadline.
	ErrNotReady = errors.New("cluster: replicas not ready")
	// ErrUnsupported is returned for a fault the mode cannot inject (Pause on
	// an in-process replica).
	ErrUnsupported = errors.New("cluster: not supported in this mode")
)

// LogFile is the name of each replica's log in its home.
const LogFile = "replica.log"

// Options tune a cluster. The zero value is the default.
type Options struct {
	// Pools overrides the genesis pool configuration (smaller batches make
	// tests faster).
	Pools *app.PoolConfig
	// PhaseTimeout is the engines' DKG phase timeout (engine default when 0).
	PhaseTimeout time.Duration
	// Env adds "KEY=value" entries to the environment of replica i's
	// process (processes only; ignored in process).
	Env map[int][]string

	// beforeStart, when set, runs after each generation of the testnet and
	// before its replicas start (tests take a port with it).
	beforeStart func(*testnet.Testnet)
}

// Cluster is a running test cluster.
type Cluster struct {
	t          testing.TB
	Testnet    *testnet.Testnet
	ClientPath string
	opts       Options
	binary     string // processes mode when set

	mu    sync.Mutex
	procs []*proc
}

// proc is one running replica (goroutine or OS process).
type proc struct {
	cancel context.CancelFunc // in-process
	cmd    *exec.Cmd          // processes
	logf   *os.File
	logOff int64         // the log's size when this run started
	exited chan struct{} // closed when Run returned or the process was reaped
	err    error         // Run's or Wait's result, once exited is closed
}

// Starting replicas: a replica's ports come from testnet.FreePorts, which
// reserves them against every process on the machine that picks ports the
// same way, but a program that does not can still take one before the
// replica binds it. A start therefore waits until each replica logged
// replica.ListeningMessage (bound) or exited; a replica that exited because
// an address was in use is started again: a new cluster on fresh ports
// (the testnet generated again, at most maxStartAttempts times), a restart
// on its own ports (they are the cluster's addresses) until
// restartBindTimeout.
const (
	maxStartAttempts   = 3
	listenTimeout      = 2 * time.Minute
	restartBindTimeout = 30 * time.Second
)

// errAddrInUse: a replica exited because one of its addresses was in use.
var errAddrInUse = errors.New("address already in use")

// StartInProcess generates (or reuses) an n-replica testnet in dir and runs
// every replica in this process. The cluster is stopped at the end of the
// test.
func StartInProcess(t testing.TB, dir string, n int, opts ...Options) *Cluster {
	t.Helper()
	return start(t, dir, n, "", opts)
}

// StartProcesses is StartInProcess with every replica a separate OS process
// running binary ("vhsm"; see [BuildBinary]).
func StartProcesses(t testing.TB, dir string, n int, binary string, opts ...Options) *Cluster {
	t.Helper()
	if binary == "" {
		t.Fatal("cluster: no vhsm binary")
	}
	return start(t, dir, n, binary, opts)
}

func start(t testing.TB, dir string, n int, binary string, opts []Options) *Cluster {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	// Only a testnet generated here may be generated again on fresh ports.
	_, statErr := os.Stat(filepath.Join(dir, testnet.ClientFile))
	fresh := errors.Is(statErr, fs.ErrNotExist)
	c := &Cluster{t: t, opts: o, binary: binary}
	t.Cleanup(c.releasePorts) // after Stop: cleanups run last first
	t.Cleanup(c.Stop)
	for attempt := 1; ; attempt++ {
		tn, err := testnet.Generate(dir, n, testnet.Options{Pools: o.Pools})
		if err != nil {
			t.Fatalf("cluster: %v", err)
		}
		c.mu.Lock()
		c.Testnet, c.ClientPath, c.procs = tn, tn.ClientPath, make([]*proc, n)
		c.mu.Unlock()
		if o.beforeStart != nil {
			o.beforeStart(tn)
		}
		all := make([]int, n)
		for i := range all {
			all[i] = i + 1
		}
		err = c.startAll(all)
		if err == nil {
			return c
		}
		if !errors.Is(err, errAddrInUse) || attempt == maxStartAttempts {
			t.Fatalf("cluster: start (attempt %d of %d): %v", attempt, maxStartAttempts, err)
		}
		for i := 1; i <= n; i++ {
			_ = c.halt(i)
		}
		if fresh {
			t.Logf("cluster: %v; generating the testnet again on fresh ports (attempt %d of %d)", err, attempt+1, maxStartAttempts)
			c.releasePorts()
			if err := removeTestnet(tn); err != nil {
				t.Fatalf("cluster: %v", err)
			}
		} else {
			t.Logf("cluster: %v; starting again on the testnet's ports (attempt %d of %d)", err, attempt+1, maxStartAttempts)
		}
	}
}

// removeTestnet removes what testnet.Generate created in tn.Dir.
func removeTestnet(tn *testnet.Testnet) error {
	for _, h := range tn.Homes {
		if err := os.RemoveAll(h); err != nil {
			return err
		}
	}
	if err := os.Remove(tn.ClientPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// releasePorts ends this process's reservation of the testnet's ports
// (testnet.ReleasePorts ignores those it does not hold).
func (c *Cluster) releasePorts() {
	if c.Testnet == nil {
		return
	}
	for _, h := range c.Testnet.Homes {
		rc, err := layout.LoadReplicaConfig(h)
		if err != nil {
			continue
		}
		for _, addr := range []string{rc.P2PListen, rc.APIListen} {
			if _, hp, ok := strings.Cut(addr, "://"); ok {
				addr = hp
			}
			if _, ps, err := net.SplitHostPort(addr); err == nil {
				if p, err := strconv.Atoi(ps); err == nil {
					testnet.ReleasePorts(p)
				}
			}
		}
	}
}

// startAll launches the replicas, then waits until each one has bound its
// addresses. It returns an error wrapping errAddrInUse when a replica
// exited because an address was taken; a replica that exited for another
// reason or is slow to bind is logged and left to the test, as is a
// replica that exits later.
func (c *Cluster) startAll(replicas []int) error {
	for _, i := range replicas {
		if err := c.launch(i); err != nil {
			return fmt.Errorf("start replica %d: %w", i, err)
		}
	}
	var inUse []error
	for _, i := range replicas {
		if err := c.waitListening(i); errors.Is(err, errAddrInUse) {
			inUse = append(inUse, err)
		} else if err != nil {
			c.t.Logf("cluster: %v", err)
		}
	}
	return errors.Join(inUse...)
}

// startRetrying starts replica i on its configured addresses, and again
// while it exits because one is still in use (the socket of its previous
// run, or a stranger's), until restartBindTimeout.
func (c *Cluster) startRetrying(i int) error {
	deadline := time.Now().Add(restartBindTimeout)
	for attempt := 1; ; attempt++ {
		if err := c.launch(i); err != nil {
			return err
		}
		err := c.waitListening(i)
		if !errors.Is(err, errAddrInUse) {
			if err != nil {
				c.t.Logf("cluster: %v", err)
			}
			return nil
		}
		_ = c.halt(i)
		if time.Now().After(deadline) {
			return err
		}
		c.t.Logf("cluster: %v; starting it again on the same addresses (attempt %d)", err, attempt+1)
		time.Sleep(min(time.Duration(attempt)*200*time.Millisecond, 2*time.Second)) // back-off between binds
	}
}

// proc returns replica i's running proc, or nil.
func (c *Cluster) proc(i int) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[i-1]
}

// waitListening waits until replica i logged replica.ListeningMessage, or
// exited (errAddrInUse when an address was taken), or listenTimeout passed.
func (c *Cluster) waitListening(i int) error {
	p := c.proc(i)
	if p == nil {
		return nil
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(listenTimeout)
	for {
		select {
		case <-p.exited:
			if p.logged(replica.ListeningMessage) {
				return nil // bound, then ended: not a bind failure
			}
			if p.addrInUse() {
				return fmt.Errorf("replica %d: %w (log: %s)", i, errAddrInUse, p.logf.Name())
			}
			return fmt.Errorf("replica %d exited at start: %v (log: %s)", i, p.err, p.logf.Name())
		case <-deadline:
			return fmt.Errorf("replica %d did not bind its addresses within %v (log: %s)", i, listenTimeout, p.logf.Name())
		case <-tick.C:
			if p.logged(replica.ListeningMessage) {
				return nil
			}
		}
	}
}

// logged reports whether this run of the replica logged msg.
func (p *proc) logged(msg string) bool {
	f, err := os.Open(p.logf.Name())
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(p.logOff, io.SeekStart); err != nil {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	return err == nil && bytes.Contains(b, []byte(msg))
}

// addrInUse reports whether the replica, which exited, failed to bind.
func (p *proc) addrInUse() bool {
	if p.cmd == nil {
		return errors.Is(p.err, syscall.EADDRINUSE) || strings.Contains(fmt.Sprint(p.err), "address already in use")
	}
	return p.logged("address already in use")
}

// BuildBinary builds ./cmd/vhsm of the module containing the working
// directory into a temporary directory and returns its path.
func BuildBinary(t testing.TB) string {
	t.Helper()
	return BuildBinaryTags(t)
}

// BuildBinaryTags is BuildBinary with the given build tags (for example
// "vhsm_byzantine", the test-only fault-injection build of replica/engine).
func BuildBinaryTags(t testing.TB, tags ...string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("cluster: go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(t.TempDir(), "vhsm")
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, "./cmd/vhsm")...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster: build vhsm: %v\n%s", err, b)
	}
	return bin
}

// Home returns replica i's home directory (1-based).
func (c *Cluster) Home(i int) string { return c.Testnet.Homes[i-1] }

// Client returns a client for the admin configuration.
func (c *Cluster) Client() *client.Client {
	c.t.Helper()
	cfg, err := client.Load(c.ClientPath)
	if err != nil {
		c.t.Fatalf("cluster: %v", err)
	}
	// Tests drain small pools on purpose; on a loaded CI machine a refill
	// DKG can take longer than the default wait (the request timeout).
	cl, err := client.New(cfg, client.WithPoolWait(time.Minute))
	if err != nil {
		c.t.Fatalf("cluster: %v", err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// launch starts replica i (not waiting for it to bind).
func (c *Cluster) launch(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.procs[i-1] != nil {
		return fmt.Errorf("replica %d already running", i)
	}
	home := c.Home(i)
	logf, err := os.OpenFile(filepath.Join(home, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := logf.Stat()
	if err != nil {
		logf.Close()
		return err
	}
	p := &proc{logf: logf, logOff: st.Size(), exited: make(chan struct{})}
	if c.binary != "" {
		cmd := exec.Command(c.binary, "replica", "--home", home)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(), c.opts.Env[i]...)
		if err := cmd.Start(); err != nil {
			logf.Close()
			return err
		}
		p.cmd = cmd
		go func() {
			p.err = cmd.Wait()
			close(p.exited)
		}()
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		go func() {
			p.err = replica.Run(ctx, replica.Config{Home: home, Log: log, PhaseTimeout: c.opts.PhaseTimeout})
			if p.err != nil { // into the log, as the vhsm replica command does
				log.Error("replica exited", "err", p.err.Error())
			}
			close(p.exited)
		}()
	}
	c.procs[i-1] = p
	return nil
}

// Kill stops replica i abruptly: SIGKILL for a process; for an in-process
// replica, its context is cancelled and Run awaited (the closest a goroutine
// gets to a crash: no request is finished after it returns).
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.mu.Lock()
	p := c.procs[i-1]
	c.procs[i-1] = nil
	c.mu.Unlock()
	if p == nil {
		return
	}
	if err := p.stop(syscall.SIGKILL); err != nil {
		c.t.Logf("cluster: replica %d: %v", i, err)
	}
}

// PID returns the process id of replica i, or 0 when it is not running as
// a process (stopped, or in process).
func (c *Cluster) PID(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[i-1]; p != nil && p.cmd != nil && p.cmd.Process != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// Pause freezes replica i's process (SIGSTOP); Resume thaws it (SIGCONT).
func (c *Cluster) Pause(i int) error { return c.signal(i, syscall.SIGSTOP) }

// Resume thaws a paused replica.
func (c *Cluster) Resume(i int) error { return c.signal(i, syscall.SIGCONT) }

func (c *Cluster) signal(i int, sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procs[i-1]
	if p == nil || p.cmd == nil {
		return ErrUnsupported
	}
	return p.cmd.Process.Signal(sig)
}

// Restart stops replica i gracefully (if running) and starts it again from
// its home.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.stopOne(i)
	if err := c.startRetrying(i); err != nil {
		c.t.Fatalf("cluster: restart replica %d: %v", i, err)
	}
}

// RestartAll stops every replica, then starts them all again.
func (c *Cluster) RestartAll() {
	c.t.Helper()
	for i := 1; i <= c.Testnet.N; i++ {
		c.stopOne(i)
	}
	all := make([]int, c.Testnet.N)
	for i := range all {
		all[i] = i + 1
	}
	if err := c.startAll(all); err != nil {
		if !errors.Is(err, errAddrInUse) {
			c.t.Fatalf("cluster: restart: %v", err)
		}
		c.t.Logf("cluster: %v", err)
		for _, i := range all {
			if !c.bindFailed(i) {
				continue
			}
			_ = c.halt(i)
			if err := c.startRetrying(i); err != nil {
				c.t.Fatalf("cluster: restart replica %d: %v", i, err)
			}
		}
	}
}

// bindFailed reports whether replica i exited because an address was in use.
func (c *Cluster) bindFailed(i int) bool {
	p := c.proc(i)
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return !p.logged(replica.ListeningMessage) && p.addrInUse()
	default:
		return false
	}
}

// Stop stops every replica gracefully (SIGTERM for processes, context
// cancellation in process). It is registered as a test cleanup.
func (c *Cluster) Stop() {
	for i := 1; i <= len(c.procs); i++ {
		c.stopOne(i)
	}
}

func (c *Cluster) stopOne(i int) {
	if err := c.halt(i); err != nil {
		c.t.Errorf("cluster: replica %d stopped with %v (log: %s)", i, err, filepath.Join(c.Home(i), LogFile))
	}
}

// halt stops replica i gracefully, if running, and returns how it ended.
func (c *Cluster) halt(i int) error {
	c.mu.Lock()
	p := c.procs[i-1]
	c.procs[i-1] = nil
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.stop(syscall.SIGTERM)
}

// stop ends the replica with sig (processes) or by cancellation, waiting at
// most 20 s before killing.
func (p *proc) stop(sig syscall.Signal) error {
	defer p.logf.Close()
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused process must see the signal
		_ = p.cmd.Process.Signal(sig)
	} else {
		p.cancel()
	}
	select {
	case <-p.exited:
		if p.cmd != nil && sig == syscall.SIGKILL {
			return nil
		}
		return p.err
	case <-time.After(20 * time.Second):
		if p.cmd == nil {
			return errors.New("did not stop within 20s")
		}
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("did not stop within 20s; killed")
	}
}

// WaitReady waits until every running replica answers GET /v1/status with
// ready, or timeout passes.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	return c.waitReady(timeout, nil)
}

// WaitReadyOf waits until the listed replicas (1-based) are ready.
func (c *Cluster) WaitReadyOf(timeout time.Duration, replicas ...int) error {
	return c.waitReady(timeout, replicas)
}

func (c *Cluster) waitReady(timeout time.Duration, only []int) error {
	cfg, err := client.Load(c.ClientPath)
	if err != nil {
		return err
	}
	cl, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	want := map[int]bool{}
	c.mu.Lock()
	for i, p := range c.procs {
		if p != nil && (only == nil || contains(only, i+1)) {
			want[i+1] = true
		}
	}
	c.mu.Unlock()
	deadline := time.Now().Add(timeout)
	var last []client.ReplicaStatus
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = cl.Status(ctx)
		cancel()
		ok := true
		for _, st := range last {
			if want[st.Replica] && !st.Ready {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if err := c.exited(want); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	var b strings.Builder
	for _, st := range last {
		if want[st.Replica] {
			fmt.Fprintf(&b, " [replica %d ready=%v height=%d %s]", st.Replica, st.Ready, st.Height, st.Error)
		}
	}
	return fmt.Errorf("%w after %v:%s", ErrNotReady, timeout, b.String())
}

// WaitSynced waits until every running replica reports the same committed
// height (and that height stays put for one poll), or timeout passes.
func (c *Cluster) WaitSynced(timeout time.Duration) error {
	cfg, err := client.Load(c.ClientPath)
	if err != nil {
		return err
	}
	cl, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	c.mu.Lock()
	running := map[int]bool{}
	for i, p := range c.procs {
		if p != nil {
			running[i+1] = true
		}
	}
	c.mu.Unlock()
	deadline := time.Now().Add(timeout)
	prev := int64(-1)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		sts := cl.Status(ctx)
		cancel()
		h, same := int64(-1), true
		for _, st := range sts {
			if !running[st.Replica] {
				continue
			}
			if st.Error != "" && st.Height == 0 || h >= 0 && st.Height != h {
				same = false
			}
			h = st.Height
		}
		if same && h == prev {
			return nil
		}
		prev = -1
		if same {
			prev = h
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("cluster: replicas not at one height after %v", timeout)
}

// exited reports a replica of want (running, in process or as a process)
// that has exited.
func (c *Cluster) exited(want map[int]bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.procs {
		if p == nil || !want[i+1] {
			continue
		}
		select {
		case <-p.exited:
			return fmt.Errorf("cluster: replica %d exited: %v (log: %s)", i+1, p.err, p.logf.Name())
		default:
		}
	}
	return nil
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
