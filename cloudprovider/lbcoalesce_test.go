package cloudprovider

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// TestNodeJoinBurstIsOneWritePerLB plays a join of 50 nodes as the service controller
// sees it (an UpdateLoadBalancer of every Service per new node): with coalescing on,
// each LB gets one ModifyListener carrying all 50 backends.
func TestNodeJoinBurstIsOneWritePerLB(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	stop := make(chan struct{})
	defer close(stop)
	e.cloud.lbs.startCoalescing(300*time.Millisecond, nil, stop)
	lbs, _ := e.cloud.LoadBalancer()
	first := e.addInstance("n0", "10.0.0.1")
	nodes := []*v1.Node{readyNode(first.Name, first.PrivateIPs[0], ProviderID(first.Zone, first.InstanceID))}
	var svcs []*v1.Service
	for i := range 3 {
		svc := lbService(fmt.Sprintf("s%d", i))
		if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, nodes); err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	e.fake.ResetCalls()
	for i := 1; i < 50; i++ {
		in := e.addInstance(fmt.Sprintf("n%d", i), fmt.Sprintf("10.0.0.%d", i+1))
		nodes = append(nodes, readyNode(in.Name, in.PrivateIPs[0], ProviderID(in.Zone, in.InstanceID)))
		for _, s := range svcs {
			if err := lbs.UpdateLoadBalancer(ctx, "k", s, nodes); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.cloud.lbs.updates.pending() > 0 || e.fake.Calls(ic.ActionModifyListener) < len(svcs) {
		if time.Now().After(deadline) {
			t.Fatalf("not written: %v", e.fake.AllCalls())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // nothing more may follow
	if n := e.fake.Calls(ic.ActionModifyListener); n != len(svcs) {
		t.Errorf("%d ModifyListener for %d LBs and a burst of 49 joins, want one per LB", n, len(svcs))
	}
	for _, s := range svcs {
		lb, _, err := e.cloud.lbs.find(ctx, s, "", true)
		if err != nil || lb == nil {
			t.Fatal(lb, err)
		}
		if got := len(lb.Listeners[0].Backends); got != 50 {
			t.Errorf("%s: %d backends, want 50", s.Name, got)
		}
	}
}

// TestQueuedUpdateNeverUndoesEnsure: a Service change written synchronously is not
// reverted by an older backend update still queued.
func TestQueuedUpdateNeverUndoesEnsure(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	stop := make(chan struct{})
	defer close(stop)
	e.cloud.lbs.startCoalescing(200*time.Millisecond, nil, stop)
	lbs, _ := e.cloud.LoadBalancer()
	in := e.addInstance("n0", "10.0.0.1")
	nodes := []*v1.Node{readyNode(in.Name, in.PrivateIPs[0], ProviderID(in.Zone, in.InstanceID))}
	svc := lbService("s")
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, nodes); err != nil {
		t.Fatal(err)
	}
	if err := lbs.UpdateLoadBalancer(ctx, "k", svc, nodes); err != nil { // queued, port 80
		t.Fatal(err)
	}
	changed := svc.DeepCopy()
	changed.Spec.Ports[0].Port = 8080
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", changed, nodes); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	lb, _, err := e.cloud.lbs.find(ctx, svc, "", true)
	if err != nil || lb == nil || len(lb.Listeners) != 1 || lb.Listeners[0].Port != 8080 {
		t.Fatalf("listeners after the queued update: %+v (err %v), want port 8080", lb, err)
	}
}
