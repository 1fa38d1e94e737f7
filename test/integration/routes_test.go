package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	"github.com/kube-iaas/kube-iaas/tencentcloud"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

// routesOf maps the destination CIDRs of this cluster's routes to the nodes they serve.
func routesOf(t testing.TB) map[string]string {
	t.Helper()
	rs, err := env.sim.Routes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rs {
		if framework.Backend() == framework.BackendTencentCloud {
			// Tencent routes have no tags: the backend keeps them in the description.
			r.Tags, _, _ = tencentcloud.DecodeRouteDescription(r.Description)
		}
		if r.Tags[iaas.TagCluster] == "itest" {
			out[r.DestinationCidr] = r.Tags[iaas.TagNode] + "@" + r.NextHopInstanceID
		}
	}
	return out
}

func waitRoutes(t *testing.T, what string, cond func(map[string]string) error) {
	t.Helper()
	var last map[string]string
	err := framework.Eventually(waitTimeout, func() error {
		last = routesOf(t)
		return cond(last)
	})
	if err != nil {
		t.Fatalf("%s: %v (routes %v)", what, err, last)
	}
}

func routeTo(cidr, node, instance string) func(map[string]string) error {
	return func(m map[string]string) error {
		if got, want := m[cidr], node+"@"+instance; got != want {
			return fmt.Errorf("route %s -> %q, want %q", cidr, got, want)
		}
		return nil
	}
}

func TestRoutesFollowNodes(t *testing.T) {
	ctx := context.Background()
	_, a := initializedNode(t, "rt-a", "sim-1a", "10.244.10.0/24")
	_, b := initializedNode(t, "rt-b", "sim-1b", "10.244.11.0/24")
	waitRoutes(t, "routes of rt-a", routeTo("10.244.10.0/24", "rt-a", a))
	waitRoutes(t, "routes of rt-b", routeTo("10.244.11.0/24", "rt-b", b))
	waitNode(t, "rt-a", "network available", func(n *v1.Node) bool {
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeNetworkUnavailable {
				return c.Status == v1.ConditionFalse
			}
		}
		return false
	})

	// A node that gets its pod CIDR later (as from kube-controller-manager's IPAM).
	ip, c := machine(t, "rt-c", "sim-1a")
	registerNode(t, "rt-c", ip, "", true)
	waitNode(t, "rt-c", "initialized", func(n *v1.Node) bool { return n.Spec.ProviderID != "" })
	err := framework.Eventually(10*time.Second, func() error {
		n, err := env.kube.Client.CoreV1().Nodes().Get(ctx, "rt-c", metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.12.0/24", []string{"10.244.12.0/24"}
		_, err = env.kube.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, "route of rt-c after its pod CIDR is set", routeTo("10.244.12.0/24", "rt-c", c))

	// The node goes away: its route follows.
	if err := env.kube.Client.CoreV1().Nodes().Delete(ctx, "rt-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, "route of the deleted node removed", func(m map[string]string) error {
		if _, ok := m["10.244.11.0/24"]; ok {
			return fmt.Errorf("route of rt-b still there")
		}
		return nil
	})

	// The node comes back under the same name with a new machine and pod CIDR.
	_, b2 := initializedNode(t, "rt-b2", "sim-1b", "10.244.13.0/24")
	waitRoutes(t, "route of the replacement node", routeTo("10.244.13.0/24", "rt-b2", b2))
	if got := routesOf(t)["10.244.10.0/24"]; got != "rt-a@"+a {
		t.Errorf("route of rt-a disturbed: %q", got)
	}
}
