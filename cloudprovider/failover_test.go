package cloudprovider

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

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

func TestFailoverReleasesPods(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	outOfService := []v1.Taint{{Key: v1.TaintNodeOutOfService, Value: OutOfServiceValue, Effect: v1.TaintEffectNoExecute}}
	node := func(name string, in ic.Instance, taints []v1.Taint) {
		t.Helper()
		n := readyNode(name, in.PrivateIPs[0], ProviderID(in.Zone, in.InstanceID))
		n.Spec.Taints = taints
		if _, err := e.kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// fenced: STOPPED and tainted. admin: RUNNING, tainted by hand. untainted: STOPPED,
	// taint not there yet. missing: tainted, its instance gone from the IaaS.
	fenced := e.addInstance("fenced", "10.0.0.1")
	e.fake.SetInstanceState(fenced.InstanceID, ic.InstanceStopped)
	node("fenced", fenced, outOfService)
	node("admin", e.addInstance("admin", "10.0.0.2"), []v1.Taint{{Key: v1.TaintNodeOutOfService, Value: "manual", Effect: v1.TaintEffectNoExecute}})
	untainted := e.addInstance("untainted", "10.0.0.3")
	e.fake.SetInstanceState(untainted.InstanceID, ic.InstanceStopped)
	node("untainted", untainted, nil)
	node("missing", ic.Instance{InstanceID: "ins-gone", Zone: fenced.Zone, PrivateIPs: []string{"10.0.0.4"}}, outOfService)

	now := metav1.Now()
	// grace is the deletion grace period of a terminating pod, nil for a running one.
	pod := func(name, nodeName string, grace *int64) {
		t.Helper()
		p := &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
			Spec:       v1.PodSpec{NodeName: nodeName},
		}
		if grace != nil {
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, grace
		}
		must(t, e.kube.Tracker().Add(p))
	}
	evicted := ptr.To[int64](30)
	pod("evicted", "fenced", evicted)
	pod("tolerating", "fenced", nil)
	// Already force-deleted, kept by a finalizer: no second delete, no second Event.
	pod("finalized", "fenced", ptr.To[int64](0))
	pod("gone", "fenced", evicted)
	pod("replaced", "fenced", evicted)
	pod("broken", "fenced", evicted)
	pod("evicted-too", "fenced", evicted)
	pod("admin-evicted", "admin", evicted)
	pod("untainted-evicted", "untainted", evicted)
	pod("missing-evicted", "missing", evicted)

	var deleted []string
	e.kube.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteAction)
		deleted = append(deleted, d.GetName())
		if g := d.GetDeleteOptions().GracePeriodSeconds; g == nil || *g != 0 {
			t.Errorf("delete %s: grace period %v, want 0", d.GetName(), g)
		}
		if p := d.GetDeleteOptions().Preconditions; p == nil || p.UID == nil || *p.UID != types.UID("uid-"+d.GetName()) {
			t.Errorf("delete %s: preconditions %+v, want its UID", d.GetName(), p)
		}
		gr := v1.Resource("pods")
		switch d.GetName() {
		case "gone":
			return true, nil, apierrors.NewNotFound(gr, "gone")
		case "replaced": // what the API server answers when the UID precondition fails
			return true, nil, apierrors.NewConflict(gr, "replaced", errors.New("Precondition failed: UID"))
		case "broken":
			return true, nil, apierrors.NewInternalError(errors.New("etcd down"))
		}
		return false, nil, nil
	})

	f := informers.NewSharedInformerFactory(e.kube, 0)
	fc := e.cloud.NewFailoverController(e.kube, f.Core().V1().Nodes())
	fc.released = prometheus.NewCounter(prometheus.CounterOpts{Name: "test"})
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())

	err := fc.reconcile(ctx)
	if err == nil || !strings.Contains(err.Error(), "default/broken") {
		t.Fatalf("reconcile error = %v, want the failure of pod broken", err)
	}
	slices.Sort(deleted)
	if want := []string{"broken", "evicted", "evicted-too", "gone", "replaced"}; !slices.Equal(deleted, want) {
		t.Fatalf("deleted %v, want %v", deleted, want)
	}
	for name, want := range map[string]bool{
		"evicted": false, "evicted-too": false, "tolerating": true, "finalized": true,
		"admin-evicted": true, "untainted-evicted": true, "missing-evicted": true,
	} {
		_, err := e.kube.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if got := !apierrors.IsNotFound(err); got != want {
			t.Errorf("pod %s exists = %v, want %v", name, got, want)
		}
	}
	var m dto.Metric
	must(t, fc.released.Write(&m))
	if got := m.GetCounter().GetValue(); got != 2 {
		t.Errorf("%s = %v, want 2", PodsReleasedMetric, got)
	}
	evs := e.events()
	n := 0
	for _, ev := range evs {
		if strings.HasPrefix(ev, v1.EventTypeNormal+" "+ReasonFencedPodReleased) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d %s events, want 2: %v", n, ReasonFencedPodReleased, evs)
	}
	if !hasEvent(evs, ReasonOutOfServiceAdded) {
		t.Error("untainted stopped node not tainted")
	}

	// Switched off, the controller leaves even a fenced node's terminating pods to pod GC.
	pod("evicted-off", "fenced", evicted)
	fc.release = false
	deleted = nil
	if err := fc.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 0 {
		t.Fatalf("releasePods=false: deleted %v", deleted)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
