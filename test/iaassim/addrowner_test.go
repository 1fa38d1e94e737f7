package iaassim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

// Issue 15, gap 1: one source address maps to at most one tenant, on every path where
// the map can change. These tests name both tenants in what they expect of the error,
// since "which two tenants" is what an operator needs to fix the conflict.

func wantBothTenants(t *testing.T, msg string, field string) {
	t.Helper()
	if !strings.Contains(msg, `"alpha"`) || !strings.Contains(msg, `"beta"`) || !strings.Contains(msg, field) {
		t.Fatalf("the error should name both tenants and %s: %s", field, msg)
	}
}

func TestConfigRefusesAddressOfTwoTenants(t *testing.T) {
	const head = `
tenants:
  - name: alpha
    accessKeys: [{accessKeyId: AKALPHA, secretKey: alpha-secret-1}]
    adminCidrs: [%A]
    vpcs: [{vpcId: vpc-alpha, name: main, cidrBlock: 127.0.0.0/8}]
  - name: beta
    accessKeys: [{accessKeyId: AKBETA, secretKey: beta-secret-1}]
    adminCidrs: [%B]
    vpcs: [{vpcId: vpc-beta, name: main, cidrBlock: 127.0.0.0/8}]
`
	cfg := func(a, b, static string) string {
		return strings.NewReplacer("%A", a, "%B", b).Replace(head) + static
	}
	for _, tc := range []struct{ name, yaml, field string }{
		{"overlapping admin CIDRs", cfg("127.0.1.0/24", "127.0.1.128/25", ""), "tenants[1].adminCidrs[0]"},
		{"equal admin CIDRs", cfg("127.0.1.7/32", "127.0.1.7/32", ""), "tenants[1].adminCidrs[0]"},
		{"beta's instance in alpha's admin CIDR", cfg("127.0.1.0/24", "127.0.2.0/24",
			"staticInstances: [{name: b1, tenant: beta, privateIps: [127.0.1.9]}]\n"), "staticInstances[0].privateIps[0]"},
		{"alpha's instance in beta's admin CIDR", cfg("127.0.1.0/24", "127.0.2.0/24",
			"staticInstances: [{name: a1, tenant: alpha, privateIps: [127.0.0.11, 127.0.2.3]}]\n"), "staticInstances[0].privateIps[1]"},
		{"one address on instances of both tenants", cfg("127.0.1.0/24", "127.0.2.0/24",
			"staticInstances: [{name: a1, tenant: alpha, privateIps: [127.0.0.11]}, {name: b1, tenant: beta, privateIps: [127.0.0.11]}]\n"), "staticInstances[1].privateIps[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iaassim.ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			wantBothTenants(t, err.Error(), tc.field)
		})
	}
	// One tenant may claim an address twice over (its instance in its own admin CIDR,
	// overlapping CIDRs of its own); two of its instances may not share an address.
	if _, err := iaassim.ParseConfig([]byte(cfg("127.0.1.0/24, 127.0.1.0/25", "127.0.2.0/24",
		"staticInstances: [{name: a1, tenant: alpha, privateIps: [127.0.1.9]}]\n"))); err != nil {
		t.Fatalf("alpha's instance in alpha's admin CIDR: %v", err)
	}
	_, err := iaassim.ParseConfig([]byte(cfg("127.0.1.0/24", "127.0.2.0/24",
		"staticInstances: [{name: a1, tenant: alpha, privateIps: [127.0.0.11]}, {name: a2, tenant: alpha, privateIps: [127.0.0.11]}]\n")))
	if err == nil || !strings.Contains(err.Error(), "staticInstances[1].privateIps[0]") {
		t.Fatalf("two instances of one tenant on one address: %v", err)
	}
}

// adminPost sends POST /admin/v1/instances over real HTTP.
func adminPost(t *testing.T, adminURL string, sc iaassim.StaticInstanceConfig) (int, *iaasclient.Error) {
	t.Helper()
	b, _ := json.Marshal(sc)
	resp, err := http.Post(adminURL+"/admin/v1/instances", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		return 200, nil
	}
	var env iaasclient.ErrorEnvelope
	_ = json.Unmarshal(body, &env)
	return resp.StatusCode, env.Error
}

