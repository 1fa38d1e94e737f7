package cloudprovider

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestFailoverController(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.addInstance("a", "10.0.0.1")
	b := e.addInstance("b", "10.0.0.2")
	na := readyNode("a", "10.0.0.1", ProviderID(a.Zone, a.InstanceID))
	nb := readyNode("b", "10.0.0.2", ProviderID(b.Zone, b.InstanceID))
	// b is NotReady but its instance runs: no taint, ever.
	nb.Status.Conditions[0].Status = v1.ConditionUnknown
	// c has an out-of-service taint an administrator put there: left alone.
	nc := readyNode("c", "10.0.0.3", "")
	nc.Spec.Taints = []v1.Taint{{Key: v1.TaintNodeOutOfService, Value: "manual", Effect: v1.TaintEffectNoExecute}}
	for _, n := range []*v1.Node{na, nb, nc} {
		if _, err := e.kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f := informers.NewSharedInformerFactory(e.kube, 0)
	fc := e.cloud.NewFailoverController(e.kube, f.Core().V1().Nodes())
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())

	taint := func(name string) *v1.Taint {
		n, _ := e.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		for _, t := range n.Spec.Taints {
			if t.Key == v1.TaintNodeOutOfService {
				return &t
			}
		}
		return nil
	}
	lister := f.Core().V1().Nodes().Lister()
	// caughtUp waits until the informer holds what the API server holds: reconcile
	// decides from the informer, so a step taken on a lagging cache would test nothing.
	caughtUp := func() {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
			for _, name := range []string{"a", "b", "c"} {
				api, err := e.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				// The fake clientset keeps no resourceVersion: compare what reconcile reads.
				cached, err := lister.Get(name)
				if err != nil || !apiequality.Semantic.DeepEqual(cached.Spec, api.Spec) ||
					!apiequality.Semantic.DeepEqual(cached.Annotations, api.Annotations) {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatalf("informer did not catch up: %v", err)
		}
	}
	step := func() {
		t.Helper()
		e.cloud.instanceStore.(*iaasInstances).snap.invalidate()
		caughtUp()
		if err := fc.reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		caughtUp()
	}

	step()
	if taint("a") != nil || taint("b") != nil {
		t.Fatal("taint applied to a running instance")
	}
	e.fake.SetInstanceState(a.InstanceID, ic.InstanceStopped)
	step()
	tt := taint("a")
	if tt == nil || tt.Value != OutOfServiceValue || tt.Effect != v1.TaintEffectNoExecute {
		t.Fatalf("stopped instance: taint = %+v", tt)
	}
	if !hasEvent(e.events(), ReasonOutOfServiceAdded) {
		t.Fatal("no event for the taint")
	}
	e.fake.SetInstanceState(a.InstanceID, ic.InstancePending)
	step()
	if taint("a") == nil {
		t.Fatal("taint removed before the instance runs")
	}
	e.fake.SetInstanceState(a.InstanceID, ic.InstanceRunning)
	step()
	if taint("a") != nil {
		t.Fatal("taint kept on a running instance")
	}
	if !hasEvent(e.events(), ReasonOutOfServiceRemoved) {
		t.Fatal("no event for the removal")
	}
	if tc := taint("c"); tc == nil || tc.Value != "manual" {
		t.Fatal("administrator's taint touched")
	}
}
