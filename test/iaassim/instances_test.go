package iaassim_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
)

// fakeBackend is a docker-like backend: machines appear, change state and vanish
// outside the simulator.
type fakeBackend struct {
	mu       sync.Mutex
	machines map[string]dataplane.DiscoveredInstance
}

func (f *fakeBackend) Name() string { return "fake" }
func (f *fakeBackend) List(context.Context) ([]dataplane.DiscoveredInstance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []dataplane.DiscoveredInstance
	for _, m := range f.machines {
		out = append(out, m)
	}
	return out, nil
}
func (f *fakeBackend) set(key string, st iaasclient.InstanceState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.machines[key]
	m.State = st
	f.machines[key] = m
}
func (f *fakeBackend) Start(_ context.Context, k string) error {
	f.set(k, iaasclient.InstanceRunning)
	return nil
}
func (f *fakeBackend) Stop(_ context.Context, k string) error {
	f.set(k, iaasclient.InstanceStopped)
	return nil
}
func (f *fakeBackend) Terminate(_ context.Context, k string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.machines, k)
	return nil
}

func TestBackendSyncAndTenancyRules(t *testing.T) {
	cfg, err := iaassim.ParseConfig([]byte(`
instanceSyncInterval: 20ms
tenants:
  - name: alpha
    accessKeys: [{accessKeyId: AKALPHA, secretKey: alpha-secret-1}]
    adminCidrs: [127.0.1.0/24]
    vpcs: [{vpcId: vpc-alpha, name: main, cidrBlock: 127.0.0.0/8}]
  - name: beta
    accessKeys: [{accessKeyId: AKBETA, secretKey: beta-secret-1}]
    vpcs: [{vpcId: vpc-beta, name: main, cidrBlock: 127.0.0.0/8}]
instanceTenancy:
  - {namePrefix: alpha-, tenant: alpha}
  - {namePrefix: beta-, tenant: beta}
`))
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBackend{machines: map[string]dataplane.DiscoveredInstance{
		"c1": {Key: "c1", Name: "alpha-node", PrivateIPs: []string{"127.0.0.41"}, State: iaasclient.InstanceRunning},
		"c2": {Key: "c2", Name: "beta-node", PrivateIPs: []string{"127.0.0.42"}, State: iaasclient.InstanceRunning},
		"c3": {Key: "c3", Name: "stranger", PrivateIPs: []string{"127.0.0.43"}, State: iaasclient.InstanceRunning},
	}}
	zero := time.Duration(0)
	sim, err := iaassim.New(context.Background(), cfg, iaassim.Options{DataDir: t.TempDir(), TaskDelay: &zero, DataPlane: dataplane.DataPlane{Instances: fb}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	e := &env{t: t, api: srv}
	admin := e.client(alphaCreds, ipAdmin)
	r := must[iaasclient.DescribeInstancesResponse](t, admin, "DescribeInstances", struct{}{})
	if r.TotalCount != 1 || r.Instances[0].Name != "alpha-node" || r.Instances[0].VpcID != "vpc-alpha" || r.Instances[0].Zone != "sim-1a" {
		t.Fatalf("alpha sees %+v", r.Instances)
	}
	id := r.Instances[0].InstanceID
	r = must[iaasclient.DescribeInstancesResponse](t, e.client(betaCreds, mustAddr("127.0.0.42")), "DescribeInstances", struct{}{})
	if r.TotalCount != 1 || r.Instances[0].Name != "beta-node" {
		t.Fatalf("beta sees %+v", r.Instances)
	}
	// A machine stopped outside the simulator shows STOPPED; one that vanished is
	// TERMINATED; the instance id never changes.
	fb.set("c1", iaasclient.InstanceStopped)
	waitState(t, admin, id, iaasclient.InstanceStopped)
	fb.Terminate(context.Background(), "c1")
	waitState(t, admin, id, iaasclient.InstanceTerminated)
}

func waitState(t *testing.T, c interface {
	Call(context.Context, string, any, any) error
}, id string, want iaasclient.InstanceState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var r iaasclient.DescribeInstancesResponse
		if err := c.Call(context.Background(), "DescribeInstances", iaasclient.DescribeInstancesRequest{InstanceIDs: []string{id}}, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Instances) == 1 && r.Instances[0].State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s: %+v, want %s", id, r.Instances, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A machine keeps its instance id under a simulator with a fresh data directory (a kept
// kind cluster's providerIDs must stay valid); a new machine that reuses a vanished
// one's key gets a new id, since the old record still holds it.
func TestInstanceIDsStableAcrossDataDirs(t *testing.T) {
	cfg, err := iaassim.ParseConfig([]byte(`
instanceSyncInterval: 20ms
tenants:
  - name: alpha
    accessKeys: [{accessKeyId: AKALPHA, secretKey: alpha-secret-1}]
    adminCidrs: [127.0.1.0/24]
    vpcs: [{vpcId: vpc-alpha, name: main, cidrBlock: 127.0.0.0/8}]
`))
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBackend{machines: map[string]dataplane.DiscoveredInstance{
		"c1": {Key: "c1", Name: "node-1", PrivateIPs: []string{"127.0.0.41"}, State: iaasclient.InstanceRunning},
	}}
	ids := func() (sim *iaassim.Server, admin *simproc.RawClient, id string) {
		zero := time.Duration(0)
		sim, err := iaassim.New(context.Background(), cfg, iaassim.Options{DataDir: t.TempDir(), TaskDelay: &zero, DataPlane: dataplane.DataPlane{Instances: fb}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(sim.Handler())
		t.Cleanup(srv.Close)
		t.Cleanup(func() { sim.Close() })
		e := &env{t: t, api: srv}
		admin = e.client(alphaCreds, ipAdmin)
		r := must[iaasclient.DescribeInstancesResponse](t, admin, "DescribeInstances", struct{}{})
		if r.TotalCount != 1 {
			t.Fatalf("instances %+v", r.Instances)
		}
		return sim, admin, r.Instances[0].InstanceID
	}
	_, _, first := ids()
	_, admin, second := ids()
	if first != second {
		t.Fatalf("node-1 is %s under one data dir and %s under another", first, second)
	}
	fb.Terminate(context.Background(), "c1")
	waitState(t, admin, second, iaasclient.InstanceTerminated)
	fb.mu.Lock()
	fb.machines["c1"] = dataplane.DiscoveredInstance{Key: "c1", Name: "node-1", PrivateIPs: []string{"127.0.0.41"}, State: iaasclient.InstanceRunning}
	fb.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var r iaasclient.DescribeInstancesResponse
		if err := admin.Call(context.Background(), "DescribeInstances", iaasclient.DescribeInstancesRequest{Names: []string{"node-1"}}, &r); err != nil {
			t.Fatal(err)
		}
		var running []string
		for _, in := range r.Instances {
			if in.State == iaasclient.InstanceRunning {
				running = append(running, in.InstanceID)
			}
		}
		if len(running) == 1 {
			if running[0] == second {
				t.Fatalf("the returned machine reuses the terminated instance's id %s", second)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the returned machine never showed up RUNNING")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
