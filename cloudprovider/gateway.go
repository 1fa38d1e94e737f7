package cloudprovider

import (
	"context"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"
	gwlisters "sigs.k8s.io/gateway-api/pkg/client/listers/apis/v1"
)

// GatewayControllerLoopName is the name to enable or disable with --controllers.
const GatewayControllerLoopName = "gateway"

// GatewayControllerName is the spec.controllerName of the GatewayClasses this CCM
// serves (manifests/ccm/gatewayclass.yaml declares the class "iaas").
const GatewayControllerName = "kube-iaas.io/gateway"

// GatewayFinalizer holds a Gateway until its load balancer and certificates are gone.
const GatewayFinalizer = "kube-iaas.io/gateway-cleanup"

// GatewayController gives every Gateway of a GatewayClass with controllerName
// kube-iaas.io/gateway one IaaS L7 load balancer, with one IaaS listener per
// (protocol, port) of its HTTP and HTTPS listeners, whose host/path rules come from the
// HTTPRoutes attached to it and send requests to the NodePorts of their Services, or
// to the ready pods of Services without NodePorts (ClusterIP). It shares the L7 pieces
// of the Ingress controller: the LB store and listener diff, the backend resolution
// and node set, and the certificates uploaded from TLS Secrets.
type GatewayController struct {
	kube     kubernetes.Interface
	gw       gwclient.Interface
	lbs      *loadBalancers // the Gateway LBs, on a store keyed by Gateway UID
	certs    *ingressCerts
	events   *eventer
	classes  gwlisters.GatewayClassLister
	gateways gwlisters.GatewayLister
	routes   gwlisters.HTTPRouteLister
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	nodes    corelisters.NodeLister
	nsl      corelisters.NamespaceLister
	grants   refGrants
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	workers  int
	start    func(stop <-chan struct{}) // the Gateway API informers (not in the shared factory)

	warnings *problemWarnings // of Gateways ("gateway:ns/name") and routes ("route:ns/name@gateway")
}

// Queue keys: a GatewayClass or a Gateway.
const (
	classKeyPrefix   = "class:"
	gatewayKeyPrefix = "gateway:"
)

// NewGatewayController builds the controller of a Cloud made by New. f gives the core
// informers (shared with the other controllers); the Gateway API informers come from
// their own factory on gw, started by Run. The caller checks that the Gateway API is
// installed first, and whether it serves ReferenceGrants (withGrants; without them
// only references within a namespace are allowed).
func (c *Cloud) NewGatewayController(kube kubernetes.Interface, gw gwclient.Interface, f informers.SharedInformerFactory, withGrants bool) *GatewayController {
	gf := gwinformers.NewSharedInformerFactory(gw, 0)
	cls := gf.Gateway().V1().GatewayClasses()
	gws := gf.Gateway().V1().Gateways()
	rts := gf.Gateway().V1().HTTPRoutes()
	svc := f.Core().V1().Services()
	eps := f.Discovery().V1().EndpointSlices()
	sec := f.Core().V1().Secrets()
	nodes := f.Core().V1().Nodes()
	nss := f.Core().V1().Namespaces()
	secrets := sec.Lister()
	g := &GatewayController{
		kube: kube, gw: gw,
		lbs: &loadBalancers{store: newOwnedLBs(c.api, c.cfg.ClusterID, TagGatewayUID, c.cfg.CacheTTL.Duration), clusterID: c.cfg.ClusterID,
			vpcID: c.cfg.VpcID, subnetID: c.cfg.LoadBalancer.SubnetID, defaultType: c.cfg.LoadBalancer.DefaultType, events: c.events},
		certs: &ingressCerts{api: c.api, cluster: c.cfg.ClusterID, secret: func(ns, name string) (*v1.Secret, error) {
			return secrets.Secrets(ns).Get(name)
		}},
		events:   c.events,
		classes:  cls.Lister(),
		gateways: gws.Lister(),
		routes:   rts.Lister(),
		services: svc.Lister(),
		slices:   eps.Lister(),
		nodes:    nodes.Lister(),
		nsl:      nss.Lister(),
		synced: []cache.InformerSynced{cls.Informer().HasSynced, gws.Informer().HasSynced, rts.Informer().HasSynced,
			svc.Informer().HasSynced, eps.Informer().HasSynced, sec.Informer().HasSynced, nodes.Informer().HasSynced, nss.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedMaxOfRateLimiter(
				workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, 5*time.Minute),
				// Overall, as client-go's default: bounds IaaS calls when every
				// Gateway is requeued at once (a node change).
				&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
			), workqueue.TypedRateLimitingQueueConfig[string]{Name: "gateway"}),
		workers:  2,
		start:    gf.Start,
		warnings: newProblemWarnings(c.events),
		grants:   noGrants,
	}
	if withGrants {
		rgs := gf.Gateway().V1().ReferenceGrants()
		g.grants = grantsFrom(rgs.Lister())
		g.synced = append(g.synced, rgs.Informer().HasSynced)
		// Grants are few and rarely change: any change resyncs every Gateway.
		all := func(any) { g.enqueueGateways(nil) }
		_, _ = rgs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: all, UpdateFunc: func(_, n any) { all(n) }, DeleteFunc: all})
	}
	g.watch(cls.Informer(), gws.Informer(), rts.Informer(), svc.Informer(), sec.Informer(), nodes.Informer(), nss.Informer())
	watchEndpointSlices(eps.Informer(), func(ns, name string) { g.enqueueServiceRoutes(ns, name, endpointsSettle) })
	// The orphan sweeper learns the Gateway UIDs from here: without this controller it
	// leaves Gateway LBs alone.
	c.gatewayOwners.Store(&gatewayOwnerSource{list: g.gateways, synced: gws.Informer().HasSynced})
	return g
}

