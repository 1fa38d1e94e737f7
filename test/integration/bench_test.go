package integration

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

// Benchmarks of the real CCM against the simulator's counters. They are not timed
// tests: run them with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 40m ./
//
// and read the reported metrics.

// benchWindow is how long IaaS calls are counted in the steady state: longer than
// every period of the CCM in this setup (cache 1 s, node monitor 1 s, failover 1 s,
// node status 2 s, routes 2 s).
const benchWindow = 30 * time.Second

// BenchmarkSteadyStateCalls counts IaaS calls with nothing changing, first for a
// small cluster (the baseline), then for 500 nodes with routes and 200 LoadBalancer
// Services. The ratio big/baseline near 1 is the point: calls do not grow with N or M.
func BenchmarkSteadyStateCalls(b *testing.B) {
	for b.Loop() {
		small := growAndCount(b, "bs", 5, 2)
		big := growAndCount(b, "bb", 495, 198) // adds to the small one: 500 and 200
		b.ReportMetric(perSecond(small), "calls/s@5n2s")
		b.ReportMetric(perSecond(big), "calls/s@500n200s")
		b.ReportMetric(perSecond(big)/perSecond(small), "ratio")
		b.Logf("steady state, %v window: 5 nodes/2 Services %v; 500 nodes/200 Services %v", benchWindow, small, big)
	}
}

func perSecond(calls map[string]int64) float64 {
	var n int64
	for _, c := range calls {
		n += c
	}
	return float64(n) / benchWindow.Seconds()
}

var benchSeq int

// growAndCount adds nodes (with pod CIDRs) and LB Services, waits until the CCM has
// converged on all of them, then counts the IaaS calls of benchWindow.
func growAndCount(b *testing.B, prefix string, nodes, services int) map[string]int64 {
	ctx := context.Background()
	names := addNodes(b, prefix, nodes)
	waitAll(b, "nodes initialized and routed", func() error {
		routes := routesOfB(b)
		for _, name := range names {
			n, err := env.kube.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil || n.Spec.ProviderID == "" {
				return fmt.Errorf("node %s not initialized", name)
			}
			if _, ok := routes[n.Spec.PodCIDR]; !ok {
				return fmt.Errorf("no route for %s", name)
			}
		}
		return nil
	})
	var svcs []string
	for i := range services {
		name := fmt.Sprintf("%s-svc-%d", prefix, i)
		_, err := env.kube.Client.CoreV1().Services("default").Create(ctx, &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
				Ports: []v1.ServicePort{{Protocol: v1.ProtocolTCP, Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		svcs = append(svcs, name)
	}
	waitAll(b, "LoadBalancers provisioned", func() error {
		for _, name := range svcs {
			s, err := env.kube.Client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 || s.Annotations[iaas.AnnotationLoadBalancerID] == "" {
				return fmt.Errorf("service %s not provisioned", name)
			}
		}
		return nil
	})
	time.Sleep(5 * time.Second) // let the last updates settle
	if err := env.sim.ResetCounters(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(benchWindow)
	calls, err := env.sim.Counters()
	if err != nil {
		b.Fatal(err)
	}
	return calls
}

// addNodes creates machines and Ready Nodes with pod CIDRs, 20 at a time.
func addNodes(b *testing.B, prefix string, n int) []string {
	var names []string
	sem := make(chan struct{}, 20)
	var wg sync.WaitGroup
	for range n {
		benchSeq++
		seq := benchSeq
		name := fmt.Sprintf("%s-%d", prefix, seq)
		names = append(names, name)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ip, _ := benchMachine(b, name)
			registerNodeB(b, name, ip, fmt.Sprintf("10.%d.%d.0/24", 128+seq/256, seq%256))
		})
	}
	wg.Wait()
	return names
}

func benchMachine(b *testing.B, name string) (string, string) {
	n := ipSeq.Add(1)
	ip := fmt.Sprintf("10.0.%d.%d", 1+n/200, 1+n%200)
	var id string
	// Retried: under this load a call may time out; adding the same machine again is
	// harmless.
	err := framework.Eventually(time.Minute, func() (err error) {
		id, err = env.sim.AddInstance(name, "sim-1a", ip)
		return err
	})
	if err != nil {
		b.Errorf("machine %s: %v", name, err)
	}
	return ip, id
}

func registerNodeB(b *testing.B, name, ip, cidr string) {
	ctx := context.Background()
	nodes := env.kube.Client.CoreV1().Nodes()
	err := framework.Eventually(time.Minute, func() error {
		n, err := nodes.Create(ctx, &v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr},
				Taints: []v1.Taint{{Key: "node.cloudprovider.kubernetes.io/uninitialized", Value: "true", Effect: v1.TaintEffectNoSchedule}}},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			n, err = nodes.Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			return err
		}
		if len(n.Status.Addresses) == 0 {
			n.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: ip}}
		}
		n.Status.Conditions = []v1.NodeCondition{readyCond(v1.ConditionTrue)}
		_, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			// The CCM initialized the node meanwhile; the next attempt re-reads it.
			n, _ = nodes.Get(ctx, name, metav1.GetOptions{})
		}
		return err
	})
	if err != nil {
		b.Errorf("node %s: %v", name, err)
	}
}

