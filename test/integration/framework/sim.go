package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simadmin"
)

// Names of the simulated tenant the tests use.
const (
	SimRegion     = "sim-1"
	SimVpc        = "vpc-itest"
	SimRouteTable = "rtb-itest"
	SimAccessKey  = "AKITEST"
	SimSecretKey  = "itest-secret-key"
)

// Sim is a running iaas-sim with the static instance backend.
type Sim struct {
	*Proc
	APIURL, AdminURL string
	// API talks to the simulator as the tenant, to assert IaaS state.
	API  *ic.Client
	bin  string
	dir  string
	args []string
	adm  *simadmin.Client
}

// SimConfig is the simulator config of the tests: one tenant calling from loopback,
// one VPC and route table, and no instances (tests add them).
func SimConfig(routeLimit int) string {
	return fmt.Sprintf(`region: %s
zones: [sim-1a, sim-1b]
routeLimit: %d
taskDelay: 50ms
instanceSyncInterval: 300ms
tenants:
  - name: itest
    accessKeys: [{accessKeyId: %s, secretKey: %s}]
    adminCidrs: [127.0.0.1/32]
    quotas: {loadBalancers: 500, listenersPerLoadBalancer: 50}
    vpcs:
      - vpcId: %s
        name: itest
        cidrBlock: 10.0.0.0/16
        routeTables: [{routeTableId: %s, name: default, routeLimit: %d}]
`, SimRegion, routeLimit, SimAccessKey, SimSecretKey, SimVpc, SimRouteTable, routeLimit)
}

// StartSim runs bin/iaas-sim in dir.
func StartSim(t TB, bin, dir, config string, extra ...string) *Sim {
	t.Helper()
	cfg := filepath.Join(dir, "sim.yaml")
	writeFile(t, cfg, config)
	s := &Sim{bin: bin, dir: dir}
	s.args = append([]string{"--config", cfg, "--data-dir", filepath.Join(dir, "sim-data"),
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--instance-backend", "static"}, extra...)
	s.start(t)
	return s
}

func (s *Sim) start(t TB) {
	ready := filepath.Join(s.dir, "sim-ready.json")
	_ = os.Remove(ready)
	s.Proc = Start(t, s.dir, "iaas-sim", s.bin, append(s.args, "--ready-file", ready)...)
	var r struct {
		APIURL    string `json:"apiURL"`
		AdminURL  string `json:"adminURL"`
		TokenFile string `json:"adminTokenFile"`
		PID       int    `json:"pid"`
	}
	err := Eventually(60*time.Second, func() error {
		if s.Exited() {
			return Permanent(fmt.Errorf("iaas-sim exited:\n%s", s.Tail(3000)))
		}
		b, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &r); err != nil || r.PID != s.PID() {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("iaas-sim: %v", err)
	}
	s.APIURL, s.AdminURL = r.APIURL, r.AdminURL
	if s.adm, err = simadmin.New(r.AdminURL, r.TokenFile); err != nil {
		t.Fatalf("iaas-sim admin: %v", err)
	}
	s.API, err = ic.New(ic.Config{Endpoint: s.APIURL, Credentials: ic.Credentials{AccessKeyID: SimAccessKey, SecretKey: SimSecretKey}})
	if err != nil {
		t.Fatalf("iaas client: %v", err)
	}
}

// CredentialsFile writes the tenant's access key for the CCM.
func (s *Sim) CredentialsFile(t TB) string {
	p := filepath.Join(s.dir, "iaas-credentials.yaml")
	writeFile(t, p, fmt.Sprintf("accessKeyId: %s\nsecretKey: %s\n", SimAccessKey, SimSecretKey))
	return p
}

// admin sends the admin token (simadmin bounds each call, so a wedged simulator fails a
// test instead of hanging it).
func (s *Sim) admin(method, path string, body, out any) error {
	return s.adm.Do(context.Background(), method, path, body, out)
}

// AddInstance adds a RUNNING static instance and returns its instance id.
func (s *Sim) AddInstance(name, zone, ip string) (string, error) {
	var out struct {
		InstanceID string `json:"instanceId"`
	}
	// The admin API's StaticInstanceConfig, spelled out so that this module builds
	// against the wire format, not the simulator's packages.
	err := s.admin("POST", "/admin/v1/instances", map[string]any{
		"name": name, "tenant": "itest", "vpcId": SimVpc, "zone": zone, "instanceType": "S1.MEDIUM2", "privateIps": []string{ip},
	}, &out)
	return out.InstanceID, err
}

// SetState stops or starts a static instance.
func (s *Sim) SetState(name string, st ic.InstanceState) error {
	return s.admin("PUT", "/admin/v1/instances/"+name+"/state", map[string]any{"state": st}, nil)
}

// RemoveInstance deletes the machine; its instance becomes TERMINATED.
func (s *Sim) RemoveInstance(name string) error {
	return s.admin("DELETE", "/admin/v1/instances/"+name, nil, nil)
}

// Counters returns API calls per action since the last ResetCounters.
func (s *Sim) Counters() (map[string]int64, error) {
	var c struct {
		Actions map[string]struct {
			Requests int64 `json:"requests"`
		} `json:"actions"`
	}
	if err := s.admin("GET", "/admin/v1/counters", nil, &c); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for a, ac := range c.Actions {
		out[a] = ac.Requests
	}
	return out, nil
}

// ResetCounters zeroes the counters.
func (s *Sim) ResetCounters() error { return s.admin("DELETE", "/admin/v1/counters", nil, nil) }

// LoadBalancers lists every LB of the tenant.
func (s *Sim) LoadBalancers(ctx context.Context) ([]ic.LoadBalancer, error) {
	resp, err := s.API.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{Page: ic.Page{Limit: ic.MaxPageSize}})
	if err != nil {
		return nil, err
	}
	return resp.LoadBalancers, nil
}

// Routes lists the routes of the tests' route table.
func (s *Sim) Routes(ctx context.Context) ([]ic.Route, error) {
	resp, err := s.API.DescribeRouteTables(ctx, &ic.DescribeRouteTablesRequest{RouteTableIDs: []string{SimRouteTable}})
	if err != nil {
		return nil, err
	}
	if len(resp.RouteTables) != 1 {
		return nil, fmt.Errorf("route table %s not found", SimRouteTable)
	}
	return resp.RouteTables[0].Routes, nil
}

// SetFault sets the fault injection of one action (keys of iaassim.FaultSpec).
func (s *Sim) SetFault(action string, spec map[string]any) error {
	return s.admin("PUT", "/admin/v1/faults/"+action, spec, nil)
}

// ClearFault removes the faults of one action.
func (s *Sim) ClearFault(action string) error {
	return s.admin("DELETE", "/admin/v1/faults/"+action, nil, nil)
}
