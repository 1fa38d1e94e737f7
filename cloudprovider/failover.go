package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// FailoverControllerName is the name to enable or disable with --controllers.
const FailoverControllerName = "fenced-failover"

// OutOfServiceValue is the value of the out-of-service taint this controller applies.
const OutOfServiceValue = "nodeshutdown"

// AnnotationOutOfServiceByCCM marks a node whose out-of-service taint the controller
// applied, so it never removes one an administrator put there.
const AnnotationOutOfServiceByCCM = "kube-iaas.io/out-of-service-applied"

// Event reasons on Nodes.
const (
	ReasonOutOfServiceAdded   = "FencedOutOfService"
	ReasonOutOfServiceRemoved = "FencedBackInService"
)

// ReasonFencedPodReleased is the Event reason on a pod the controller force-deleted.
const ReasonFencedPodReleased = "FencedPodReleased"

// PodsReleasedMetric counts the pods the controller force-deleted.
const PodsReleasedMetric = "iaas_fenced_failover_pods_released_total"

// podsReleased is process-wide, like the IaaS API metrics: a collector registers once on
// the CCM's /metrics registry however many controllers are built.
var podsReleased = sync.OnceValue(func() prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: PodsReleasedMetric,
		Help: "Terminating pods of nodes whose instance is STOPPED (fenced) that the fenced-failover controller force-deleted.",
	})
	legacyregistry.Registerer().MustRegister(c)
	return c
})

// FailoverController turns the IaaS's guarantee that a STOPPED instance runs nothing
// (it is fenced) into the node.kubernetes.io/out-of-service taint, so that
// kube-controller-manager deletes the node's pods and detaches its volumes at once
// instead of after the 6-minute force-detach timeout. It never acts on a NotReady
// condition alone: only the IaaS's word that the machine is off makes detaching safe.
//
// The same word lets it also release the pods the taint evicted: kube-controller-manager's
// pod GC force-deletes them only once the node is NotReady as well (node-monitor-grace-period
// later), and until then a StatefulSet cannot create the replacement of a pod.
type FailoverController struct {
	kube   kubernetes.Interface
	nodes  corelisters.NodeLister
	synced cache.InformerSynced
	store  instanceStore
	period time.Duration
	events *eventer
	// release turns on the force-deletion of the terminating pods of fenced nodes.
	release  bool
	released prometheus.Counter
}

// NewFailoverController builds the controller of a Cloud made by New.
func (c *Cloud) NewFailoverController(kube kubernetes.Interface, nodes coreinformers.NodeInformer) *FailoverController {
	return &FailoverController{
		kube: kube, nodes: nodes.Lister(), synced: nodes.Informer().HasSynced,
		store: c.instanceStore, period: c.cfg.FencedFailover.Period.Duration, events: c.events,
		release: c.cfg.FailoverReleasesPods(), released: podsReleased(),
	}
}

// Enabled reports whether the cloud config turns the controller on (the default).
func (c *Cloud) FailoverEnabled() bool { return c.cfg.FailoverEnabled() }

// Run reconciles every period until ctx ends.
func (f *FailoverController) Run(ctx context.Context) {
	if !cache.WaitForCacheSync(ctx.Done(), f.synced) {
		return
	}
	klog.InfoS("Starting fenced failover controller", "period", f.period)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := f.reconcile(ctx); err != nil {
			klog.ErrorS(err, "Fenced failover reconcile")
		}
	}, f.period)
}

func (f *FailoverController) reconcile(ctx context.Context) error {
	nodes, err := f.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	idx, err := f.store.instances(ctx, time.Hour)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nodes {
		if n.Spec.ProviderID == "" {
			continue
		}
		id, err := ParseProviderID(n.Spec.ProviderID)
		if err != nil {
			continue
		}
		in, ok := idx.byID[id]
		tainted, ours := outOfService(n)
		fenced := ok && in.State == ic.InstanceStopped
		switch {
		case fenced && !tainted:
			errs = append(errs, f.setTaint(ctx, n.Name, true, in))
		case fenced && tainted && f.release:
			// Whoever put the taint there, the IaaS says nothing runs on the node now.
			errs = append(errs, f.releasePods(ctx, n.Name, in))
		case ok && in.State == ic.InstanceRunning && tainted && ours:
			errs = append(errs, f.setTaint(ctx, n.Name, false, in))
		}
		// Gone or terminated instances are left alone: the node lifecycle controller
		// deletes their Nodes.
	}
	return errors.Join(errs...)
}

func outOfService(n *v1.Node) (tainted, ours bool) {
	for _, t := range n.Spec.Taints {
		if t.Key == v1.TaintNodeOutOfService {
			tainted = true
		}
	}
	return tainted, n.Annotations[AnnotationOutOfServiceByCCM] == "true"
}

