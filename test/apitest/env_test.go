package apitest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
)

// simConfig: one tenant whose admin CIDR is the test's own source address, three
// instances on loopback aliases, and a second tenant so that ids of other tenants exist.
const simConfig = `
region: sim-1
zones: [sim-1a, sim-1b]
tenants:
  - name: conformance
    accessKeys: [{accessKeyId: AKCONF, secretKey: conf-secret}]
    adminCidrs: [127.0.0.1/32]
    vpcs:
      - vpcId: vpc-conf
        name: main
        cidrBlock: 127.0.0.0/8
        routeTables: [{routeTableId: rtb-conf, name: default}]
  - name: other
    accessKeys: [{accessKeyId: AKOTHER, secretKey: other-secret}]
    vpcs:
      - vpcId: vpc-other
        name: main
        cidrBlock: 127.0.0.0/8
staticInstances:
  - {name: node-1, tenant: conformance, zone: sim-1a, privateIps: [127.0.0.11], maxDisks: 4}
  - {name: node-2, tenant: conformance, zone: sim-1a, privateIps: [127.0.0.12]}
  - {name: node-3, tenant: conformance, zone: sim-1b, privateIps: [127.0.0.13]}
  - {name: other-1, tenant: other, zone: sim-1a, privateIps: [127.0.0.21]}
`

var creds = ic.Credentials{AccessKeyID: "AKCONF", SecretKey: "conf-secret"}

const (
	vpcID        = "vpc-conf"
	routeTableID = "rtb-conf"
	zoneA        = "sim-1a"
)

type sim struct {
	*simproc.Process
	t testing.TB
}

// startSim runs the real iaas-sim binary; simproc kills it by PID when the test ends.
func startSim(t testing.TB, args ...string) *sim {
	t.Helper()
	p := simproc.Start(t, simproc.Options{ConfigYAML: []byte(simConfig), Args: args})
	return &sim{Process: p, t: t}
}

// config is a client config that retries fast: tests prove retries happen, not that
// they take the production backoff.
func (s *sim) config() ic.Config {
	return ic.Config{
		Endpoint: s.APIURL, Credentials: creds,
		AttemptTimeout: 5 * time.Second, MaxAttempts: 8,
		BackoffBase: 5 * time.Millisecond, BackoffCap: 50 * time.Millisecond,
		MaxRetryAfter:   50 * time.Millisecond,
		TaskPollInitial: 10 * time.Millisecond, TaskPollMax: 100 * time.Millisecond,
	}
}

func (s *sim) client(mut ...func(*ic.Config)) *ic.Client {
	s.t.Helper()
	cfg := s.config()
	for _, m := range mut {
		m(&cfg)
	}
	c, err := ic.New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(c.Close)
	return c
}

func (s *sim) admin(method, path string, body, out any) {
	s.t.Helper()
	if err := s.AdminClient(s.t).Do(context.Background(), method, path, body, out); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sim) setFault(action string, f iaassim.FaultSpec) {
	s.admin(http.MethodPut, "/admin/v1/faults/"+action, f, nil)
}

func (s *sim) clearFaults() { s.admin(http.MethodDelete, "/admin/v1/faults", nil, nil) }

func (s *sim) counters() iaassim.Counters {
	var c iaassim.Counters
	s.admin(http.MethodGet, "/admin/v1/counters", nil, &c)
	return c
}

// opRecorder is an Observer that remembers which operations succeeded, to prove that
// a test called every operation.
type opRecorder struct {
	mu                 sync.Mutex
	codes              map[string]map[string]int
	retries, throttled int
}

func newOpRecorder() *opRecorder { return &opRecorder{codes: map[string]map[string]int{}} }

func (r *opRecorder) ObserveCall(op, code string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.codes[op] == nil {
		r.codes[op] = map[string]int{}
	}
	r.codes[op][code]++
}
func (r *opRecorder) ObserveThrottled(string) { r.mu.Lock(); r.throttled++; r.mu.Unlock() }
func (r *opRecorder) ObserveRetry(string)     { r.mu.Lock(); r.retries++; r.mu.Unlock() }

func (r *opRecorder) succeeded(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.codes[op][ic.ResultSuccess]
}

// must fails the test on err, naming what was done.
func must[T any](t testing.TB, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// run waits for the task a call started and fails the test unless both succeed.
func run(t testing.TB, c ic.TaskAPI, what string) func(*ic.TaskResponse, error) *ic.Task {
	return func(resp *ic.TaskResponse, err error) *ic.Task {
		t.Helper()
		task, err := ic.RunTask(context.Background(), c, resp, err)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return task
	}
}

func wantCode(t testing.TB, what string, err error, want ic.Code) {
	t.Helper()
	if got := ic.CodeOf(err); got != want {
		t.Fatalf("%s: error %v (code %q), want %q", what, err, got, want)
	}
}

func instanceIDs(t testing.TB, c *ic.Client) map[string]string {
	t.Helper()
	all := must[[]ic.Instance](t, "DescribeAllInstances")(ic.DescribeAllInstances(t.Context(), c, ic.DescribeInstancesRequest{}))
	out := map[string]string{}
	for _, in := range all {
		out[in.Name] = in.InstanceID
	}
	for _, n := range []string{"node-1", "node-2", "node-3"} {
		if out[n] == "" {
			t.Fatalf("instance %s missing from %v", n, out)
		}
	}
	return out
}

func fmtCodes(m map[string]map[string]int) string {
	var b bytes.Buffer
	for op, codes := range m {
		fmt.Fprintf(&b, "%s=%v ", op, codes)
	}
	return b.String()
}
