package iaassim_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/static"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
)

// testConfig: tenant alpha with three instances (127.0.0.11-13) and admin CIDR
// 127.0.1.0/24, tenant beta with one instance (127.0.0.21). Small quotas and a route
// limit of 5 so limits are reachable.
const testConfig = `
region: sim-1
zones: [sim-1a, sim-1b]
tenants:
  - name: alpha
    accessKeys: [{accessKeyId: AKALPHA, secretKey: alpha-secret-1}]
    adminCidrs: [127.0.1.0/24]
    quotas: {disks: 6, diskGiB: 100, snapshots: 3, loadBalancers: 3, listenersPerLoadBalancer: 3}
    vpcs:
      - vpcId: vpc-alpha
        name: main
        cidrBlock: 127.0.0.0/8
        routeTables: [{routeTableId: rtb-alpha, name: default, routeLimit: 5}]
      - vpcId: vpc-alpha2
        name: other
        cidrBlock: 10.9.0.0/16
  - name: beta
    accessKeys: [{accessKeyId: AKBETA, secretKey: beta-secret-1}]
    vpcs:
      - vpcId: vpc-beta
        name: main
        cidrBlock: 127.0.0.0/8
        routeTables: [{routeTableId: rtb-beta, name: default}]
staticInstances:
  - {name: a1, tenant: alpha, zone: sim-1a, privateIps: [127.0.0.11], maxDisks: 2}
  - {name: a2, tenant: alpha, zone: sim-1b, privateIps: [127.0.0.12]}
  - {name: a3, tenant: alpha, zone: sim-1a, privateIps: [127.0.0.13]}
  - {name: a4, tenant: alpha, vpcId: vpc-alpha2, zone: sim-1a, privateIps: [127.0.0.14]}
  - {name: b1, tenant: beta, zone: sim-1a, privateIps: [127.0.0.21]}
`

var (
	alphaCreds = iaasclient.Credentials{AccessKeyID: "AKALPHA", SecretKey: "alpha-secret-1"}
	betaCreds  = iaasclient.Credentials{AccessKeyID: "AKBETA", SecretKey: "beta-secret-1"}

	ipA1      = netip.MustParseAddr("127.0.0.11")
	ipB1      = netip.MustParseAddr("127.0.0.21")
	ipAdmin   = netip.MustParseAddr("127.0.1.7")
	ipUnknown = netip.MustParseAddr("127.0.0.99")
)

type env struct {
	t       testing.TB
	dir     string
	yaml    string
	delay   time.Duration
	sim     *iaassim.Server
	api     *httptest.Server
	admin   *httptest.Server
	backend *static.Backend
	now     func() time.Time
	disks   dataplane.Disks // nil: none
}

func newEnv(t *testing.T, delay time.Duration) *env {
	return newEnvConfig(t, testConfig, delay)
}

func newEnvConfig(t *testing.T, yaml string, delay time.Duration) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), yaml: yaml, delay: delay}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	e.t.Helper()
	cfg, err := iaassim.ParseConfig([]byte(e.yaml))
	if err != nil {
		e.t.Fatal(err)
	}
	var entries []static.Entry
	for _, sc := range cfg.StaticInstances {
		entries = append(entries, iaassim.StaticEntry(sc))
	}
	e.backend, err = static.New(entries, filepath.Join(e.dir, "static.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	d := e.delay
	e.sim, err = iaassim.New(context.Background(), cfg, iaassim.Options{
		DataDir: e.dir, TaskDelay: &d, DataPlane: dataplane.DataPlane{Instances: e.backend, Disks: e.disks}, Now: e.now,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.api = httptest.NewServer(e.sim.Handler())
	e.admin = httptest.NewServer(e.sim.AdminHandler())
}

func (e *env) stop() {
	if e.sim == nil {
		return
	}
	e.api.Close()
	e.admin.Close()
	if err := e.sim.Close(); err != nil {
		e.t.Error(err)
	}
	e.sim = nil
}

func (e *env) restart() {
	e.stop()
	e.start()
}

func (e *env) client(creds iaasclient.Credentials, src netip.Addr) *simproc.RawClient {
	return simproc.NewRawClient(e.api.URL, creds, src)
}

func (e *env) alpha() *simproc.RawClient { return e.client(alphaCreds, ipA1) }
func (e *env) beta() *simproc.RawClient  { return e.client(betaCreds, ipB1) }

func call[T any](t *testing.T, c *simproc.RawClient, action string, req any) (*T, error) {
	t.Helper()
	out := new(T)
	err := c.Call(context.Background(), action, req, out)
	return out, err
}

func must[T any](t *testing.T, c *simproc.RawClient, action string, req any) *T {
	t.Helper()
	out, err := call[T](t, c, action, req)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	return out
}

func wantCode(t *testing.T, err error, code iaasclient.Code) {
	t.Helper()
	if iaasclient.CodeOf(err) != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// waitTask polls DescribeTask until the task ends.
func waitTask(t *testing.T, c *simproc.RawClient, id string) *iaasclient.Task {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := must[iaasclient.DescribeTaskResponse](t, c, iaasclient.ActionDescribeTask, iaasclient.DescribeTaskRequest{TaskID: id})
		if r.Task.State != iaasclient.TaskRunning {
			return &r.Task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still RUNNING", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitOK(t *testing.T, c *simproc.RawClient, id string) {
	t.Helper()
	if tk := waitTask(t, c, id); tk.State != iaasclient.TaskSucceeded {
		t.Fatalf("task %s (%s) ended %s: %v", id, tk.Action, tk.State, tk.Error)
	}
}

// instanceID finds the id of the instance with private IP ip.
func instanceID(t *testing.T, c *simproc.RawClient, ip string) string {
	t.Helper()
	r := must[iaasclient.DescribeInstancesResponse](t, c, iaasclient.ActionDescribeInstances, iaasclient.DescribeInstancesRequest{PrivateIPs: []string{ip}})
	if len(r.Instances) != 1 {
		t.Fatalf("instances with IP %s: %+v", ip, r.Instances)
	}
	return r.Instances[0].InstanceID
}

func createDisk(t *testing.T, c *simproc.RawClient, zone string, size int) string {
	t.Helper()
	r := must[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Name: "d", Zone: zone, SizeGiB: size})
	waitOK(t, c, r.TaskID)
	return r.DiskID
}

func describeDisk(t *testing.T, c *simproc.RawClient, id string) iaasclient.Disk {
	t.Helper()
	r := must[iaasclient.DescribeDisksResponse](t, c, iaasclient.ActionDescribeDisks, iaasclient.DescribeDisksRequest{DiskIDs: []string{id}})
	if len(r.Disks) != 1 {
		t.Fatalf("disk %s: %+v", id, r.Disks)
	}
	return r.Disks[0]
}

func isErr(err error, target error) bool { return errors.Is(err, target) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
