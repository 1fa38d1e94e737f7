package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Batching of route writes: the route controller calls CreateRoute from up to 200
// goroutines at once; a short window turns them into a few batch calls.
const (
	routeBatchWindow  = 50 * time.Millisecond
	routeBatchMax     = 100
	routeBatchTimeout = 2 * time.Minute
)

// Event reasons on Nodes.
const (
	ReasonRouteLimitExceeded = "RouteLimitExceeded"
	ReasonRouteConflict      = "RouteConflict"
)

type routes struct {
	store     routeStore
	inst      *instances
	clusterID string
	nodes     func(name string) *v1.Node // nil until informers are set
	events    *eventer

	creates *batcher[ic.RouteSpec]
	deletes *batcher[string]
}

var _ cloudprovider.Routes = (*routes)(nil)

func newRoutes(store routeStore, inst *instances, clusterID string, events *eventer) *routes {
	r := &routes{store: store, inst: inst, clusterID: clusterID, events: events}
	r.creates = newBatcher(routeBatchWindow, routeBatchMax, routeBatchTimeout, r.createBatch)
	r.deletes = newBatcher(routeBatchWindow, routeBatchMax, routeBatchTimeout, r.deleteBatch)
	return r
}

func (r *routes) owned(rt *ic.Route) bool { return rt.Tags[TagCluster] == r.clusterID }

// ListRoutes lists this cluster's routes. A route whose next hop is no longer the
// instance of its node (instance gone or terminated, or the node now runs elsewhere) is
// reported as a blackhole so the route controller replaces it.
func (r *routes) ListRoutes(ctx context.Context, _ string) ([]*cloudprovider.Route, error) {
	t, err := r.store.table(ctx, time.Hour)
	if err != nil {
		return nil, translate(opRoutes, err)
	}
	idx, err := r.inst.store.instances(ctx, time.Hour)
	if err != nil {
		return nil, translate(opRoutes, err)
	}
	for _, rt := range t.Routes {
		if _, ok := idx.byID[rt.NextHopInstanceID]; r.owned(&rt) && !ok {
			// Only a view newer than the route can say its next hop is gone.
			if idx, err = r.inst.store.instances(ctx, missRefresh); err != nil {
				return nil, translate(opRoutes, err)
			}
			break
		}
	}
	var out []*cloudprovider.Route
	for _, rt := range t.Routes {
		if !r.owned(&rt) {
			continue
		}
		node := rt.Tags[TagNode]
		in, ok := idx.byID[rt.NextHopInstanceID]
		blackhole := !ok || in.State == ic.InstanceTerminated || r.movedAway(node, rt.NextHopInstanceID)
		out = append(out, &cloudprovider.Route{
			Name:            rt.RouteID,
			TargetNode:      types.NodeName(node),
			DestinationCIDR: rt.DestinationCidr,
			Blackhole:       blackhole,
		})
	}
	return out, nil
}

// movedAway reports whether the Node now has a providerID naming another instance.
func (r *routes) movedAway(nodeName, instanceID string) bool {
	if r.nodes == nil {
		return false
	}
	n := r.nodes(nodeName)
	if n == nil || n.Spec.ProviderID == "" {
		return false
	}
	id, err := ParseProviderID(n.Spec.ProviderID)
	return err == nil && id != instanceID
}

func (r *routes) CreateRoute(ctx context.Context, _ string, _ string, route *cloudprovider.Route) error {
	nodeName := string(route.TargetNode)
	node := r.targetNode(route)
	in, err := r.inst.find(ctx, node)
	if err != nil {
		return translate(opRoutes, fmt.Errorf("node %s: %w", nodeName, err))
	}
	t, err := r.store.table(ctx, time.Hour)
	if err != nil {
		return translate(opRoutes, err)
	}
	for _, rt := range t.Routes {
		if rt.DestinationCidr != route.DestinationCIDR {
			continue
		}
		if r.owned(&rt) && rt.NextHopInstanceID == in.InstanceID {
			return nil // created before a restart, or by a retry
		}
		r.events.warnOnce(nodeName, r.nodeObj(node), ReasonRouteConflict,
			"Route table %s already has route %s for %s to %s", t.RouteTableID, rt.RouteID, rt.DestinationCidr, rt.NextHopInstanceID)
		return fmt.Errorf("routes: %s is already routed to %s by route %s: %w", route.DestinationCIDR, rt.NextHopInstanceID, rt.RouteID, ic.ErrInUse)
	}
	if t.RouteLimit > 0 && len(t.Routes) >= t.RouteLimit {
		r.warnLimit(node, t)
		return fmt.Errorf("routes: node %s: %w", nodeName, errRouteLimit)
	}
	err = r.creates.do(ctx, ic.RouteSpec{
		DestinationCidr:   route.DestinationCIDR,
		NextHopInstanceID: in.InstanceID,
		Description:       fmt.Sprintf("kube-iaas cluster %s: pod CIDR of node %s", r.clusterID, nodeName),
		Tags:              map[string]string{TagCluster: r.clusterID, TagNode: nodeName},
	})
	switch {
	case err == nil:
		r.events.clear(nodeName, ReasonRouteLimitExceeded)
		klog.V(2).InfoS("Created route", "node", nodeName, "cidr", route.DestinationCIDR, "instance", in.InstanceID)
		return nil
	case errors.Is(err, ic.ErrLimitExceeded):
		if t, terr := r.store.table(ctx, time.Hour); terr == nil {
			r.warnLimit(node, t)
		}
	}
	return translate(opRoutes, err)
}

