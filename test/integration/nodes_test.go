package integration

import (
	"context"
	"fmt"
	"testing"

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
