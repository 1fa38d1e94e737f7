package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwlisters "sigs.k8s.io/gateway-api/pkg/client/listers/apis/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// gatewayOwnerSource gives the orphan sweeper the live Gateways.
type gatewayOwnerSource struct {
	list   gwlisters.GatewayLister
	synced func() bool
}

var errNoSelector = errors.New("from is Selector but no selector is given")

// ours says whether the Gateway's class is served by this controller.
func (c *GatewayController) ours(g *gwv1.Gateway) bool {
	cls, err := c.classes.Get(string(g.Spec.GatewayClassName))
	return err == nil && cls.Spec.ControllerName == GatewayControllerName
}

// sync reconciles one Gateway. A positive duration asks to be called again then (the
// LB is still being created).
func (c *GatewayController) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	gw, err := c.gateways.Gateways(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// Gone: its finalizer made us clean up first, or it was never ours. The
		// orphan sweeper covers a finalizer removed by hand.
		c.forget(gatewayKeyPrefix + key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if gw.DeletionTimestamp != nil || !c.ours(gw) {
		if !slices.Contains(gw.Finalizers, GatewayFinalizer) {
			return 0, nil
		}
		if err := c.cleanup(ctx, gw); err != nil {
			return 0, c.failed(gw, err)
		}
		c.forget(gatewayKeyPrefix + key)
		return 0, c.setFinalizer(ctx, gw, false)
	}
	if !slices.Contains(gw.Finalizers, GatewayFinalizer) {
		// Before any IaaS object exists, so none can outlive the Gateway.
		if err := c.setFinalizer(ctx, gw, true); err != nil {
			return 0, err
		}
	}
	return c.ensure(ctx, gw)
}

func (c *GatewayController) ensure(ctx context.Context, gw *gwv1.Gateway) (time.Duration, error) {
	nodeList, err := c.nodes.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	routes, err := c.routes.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	plan := planGatewayListeners(gw, c.nsMatcher, c.grants)
	services := func(ns string) backendSource { return namespaceBackends(c.services, c.slices, ns) }
	plan.attachRoutes(gw, slices.Clone(routes), services, backendNodes(nodeList, nil))
	lbType, probs := l7LBType(gw.Annotations, c.lbs.defaultType, ReasonGatewayInvalid)
	plan.problems = append(plan.problems, probs...)

	if !plan.accepted.ok {
		// Nothing of an invalid Gateway is served: no LB (one it had goes).
		if err := c.cleanup(ctx, gw); err != nil {
			return 0, c.failed(gw, err)
		}
		c.report(gw, plan)
		return 0, c.writeStatus(ctx, gw, plan, routes, "", cond{reason: string(gwv1.GatewayReasonInvalid), msg: plan.accepted.msg})
	}

	uid := string(gw.UID)
	lb, err := c.lbs.store.owned(ctx, uid, false)
	if err == nil && lb == nil {
		// The cache may predate a create a killed predecessor made: ask once more.
		lb, err = c.lbs.store.owned(ctx, uid, true)
	}
	if err != nil {
		return 0, c.failed(gw, err)
	}
	certIDs, have, err := c.ensureCerts(ctx, gw, plan, lb)
	if err != nil {
		c.report(gw, plan)
		return 0, c.failed(gw, err)
	}
	desired := gatewayListeners(plan, certIDs)
	pending := func() (time.Duration, error) {
		c.report(gw, plan)
		return pendingRequeue, c.writeStatus(ctx, gw, plan, routes, "", cond{reason: string(gwv1.GatewayReasonPending), msg: "the load balancer is being created"})
	}
	if lb == nil {
		owner := l7Owner{kind: "Gateway", abbrev: "gw", uidTag: TagGatewayUID, nameTag: TagGateway, obj: gw}
		if lb, err = c.lbs.createL7(ctx, owner, lbType, desired); err != nil {
			if errors.Is(err, errLBPending) {
				return pending()
			}
			c.report(gw, plan)
			return 0, c.failed(gw, err)
		}
		c.events.event(gatewayRef(gw), v1.EventTypeNormal, "LoadBalancerCreated", "Created load balancer %s with VIP %s", lb.LoadBalancerID, lb.VIP)
	} else {
		if lb.State == ic.LoadBalancerCreating {
			return pending()
		}
		if lb.Type != lbType {
			plan.problems = append(plan.problems, problem{ReasonGatewayInvalid, fmt.Sprintf(
				"load balancer %s is %s; %s=%s applies only to a new load balancer (recreate the Gateway to change it)", lb.LoadBalancerID, lb.Type, AnnotationType, lbType)})
		}
		if err := c.lbs.sync(ctx, lb, desired, "", false); err != nil {
			if errors.Is(err, errLBPending) {
				return pending()
			}
			c.report(gw, plan)
			return 0, c.failed(gw, err)
		}
	}
	c.report(gw, plan)
	c.events.clear(gatewayKeyPrefix+gw.Namespace+"/"+gw.Name, ReasonGatewaySyncFailed)
	if err := c.writeStatus(ctx, gw, plan, routes, lb.VIP, okCond(string(gwv1.GatewayReasonProgrammed))); err != nil {
		return 0, err
	}
	// Only now that no listener names them: certificates of older Secret contents.
	keep := make([]string, 0, len(certIDs))
	for _, id := range certIDs {
		keep = append(keep, id)
	}
	return 0, c.certs.prune(ctx, have, keep...)
}

// ensureCerts returns the certificate of each HTTPS IaaS listener (by listener key) and
// the Gateway's certificates as listed (for prune; nil when not listed). A missing or
// bad Secret marks its listeners ResolvedRefs=False and keeps the certificate the IaaS
// listener has now, so bad input never takes a working HTTPS listener down.
func (c *GatewayController) ensureCerts(ctx context.Context, gw *gwv1.Gateway, plan *gatewayPlan, lb *ic.LoadBalancer) (map[string]string, []ic.Certificate, error) {
	current := map[string]string{}
	if lb != nil {
		for _, l := range lb.Listeners {
			if l.Protocol == ic.ProtocolHTTPS && l.CertificateID != "" {
				current[listenerKey(l.Protocol, l.Port)] = l.CertificateID
			}
		}
	}
	o := certOwner{ns: gw.Namespace, name: gw.Name, uid: string(gw.UID), uidTag: TagGatewayUID, nameTag: TagGateway}
	out := map[string]string{}
	var have []ic.Certificate
	listed := false
	for _, g := range plan.groups {
		if g.proto != ic.ProtocolHTTPS || g.secret.name == "" {
			continue
		}
		id, bad, err := c.certs.fromSecret(ctx, o, g.secret, &have, &listed)
		if err != nil {
			return nil, nil, err
		}
		if bad != "" {
			msg := fmt.Sprintf("Secret %s: %s", g.secret, bad)
			if cur := current[g.key()]; cur != "" {
				msg += fmt.Sprintf("; HTTPS on port %d keeps certificate %s", g.port, cur)
				id = cur
			}
			for _, l := range g.listeners {
				l.resolved = failCond(string(gwv1.ListenerReasonInvalidCertificateRef), "%s", msg)
			}
			plan.problems = append(plan.problems, problem{ReasonGatewayListener, msg})
		}
		if id != "" {
			out[g.key()] = id
			g.certID = id
		}
	}
	if !listed && len(current) > 0 {
		// An HTTPS listener went away: its certificate goes after the sync.
		var err error
		if have, err = c.certs.listOwned(ctx, TagGatewayUID, o.uid); err != nil {
			return nil, nil, err
		}
	}
	return out, have, nil
}

// cleanup deletes the Gateway's LB, then its certificates, and takes this Gateway out
// of the status of the routes that named it. Missing objects are success.
func (c *GatewayController) cleanup(ctx context.Context, gw *gwv1.Gateway) error {
	uid := string(gw.UID)
	lb, err := c.lbs.store.owned(ctx, uid, true)
	if err != nil {
		return err
	}
	if lb != nil {
		if err := c.lbs.store.delete(ctx, lb.LoadBalancerID); err != nil {
			return err
		}
		klog.InfoS("Deleted Gateway load balancer", "gateway", klog.KObj(gw), "loadBalancer", lb.LoadBalancerID)
	}
	certs, err := c.certs.listOwned(ctx, TagGatewayUID, uid)
	if err != nil {
		return err
	}
	if err := c.certs.prune(ctx, certs); err != nil {
		return err
	}
	if gw.DeletionTimestamp == nil && c.ours(gw) {
		return nil // not accepted: ensure writes the route statuses
	}
	routes, err := c.routes.List(labels.Everything())
	if err != nil {
		return err
	}
	return c.writeRouteStatuses(ctx, gw, &gatewayPlan{routes: map[string][]routeParent{}}, routes)
}

// failed reports an IaaS failure on the Gateway and returns it for a retry.
func (c *GatewayController) failed(gw *gwv1.Gateway, err error) error {
	err = translate(opLoadBalancer, err)
	c.events.warnOnce(gatewayKeyPrefix+gw.Namespace+"/"+gw.Name, gatewayRef(gw), ReasonGatewaySyncFailed, "Syncing the load balancer: %v", err)
	return err
}

// report emits one Warning per reason and object (the Gateway and each route) with
// every problem of that reason, once per distinct message, and lets a warning that went
// away fire again if it comes back.
func (c *GatewayController) report(gw *gwv1.Gateway, plan *gatewayPlan) {
	c.warnings.report(gatewayKeyPrefix+gw.Namespace+"/"+gw.Name, gatewayRef(gw), plan.problems)
	for key, probs := range plan.routeProb {
		ns, name, _ := strings.Cut(key, "/")
		r, err := c.routes.HTTPRoutes(ns).Get(name)
		if err != nil {
			continue
		}
		// Keyed by the Gateway too: each Gateway reports what it sees of the route.
		c.warnings.report("route:"+key+"@"+gw.Namespace+"/"+gw.Name, routeRef(r), probs)
	}
	// Routes with no problem any more on this Gateway: let their warnings fire again.
	suffix := "@" + gw.Namespace + "/" + gw.Name
	for _, k := range c.warnings.keys(func(k string) bool {
		if !strings.HasPrefix(k, "route:") || !strings.HasSuffix(k, suffix) {
			return false
		}
		_, ok := plan.routeProb[strings.TrimSuffix(strings.TrimPrefix(k, "route:"), suffix)]
		return !ok
	}) {
		c.warnings.forget(k)
	}
}

func (c *GatewayController) forget(key string) {
	c.warnings.forget(key)
	c.events.clear(key, ReasonGatewaySyncFailed)
}

func (c *GatewayController) setFinalizer(ctx context.Context, gw *gwv1.Gateway, on bool) error {
	cp := gw.DeepCopy()
	if on {
		cp.Finalizers = append(cp.Finalizers, GatewayFinalizer)
	} else {
		cp.Finalizers = slices.DeleteFunc(cp.Finalizers, func(f string) bool { return f == GatewayFinalizer })
	}
	_, err := c.gw.GatewayV1().Gateways(gw.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// gatewayRef and routeRef name the objects of Events: the Event recorder's scheme does
// not know the Gateway API types, and an ObjectReference needs none.
func gatewayRef(g *gwv1.Gateway) *v1.ObjectReference {
	return &v1.ObjectReference{APIVersion: gwv1.GroupVersion.String(), Kind: "Gateway", Namespace: g.Namespace, Name: g.Name, UID: g.UID, ResourceVersion: g.ResourceVersion}
}

func routeRef(r *gwv1.HTTPRoute) *v1.ObjectReference {
	return &v1.ObjectReference{APIVersion: gwv1.GroupVersion.String(), Kind: "HTTPRoute", Namespace: r.Namespace, Name: r.Name, UID: r.UID, ResourceVersion: r.ResourceVersion}
}
