package integration

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

// TestCCMKilledDuringLBCreation kills -9 the CCM while it waits for the IaaS to finish
// creating a load balancer, restarts it, and checks that the Service ends with exactly
// one LB: the restarted CCM finds the first one by its tags (or by the client token of
// the create) instead of making another.
func TestCCMKilledDuringLBCreation(t *testing.T) {
	initializedNode(t, "crash-0", "sim-1a", "")
	// Slow task polling keeps the CCM inside EnsureLoadBalancer after the create is
	// recorded by the IaaS.
	if err := env.sim.SetFault(ic.ActionDescribeTask, map[string]any{"latency": "3s"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.sim.ClearFault(ic.ActionDescribeTask) })
	svc := createService(t, "crash", nil, v1.ServicePort{Protocol: v1.ProtocolTCP, Port: 80})
	err := framework.Eventually(waitTimeout, func() error {
		if n := len(lbsOf(t, svc)); n == 0 {
			return fmt.Errorf("no LB yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	env.ccm.Kill()
	if err := env.sim.ClearFault(ic.ActionDescribeTask); err != nil {
		t.Fatal(err)
	}
	env.ccm.Start(env.cleaner)

	lb := waitLB(t, svc, "converged after restart", func(ic.LoadBalancer) error { return nil })
	err = framework.Eventually(waitTimeout, func() error {
		s := getService(t, "crash")
		if len(s.Status.LoadBalancer.Ingress) != 1 || s.Annotations[iaas.AnnotationLoadBalancerID] != lb.LoadBalancerID {
			return fmt.Errorf("service status %+v annotations %v", s.Status.LoadBalancer, s.Annotations)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // room for a duplicate to appear
	if n := len(lbsOf(t, svc)); n != 1 {
		t.Fatalf("%d LBs for the Service after the crash, want exactly 1", n)
	}
}
