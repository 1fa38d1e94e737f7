package cloudprovider

import (
	"strings"

	"context"
	"errors"
	"fmt"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
	"testing"

	v1 "k8s.io/api/core/v1"
	cloudprovider "k8s.io/cloud-provider"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestInstancesV2(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	run := e.addInstance("node-a", "10.0.0.10")
	e.fake.AddInstance(ic.Instance{Name: "node-pub", PrivateIPs: []string{"10.0.0.11", "10.0.1.11"}, PublicIP: "203.0.113.5"})
	stopped := e.fake.AddInstance(ic.Instance{Name: "node-s", PrivateIPs: []string{"10.0.0.12"}, State: ic.InstanceStopped})
	term := e.fake.AddInstance(ic.Instance{Name: "node-t", PrivateIPs: []string{"10.0.0.13"}, State: ic.InstanceTerminated})
	e.addInstance("dup", "10.0.0.14")
	e.addInstance("dup", "10.0.0.15")
	e.fake.AddInstance(ic.Instance{Name: "other-vpc", PrivateIPs: []string{"10.9.0.1"}, VpcID: "vpc-other"})
	inst, _ := e.cloud.InstancesV2()

	tests := []struct {
		name         string
		node         *v1.Node
		exists       bool
		shutdown     bool
		wantID       string
		wantAddrs    int
		wantMetaErr  error
		wantExistErr bool
	}{
		{"by providerID", readyNode("whatever", "", ProviderID("zone-a", run.InstanceID)), true, false, run.InstanceID, 2, nil, false},
		{"by short providerID", readyNode("whatever", "", "iaas:///"+run.InstanceID), true, false, run.InstanceID, 2, nil, false},
		{"by internal IP", readyNode("x", "10.0.0.10", ""), true, false, run.InstanceID, 2, nil, false},
		{"by name", readyNode("node-a", "", ""), true, false, run.InstanceID, 2, nil, false},
		{"by IP as name", readyNode("10.0.0.10", "", ""), true, false, run.InstanceID, 2, nil, false},
		{"several NICs and public IP", readyNode("node-pub", "", ""), true, false, "", 4, nil, false},
		{"stopped", readyNode("node-s", "", ""), true, true, stopped.InstanceID, 2, nil, false},
		{"terminated", readyNode("t", "", ProviderID("zone-a", term.InstanceID)), false, false, "", 0, cloudprovider.InstanceNotFound, false},
		{"gone", readyNode("g", "", "iaas:///zone-a/ins-gone"), false, false, "", 0, cloudprovider.InstanceNotFound, false},
		{"unknown name", readyNode("nobody", "", ""), false, false, "", 0, cloudprovider.InstanceNotFound, false},
		{"other VPC is invisible", readyNode("other-vpc", "", ""), false, false, "", 0, cloudprovider.InstanceNotFound, false},
		{"ambiguous name", readyNode("dup", "", ""), false, false, "", 0, errors.New("2 instances"), true},
		{"foreign providerID", readyNode("f", "", "aws:///z/i-1"), false, false, "", 0, errors.New("not of provider"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exists, err := inst.InstanceExists(ctx, tc.node)
			if (err != nil) != tc.wantExistErr || exists != tc.exists {
				t.Fatalf("InstanceExists = %v, %v; want %v (error %v)", exists, err, tc.exists, tc.wantExistErr)
			}
			if tc.exists {
				down, err := inst.InstanceShutdown(ctx, tc.node)
				if err != nil || down != tc.shutdown {
					t.Fatalf("InstanceShutdown = %v, %v; want %v", down, err, tc.shutdown)
				}
			}
			md, err := inst.InstanceMetadata(ctx, tc.node)
			if tc.wantMetaErr != nil {
				if err == nil || (errors.Is(tc.wantMetaErr, cloudprovider.InstanceNotFound) && err != cloudprovider.InstanceNotFound) {
					t.Fatalf("InstanceMetadata error = %v, want %v", err, tc.wantMetaErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantID != "" && md.ProviderID != ProviderID("zone-a", tc.wantID) {
				t.Errorf("ProviderID = %q", md.ProviderID)
			}
			if len(md.NodeAddresses) != tc.wantAddrs || md.NodeAddresses[0].Type != v1.NodeInternalIP {
				t.Errorf("addresses = %v", md.NodeAddresses)
			}
			if md.Zone != "zone-a" || md.Region == "" || md.InstanceType == "" {
				t.Errorf("metadata = %+v", md)
			}
		})
	}
}

// One Describe serves every node of a resync; a node whose instance is missing makes
// at most one more.
func TestInstancesShareOneDescribe(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	inst, _ := e.cloud.InstancesV2()
	var nodes []*v1.Node
	for i := range 300 {
		in := e.addInstance(fmt.Sprintf("n%d", i), fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
		nodes = append(nodes, readyNode(in.Name, "", ProviderID(in.Zone, in.InstanceID)))
	}
	for _, n := range nodes {
		if ok, err := inst.InstanceExists(ctx, n); !ok || err != nil {
			t.Fatalf("%s: %v %v", n.Name, ok, err)
		}
		if _, err := inst.InstanceMetadata(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.fake.Calls(ic.ActionDescribeInstances); got != 1 {
		t.Fatalf("DescribeInstances calls = %d for 300 nodes, want 1", got)
	}
	for range 50 {
		if ok, _ := inst.InstanceExists(ctx, readyNode("gone", "", "iaas:///zone-a/ins-gone")); ok {
			t.Fatal("gone instance exists")
		}
	}
	if got := e.fake.Calls(ic.ActionDescribeInstances); got > 2 {
		t.Fatalf("DescribeInstances calls = %d after 50 misses within a second, want at most 2", got)
	}
}

func TestInstancesErrorNotNotFound(t *testing.T) {
	e := newEnv(t)
	e.fake.InjectError(ic.ActionDescribeInstances, ic.Errorf(ic.CodeInternalError, "boom"), 10)
	inst, _ := e.cloud.InstancesV2()
	ok, err := inst.InstanceExists(context.Background(), readyNode("a", "", "iaas:///z/ins-1"))
	if err == nil || ok {
		// An API outage must never read as "instance gone": the Node would be deleted.
		t.Fatalf("InstanceExists during an outage = %v, %v; want an error", ok, err)
	}
	if !errors.Is(err, ic.ErrInternal) {
		t.Errorf("error %v lost its IaaS code", err)
	}
}

// A node that registers (no providerID yet) for an instance created after the cache
// was filled must not be reported gone: the node lifecycle controller would delete it.
func TestNewNodeNotDeletedOnStaleCache(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addInstance("old", "10.0.0.1")
	inst, _ := e.cloud.InstancesV2()
	if ok, _ := inst.InstanceExists(ctx, readyNode("old", "", "")); !ok {
		t.Fatal("old instance not found")
	}
	e.addInstance("new", "10.0.0.2") // the cache (TTL 1 min in tests) predates it
	node := readyNode("new", "", "")
	node.Status = v1.NodeStatus{} // as just created: no addresses, no conditions
	if ok, err := inst.InstanceExists(ctx, node); !ok || err != nil {
		t.Fatalf("InstanceExists for a just-registered node = %v, %v; want true", ok, err)
	}
}

// A node the IaaS knows no instance of gets a Warning Event (once per period), and
// initialization fails with InstanceNotFound rather than succeeding with nothing.
func TestInstanceNotFoundEvent(t *testing.T) {
	e := newEnv(t)
	inst, _ := e.cloud.InstancesV2()
	node := readyNode("nobody", "10.0.0.99", "")
	for range 2 {
		if _, err := inst.InstanceMetadata(context.Background(), node); err != cloudprovider.InstanceNotFound {
			t.Fatalf("InstanceMetadata: %v, want InstanceNotFound", err)
		}
	}
	evs := e.events()
	if len(evs) != 1 || !strings.Contains(evs[0], "Warning "+ReasonInstanceNotFound) || !strings.Contains(evs[0], "VPC "+fake.DefaultVpcID) {
		t.Fatalf("events %q, want one %s warning naming the VPC", evs, ReasonInstanceNotFound)
	}
}
