package cloudprovider

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/time/rate"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// IngressControllerLoopName is the name to enable or disable with --controllers.
const IngressControllerLoopName = "ingress"

// IngressFinalizer holds an Ingress until its load balancer and certificates are gone.
const IngressFinalizer = "kube-iaas.io/ingress-cleanup"

// IngressController gives every Ingress of an IngressClass with controller
// kube-iaas.io/ingress one IaaS L7 load balancer: HTTP on 80 and, with a TLS Secret,
// HTTPS on 443, whose host/path rules send requests to the NodePorts of the referenced
// Services on the nodes the L4 load balancers use (lbnodes.go), or, for Services
// without NodePorts (ClusterIP), straight to their ready pods. The VIP goes to
// status.loadBalancer; a finalizer deletes the LB and its certificates.
type IngressController struct {
	kube      kubernetes.Interface
	lbs       *loadBalancers // the L7 LBs, on a store keyed by Ingress UID
	certs     *ingressCerts
	classes   ingressClasses
	events    *eventer
	ingresses networkinglisters.IngressLister
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	nodes     corelisters.NodeLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	workers   int

	warnings *problemWarnings // of Ingresses ("ingress:ns/name")
}

// NewIngressController builds the controller of a Cloud made by New on f's informers.
func (c *Cloud) NewIngressController(kube kubernetes.Interface, f informers.SharedInformerFactory) *IngressController {
	ing := f.Networking().V1().Ingresses()
	cls := f.Networking().V1().IngressClasses()
	svc := f.Core().V1().Services()
	eps := f.Discovery().V1().EndpointSlices()
	sec := f.Core().V1().Secrets()
	nodes := f.Core().V1().Nodes()
	store := newOwnedLBs(c.api, c.cfg.ClusterID, TagIngressUID, c.cfg.CacheTTL.Duration)
	secrets := sec.Lister()
	ic := &IngressController{
		kube: kube,
		lbs: &loadBalancers{store: store, clusterID: c.cfg.ClusterID, vpcID: c.cfg.VpcID,
			subnetID: c.cfg.LoadBalancer.SubnetID, defaultType: c.cfg.LoadBalancer.DefaultType, events: c.events},
		certs: &ingressCerts{api: c.api, cluster: c.cfg.ClusterID, secret: func(ns, name string) (*v1.Secret, error) {
			return secrets.Secrets(ns).Get(name)
		}},
		classes:   ingressClasses{lister: cls.Lister()},
		events:    c.events,
		ingresses: ing.Lister(),
		services:  svc.Lister(),
		slices:    eps.Lister(),
		nodes:     nodes.Lister(),
		synced: []cache.InformerSynced{ing.Informer().HasSynced, cls.Informer().HasSynced, svc.Informer().HasSynced,
			eps.Informer().HasSynced, sec.Informer().HasSynced, nodes.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedMaxOfRateLimiter(
				workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, 5*time.Minute),
				// Overall, as client-go's default: bounds IaaS calls when every
				// Ingress is requeued at once (a node change).
				&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
			), workqueue.TypedRateLimitingQueueConfig[string]{Name: "ingress"}),
		workers:  2,
		warnings: newProblemWarnings(c.events),
	}
	ic.watch(ing.Informer(), cls.Informer(), svc.Informer(), sec.Informer(), nodes.Informer())
	watchEndpointSlices(eps.Informer(), func(ns, name string) {
		ic.enqueueIfAfter(ns, func(i *networkingv1.Ingress) bool { return referencesService(i, name) }, endpointsSettle)
	})
	return ic
}

func (c *IngressController) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// enqueueIf queues the Ingresses of ns for which match is true (all of them for ns "").
func (c *IngressController) enqueueIf(ns string, match func(*networkingv1.Ingress) bool) {
	c.enqueueIfAfter(ns, match, 0)
}

// enqueueIfAfter is enqueueIf with the sync due after d (a burst of changes within d
// makes one sync).
func (c *IngressController) enqueueIfAfter(ns string, match func(*networkingv1.Ingress) bool, d time.Duration) {
	var list []*networkingv1.Ingress
	var err error
	if ns == "" {
		list, err = c.ingresses.List(labels.Everything())
	} else {
		list, err = c.ingresses.Ingresses(ns).List(labels.Everything())
	}
	if err != nil {
		return
	}
	for _, ing := range list {
		if match == nil || match(ing) {
			c.queue.AddAfter(ing.Namespace+"/"+ing.Name, d)
		}
	}
}

func (c *IngressController) watch(ing, cls, svc, sec, nodes cache.SharedIndexInformer) {
	_, _ = ing.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, n any) { c.enqueue(n) },
		DeleteFunc: c.enqueue,
	})
	all := func(any) { c.enqueueIf("", nil) }
	_, _ = cls.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all, UpdateFunc: func(_, n any) { all(n) }, DeleteFunc: all,
	})
	onService := func(obj any) {
		s, ok := obj.(*v1.Service)
		if !ok {
			if t, ok2 := obj.(cache.DeletedFinalStateUnknown); ok2 {
				s, ok = t.Obj.(*v1.Service)
			}
			if !ok {
				return
			}
		}
		c.enqueueIf(s.Namespace, func(ing *networkingv1.Ingress) bool { return referencesService(ing, s.Name) })
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
		s, ok := obj.(*v1.Secret)
		if !ok {
			if t, ok2 := obj.(cache.DeletedFinalStateUnknown); ok2 {
				s, ok = t.Obj.(*v1.Secret)
			}
			if !ok {
				return
			}
		}
		c.enqueueIf(s.Namespace, func(ing *networkingv1.Ingress) bool {
			return slices.ContainsFunc(ing.Spec.TLS, func(t networkingv1.IngressTLS) bool { return t.SecretName == s.Name })
		})
	}
	_, _ = sec.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onSecret,
		UpdateFunc: func(_, n any) { onSecret(n) },
		DeleteFunc: onSecret,
	})
	// Node heartbeats change nothing the LB uses: only a change of the eligible set
	// (readiness, address, exclusion, taints) requeues every Ingress.
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all,
		UpdateFunc: func(o, n any) {
			if nodeEligibility(o.(*v1.Node)) != nodeEligibility(n.(*v1.Node)) {
				all(n)
			}
		},
		DeleteFunc: all,
	})
}

// nodeEligibility is what backendNodes reads of a node.
func nodeEligibility(n *v1.Node) string {
	return fmt.Sprintf("%s|%v|%v|%v|%s|%v", internalIP(n), isReady(n), excluded(n), tainted(n), n.Labels[v1.LabelNodeExcludeBalancers], n.DeletionTimestamp != nil)
}

func referencesService(ing *networkingv1.Ingress, name string) bool {
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil && b.Service.Name == name {
		return true
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil && p.Backend.Service.Name == name {
				return true
			}
		}
	}
	return false
}

// Run waits for the caches and works the queue until ctx ends.
func (c *IngressController) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	klog.InfoS("Starting Ingress controller", "controller", IngressControllerName, "workers", c.workers)
	runWorkers(klog.NewContext(ctx, klog.Background().WithValues("controller", IngressControllerName)), c.queue, c.workers, c.sync)
}
