package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

// hotLoopWindow is how long IaaS calls are counted in each phase.
const hotLoopWindow = 10 * time.Second

// maxFaultyCallsPerSecond bounds the CCM's IaaS calls while every call fails. The
// controllers retry with backoff (the service controller 5 s to 5 min, the coalescer
// 1 s to 5 min, the node controllers once per period) and the client's retries of
// one call back off too, so the rate stays near the healthy one (2-5 calls/s here).
// A controller that retried without backoff against this loopback simulator would
// make hundreds per second.
const maxFaultyCallsPerSecond = 25

// hotLoop is one measurement: the CCM's IaaS calls with a healthy simulator, then with
// every call failing while there is work for every controller (a new LB Service, a
// new node to initialize and route).
type hotLoop struct {
	healthy, faulty map[string]int64
	svc             *v1.Service
	node, podCIDR   string
}

func callsPerSecond(c map[string]int64) float64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return float64(n) / hotLoopWindow.Seconds()
}

func (h hotLoop) ratio() float64 {
	return callsPerSecond(h.faulty) / max(callsPerSecond(h.healthy), 0.1)
}

func (h hotLoop) String() string {
	return fmt.Sprintf("IaaS calls/s: healthy %.1f, 100%% errors %.1f (ratio %.2f); healthy calls %v; faulty calls %v",
		callsPerSecond(h.healthy), callsPerSecond(h.faulty), h.ratio(), h.healthy, h.faulty)
}

// measureHotLoop leaves the faults cleared when it returns.
func measureHotLoop(t testing.TB, prefix, podCIDR1, podCIDR2 string) hotLoop {
	initializedNode(t, prefix+"-0", "sim-1a", podCIDR1)
	h := hotLoop{node: prefix + "-1", podCIDR: podCIDR2}
	h.healthy = countCalls(t)
	if err := env.sim.SetFault("*", map[string]any{"errorRate": 1.0}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.sim.ClearFault("*"); err != nil {
			t.Error(err)
		}
	}()
	if framework.Backend() != framework.BackendTencentCloud { // no CLB mapping there yet
		h.svc = createService(t, prefix+"-svc", nil, v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80})
	}
	ip, _ := machine(t, h.node, "sim-1a")
	registerNode(t, h.node, ip, podCIDR2, true)
	time.Sleep(3 * time.Second) // past the first attempts
	h.faulty = countCalls(t)
	return h
}

// With the simulator failing 100 % of the calls, the CCM neither crashes nor
// hot-loops, and once the IaaS is back every object it was asked for exists.
func TestNoHotLoopUnderTotalFailure(t *testing.T) {
	pid := env.ccm.PID()
	h := measureHotLoop(t, "hot", "10.200.1.0/24", "10.200.2.0/24")
	t.Log(h)
	if r := callsPerSecond(h.faulty); r > maxFaultyCallsPerSecond {
		t.Errorf("%.1f IaaS calls/s under 100%% errors, want at most %d (hot loop)", r, maxFaultyCallsPerSecond)
	}
	if callsPerSecond(h.faulty) == 0 {
		t.Error("no IaaS calls at all under faults: the measurement saw nothing")
	}
	if env.ccm.Exited() || env.ccm.PID() != pid {
		t.Fatalf("the CCM crashed under faults:\n%s", env.ccm.Tail(3000))
	}
	waitRecovered(t, h)
}

// waitRecovered: nothing was lost; the Service gets its LB, the node is initialized
// and routed.
func waitRecovered(t testing.TB, h hotLoop) {
	ctx := context.Background()
	if h.svc != nil {
		waitLB(t, h.svc, "created after the faults", func(ic.LoadBalancer) error { return nil })
		if _, err := env.kube.Client.CoreV1().Services("default").Get(ctx, h.svc.Name, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitNode(t, h.node, "initialized", func(n *v1.Node) bool { return n.Spec.ProviderID != "" })
	err := framework.Eventually(waitTimeout, func() error {
		if _, ok := routesOf(t)[h.podCIDR]; !ok {
			return fmt.Errorf("no route for %s", h.node)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countCalls counts the simulator's API calls (answered or failed) for hotLoopWindow.
func countCalls(t testing.TB) map[string]int64 {
	t.Helper()
	if err := env.sim.ResetCounters(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(hotLoopWindow)
	c, err := env.sim.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
