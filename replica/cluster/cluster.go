// Package cluster starts real vhsm replica clusters on loopback for tests:
// in-process ([StartInProcess], each replica a [replica.Run] in its own
// goroutine) or as separate OS processes running `vhsm replica --home DIR`
// ([StartProcesses]), with fault injection: Kill, Pause/Resume (processes
// only), Restart, Stop, and WaitReady.
//
// Every replica's log goes to replica-i/replica.log in the testnet
// directory; a failing test names the files to read.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica"
	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
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
	done   chan error         // in-process: Run's result
	cmd    *exec.Cmd          // processes
	logf   *os.File
}

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
	tn, err := testnet.Generate(dir, n, testnet.Options{Pools: o.Pools})
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	c := &Cluster{t: t, Testnet: tn, ClientPath: tn.ClientPath, opts: o, binary: binary, procs: make([]*proc, n)}
	t.Cleanup(c.Stop)
	for i := 1; i <= n; i++ {
		if err := c.startOne(i); err != nil {
			t.Fatalf("cluster: start replica %d: %v", i, err)
		}
	}
	return c
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

func (c *Cluster) startOne(i int) error {
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
	p := &proc{logf: logf}
	if c.binary != "" {
		cmd := exec.Command(c.binary, "replica", "--home", home)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(), c.opts.Env[i]...)
		if err := cmd.Start(); err != nil {
			logf.Close()
			return err
		}
		p.cmd = cmd
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel, p.done = cancel, make(chan error, 1)
		log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		go func() {
			p.done <- replica.Run(ctx, replica.Config{Home: home, Log: log, PhaseTimeout: c.opts.PhaseTimeout})
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
	if err := c.startOne(i); err != nil {
		c.t.Fatalf("cluster: restart replica %d: %v", i, err)
	}
}

// RestartAll stops every replica, then starts them all again.
func (c *Cluster) RestartAll() {
	c.t.Helper()
	for i := 1; i <= c.Testnet.N; i++ {
		c.stopOne(i)
	}
	for i := 1; i <= c.Testnet.N; i++ {
		if err := c.startOne(i); err != nil {
			c.t.Fatalf("cluster: restart replica %d: %v", i, err)
		}
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
	c.mu.Lock()
	p := c.procs[i-1]
	c.procs[i-1] = nil
	c.mu.Unlock()
	if p == nil {
		return
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		c.t.Errorf("cluster: replica %d stopped with %v (log: %s)", i, err, filepath.Join(c.Home(i), LogFile))
	}
}

// stop ends the replica with sig (processes) or by cancellation, waiting at
// most 20 s before killing.
func (p *proc) stop(sig syscall.Signal) error {
	defer p.logf.Close()
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused process must see the signal
		_ = p.cmd.Process.Signal(sig)
		waited := make(chan error, 1)
		go func() { waited <- p.cmd.Wait() }()
		select {
		case err := <-waited:
			if sig == syscall.SIGKILL {
				return nil
			}
			return err
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-waited
			return errors.New("did not stop within 20s; killed")
		}
	}
	p.cancel()
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		return errors.New("did not stop within 20s")
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
		if err := c.exited(); err != nil {
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

// exited reports an in-process replica whose Run returned early.
func (c *Cluster) exited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.procs {
		if p == nil || p.done == nil {
			continue
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("cluster: replica %d exited: %v", i+1, err)
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
