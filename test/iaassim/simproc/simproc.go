// Package simproc starts the real iaas-sim binary for tests: on random loopback ports,
// with a config and data dir of the test's choosing, and kills it (by PID) when the
// test ends, even on failure.
package simproc

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/test/iaassim/simadmin"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// Ready is what iaas-sim writes to --ready-file.
type Ready struct {
	API      string `json:"api"`
	APIURL   string `json:"apiURL"`
	Admin    string `json:"admin"`
	AdminURL string `json:"adminURL"`
	// AdminTokenFile holds the admin API's bearer token; Admin() sends it.
	AdminTokenFile string `json:"adminTokenFile,omitempty"`
	PID            int    `json:"pid"`
}

// Process is a running iaas-sim.
type Process struct {
	Ready
	DataDir string
	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex
	exitErr error
	exited  bool
}

// AdminClient is a client of the admin API with the process's token.
func (p *Process) AdminClient(t testing.TB) *simadmin.Client {
	t.Helper()
	c, err := simadmin.New(p.AdminURL, p.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Options of Start.
type Options struct {
	// ConfigYAML is the config file's content (YAML or JSON).
	ConfigYAML []byte
	// DataDir; "" makes one under t.TempDir(). Reuse it to restart on the same state.
	DataDir string
	// Args are extra flags (e.g. "--task-delay=10ms", "--fault=...").
	Args []string
	// Binary; "" uses Binary(t).
	Binary string
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the path of an iaas-sim binary: $KUBE_IAAS_BIN/iaas-sim when that
// exists (make test builds it), else one built once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("KUBE_IAAS_BIN"); dir != "" {
		p := filepath.Join(dir, "iaas-sim")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "iaas-sim-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "iaas-sim")
		out, err := exec.Command("go", "build", "-o", buildPath, "github.com/kube-iaas/kube-iaas/cmd/iaas-sim").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build iaas-sim: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Start runs iaas-sim and waits until it serves. Under -short (make unit) it skips t:
// tests of the real process run in their own tier of make test. The process is SIGKILLed at the end of
// the test if it still runs.
func Start(t testing.TB, o Options) *Process {
	t.Helper()
	testutil.Heavy(t)
	bin := o.Binary
	if bin == "" {
		bin = Binary(t)
	}
	work := t.TempDir()
	if o.DataDir == "" {
		o.DataDir = filepath.Join(work, "data")
	}
	cfgPath := filepath.Join(work, "config.yaml")
	if err := os.WriteFile(cfgPath, o.ConfigYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	readyPath := filepath.Join(work, "ready.json")
	args := append([]string{
		"--config", cfgPath, "--data-dir", o.DataDir,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--ready-file", readyPath,
	}, o.Args...)
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(work, "iaas-sim.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{DataDir: o.DataDir, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr, p.exited = err, true
		p.mu.Unlock()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("iaas-sim log (pid %d):\n%s", cmd.Process.Pid, tail(b, 8000))
			}
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(readyPath); err == nil {
			if err := json.Unmarshal(b, &p.Ready); err == nil && p.PID == cmd.Process.Pid {
				return p
			}
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("iaas-sim exited before serving: %v\n%s", p.exitErr, tail(b, 8000))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("iaas-sim did not become ready in 60s")
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Kill sends SIGKILL to the process (by its PID) and waits for it to exit.
func (p *Process) Kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to 10s, then SIGKILL. It returns the exit error.
func (p *Process) Stop() error {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	if !exited {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}
