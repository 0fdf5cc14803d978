package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// child is one replica process started by vhsm devnet.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid after done
	logs sync.WaitGroup
}

// lockedWriter serializes whole lines from several children onto one
// stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) writeLine(prefix string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s | %s\n", prefix, line)
}

// startChild starts exe with args in its own process group (so a terminal's
// Ctrl-C reaches only devnet, which then stops the children in order) and
// forwards its stdout and stderr line by line with the name as prefix.
func startChild(name, exe string, args []string, logs *lockedWriter) (*child, error) {
	cmd := exec.Command(exe, args...)
	cmd.SysProcAttr = childSysProcAttr()
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	ch := &child{name: name, cmd: cmd, done: make(chan struct{})}
	for _, r := range []io.Reader{stdout, stderr} {
		ch.logs.Add(1)
		go func() {
			defer ch.logs.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				logs.writeLine(name, sc.Bytes())
			}
			// Drain what a too-long line left so the child never blocks.
			io.Copy(io.Discard, r)
		}()
	}
	go func() {
		// Wait for the pipes first: cmd.Wait closes them.
		ch.logs.Wait()
		ch.err = cmd.Wait()
		close(ch.done)
	}()
	return ch, nil
}

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stopChildren sends SIGTERM to every running child, waits up to grace for
// all of them to exit, then kills the rest with SIGKILL.
func stopChildren(children []*child, grace time.Duration) error {
	for _, c := range children {
		if !c.exited() {
			c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	var errs []error
	for _, c := range children {
		select {
		case <-c.done:
		case <-timer.C:
			// Grace period over: kill whatever is still running.
			for _, k := range children {
				if !k.exited() {
					k.cmd.Process.Kill()
				}
			}
			<-c.done
		}
	}
	for _, c := range children {
		<-c.done
		if c.err != nil && !isTermination(c.err) {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, c.err))
		}
	}
	return errors.Join(errs...)
}

// isTermination reports whether err is the exit of a process that we
// stopped by a signal.
func isTermination(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && (ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGKILL)
}

// Restart backoff of a supervised replica: the first restart comes after
// restartMin, each quick crash doubles the wait up to restartMax, and a
// process that ran restartReset or longer starts the count again.
const (
	restartMin   = 500 * time.Millisecond
	restartMax   = 10 * time.Second
	restartReset = 60 * time.Second
)

// supervisor keeps one replica running: when its process exits, it starts
// it again after a backoff (restartMin doubling to restartMax, back to
// restartMin after a run of restartReset), logging each exit and start.
// The cluster tolerates f replicas down meanwhile.
type supervisor struct {
	name, exe string
	args      []string
	logs      *lockedWriter
	log       *slog.Logger

	mu  sync.Mutex
	cur *child // the running (or last) process
}

// newSupervisor takes over ch, the replica's first process.
func newSupervisor(ch *child, exe string, args []string, logs *lockedWriter, log *slog.Logger) *supervisor {
	return &supervisor{name: ch.name, exe: exe, args: args, logs: logs, log: log, cur: ch}
}

// current returns the replica's current process.
func (s *supervisor) current() *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// run restarts the replica whenever it exits, until ctx ends. The caller
// stops the current process after run has returned.
func (s *supervisor) run(ctx context.Context) {
	wait := restartMin
	started := time.Now()
	for {
		ch := s.current()
		select {
		case <-ctx.Done():
			return
		case <-ch.done:
		}
		if time.Since(started) >= restartReset {
			wait = restartMin
		}
		s.log.Warn("replica_exited", "replica", s.name, "pid", ch.cmd.Process.Pid, "error", fmt.Sprint(ch.err), "restart_in", wait.String())
		for {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, restartMax)
			next, err := startChild(s.name, s.exe, s.args, s.logs)
			if err != nil {
				s.log.Error("replica_start_failed", "replica", s.name, "error", err.Error(), "retry_in", wait.String())
				continue
			}
			s.mu.Lock()
			s.cur = next
			s.mu.Unlock()
			started = time.Now()
			s.log.Info("replica_restarted", "replica", s.name, "pid", next.cmd.Process.Pid)
			break
		}
	}
}
