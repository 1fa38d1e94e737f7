package cloudprovider

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// The service controller re-syncs load balancers only when a node appears, goes, is
// excluded by label or changes providerID (KEP-3458). The backends of this provider also
// depend on readiness, shutdown and out-of-service taints and the node-selector
// annotation: without a trigger of its own, a node that turns Ready after
// initialization would never be added. backendResync is that trigger. It re-runs the
// update of every LoadBalancer Service when such a node field changes; the update
// writes only what differs, so a kick with nothing to do costs at most one cached
// Describe.
type backendResync struct {
	lbs      *loadBalancers
	nodes    corelisters.NodeLister
	services corelisters.ServiceLister
	kick     chan struct{}
	debounce time.Duration
}

func (l *loadBalancers) startBackendResync(nodes cache.SharedIndexInformer, nodeLister corelisters.NodeLister,
	services corelisters.ServiceLister, stop <-chan struct{}) {
	r := &backendResync{lbs: l, nodes: nodeLister, services: services, kick: make(chan struct{}, 1), debounce: time.Second}
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*v1.Node)
			n, ok2 := cur.(*v1.Node)
			if ok1 && ok2 && backendFacts(o) != backendFacts(n) {
				r.poke()
			}
		},
	})
	go r.run(stop)
}

// facts is what decides, besides what the service controller watches, whether a node
// is a backend.
type facts struct {
	ready, tainted bool
	labels         string
}

func backendFacts(n *v1.Node) facts {
	return facts{ready: isReady(n), tainted: tainted(n), labels: labels.Set(n.Labels).String()}
}

func (r *backendResync) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *backendResync) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-r.kick:
		}
		// Nodes change in bursts (a rollout, a zone outage): one pass for the burst.
		select {
		case <-stop:
			return
		case <-time.After(r.debounce):
		}
		r.resync()
	}
}

func (r *backendResync) resync() {
	svcs, err := r.services.List(labels.Everything())
	if err != nil {
		return
	}
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	nodes = excludedByController(nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, svc := range svcs {
		if !r.lbs.handled(svc.UID) || svc.Spec.Type != v1.ServiceTypeLoadBalancer || svc.DeletionTimestamp != nil {
			continue
		}
		if err := r.lbs.updateBackends(ctx, svc, nodes); err != nil {
			klog.V(2).InfoS("Backend resync", "service", klog.KObj(svc), "err", err)
		}
	}
}

// excludedByController drops the nodes the service controller itself never passes.
func excludedByController(nodes []*v1.Node) []*v1.Node {
	out := nodes[:0:0]
	for _, n := range nodes {
		if n.DeletionTimestamp.IsZero() && !excluded(n) {
			out = append(out, n)
		}
	}
	return out
}

// handled reports whether the service controller has given this Service to the
// provider (Services of another loadBalancerClass never are).
func (l *loadBalancers) handled(uid types.UID) bool {
	l.seenMu.Lock()
	defer l.seenMu.Unlock()
	return l.seen[uid]
}

func (l *loadBalancers) markHandled(uid types.UID, on bool) {
	l.seenMu.Lock()
	defer l.seenMu.Unlock()
	if l.seen == nil {
		l.seen = map[types.UID]bool{}
	}
	if on {
		l.seen[uid] = true
	} else {
		delete(l.seen, uid)
	}
}