// allowed reports whether creds may call from src (DescribeVpcs), failing on anything
// but success or UnauthorizedOperation.
func allowed(t *testing.T, e *env, creds iaasclient.Credentials, src string) bool {
	t.Helper()
	_, err := call[iaasclient.DescribeVpcsResponse](t, e.client(creds, mustAddr(src)), "DescribeVpcs", struct{}{})
	switch iaasclient.CodeOf(err) {
	case "":
		return true
	case iaasclient.CodeUnauthorizedOperation:
		return false
	}
	t.Fatalf("DescribeVpcs from %s: %v", src, err)
	return false
}

func TestAdminInstanceAddressOfTwoTenants(t *testing.T) {
	e := newEnv(t, 0) // alpha: admin CIDR 127.0.1.0/24, a1 127.0.0.11; beta: b1 127.0.0.21
	for _, tc := range []struct {
		name string
		sc   iaassim.StaticInstanceConfig
	}{
		{"beta's instance in alpha's admin CIDR", iaassim.StaticInstanceConfig{Name: "b-in-cidr", Tenant: "beta", PrivateIPs: []string{"127.0.0.22", "127.0.1.9"}}},
		{"beta's instance on alpha's instance's address", iaassim.StaticInstanceConfig{Name: "b-on-a1", Tenant: "beta", PrivateIPs: []string{"127.0.0.11"}}},
		{"alpha's instance on beta's instance's address", iaassim.StaticInstanceConfig{Name: "a-on-b1", Tenant: "alpha", PrivateIPs: []string{"127.0.0.21"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := adminPost(t, e.admin.URL, tc.sc)
			if code != http.StatusConflict || err == nil || err.Code != iaasclient.CodeResourceInUse {
				t.Fatalf("got %d %v, want 409 ResourceInUse", code, err)
			}
			wantBothTenants(t, err.Message, "privateIps[")
		})
	}
	// Nothing changed: the addresses still map to their one tenant.
	if !allowed(t, e, alphaCreds, "127.0.1.9") || allowed(t, e, betaCreds, "127.0.1.9") {
		t.Fatal("127.0.1.9 after the refused add: should be alpha's only")
	}
	if allowed(t, e, betaCreds, "127.0.0.22") || allowed(t, e, betaCreds, "127.0.0.11") || allowed(t, e, alphaCreds, "127.0.0.21") {
		t.Fatal("a refused add authorised an address")
	}
	// Alpha's own instance in alpha's admin CIDR is fine.
	if code, err := adminPost(t, e.admin.URL, iaassim.StaticInstanceConfig{Name: "a-admin-host", Tenant: "alpha", PrivateIPs: []string{"127.0.1.9"}}); code != 200 {
		t.Fatalf("alpha's instance in alpha's CIDR: %d %v", code, err)
	}
	// Changing an instance's addresses (same key) is checked too, and the machine's old
	// addresses do not count against it.
	if code, _ := adminPost(t, e.admin.URL, iaassim.StaticInstanceConfig{Name: "b2", Tenant: "beta", PrivateIPs: []string{"127.0.0.23"}}); code != 200 {
		t.Fatal("adding b2")
	}
	if !allowed(t, e, betaCreds, "127.0.0.23") {
		t.Fatal("b2's address")
	}
	code, err := adminPost(t, e.admin.URL, iaassim.StaticInstanceConfig{Name: "b2", Tenant: "beta", PrivateIPs: []string{"127.0.0.23", "127.0.1.10"}})
	if code != http.StatusConflict {
		t.Fatalf("b2 moving into alpha's admin CIDR: %d %v", code, err)
	}
	wantBothTenants(t, err.Message, "privateIps[1]")
	if code, err := adminPost(t, e.admin.URL, iaassim.StaticInstanceConfig{Name: "b2", Tenant: "beta", PrivateIPs: []string{"127.0.0.23", "127.0.0.24"}}); code != 200 {
		t.Fatalf("b2 gaining a free address: %d %v", code, err)
	}
	if !allowed(t, e, betaCreds, "127.0.0.24") || !allowed(t, e, alphaCreds, "127.0.1.10") || allowed(t, e, betaCreds, "127.0.1.10") {
		t.Fatal("after b2's change")
	}
}

// metric reads one unlabelled series from the admin /metrics.
func metric(t *testing.T, adminURL, name string) string {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return ""
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A backend that discovers machines (docker, netns) cannot be told no: the machine
// exists. A discovered address in another tenant's claim, or an address change onto
// another tenant's instance, makes the address nobody's until the conflict goes away.
func TestDiscoveredAddressOfTwoTenants(t *testing.T) {
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
	}}
	zero := time.Duration(0)
	sim, err := iaassim.New(context.Background(), cfg, iaassim.Options{DataDir: t.TempDir(), TaskDelay: &zero, DataPlane: dataplane.DataPlane{Instances: fb}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	admin := httptest.NewServer(sim.AdminHandler())
	defer admin.Close()
	e := &env{t: t, api: srv}
	identity := func(src string) int {
		r, err := e.client(iaasclient.Credentials{}, mustAddr(src)).Get(context.Background(), iaasclient.MetadataIdentityPath)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if !allowed(t, e, alphaCreds, "127.0.1.50") || !allowed(t, e, betaCreds, "127.0.0.42") || metric(t, admin.URL, "iaas_sim_address_conflicts") != "0" {
		t.Fatal("before any conflict")
	}
	setMachine := func(key, name string, ips ...string) {
		fb.mu.Lock()
		fb.machines[key] = dataplane.DiscoveredInstance{Key: key, Name: name, PrivateIPs: ips, State: iaasclient.InstanceRunning}
		fb.mu.Unlock()
	}

	// A beta machine appears inside alpha's admin CIDR: 127.0.1.50 is nobody's.
	setMachine("c3", "beta-intruder", "127.0.1.50")
	eventually(t, "the conflict counted", func() bool { return metric(t, admin.URL, "iaas_sim_address_conflicts") == "1" })
	if allowed(t, e, alphaCreds, "127.0.1.50") || allowed(t, e, betaCreds, "127.0.1.50") {
		t.Fatal("an address of two tenants authorised one of them")
	}
	if s := identity("127.0.1.50"); s != http.StatusNotFound {
		t.Fatalf("metadata for a conflicted address: %d", s)
	}
	if !allowed(t, e, alphaCreds, "127.0.1.51") || !allowed(t, e, betaCreds, "127.0.0.42") {
		t.Fatal("addresses outside the conflict stopped working")
	}
	// The machine moves out: the address is alpha's again.
	setMachine("c3", "beta-intruder", "127.0.0.43")
	eventually(t, "the conflict gone", func() bool { return metric(t, admin.URL, "iaas_sim_address_conflicts") == "0" })
	if !allowed(t, e, alphaCreds, "127.0.1.50") || !allowed(t, e, betaCreds, "127.0.0.43") {
		t.Fatal("after the machine moved out of alpha's CIDR")
	}

	// alpha-node's address changes onto beta-node's: 127.0.0.42 is nobody's, and alpha
	// gets nothing from the change.
	setMachine("c1", "alpha-node", "127.0.0.42")
	eventually(t, "the conflict counted", func() bool { return metric(t, admin.URL, "iaas_sim_address_conflicts") == "1" })
	if allowed(t, e, betaCreds, "127.0.0.42") || allowed(t, e, alphaCreds, "127.0.0.42") || allowed(t, e, alphaCreds, "127.0.0.41") {
		t.Fatal("after alpha-node took beta-node's address")
	}
	if s := identity("127.0.0.42"); s != http.StatusNotFound {
		t.Fatalf("metadata for a conflicted address: %d", s)
	}
	setMachine("c1", "alpha-node", "127.0.0.44")
	eventually(t, "the conflict gone", func() bool { return metric(t, admin.URL, "iaas_sim_address_conflicts") == "0" })
	if !allowed(t, e, betaCreds, "127.0.0.42") || !allowed(t, e, alphaCreds, "127.0.0.44") || allowed(t, e, alphaCreds, "127.0.0.42") {
		t.Fatal("after alpha-node moved away")
	}
	if s := identity("127.0.0.42"); s != http.StatusOK {
		t.Fatalf("beta-node's identity after the conflict: %d", s)
	}
}
