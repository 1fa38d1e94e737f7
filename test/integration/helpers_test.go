package integration

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	cloudproviderapi "k8s.io/cloud-provider/api"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

const waitTimeout = 60 * time.Second

var ipSeq atomic.Int32

// machine adds a RUNNING instance to the simulator and returns its IP and id.
func machine(t testing.TB, name, zone string) (ip, id string) {
	t.Helper()
	n := ipSeq.Add(1)
	ip = fmt.Sprintf("10.0.%d.%d", 1+n/200, 1+n%200)
	id, err := env.sim.AddInstance(name, zone, ip)
	if err != nil {
		t.Fatal(err)
	}
	return ip, id
}

// registerNode creates a Node the way a kubelet started with
// --cloud-provider=external does: uninitialized taint, its InternalIP, and a Ready
// condition (or none, as when nothing reports on it).
func registerNode(t testing.TB, name, ip, podCIDR string, ready bool) *v1.Node {
	t.Helper()
	ctx := context.Background()
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.NodeSpec{
			Taints: []v1.Taint{{Key: cloudproviderapi.TaintExternalCloudProvider, Value: "true", Effect: v1.TaintEffectNoSchedule}},
		},
	}
	if podCIDR != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDR, []string{podCIDR}
	}
	n, err := env.kube.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The CCM may initialize the node between the create and this status update (it
	// can find the instance by name): retry on conflicts, keeping its addresses.
	err = framework.Eventually(10*time.Second, func() error {
		cur, err := env.kube.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(cur.Status.Addresses) == 0 {
			cur.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: ip}, {Type: v1.NodeHostName, Address: name}}
		}
		if ready {
			cur.Status.Conditions = append(cur.Status.Conditions, readyCond(v1.ConditionTrue))
		}
		n, err = env.kube.Client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return n
}

func readyCond(s v1.ConditionStatus) v1.NodeCondition {
	now := metav1.Now()
	return v1.NodeCondition{Type: v1.NodeReady, Status: s, Reason: "Test", LastHeartbeatTime: now, LastTransitionTime: now}
}

// setReady plays the kubelet (True) or kube-controller-manager (Unknown) part.
func setReady(t testing.TB, name string, s v1.ConditionStatus) {
	t.Helper()
	err := framework.Eventually(10*time.Second, func() error {
		n, err := env.kube.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Conditions = slices.DeleteFunc(n.Status.Conditions, func(c v1.NodeCondition) bool { return c.Type == v1.NodeReady })
		n.Status.Conditions = append(n.Status.Conditions, readyCond(s))
		_, err = env.kube.Client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// initializedNode is a machine plus its Node, initialized by the CCM and Ready.
func initializedNode(t testing.TB, name, zone, podCIDR string) (*v1.Node, string) {
	t.Helper()
	ip, id := machine(t, name, zone)
	registerNode(t, name, ip, podCIDR, true)
	return waitNode(t, name, "initialized", func(n *v1.Node) bool {
		return n.Spec.ProviderID != "" && !hasTaint(n, cloudproviderapi.TaintExternalCloudProvider)
	}), id
}

func waitNode(t testing.TB, name, what string, cond func(*v1.Node) bool) *v1.Node {
	t.Helper()
	var last *v1.Node
	err := framework.Eventually(waitTimeout, func() error {
		n, err := env.kube.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		last = n
		if !cond(n) {
			return fmt.Errorf("node %s not %s", name, what)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v: %+v %+v", err, last.Spec, last.Status.Addresses)
	}
	return last
}

func hasTaint(n *v1.Node, key string) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t v1.Taint) bool { return t.Key == key })
}

// waitEvent waits for an Event of reason about the object.
func waitEvent(t testing.TB, ns, kind, name, reason string) v1.Event {
	t.Helper()
	var found v1.Event
	err := framework.Eventually(waitTimeout, func() error {
		evs, err := env.kube.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.Set{"involvedObject.kind": kind, "involvedObject.name": name, "reason": reason}.String()})
		if err != nil {
			return err
		}
		if len(evs.Items) == 0 {
			return fmt.Errorf("no %s event on %s %s", reason, kind, name)
		}
		found = evs.Items[0]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// lbsOf lists the IaaS LBs of a Service.
func lbsOf(t testing.TB, svc *v1.Service) []ic.LoadBalancer {
	t.Helper()
	all, err := env.sim.LoadBalancers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(lb ic.LoadBalancer) bool { return lb.Tags[iaas.TagServiceUID] != string(svc.UID) })
}

// waitLB waits until the Service has exactly one LB that satisfies cond.
func waitLB(t testing.TB, svc *v1.Service, what string, cond func(ic.LoadBalancer) error) ic.LoadBalancer {
	t.Helper()
	var lb ic.LoadBalancer
	err := framework.Eventually(waitTimeout, func() error {
		lbs := lbsOf(t, svc)
		if len(lbs) != 1 {
			return fmt.Errorf("%d LBs for %s", len(lbs), svc.Name)
		}
		lb = lbs[0]
		if lb.State != ic.LoadBalancerActive {
			return fmt.Errorf("LB %s is %s", lb.LoadBalancerID, lb.State)
		}
		return cond(lb)
	})
	if err != nil {
		t.Fatalf("%s: %v (LB %+v)", what, err, lb)
	}
	return lb
}

func backends(l ic.Listener) []string {
	var out []string
	for _, b := range l.Backends {
		out = append(out, fmt.Sprintf("%s:%d", b.IP, b.Port))
	}
	slices.Sort(out)
	return out
}

// needsLayer7 skips a test on a backend without a layer-7 mapping yet: the
// tencentcloud backend maps CLB's TCP/UDP listeners but not its HTTP/HTTPS listeners
// and SSL certificates (README, "Running on Tencent Cloud"). The skip names the
// reason, so the count of skips says what is left.
func needsLayer7(t testing.TB) {
	t.Helper()
	if framework.Backend() == framework.BackendTencentCloud {
		t.Skip("the tencentcloud backend has no CLB layer-7 (HTTP/HTTPS listeners, certificates) mapping yet")
	}
}
