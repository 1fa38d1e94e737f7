package cloudprovider

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
)

// A node that turns Ready after the LB was made (no service controller trigger) joins
// the backends through the provider's own resync, and leaves them on a shutdown taint.
func TestBackendResyncOnReadiness(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t)
	nodes := threeNodes()
	nodes[2].Status.Conditions[0].Status = v1.ConditionFalse
	for _, n := range nodes {
		if _, err := e.kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := lbService("web")
	if _, err := e.kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f := informers.NewSharedInformerFactory(e.kube, 0)
	e.cloud.stop = ctx.Done()
	e.cloud.SetInformers(f)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())

	lbs, _ := e.cloud.LoadBalancer()
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, nodes); err != nil {
		t.Fatal(err)
	}
	count := func() int { return len(e.lb(t, svc).Listeners[0].Backends) }
	if n := count(); n != 2 {
		t.Fatalf("%d backends, want 2 (one node not ready)", n)
	}
	waitBackends := func(want int) {
		t.Helper()
		e.cloud.lbs.store.(*iaasLBs).snap.invalidate()
		deadline := time.Now().Add(10 * time.Second)
		for count() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d backends, want %d", count(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	n3 := nodes[2].DeepCopy()
	n3.Status.Conditions[0].Status = v1.ConditionTrue
	if _, err := e.kube.CoreV1().Nodes().Update(ctx, n3, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBackends(3)
	n3.Spec.Taints = []v1.Taint{{Key: taintShutdown, Effect: v1.TaintEffectNoSchedule}}
	if _, err := e.kube.CoreV1().Nodes().Update(ctx, n3, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBackends(2)
}
