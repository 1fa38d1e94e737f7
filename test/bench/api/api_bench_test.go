// Package api_test benchmarks the throughput of the simulated IaaS API on one core:
// DescribeDisks and CreateDisk through iaasclient against the real iaas-sim binary
// started with GOMAXPROCS=1, as ratios to a baseline measured in the same run: a
// no-op server process, also on one core, that verifies the same signatures and
// answers "{}". Run: make bench, or
//
//	go test -run '^$' -bench . -benchtime 1x ./test/bench/api/
//
// KUBE_IAAS_BENCH_WINDOW (a duration, default 2s) is how long each workload runs.
package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
)

// noopEnv makes the test binary serve the no-op API instead of running benchmarks;
// the baseline runs as its own one-core process, like the simulator.
const noopEnv = "KUBE_IAAS_BENCH_NOOP_ADDR_FILE"

var creds = ic.Credentials{AccessKeyID: "AKBENCH", SecretKey: "bench-secret"}

func TestMain(m *testing.M) {
	if path := os.Getenv(noopEnv); path != "" {
		os.Exit(serveNoop(path))
	}
	os.Exit(m.Run())
}

// serveNoop answers every signed POST with {} after the checks every real server
// makes: body read, signature verified, JSON written.
func serveNoop(addrFile string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(addrFile, []byte(ln.Addr().String()), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, ic.MaxRequestBodyBytes))
		sr, err := ic.ParseSignedRequest(r.Header)
		if err == nil {
			err = sr.Verify(r.Method, r.URL, body, creds.SecretKey, time.Now())
		}
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(ic.ErrorEnvelope{Error: ic.Errorf(ic.CodeUnauthorizedOperation, "%v", err)})
			return
		}
		_, _ = io.WriteString(w, `{"requestId":"noop"}`)
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// startNoop runs this test binary as the no-op server with GOMAXPROCS=1 and kills it
// by PID when the benchmark ends.
func startNoop(b *testing.B) string {
	b.Helper()
	addrFile := filepath.Join(b.TempDir(), "addr")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), noopEnv+"="+addrFile, "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pid := cmd.Process.Pid
	b.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if addr, err := os.ReadFile(addrFile); err == nil && len(addr) > 0 {
			return "http://" + string(addr)
		}
	}
	b.Fatal("the no-op server did not start")
	return ""
}

const simConfig = `
region: sim-1
zones: [sim-1a]
tenants:
  - name: bench
    accessKeys: [{accessKeyId: AKBENCH, secretKey: bench-secret}]
    adminCidrs: [127.0.0.1/32]
    quotas: {disks: 10000000, diskGiB: 1000000000, snapshots: 10, loadBalancers: 10, listenersPerLoadBalancer: 10}
    vpcs:
      - {vpcId: vpc-bench, name: main, cidrBlock: 10.0.0.0/16}
staticInstances:
  - {name: node-1, tenant: bench, zone: sim-1a, privateIps: [127.0.0.11]}
`

func window() time.Duration {
	if v := os.Getenv("KUBE_IAAS_BENCH_WINDOW"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return 2 * time.Second
}

// workers is the number of concurrent callers: enough to keep a one-core server busy
// while the callers wait on the network.
const workers = 16

// measure runs op from every worker for d and returns completed calls per second. Any
// error fails the benchmark: a throughput of failures means nothing.
func measure(b *testing.B, d time.Duration, op func(ctx context.Context) error) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := op(ctx); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		b.Fatal(err)
	}
	return float64(n.Load()) / time.Since(start).Seconds()
}

func newClient(b *testing.B, endpoint string) *ic.Client {
	b.Helper()
	c, err := ic.New(ic.Config{Endpoint: endpoint, Credentials: creds, MaxAttempts: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

func BenchmarkAPIThroughput(b *testing.B) {
	bin := simproc.Binary(b) // built before GOMAXPROCS=1 reaches the environment
	noopURL := startNoop(b)
	// The simulator inherits the environment: one core, as the benchmark promises.
	b.Setenv("GOMAXPROCS", "1")
	sim := simproc.Start(b, simproc.Options{Binary: bin, ConfigYAML: []byte(simConfig), Args: []string{"--task-delay=0"}})
	noop := newClient(b, noopURL)
	c := newClient(b, sim.APIURL)
	ctx := context.Background()

	// 100 disks, so that a filtered Describe searches a realistic table.
	var diskID string
	for i := range 100 {
		r, err := c.CreateDisk(ctx, &ic.CreateDiskRequest{Name: fmt.Sprintf("seed-%d", i), Zone: "sim-1a", SizeGiB: 1})
		if err != nil {
			b.Fatal(err)
		}
		diskID = r.DiskID
	}
	health := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	d := window()

	type row struct {
		name string
		rps  float64
	}
	var rows []row
	for i := 0; i < b.N; i++ {
		rows = rows[:0]
		add := func(name string, op func(ctx context.Context) error) {
			rows = append(rows, row{name, measure(b, d, op)})
		}
		add("no-op signed server (baseline)", func(ctx context.Context) error {
			_, err := noop.DescribeDisks(ctx, &ic.DescribeDisksRequest{DiskIDs: []string{diskID}})
			return err
		})
		add("iaas-sim GET /healthz (admin, unsigned)", func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sim.AdminURL+"/healthz", nil)
			resp, err := health.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.Body.Close()
		})
		add("iaas-sim DescribeDisks (1 id of 100+)", func(ctx context.Context) error {
			_, err := c.DescribeDisks(ctx, &ic.DescribeDisksRequest{DiskIDs: []string{diskID}})
			return err
		})
		add("iaas-sim CreateDisk (fsync, task queued)", func(ctx context.Context) error {
			_, err := c.CreateDisk(ctx, &ic.CreateDiskRequest{Name: "bench", Zone: "sim-1a", SizeGiB: 1})
			return err
		})
	}
	base := rows[0].rps
	var t strings.Builder
	fmt.Fprintf(&t, "\nAPI throughput, server on one core (GOMAXPROCS=1), %d concurrent callers, %v per row:\n", workers, d)
	fmt.Fprintf(&t, "%-44s %12s %10s\n", "workload", "requests/s", "vs base")
	for _, r := range rows {
		fmt.Fprintf(&t, "%-44s %12.0f %10.3f\n", r.name, r.rps, r.rps/base)
	}
	b.Log(t.String())
	b.ReportMetric(base, "noop-req/s")
	b.ReportMetric(rows[2].rps, "describe-req/s")
	b.ReportMetric(rows[3].rps, "create-req/s")
	b.ReportMetric(rows[2].rps/base, "describe/noop")
	b.ReportMetric(rows[3].rps/base, "create/noop")
}
