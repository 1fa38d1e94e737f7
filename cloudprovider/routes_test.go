package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	cloudprovider "k8s.io/cloud-provider"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

func route(node, cidr string) *cloudprovider.Route {
	return &cloudprovider.Route{TargetNode: types.NodeName(node), DestinationCIDR: cidr}
}

func TestRoutesLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.addInstance("node-a", "10.0.0.10")
	e.addInstance("node-b", "10.0.0.11")
	// A route of someone else in the same table must stay invisible and untouched.
	e.fake.AddInstance(ic.Instance{Name: "vpn", PrivateIPs: []string{"10.0.0.99"}})
	if _, err := e.fake.CreateRoutes(ctx, &ic.CreateRoutesRequest{RouteTableID: fake.DefaultRouteTableID, ClientToken: "x",
		Routes: []ic.RouteSpec{{DestinationCidr: "192.168.0.0/16", NextHopInstanceID: e.cloud.mustFind(t, "vpn")}}}); err != nil {
		t.Fatal(err)
	}
	r, _ := e.cloud.Routes()

	for _, rt := range []*cloudprovider.Route{route("node-a", "10.244.0.0/24"), route("node-b", "10.244.1.0/24")} {
		if err := r.CreateRoute(ctx, "k", "hint", rt); err != nil {
			t.Fatal(err)
		}
	}
	// Creating again (a restart, a retry) is a no-op.
	if err := r.CreateRoute(ctx, "k", "hint", route("node-a", "10.244.0.0/24")); err != nil {
		t.Fatal(err)
	}
	list, err := r.ListRoutes(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Blackhole || list[1].Blackhole {
		t.Fatalf("ListRoutes = %+v, want the 2 owned routes", list)
	}
	if n := e.fake.Calls(ic.ActionCreateRoutes); n != 3 { // 1 foreign + 2
		t.Errorf("CreateRoutes calls = %d, want 3", n)
	}

	// The instance of node-a terminates: its route turns blackhole so the route
	// controller deletes it.
	e.fake.SetInstanceState(a.InstanceID, ic.InstanceTerminated)
	e.cloud.instanceStore.(*iaasInstances).snap.invalidate()
	list, _ = r.ListRoutes(ctx, "k")
	var bh *cloudprovider.Route
	for _, rt := range list {
		if rt.Blackhole {
			bh = rt
		}
	}
	if bh == nil || bh.TargetNode != "node-a" {
		t.Fatalf("want node-a's route as blackhole, got %+v", list)
	}
	if err := r.DeleteRoute(ctx, "k", bh); err != nil {
		t.Fatal(err)
	}
	if got := len(e.fake.Routes(fake.DefaultRouteTableID)); got != 2 {
		t.Fatalf("table has %d routes after delete, want 2 (foreign + node-b)", got)
	}
	list, _ = r.ListRoutes(ctx, "k")
	if len(list) != 1 || list[0].TargetNode != "node-b" {
		t.Fatalf("after delete ListRoutes = %+v", list)
	}
	// A conflicting destination owned by another next hop is refused with an Event.
	err = r.CreateRoute(ctx, "k", "hint", route("node-b", "192.168.0.0/16"))
	if !errors.Is(err, ic.ErrInUse) || !hasEvent(e.events(), ReasonRouteConflict) {
		t.Fatalf("conflict: err = %v", err)
	}
}

func (c *Cloud) mustFind(t *testing.T, name string) string {
	t.Helper()
	n := readyNode(name, "", "")
	in, err := c.instances.find(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return in.InstanceID
}

// The route controller creates routes from many goroutines at once; they must share
// a few batch calls.
func TestRoutesBatchConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.fake.SetRouteLimit(fake.DefaultRouteTableID, 1000)
	const n = 250
	for i := range n {
		e.addInstance(fmt.Sprintf("n%d", i), fmt.Sprintf("10.0.%d.%d", i/200, i%200+1))
	}
	r, _ := e.cloud.Routes()
	if _, err := r.ListRoutes(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- r.CreateRoute(ctx, "k", "", route(fmt.Sprintf("n%d", i), fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256)))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(e.fake.Routes(fake.DefaultRouteTableID)); got != n {
		t.Fatalf("%d routes, want %d", got, n)
	}
	calls := e.fake.Calls(ic.ActionCreateRoutes)
	if calls > 10 {
		t.Fatalf("CreateRoutes calls = %d for %d routes, want batches", calls, n)
	}
	t.Logf("%d routes in %d CreateRoutes calls", n, calls)
}

// A full table: the routes that fit are created, the rest fail with an Event, and
// later attempts cost no API call until the table has room again.
func TestRoutesLimitExceeded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.fake.SetRouteLimit(fake.DefaultRouteTableID, 3)
	for i := range 6 {
		e.addInstance(fmt.Sprintf("n%d", i), fmt.Sprintf("10.0.0.%d", i+1))
	}
	r, _ := e.cloud.Routes()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := range 5 {
		wg.Go(func() {
			err := r.CreateRoute(ctx, "k", "", route(fmt.Sprintf("n%d", i), fmt.Sprintf("10.244.%d.0/24", i)))
			if err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
				if !errors.Is(err, ic.ErrLimitExceeded) && !errors.Is(err, errRouteLimit) {
					t.Errorf("n%d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	if failed != 2 || len(e.fake.Routes(fake.DefaultRouteTableID)) != 3 {
		t.Fatalf("failed = %d, routes = %d; want 2 failures and a full table of 3", failed, len(e.fake.Routes(fake.DefaultRouteTableID)))
	}
	if !hasEvent(e.events(), ReasonRouteLimitExceeded) {
		t.Fatal("no RouteLimitExceeded event")
	}
	before := e.fake.AllCalls()
	for range 20 {
		if err := r.CreateRoute(ctx, "k", "", route("n5", "10.244.5.0/24")); !errors.Is(err, errRouteLimit) {
			t.Fatalf("retry on a full table: %v", err)
		}
	}
	if after := e.fake.AllCalls(); writes(after) != writes(before) || after[ic.ActionDescribeRouteTables] != before[ic.ActionDescribeRouteTables] {
		t.Fatalf("retries on a full table called the IaaS: %v -> %v", before, after)
	}
	if evs := e.events(); len(evs) > 1 {
		t.Fatalf("20 retries emitted %d events, want at most 1 (suppressed)", len(evs))
	}
}