func (r *routes) warnLimit(node *v1.Node, t *ic.RouteTable) {
	r.events.warnOnce(node.Name, r.nodeObj(node), ReasonRouteLimitExceeded,
		"Route table %s is full (%d of %d routes); pods on this node are unreachable from other nodes until routes are freed or the limit is raised",
		t.RouteTableID, len(t.Routes), t.RouteLimit)
}

// createBatch creates routes in one call. The API is all or nothing, so a failing
// batch is narrowed down: a full table gets the routes that still fit, and a conflict
// is retried route by route so one bad route does not fail its neighbours.
func (r *routes) createBatch(ctx context.Context, specs []ic.RouteSpec) []error {
	errs := make([]error, len(specs))
	_, err := r.store.create(ctx, specs)
	if err == nil {
		return errs
	}
	fill := func(e error) []error {
		for i := range errs {
			errs[i] = e
		}
		return errs
	}
	switch {
	case errors.Is(err, ic.ErrLimitExceeded):
		r.store.forget()
		t, terr := r.store.table(ctx, 0)
		if terr != nil || len(specs) == 1 || t.RouteLimit <= len(t.Routes) {
			return fill(err)
		}
		free := min(t.RouteLimit-len(t.Routes), len(specs))
		copy(errs, r.createBatch(ctx, specs[:free]))
		for i := free; i < len(specs); i++ {
			errs[i] = err
		}
		return errs
	case len(specs) > 1 && (errors.Is(err, ic.ErrInUse) || errors.Is(err, ic.ErrInvalidParameter) || errors.Is(err, ic.ErrNotFound)):
		for i := range specs {
			errs[i] = r.createBatch(ctx, specs[i:i+1])[0]
		}
		return errs
	case errors.Is(err, ic.ErrInUse):
		r.store.forget()
	}
	return fill(err)
}

func (r *routes) DeleteRoute(ctx context.Context, _ string, route *cloudprovider.Route) error {
	id := route.Name
	if id == "" {
		t, err := r.store.table(ctx, time.Hour)
		if err != nil {
			return translate(opRoutes, err)
		}
		for _, rt := range t.Routes {
			if r.owned(&rt) && rt.DestinationCidr == route.DestinationCIDR && rt.Tags[TagNode] == string(route.TargetNode) {
				id = rt.RouteID
			}
		}
		if id == "" {
			return nil
		}
	}
	if err := r.deletes.do(ctx, id); err != nil {
		return translate(opRoutes, err)
	}
	klog.V(2).InfoS("Deleted route", "route", id, "node", route.TargetNode, "cidr", route.DestinationCIDR)
	return nil
}

func (r *routes) deleteBatch(ctx context.Context, ids []string) []error {
	err := r.store.delete(ctx, ids)
	errs := make([]error, len(ids))
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// targetNode returns the Node of a route, or a stand-in carrying what the route
// controller told us, so the instance lookup works before informers are synced.
func (r *routes) targetNode(route *cloudprovider.Route) *v1.Node {
	if r.nodes != nil {
		if n := r.nodes(string(route.TargetNode)); n != nil {
			return n
		}
	}
	n := &v1.Node{}
	n.Name = string(route.TargetNode)
	n.Status.Addresses = route.TargetNodeAddresses
	return n
}

func (r *routes) nodeObj(n *v1.Node) *v1.ObjectReference {
	ref := nodeRef(n.Name)
	if n.UID != "" {
		ref.UID = n.UID
	}
	return ref
}
