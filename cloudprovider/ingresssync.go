package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// sync reconciles one Ingress. A positive duration asks to be called again then
// (the LB is still being created).
func (c *IngressController) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	ing, err := c.ingresses.Ingresses(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// Gone: its finalizer made us clean up first, or it was never ours. The
		// orphan sweeper covers a finalizer removed by hand.
		c.forget(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if ing.DeletionTimestamp != nil || !c.classes.ours(ing) {
		if !slices.Contains(ing.Finalizers, IngressFinalizer) {
			return 0, nil
		}
		if err := c.cleanup(ctx, ing); err != nil {
			return 0, err
		}
		c.forget(key)
		if err := c.setFinalizer(ctx, ing, false); err != nil {
			return 0, err
		}
		if ing.DeletionTimestamp == nil {
			// The class changed away from us: the VIP no longer serves it.
			return 0, c.setStatus(ctx, ing, "")
		}
		return 0, nil
	}
	if !slices.Contains(ing.Finalizers, IngressFinalizer) {
		// Before any IaaS object exists, so none can outlive the Ingress.
		if err := c.setFinalizer(ctx, ing, true); err != nil {
			return 0, err
		}
	}
	return c.ensure(ctx, ing)
}

func (c *IngressController) ensure(ctx context.Context, ing *networkingv1.Ingress) (time.Duration, error) {
	key := ing.Namespace + "/" + ing.Name
	uid := string(ing.UID)
	nodeList, err := c.nodes.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	plan := planIngress(ing, namespaceBackends(c.services, c.slices, ing.Namespace), backendNodes(nodeList, nil))
	lbType, probs := l7LBType(ing.Annotations, c.lbs.defaultType, ReasonIngressUnsupported)
	plan.problems = append(plan.problems, probs...)

	lb, err := c.lbs.store.owned(ctx, uid, false)
	if err == nil && lb == nil {
		// The cache may predate a create a killed predecessor made: ask once more.
		lb, err = c.lbs.store.owned(ctx, uid, true)
	}
	if err != nil {
		return 0, c.failed(ing, err)
	}
	current := ""
	if lb != nil {
		for _, l := range lb.Listeners {
			if l.Protocol == ic.ProtocolHTTPS {
				current = l.CertificateID
			}
		}
	}
	certID, certs, probs, err := c.certs.ensure(ctx, ing, current)
	plan.problems = append(plan.problems, probs...)
	if err != nil {
		c.report(ing, plan.problems)
		return 0, c.failed(ing, err)
	}
	desired := ingressListeners(plan, certID)

	if lb == nil {
		owner := l7Owner{kind: "Ingress", abbrev: "ing", uidTag: TagIngressUID, nameTag: TagIngress, obj: ing}
		if lb, err = c.lbs.createL7(ctx, owner, lbType, desired); err != nil {
			c.report(ing, plan.problems)
			if errors.Is(err, errLBPending) {
				return pendingRequeue, nil
			}
			return 0, c.failed(ing, err)
		}
		c.events.event(ing, v1.EventTypeNormal, "LoadBalancerCreated", "Created load balancer %s with VIP %s", lb.LoadBalancerID, lb.VIP)
	} else {
		if lb.State == ic.LoadBalancerCreating {
			c.report(ing, plan.problems)
			return pendingRequeue, nil
		}
		if lb.Type != lbType {
			plan.problems = append(plan.problems, problem{ReasonIngressUnsupported, fmt.Sprintf(
				"load balancer %s is %s; %s=%s applies only to a new load balancer (recreate the Ingress to change it)", lb.LoadBalancerID, lb.Type, AnnotationType, lbType)})
		}
		if err := c.lbs.sync(ctx, lb, desired, "", false); err != nil {
			c.report(ing, plan.problems)
			if errors.Is(err, errLBPending) {
				return pendingRequeue, nil
			}
			return 0, c.failed(ing, err)
		}
	}
	c.report(ing, plan.problems)
	c.events.clear("ingress:"+key, ReasonIngressSyncFailed)
	if err := c.setStatus(ctx, ing, lb.VIP); err != nil {
		return 0, err
	}
	// Only now that no listener names them: certificates of older Secret contents.
	if err := c.certs.prune(ctx, certs, certID); err != nil {
		return 0, err
	}
	return 0, nil
}

// cleanup deletes the Ingress's LB, then its certificates (which the LB's HTTPS
// listener held). Missing objects are success.
func (c *IngressController) cleanup(ctx context.Context, ing *networkingv1.Ingress) error {
	uid := string(ing.UID)
	lb, err := c.lbs.store.owned(ctx, uid, true)
	if err != nil {
		return err
	}
	if lb != nil {
		if err := c.lbs.store.delete(ctx, lb.LoadBalancerID); err != nil {
			return err
		}
		klog.InfoS("Deleted Ingress load balancer", "ingress", klog.KObj(ing), "loadBalancer", lb.LoadBalancerID)
	}
	certs, err := c.certs.list(ctx, uid)
	if err != nil {
		return err
	}
	return c.certs.prune(ctx, certs, "")
}

// failed reports an IaaS failure on the Ingress and returns it for a retry.
func (c *IngressController) failed(ing *networkingv1.Ingress, err error) error {
	err = translate(opLoadBalancer, err)
	c.events.warnOnce("ingress:"+ing.Namespace+"/"+ing.Name, ing, ReasonIngressSyncFailed, "Syncing the load balancer: %v", err)
	return err
}

// report emits one Warning per reason with every problem of that reason, once per
// distinct message, and lets a warning that went away fire again if it comes back.
func (c *IngressController) report(ing *networkingv1.Ingress, probs []problem) {
	c.warnings.report("ingress:"+ing.Namespace+"/"+ing.Name, ing, probs)
}

func (c *IngressController) forget(key string) {
	c.warnings.forget("ingress:" + key)
	c.events.clear("ingress:"+key, ReasonIngressSyncFailed)
}

func (c *IngressController) setFinalizer(ctx context.Context, ing *networkingv1.Ingress, on bool) error {
	cp := ing.DeepCopy()
	if on {
		cp.Finalizers = append(cp.Finalizers, IngressFinalizer)
	} else {
		cp.Finalizers = slices.DeleteFunc(cp.Finalizers, func(f string) bool { return f == IngressFinalizer })
	}
	_, err := c.kube.NetworkingV1().Ingresses(ing.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (c *IngressController) setStatus(ctx context.Context, ing *networkingv1.Ingress, vip string) error {
	var want []networkingv1.IngressLoadBalancerIngress
	if vip != "" {
		want = []networkingv1.IngressLoadBalancerIngress{{IP: vip}}
	}
	if slices.EqualFunc(ing.Status.LoadBalancer.Ingress, want, func(a, b networkingv1.IngressLoadBalancerIngress) bool {
		return a.IP == b.IP && a.Hostname == b.Hostname && len(a.Ports) == len(b.Ports)
	}) {
		return nil
	}
	// Re-read: a finalizer update just now changed the resourceVersion the lister has.
	cur, err := c.kube.NetworkingV1().Ingresses(ing.Namespace).Get(ctx, ing.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	cur.Status.LoadBalancer.Ingress = want
	_, err = c.kube.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