// setTaint adds or removes the taint and the ownership annotation in one update, read
// fresh from the API server so a concurrent writer is never overwritten.
func (f *FailoverController) setTaint(ctx context.Context, name string, add bool, in *ic.Instance) error {
	var updated *v1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := f.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		tainted, ours := outOfService(n)
		if add == tainted || (!add && !ours) {
			return nil
		}
		n = n.DeepCopy()
		if add {
			now := metav1.Now()
			n.Spec.Taints = append(n.Spec.Taints, v1.Taint{
				Key: v1.TaintNodeOutOfService, Value: OutOfServiceValue, Effect: v1.TaintEffectNoExecute, TimeAdded: &now})
			if n.Annotations == nil {
				n.Annotations = map[string]string{}
			}
			n.Annotations[AnnotationOutOfServiceByCCM] = "true"
		} else {
			n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t v1.Taint) bool { return t.Key == v1.TaintNodeOutOfService })
			delete(n.Annotations, AnnotationOutOfServiceByCCM)
		}
		updated, err = f.kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node %s: out-of-service taint: %w", name, err)
	}
	if updated == nil {
		return nil
	}
	if add {
		klog.InfoS("Applied out-of-service taint: instance is stopped (fenced)", "node", name, "instance", in.InstanceID)
		f.events.event(updated, v1.EventTypeWarning, ReasonOutOfServiceAdded,
			"Instance %s is STOPPED (fenced by the IaaS): tainted %s=%s:NoExecute so its pods and volumes fail over now",
			in.InstanceID, v1.TaintNodeOutOfService, OutOfServiceValue)
	} else {
		klog.InfoS("Removed out-of-service taint: instance runs again", "node", name, "instance", in.InstanceID)
		f.events.event(updated, v1.EventTypeNormal, ReasonOutOfServiceRemoved,
			"Instance %s is RUNNING again: removed %s", in.InstanceID, v1.TaintNodeOutOfService)
	}
	return nil
}

// releasePods force-deletes the terminating pods of a node whose instance is STOPPED,
// as pod GC's gcTerminating does without waiting for the node to turn NotReady: that
// wait exists for nodes that may still run, and a fenced one cannot. Only pods already
// terminating are released, so pods that tolerate the taint stay, as with pod GC.
// Unlike pod GC it does not mark a pod Failed first: pod GC still does that, once the
// node is NotReady, for a pod that a finalizer keeps.
func (f *FailoverController) releasePods(ctx context.Context, node string, in *ic.Instance) error {
	pods, err := f.terminatingPods(ctx, node)
	if err != nil {
		return err
	}
	// One at a time: a node has at most a few hundred pods, the client's rate limit
	// bounds the pace anyway, and a failure is retried on the next period.
	var errs []error
	for _, p := range pods {
		errs = append(errs, f.forceDelete(ctx, p, node, in))
	}
	return errors.Join(errs...)
}

// terminatingPods lists the pods bound to node that carry a deletionTimestamp and have
// not been force-deleted yet.
//
// A List per fenced node rather than a pod informer of the shared factory: no controller
// of the CCM watches pods, so an informer would cache and stream every pod of the cluster
// (tens of thousands at 500 nodes) for an event that concerns a stopped instance or two,
// whereas this List runs only for fenced nodes. resourceVersion "0" lets the API server
// answer from its watch cache, indexed by spec.nodeName, instead of reading every pod
// from etcd. Its answer may lag a little, which is harmless: deletionTimestamp is never
// unset, the UID precondition protects a replacement of the same name, and a pod seen
// late is released on the next period.
func (f *FailoverController) terminatingPods(ctx context.Context, node string) ([]*v1.Pod, error) {
	list, err := f.kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("spec.nodeName", node).String(),
		ResourceVersion: "0",
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: listing its pods: %w", node, err)
	}
	var out []*v1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		// The node name is checked again: the selector is the API server's business, and
		// a pod of another node must never be deleted by mistake.
		if p.Spec.NodeName != node || p.DeletionTimestamp == nil || alreadyForceDeleted(p) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// alreadyForceDeleted reports a pod that only finalizers keep: deleting it again would
// change nothing but would repeat its Event every period.
func alreadyForceDeleted(p *v1.Pod) bool {
	return p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 0
}

// forceDelete deletes the pod with no grace period. The UID precondition makes sure a
// replacement that took the name (a StatefulSet pod) is never the one deleted; a pod
// already gone or replaced counts as released.
func (f *FailoverController) forceDelete(ctx context.Context, p *v1.Pod, node string, in *ic.Instance) error {
	opts := metav1.NewDeleteOptions(0)
	opts.Preconditions = metav1.NewUIDPreconditions(string(p.UID))
	err := f.kube.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, *opts)
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("pod %s/%s on fenced node %s: force delete: %w", p.Namespace, p.Name, node, err)
	}
	f.released.Inc()
	klog.InfoS("Force-deleted terminating pod: its node's instance is stopped (fenced)",
		"pod", klog.KObj(p), "node", node, "instance", in.InstanceID)
	// Normal, not Warning: this completes the eviction the out-of-service taint started
	// (the Node carries the Warning); the pod's owner can now replace it.
	f.events.event(p, v1.EventTypeNormal, ReasonFencedPodReleased,
		"Force-deleted: instance %s of node %s is STOPPED (fenced by the IaaS), so nothing runs this pod any more",
		in.InstanceID, node)
	return nil
}
