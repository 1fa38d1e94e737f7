package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kube-iaas/kube-iaas/test/iaassim/diskaudit"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simadmin"
)

// simProc is the cluster's simulator process as test/kind/up.sh started it: the test
// kill -9s it and starts it again with the same command line on the same durable state
// (its data dir), and keeps the PID file current so that down.sh stops the new one.
// Faults and counters live in the process, so the faults are set again after every
// restart and the fault counters are added up across the processes.
type simProc struct {
	state string // up.sh's $STATE: iaas-sim.pid, ready.json, iaas-sim.log
	argv  []string
	env   []string

	mu       sync.Mutex
	pid      int
	admin    *simadmin.Client
	faults   map[string]any // what every new process gets; nil for none
	faultSum map[string]int64
	restarts int
	children []*exec.Cmd
}

type readyFile struct {
	AdminURL       string `json:"adminURL"`
	AdminTokenFile string `json:"adminTokenFile"`
	PID            int    `json:"pid"`
}

func attachSim(state string) (*simProc, error) {
	s := &simProc{state: state, faultSum: map[string]int64{}}
	b, err := os.ReadFile(filepath.Join(state, "iaas-sim.pid"))
	if err != nil {
		return nil, err
	}
	if s.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return nil, fmt.Errorf("iaas-sim.pid: %w", err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.pid))
	if err != nil {
		return nil, fmt.Errorf("simulator %d is not running: %w", s.pid, err)
	}
	s.argv = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if !strings.HasSuffix(s.argv[0], "iaas-sim") || !strings.Contains(string(cmdline), filepath.Join(state, "data")) {
		return nil, fmt.Errorf("process %d is not this cluster's simulator: %q", s.pid, s.argv)
	}
	// The same environment as the first start (it may carry settings such as PATH).
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", s.pid)); err == nil {
		s.env = strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")
	}
	if err := s.connect(); err != nil {
		return nil, err
	}
	return s, nil
}

// connect reads the ready file of the running process and makes its admin client.
func (s *simProc) connect() error {
	b, err := os.ReadFile(filepath.Join(s.state, "ready.json"))
	if err != nil {
		return err
	}
	var r readyFile
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("ready.json: %w", err)
	}
	if r.PID != s.pid {
		return fmt.Errorf("ready.json is of process %d, not %d", r.PID, s.pid)
	}
	s.admin, err = simadmin.New(r.AdminURL, r.AdminTokenFile)
	return err
}

// setFaults replaces the fault table (nil removes every fault), now and after restarts.
func (s *simProc) setFaults(ctx context.Context, f map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	return s.applyFaultsLocked(ctx)
}

func (s *simProc) applyFaultsLocked(ctx context.Context) error {
	if s.faults == nil {
		return s.admin.Do(ctx, "DELETE", "/admin/v1/faults", nil, nil)
	}
	return s.admin.Do(ctx, "PUT", "/admin/v1/faults", s.faults, nil)
}

// counters are the admin API's per-action counts (only what the test reads).
type counters struct {
	Actions map[string]struct {
		Requests int64            `json:"requests"`
		Faults   map[string]int64 `json:"faults"`
	} `json:"actions"`
}

// collectFaultsLocked adds the running process's fault counts to the sum and resets
// them, so that a later read or a kill does not count them twice or lose them.
func (s *simProc) collectFaultsLocked(ctx context.Context) error {
	var c counters
	if err := s.admin.Do(ctx, "GET", "/admin/v1/counters", nil, &c); err != nil {
		return err
	}
	if err := s.admin.Do(ctx, "DELETE", "/admin/v1/counters", nil, nil); err != nil {
		return err
	}
	for _, a := range c.Actions {
		for k, v := range a.Faults {
			s.faultSum[k] += v
		}
	}
	return nil
}

// faultsInjected returns the faults per kind over every process of the run so far.
func (s *simProc) faultsInjected(ctx context.Context) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.collectFaultsLocked(ctx); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for k, v := range s.faultSum {
		out[k] = v
	}
	return out, nil
}

func (s *simProc) resetCounters(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admin.Do(ctx, "DELETE", "/admin/v1/counters", nil, nil)
}

func (s *simProc) audit(ctx context.Context) ([]diskaudit.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admin.DiskAudit(ctx, 0)
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// kill9 kills the simulator with SIGKILL and starts it again on its data dir. The
// fault counts of the dying process are collected first (what it injects between that
// read and the kill, a few milliseconds, is not counted).
func (s *simProc) kill9(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.collectFaultsLocked(ctx)
	if err := syscall.Kill(s.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -9 %d: %w", s.pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(s.pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("simulator %d survived kill -9", s.pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s.startLocked(ctx)
}

// startLocked starts a new process with the recorded command line, in its own session
// (it outlives the test, like up.sh's), logging where up.sh's did.
func (s *simProc) startLocked(ctx context.Context) error {
	ready := filepath.Join(s.state, "ready.json")
	_ = os.Remove(ready)
	logf, err := os.OpenFile(filepath.Join(s.state, "iaas-sim.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = s.env, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the simulator: %w", err)
	}
	// Reaped here while the test runs; after the test it belongs to init, as up.sh's does.
	go func() { _ = cmd.Wait() }()
	s.children = append(s.children, cmd)
	s.pid = cmd.Process.Pid
	s.restarts++
	if err := os.WriteFile(filepath.Join(s.state, "iaas-sim.pid"), []byte(strconv.Itoa(s.pid)+"\n"), 0o644); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := s.connect(); err == nil {
			break
		}
		if !alive(s.pid) {
			return fmt.Errorf("the restarted simulator exited (see %s/iaas-sim.log)", s.state)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the restarted simulator %d is not ready after 60s", s.pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s.applyFaultsLocked(ctx)
}

// ensureRunning starts the simulator again if it is not running (cleanup after a
// failure in the middle of a restart), and removes every fault.
func (s *simProc) ensureRunning(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	if !alive(s.pid) {
		if err := s.startLocked(ctx); err != nil {
			return err
		}
	}
	return s.applyFaultsLocked(ctx)
}