func (c *GatewayController) enqueueGateway(ns, name string) {
	c.queue.Add(gatewayKeyPrefix + ns + "/" + name)
}

// enqueueServiceRoutes queues, after d, the Gateways of the routes (of any namespace:
// ReferenceGrants) that send to Service ns/name (a burst of changes within d makes one
// sync).
func (c *GatewayController) enqueueServiceRoutes(ns, name string, d time.Duration) {
	list, err := c.routes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, r := range list {
		if routeReferencesService(r, ns, name) {
			c.forParents(r, func(gns, gname string) { c.queue.AddAfter(gatewayKeyPrefix+gns+"/"+gname, d) })
		}
	}
}

// enqueueGateways queues every Gateway for which match is true (all for nil).
func (c *GatewayController) enqueueGateways(match func(*gwv1.Gateway) bool) {
	list, err := c.gateways.List(labels.Everything())
	if err != nil {
		return
	}
	for _, g := range list {
		if match == nil || match(g) {
			c.enqueueGateway(g.Namespace, g.Name)
		}
	}
}

// enqueueParents queues the Gateways a route names, in its spec and in its status (a
// Gateway the route left must drop its rules and its status entry).
func (c *GatewayController) enqueueParents(r *gwv1.HTTPRoute) {
	c.forParents(r, c.enqueueGateway)
}

// forParents calls f with each Gateway a route names, in its spec and in its status.
func (c *GatewayController) forParents(r *gwv1.HTTPRoute, f func(ns, name string)) {
	for _, ref := range r.Spec.ParentRefs {
		if ref.Group != nil && *ref.Group != gatewayGroup || ref.Kind != nil && *ref.Kind != "Gateway" {
			continue
		}
		ns := r.Namespace
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		f(ns, string(ref.Name))
	}
	for _, p := range r.Status.Parents {
		if p.ControllerName != GatewayControllerName {
			continue
		}
		ns := r.Namespace
		if p.ParentRef.Namespace != nil {
			ns = string(*p.ParentRef.Namespace)
		}
		f(ns, string(p.ParentRef.Name))
	}
}

func unwrap[T any](obj any) (T, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	v, ok := obj.(T)
	return v, ok
}

