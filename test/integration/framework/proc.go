// Package framework starts the real components of the integration tier (etcd,
// kube-apiserver, iaas-sim, iaas-cloud-controller-manager) as processes on random
// loopback ports, and kills them by PID when the tests end, even on failure.
package framework

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// TB is the part of testing.TB the framework needs, so TestMain can start shared
// components with a Cleaner instead of a *testing.T.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Proc is a started process.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}

	mu     sync.Mutex
	exited bool
	err    error
}

// Start runs bin with args, its output in dir/<name>.log. The process dies with the
// test binary (Pdeathsig) and is killed at cleanup.
func Start(t TB, dir, name, bin string, args ...string) *Proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exited, p.err = true, err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(p.Kill)
	return p
}

// PID of the process.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL to this process only and waits for it.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(p.PID(), syscall.SIGKILL)
	}
	<-p.done
}

// Stop sends SIGTERM, then SIGKILL after 10 s.
func (p *Proc) Stop() {
	if !p.Exited() {
		_ = syscall.Kill(p.PID(), syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// Tail returns the last n bytes of the log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Cleaner is a TB for TestMain: cleanups run in reverse at Run's end; Fatalf panics
// after running them.
type Cleaner struct {
	mu  sync.Mutex
	fns []func()
}

func (c *Cleaner) Helper()                         {}
func (c *Cleaner) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (c *Cleaner) Fatalf(format string, args ...any) {
	c.Run()
	panic(fmt.Sprintf(format, args...))
}
func (c *Cleaner) Cleanup(f func()) {
	c.mu.Lock()
	c.fns = append(c.fns, f)
	c.mu.Unlock()
}

// Run runs the cleanups, last first.
func (c *Cleaner) Run() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// Eventually polls f every 200 ms until it returns nil, a Permanent error, or timeout
// passes, and returns the last error.
func Eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		var p permanent
		if err == nil || errors.As(err, &p) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type permanent struct{ error }

// Permanent makes Eventually give up at once (a process died).
func Permanent(err error) error { return permanent{err} }
