package cloudprovider

import (
	"context"
	"fmt"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
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

// FailoverController turns the IaaS's guarantee that a STOPPED instance runs nothing
// (it is fenced) into the node.kubernetes.io/out-of-service taint, so that
// kube-controller-manager deletes the node's pods and detaches its volumes at once
// instead of after the 6-minute force-detach timeout. It never acts on a NotReady
// condition alone: only the IaaS's word that the machine is off makes detaching safe.
type FailoverController struct {
	kube   kubernetes.Interface
	nodes  corelisters.NodeLister
	synced cache.InformerSynced
	store  instanceStore
	period time.Duration
	events *eventer
}

// NewFailoverController builds the controller of a Cloud made by New.
func (c *Cloud) NewFailoverController(kube kubernetes.Interface, nodes coreinformers.NodeInformer) *FailoverController {
	return &FailoverController{
		kube: kube, nodes: nodes.Lister(), synced: nodes.Informer().HasSynced,
		store: c.instanceStore, period: c.cfg.FencedFailover.Period.Duration, events: c.events,
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
		switch {
		case ok && in.State == ic.InstanceStopped && !tainted:
			errs = append(errs, f.setTaint(ctx, n.Name, true, in))
		case ok && in.State == ic.InstanceRunning && tainted && ours:
			errs = append(errs, f.setTaint(ctx, n.Name, false, in))
		}
		// Gone or terminated instances are left alone: the node lifecycle controller
		// deletes their Nodes.
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
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