func (c *GatewayController) watch(cls, gws, rts, svc, sec, nodes, nss cache.SharedIndexInformer) {
	onClass := func(obj any) {
		gc, ok := unwrap[*gwv1.GatewayClass](obj)
		if !ok {
			return
		}
		c.queue.Add(classKeyPrefix + gc.Name)
		c.enqueueGateways(func(g *gwv1.Gateway) bool { return string(g.Spec.GatewayClassName) == gc.Name })
	}
	_, _ = cls.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onClass, UpdateFunc: func(_, n any) { onClass(n) }, DeleteFunc: onClass})
	onGateway := func(obj any) {
		if g, ok := unwrap[*gwv1.Gateway](obj); ok {
			c.enqueueGateway(g.Namespace, g.Name)
		}
	}
	_, _ = gws.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onGateway, UpdateFunc: func(_, n any) { onGateway(n) }, DeleteFunc: onGateway})
	onRoute := func(obj any) {
		if r, ok := unwrap[*gwv1.HTTPRoute](obj); ok {
			c.enqueueParents(r)
		}
	}
	_, _ = rts.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onRoute,
		// The old spec too: a parentRef removed must reach the Gateway it left.
		UpdateFunc: func(o, n any) { onRoute(o); onRoute(n) },
		DeleteFunc: onRoute,
	})
	onService := func(obj any) {
		if s, ok := unwrap[*v1.Service](obj); ok {
			c.enqueueServiceRoutes(s.Namespace, s.Name, 0)
		}
	}
	_, _ = svc.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onService,
		UpdateFunc: func(o, n any) {
			os, ns := o.(*v1.Service), n.(*v1.Service)
			if os.Spec.Type != ns.Spec.Type || !slices.Equal(os.Spec.Ports, ns.Spec.Ports) {
				onService(n)
			}
		},
		DeleteFunc: onService,
	})
	onSecret := func(obj any) {
		s, ok := unwrap[*v1.Secret](obj)
		if !ok {
			return
		}
		c.enqueueGateways(func(g *gwv1.Gateway) bool { return gatewayUsesSecret(g, s.Namespace, s.Name) })
	}
	_, _ = sec.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onSecret, UpdateFunc: func(_, n any) { onSecret(n) }, DeleteFunc: onSecret})
	all := func(any) { c.enqueueGateways(nil) }
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all,
		UpdateFunc: func(o, n any) {
			if nodeEligibility(o.(*v1.Node)) != nodeEligibility(n.(*v1.Node)) {
				all(n)
			}
		},
		DeleteFunc: all,
	})
	// Namespace labels decide allowedRoutes selectors.
	_, _ = nss.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all,
		UpdateFunc: func(o, n any) {
			if !labels.Equals(o.(*v1.Namespace).Labels, n.(*v1.Namespace).Labels) {
				all(n)
			}
		},
		DeleteFunc: all,
	})
}

func routeReferencesService(r *gwv1.HTTPRoute, ns, name string) bool {
	for _, rule := range r.Spec.Rules {
		for _, b := range rule.BackendRefs {
			bns := r.Namespace
			if b.Namespace != nil {
				bns = string(*b.Namespace)
			}
			if bns == ns && string(b.Name) == name {
				return true
			}
		}
	}
	return false
}

func gatewayUsesSecret(g *gwv1.Gateway, ns, name string) bool {
	for _, l := range g.Spec.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, r := range l.TLS.CertificateRefs {
			rns := g.Namespace
			if r.Namespace != nil {
				rns = string(*r.Namespace)
			}
			if rns == ns && string(r.Name) == name {
				return true
			}
		}
	}
	return false
}

// nsMatcher turns an allowedRoutes selector into a namespace test on the namespace lister.
func (c *GatewayController) nsMatcher(sel *gwv1.RouteNamespaces) (func(string) bool, error) {
	if sel == nil || sel.Selector == nil {
		return nil, errNoSelector
	}
	s, err := metav1.LabelSelectorAsSelector(sel.Selector)
	if err != nil {
		return nil, err
	}
	return func(ns string) bool {
		n, err := c.nsl.Get(ns)
		return err == nil && s.Matches(labels.Set(n.Labels))
	}, nil
}

// Run starts the Gateway API informers, waits for the caches and works the queue
// until ctx ends.
func (c *GatewayController) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	c.start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	klog.InfoS("Starting Gateway controller", "controller", GatewayControllerName, "workers", c.workers)
	runWorkers(klog.NewContext(ctx, klog.Background().WithValues("controller", GatewayControllerName)), c.queue, c.workers, c.syncKey)
}

// syncKey syncs the GatewayClass or Gateway a queue key names.
func (c *GatewayController) syncKey(ctx context.Context, key string) (time.Duration, error) {
	switch {
	case strings.HasPrefix(key, classKeyPrefix):
		return 0, c.syncClass(ctx, strings.TrimPrefix(key, classKeyPrefix))
	case strings.HasPrefix(key, gatewayKeyPrefix):
		return c.sync(ctx, strings.TrimPrefix(key, gatewayKeyPrefix))
	}
	return 0, nil
}
