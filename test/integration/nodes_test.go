package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

func TestNodeInitialization(t *testing.T) {
	n, id := initializedNode(t, "init-1", "sim-1b", "")
	if want := iaas.ProviderID("sim-1b", id); n.Spec.ProviderID != want {
		t.Errorf("providerID = %q, want %q", n.Spec.ProviderID, want)
	}
	for k, want := range map[string]string{
		v1.LabelTopologyZone: "sim-1b", v1.LabelTopologyRegion: framework.SimRegion,
		v1.LabelInstanceTypeStable: "S1.MEDIUM2",
	} {
		if got := n.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	var internal, host bool
	for _, a := range n.Status.Addresses {
		internal = internal || a.Type == v1.NodeInternalIP
		host = host || (a.Type == v1.NodeHostName && a.Address == "init-1")
	}
	if !internal || !host {
		t.Errorf("addresses = %+v", n.Status.Addresses)
	}
}

func TestNodeDeletedWhenInstanceTerminated(t *testing.T) {
	initializedNode(t, "gone-1", "sim-1a", "")
	if err := env.sim.RemoveInstance("gone-1"); err != nil {
		t.Fatal(err)
	}
	// A machine that is gone stops reporting: kube-controller-manager would mark the
	// node NotReady, which is when the node lifecycle controller asks the cloud.
	setReady(t, "gone-1", v1.ConditionUnknown)
	err := framework.Eventually(waitTimeout, func() error {
		_, err := env.kube.Client.CoreV1().Nodes().Get(context.Background(), "gone-1", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("node still there (%v)", err)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStopAndStartTaints(t *testing.T) {
	initializedNode(t, "stop-1", "sim-1a", "")
	// A NotReady node whose instance runs gets no out-of-service taint, ever.
	initializedNode(t, "flaky-1", "sim-1a", "")
	setReady(t, "flaky-1", v1.ConditionUnknown)

	if err := env.sim.SetState("stop-1", ic.InstanceStopped); err != nil {
		t.Fatal(err)
	}
	setReady(t, "stop-1", v1.ConditionUnknown)
	n := waitNode(t, "stop-1", "tainted shutdown and out-of-service", func(n *v1.Node) bool {
		return hasTaint(n, "node.cloudprovider.kubernetes.io/shutdown") && hasTaint(n, v1.TaintNodeOutOfService)
	})
	for _, tt := range n.Spec.Taints {
		if tt.Key == v1.TaintNodeOutOfService && (tt.Value != iaas.OutOfServiceValue || tt.Effect != v1.TaintEffectNoExecute) {
			t.Errorf("out-of-service taint = %+v", tt)
		}
	}
	waitEvent(t, "default", "Node", "stop-1", iaas.ReasonOutOfServiceAdded)

	if err := env.sim.SetState("stop-1", ic.InstanceRunning); err != nil {
		t.Fatal(err)
	}
	setReady(t, "stop-1", v1.ConditionTrue)
	waitNode(t, "stop-1", "untainted", func(n *v1.Node) bool {
		return !hasTaint(n, "node.cloudprovider.kubernetes.io/shutdown") && !hasTaint(n, v1.TaintNodeOutOfService)
	})
	waitEvent(t, "default", "Node", "stop-1", iaas.ReasonOutOfServiceRemoved)

	flaky, _ := env.kube.Client.CoreV1().Nodes().Get(context.Background(), "flaky-1", metav1.GetOptions{})
	if hasTaint(flaky, v1.TaintNodeOutOfService) {
		t.Error("a NotReady node with a running instance got the out-of-service taint")
	}
}

// A node whose instance the IaaS stops is fenced: the CCM force-deletes the pods the
// out-of-service taint left terminating without waiting for the node to turn NotReady,
// and touches neither a pod still running there nor a terminating pod of a node whose
// instance runs (an out-of-service taint by hand is not the IaaS's word).
func TestStoppedNodePodsReleased(t *testing.T) {
	ctx := context.Background()
	_, id := initializedNode(t, "fence-1", "sim-1a", "")
	initializedNode(t, "handtaint-1", "sim-1a", "")
	addTaint(t, "handtaint-1", v1.Taint{Key: v1.TaintNodeOutOfService, Value: "manual", Effect: v1.TaintEffectNoExecute})

	evicted := boundPod(t, "fence-1-evicted", "fence-1")
	running := boundPod(t, "fence-1-running", "fence-1")
	handEvicted := boundPod(t, "handtaint-1-evicted", "handtaint-1")
	// Play the taint manager: with no kubelet, a graceful delete leaves the pod Terminating.
	for _, p := range []*v1.Pod{evicted, handEvicted} {
		if err := env.kube.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if cur := getPod(t, p.Name); cur == nil || cur.DeletionTimestamp == nil {
			t.Fatalf("pod %s: want it Terminating, got %+v", p.Name, cur)
		}
	}

	// The node stays Ready: the IaaS's word is enough.
	if _, err := env.sim.API.StopInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitNode(t, "fence-1", "tainted out-of-service", func(n *v1.Node) bool { return hasTaint(n, v1.TaintNodeOutOfService) })
	err := framework.Eventually(waitTimeout, func() error {
		if p := getPod(t, evicted.Name); p != nil {
			return fmt.Errorf("pod %s still there (deletionTimestamp %v)", p.Name, p.DeletionTimestamp)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, "default", "Pod", evicted.Name, iaas.ReasonFencedPodReleased)

	if p := getPod(t, running.Name); p == nil || p.DeletionTimestamp != nil {
		t.Errorf("running pod of the fenced node: got %+v, want it untouched", p)
	}
	// Reconciles look at every node in each pass, so the pass that released the fenced
	// pod has also passed over the hand-tainted node.
	if p := getPod(t, handEvicted.Name); p == nil {
		t.Error("terminating pod of a running instance with a hand-made out-of-service taint was deleted")
	}
}

// boundPod creates a pod already bound to node, as the scheduler would leave it; the test
// force-deletes it at the end since no kubelet ever will.
func boundPod(t *testing.T, name, node string) *v1.Pod {
	t.Helper()
	p, err := env.kube.Client.CoreV1().Pods("default").Create(context.Background(), &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Image: "registry.invalid/none"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.CoreV1().Pods("default").Delete(context.Background(), name, *metav1.NewDeleteOptions(0))
	})
	return p
}

// getPod returns the pod of namespace default, or nil once it is gone.
func getPod(t *testing.T, name string) *v1.Pod {
	t.Helper()
	p, err := env.kube.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// addTaint plays an administrator's kubectl taint.
func addTaint(t *testing.T, node string, taint v1.Taint) {
	t.Helper()
	err := framework.Eventually(10*time.Second, func() error {
		n, err := env.kube.Client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.Taints = append(n.Spec.Taints, taint)
		_, err = env.kube.Client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
