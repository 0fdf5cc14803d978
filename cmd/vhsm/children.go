package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
