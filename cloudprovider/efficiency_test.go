package cloudprovider

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

// bigCluster builds n nodes with routes and m LB Services, converged.
func bigCluster(t testing.TB, n, m int) (*env, []*v1.Node, []*v1.Service) {
	ctx := context.Background()
	e := newEnv(t, fake.WithQuota("loadBalancers", m+10))
	e.fake.SetRouteLimit(fake.DefaultRouteTableID, n+10)
	var nodes []*v1.Node
	for i := range n {
		in := e.addInstance(fmt.Sprintf("n%d", i), fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
		nodes = append(nodes, readyNode(in.Name, in.PrivateIPs[0], ProviderID(in.Zone, in.InstanceID)))
	}
	r, _ := e.cloud.Routes()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := r.CreateRoute(ctx, "k", "", route(nodes[i].Name, fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	lbs, _ := e.cloud.LoadBalancer()
	var svcs []*v1.Service
	for j := range m {
		svc := lbService(fmt.Sprintf("s%d", j))
		if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, nodes); err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	return e, nodes, svcs
}

// resync does what every controller of the CCM does in one period with nothing
// changed, from cold caches, and returns the IaaS calls it made.
func resync(t testing.TB, e *env, nodes []*v1.Node, svcs []*v1.Service) map[string]int {
	ctx := context.Background()
	e.cloud.instanceStore.(*iaasInstances).snap.invalidate()
	e.cloud.routes.store.forget()
	e.cloud.lbs.store.(*iaasLBs).snap.invalidate()
	e.fake.ResetCalls()
	inst, _ := e.cloud.InstancesV2()
	for _, n := range nodes { // node lifecycle controller
		if ok, err := inst.InstanceExists(ctx, n); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if down, err := inst.InstanceShutdown(ctx, n); down || err != nil {
			t.Fatal(down, err)
		}
	}
	r, _ := e.cloud.Routes()
	if _, err := r.ListRoutes(ctx, "k"); err != nil { // route controller
		t.Fatal(err)
	}
	lbs, _ := e.cloud.LoadBalancer()
	for _, s := range svcs { // service controller, worst case: every Service re-synced
		if err := lbs.UpdateLoadBalancer(ctx, "k", s, nodes); err != nil {
			t.Fatal(err)
		}
	}
	return e.fake.AllCalls()
}

func TestSteadyStateIsConstantCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 500-node cluster")
	}
	e, nodes, svcs := bigCluster(t, 500, 200)
	calls := resync(t, e, nodes, svcs)
	total := 0
	for a, c := range calls {
		total += c
		if c > 1 {
			t.Errorf("%s called %d times in one resync, want at most 1", a, c)
		}
	}
	if writes(calls) != 0 {
		t.Errorf("resync with no change wrote: %v", calls)
	}
	t.Logf("one resync of 500 nodes and 200 LB Services: %d IaaS calls %v", total, calls)
}

// BenchmarkResync reports IaaS calls per resync of 500 nodes and 200 LB Services.
func BenchmarkResync(b *testing.B) {
	e, nodes, svcs := bigCluster(b, 500, 200)
	var calls int
	for b.Loop() {
		calls = 0
		for _, c := range resync(b, e, nodes, svcs) {
			calls += c
		}
	}
	b.ReportMetric(float64(calls), "iaas-calls/resync")
}

// BenchmarkRoutes1000 reports the time and the batch calls for routes of 1000 new
// nodes, created the way the route controller does (one goroutine per node).
func BenchmarkRoutes1000(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b)
		e.fake.SetRouteLimit(fake.DefaultRouteTableID, 1100)
		for i := range 1000 {
			e.addInstance(fmt.Sprintf("n%d", i), fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
		}
		r, _ := e.cloud.Routes()
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Go(func() {
				if err := r.CreateRoute(context.Background(), "k", "", route(fmt.Sprintf("n%d", i), fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256))); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/converge")
		b.ReportMetric(float64(e.fake.Calls(ic.ActionCreateRoutes)), "CreateRoutes-calls")
	}
}