func routesOfB(b *testing.B) map[string]string {
	rs, err := env.sim.Routes(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rs {
		if r.Tags[iaas.TagCluster] == "itest" {
			out[r.DestinationCidr] = r.Tags[iaas.TagNode]
		}
	}
	return out
}

func waitAll(b *testing.B, what string, cond func() error) {
	if b.Failed() {
		b.FailNow()
	}
	start := time.Now()
	if err := framework.Eventually(15*time.Minute, cond); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	b.Logf("%s in %v", what, time.Since(start).Round(time.Second))
}

// BenchmarkRoutes1000Converge creates 1000 nodes with pod CIDRs at once and reports
// how long the CCM takes until the route table holds a route for every one of them,
// and with how many CreateRoutes calls.
//
// It also counts the listener writes the join costs each LoadBalancer (the LB update
// storm: every pass of the service controller over a growing node set rewrites every
// LB's backends unless the CCM coalesces them, see loadBalancer.backendUpdateDelay).
// Run alone, it first creates 20 LoadBalancer Services to have LBs to count on.
func BenchmarkRoutes1000Converge(b *testing.B) {
	for b.Loop() {
		lbs := ensureBenchLBs(b, 20)
		if err := env.sim.ResetCounters(); err != nil {
			b.Fatal(err)
		}
		before := len(routesOfB(b))
		start := time.Now()
		names := addNodes(b, "rt1k", 1000)
		created := time.Since(start)
		waitAll(b, "1000 routes", func() error {
			if got := len(routesOfB(b)) - before; got < len(names) {
				return fmt.Errorf("%d of %d routes", got, len(names))
			}
			return nil
		})
		total := time.Since(start)
		// The writes the join causes are over when the listener counters stand still.
		// (The simulator takes at most 1000 backends per listener, so with nodes of an
		// earlier benchmark in the cluster the LBs stop short of every node.)
		last := int64(-1)
		waitAll(b, "LB writes settled", func() error {
			c, err := env.sim.Counters()
			if err != nil {
				return err
			}
			n := c["ModifyListener"] + c["CreateListeners"] + c["DeleteListeners"]
			if n != last {
				last = n
				time.Sleep(10 * time.Second)
				return fmt.Errorf("listener writes still moving (%d)", n)
			}
			return nil
		})
		minBackends := -1
		for _, lb := range clusterLBs(b) {
			for _, l := range lb.Listeners {
				if minBackends < 0 || len(l.Backends) < minBackends {
					minBackends = len(l.Backends)
				}
			}
		}
		b.ReportMetric(float64(minBackends), "min-backends")
		calls, _ := env.sim.Counters()
		perLB := func(action string) float64 { return float64(calls[action]) / float64(lbs) }
		b.ReportMetric(perLB("ModifyListener"), "ModifyListener/LB")
		b.ReportMetric(perLB("ModifyListener")+perLB("CreateListeners")+perLB("DeleteListeners"), "listener-writes/LB")
		b.Logf("1000-node join over %d LBs: ModifyListener %.1f per LB", lbs, perLB("ModifyListener"))
		b.ReportMetric(total.Seconds(), "s/converge")
		b.ReportMetric((total - created).Seconds(), "s-after-last-node")
		b.ReportMetric(float64(calls["CreateRoutes"]), "CreateRoutes-calls")
		keys := make([]string, 0, len(calls))
		for k := range calls {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&sb, "%s=%d ", k, calls[k])
		}
		b.Logf("routes of 1000 nodes: %v in total (nodes created in %v); IaaS calls: %s", total.Round(time.Second), created.Round(time.Second), sb.String())
	}
}

// clusterLBs lists the LBs of the CCM under test.
func clusterLBs(b *testing.B) []ic.LoadBalancer {
	all, err := env.sim.LoadBalancers(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return slices.DeleteFunc(all, func(lb ic.LoadBalancer) bool { return lb.Tags[iaas.TagCluster] != "itest" })
}

// ensureBenchLBs makes sure the cluster has LoadBalancer Services (creating n when it
// has none) and returns how many LBs there are.
func ensureBenchLBs(b *testing.B, n int) int {
	if have := len(clusterLBs(b)); have > 0 {
		return have
	}
	ctx := context.Background()
	for i := range n {
		name := fmt.Sprintf("rt1k-svc-%d", i)
		_, err := env.kube.Client.CoreV1().Services("default").Create(ctx, &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
				Ports: []v1.ServicePort{{Protocol: v1.ProtocolTCP, Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			b.Fatal(err)
		}
	}
	waitAll(b, "bench LBs", func() error {
		if got := len(clusterLBs(b)); got < n {
			return fmt.Errorf("%d of %d LBs", got, n)
		}
		return nil
	})
	return len(clusterLBs(b))
}

// BenchmarkHotLoop measures the CCM's IaaS calls/s with every call failing against the
// healthy rate in the same run (see TestNoHotLoopUnderTotalFailure for the assertion).
func BenchmarkHotLoop(b *testing.B) {
	for b.Loop() {
		benchSeq++
		h := measureHotLoop(b, fmt.Sprintf("bhot%d", benchSeq), fmt.Sprintf("10.201.%d.0/24", 2*benchSeq), fmt.Sprintf("10.201.%d.0/24", 2*benchSeq+1))
		b.ReportMetric(callsPerSecond(h.healthy), "calls/s-healthy")
		b.ReportMetric(callsPerSecond(h.faulty), "calls/s-100%errors")
		b.ReportMetric(h.ratio(), "ratio")
		b.Log(h)
		waitRecovered(b, h)
	}
}
