package fake

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// AddVpc stores a VPC; an empty id gets a new vpc- id.
func (c *Cloud) AddVpc(v ic.Vpc) ic.Vpc {
	c.mu.Lock()
	defer c.mu.Unlock()
	v = clone(v)
	if v.VpcID == "" {
		v.VpcID = c.newID("vpc")
	}
	if v.Region == "" {
		v.Region = c.region
	}
	c.vpcs[v.VpcID] = &v
	return clone(v)
}

// AddRouteTable stores a route table; an empty id gets a new rtb- id, an empty VPC is
// the default one and a zero RouteLimit is the routesPerTable quota. Routes given
// without ids get route- ids.
func (c *Cloud) AddRouteTable(rt ic.RouteTable) ic.RouteTable {
	c.mu.Lock()
	defer c.mu.Unlock()
	rt = clone(rt)
	if rt.RouteTableID == "" {
		rt.RouteTableID = c.newID("rtb")
	}
	if rt.VpcID == "" {
		rt.VpcID = DefaultVpcID
	}
	if rt.RouteLimit == 0 {
		rt.RouteLimit = c.quotas["routesPerTable"]
	}
	if rt.Routes == nil {
		rt.Routes = []ic.Route{}
	}
	for i := range rt.Routes {
		if rt.Routes[i].RouteID == "" {
			rt.Routes[i].RouteID = c.newID("route")
		}
	}
	c.routeTables[rt.RouteTableID] = &rt
	return clone(rt)
}

// SetRouteLimit changes the route limit of a table.
func (c *Cloud) SetRouteLimit(routeTableID string, limit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rt, ok := c.routeTables[routeTableID]; ok {
		rt.RouteLimit = limit
	}
}

// Routes returns a copy of a table's routes.
func (c *Cloud) Routes(routeTableID string) []ic.Route {
	c.mu.Lock()
	defer c.mu.Unlock()
	rt, ok := c.routeTables[routeTableID]
	if !ok {
		return nil
	}
	return clone(rt.Routes)
}

// DescribeVpcs implements iaasclient.VPCAPI.
func (c *Cloud) DescribeVpcs(ctx context.Context, req *ic.DescribeVpcsRequest) (*ic.DescribeVpcsResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeVpcs, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []ic.Vpc
	for _, v := range c.vpcs {
		if anyOf(req.VpcIDs, v.VpcID) {
			all = append(all, *v)
		}
	}
	slices.SortFunc(all, func(a, b ic.Vpc) int { return strings.Compare(a.VpcID, b.VpcID) })
	lo, hi, err := c.pageOf(req.Page, len(all))
	if err != nil {
		return nil, err
	}
	return &ic.DescribeVpcsResponse{ResponseMeta: c.meta(), Vpcs: clone(all[lo:hi]), TotalCount: len(all)}, nil
}

// DescribeRouteTables implements iaasclient.VPCAPI.
func (c *Cloud) DescribeRouteTables(ctx context.Context, req *ic.DescribeRouteTablesRequest) (*ic.DescribeRouteTablesResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeRouteTables, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []ic.RouteTable
	for _, rt := range c.routeTables {
		if anyOf(req.RouteTableIDs, rt.RouteTableID) && (req.VpcID == "" || req.VpcID == rt.VpcID) {
			all = append(all, *rt)
		}
	}
	slices.SortFunc(all, func(a, b ic.RouteTable) int { return strings.Compare(a.RouteTableID, b.RouteTableID) })
	lo, hi, err := c.pageOf(req.Page, len(all))
	if err != nil {
		return nil, err
	}
	return &ic.DescribeRouteTablesResponse{ResponseMeta: c.meta(), RouteTables: clone(all[lo:hi]), TotalCount: len(all)}, nil
}

// CreateRoutes implements iaasclient.VPCAPI: all or nothing, synchronous.
func (c *Cloud) CreateRoutes(ctx context.Context, req *ic.CreateRoutesRequest) (*ic.CreateRoutesResponse, error) {
	if err := c.enter(ctx, ic.ActionCreateRoutes, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fp := *req
	fp.ClientToken = ""
	if prev, err := c.checkToken(ic.ActionCreateRoutes, req.ClientToken, fp); err != nil || prev != nil {
		if err != nil {
			return nil, err
		}
		r := clone(*prev.(*ic.CreateRoutesResponse))
		return &r, nil
	}
	rt, ok := c.routeTables[req.RouteTableID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "routeTableId: route table %q not found", req.RouteTableID)
	}
	// Next hops first, as the simulator does: a missing instance is a clearer answer
	// than a limit.
	for i, r := range req.Routes {
		if r.NextHopInstanceID == "" {
			continue
		}
		in, ok := c.instances[r.NextHopInstanceID]
		if !ok || in.State == ic.InstanceTerminated {
			return nil, c.failf(ic.CodeResourceNotFound, "routes[%d].nextHopInstanceId: instance %q not found", i, r.NextHopInstanceID)
		}
		if in.VpcID != rt.VpcID {
			return nil, c.failf(ic.CodeInvalidParameter, "routes[%d].nextHopInstanceId: instance %q is not in VPC %q", i, in.InstanceID, rt.VpcID)
		}
		if len(in.PrivateIPs) == 0 {
			return nil, c.failf(ic.CodeInvalidParameter, "routes[%d].nextHopInstanceId: instance %q has no private IP", i, in.InstanceID)
		}
	}
	if len(req.Routes) == 0 {
		return nil, c.failf(ic.CodeInvalidParameter, "routes: at least one is required")
	}
	prefixes := make([]netip.Prefix, len(req.Routes))
	for i, r := range req.Routes {
		p, err := netip.ParsePrefix(r.DestinationCidr)
		if err != nil || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return nil, c.failf(ic.CodeInvalidParameter, "routes[%d].destinationCidr: %q is not a canonical CIDR block", i, r.DestinationCidr)
		}
		if r.NextHopInstanceID == "" {
			return nil, c.failf(ic.CodeInvalidParameter, "routes[%d].nextHopInstanceId: is required", i)
		}
		prefixes[i] = p
	}
	for i := range prefixes {
		for j := range i {
			if prefixes[i].Overlaps(prefixes[j]) {
				return nil, c.failf(ic.CodeResourceInUse, "routes[%d].destinationCidr: %s overlaps routes[%d].destinationCidr %s", i, prefixes[i], j, prefixes[j])
			}
		}
	}
	for _, ex := range rt.Routes {
		ep, err := netip.ParsePrefix(ex.DestinationCidr)
		if err != nil {
			continue
		}
		for i, p := range prefixes {
			if p.Overlaps(ep) {
				return nil, c.failf(ic.CodeResourceInUse, "routes[%d].destinationCidr: %s overlaps the existing route %s (%s)", i, p, ex.RouteID, ep)
			}
		}
	}
	if len(rt.Routes)+len(req.Routes) > rt.RouteLimit {
		return nil, c.failf(ic.CodeLimitExceeded, "routes: route table %q holds %d of %d routes, %d more do not fit", rt.RouteTableID, len(rt.Routes), rt.RouteLimit, len(req.Routes))
	}
	now := c.now().UTC()
	out := make([]ic.Route, len(req.Routes))
	for i, r := range req.Routes {
		out[i] = ic.Route{
			RouteID: c.newID("route"), DestinationCidr: prefixes[i].String(),
			NextHopInstanceID: r.NextHopInstanceID, NextHopIP: c.instances[r.NextHopInstanceID].PrivateIPs[0],
			Description: r.Description, Tags: r.Tags, CreatedAt: now,
		}
	}
	rt.Routes = append(rt.Routes, clone(out)...)
	resp := &ic.CreateRoutesResponse{ResponseMeta: c.meta(), Routes: out}
	c.recordToken(ic.ActionCreateRoutes, req.ClientToken, fp, resp)
	r := clone(*resp)
	return &r, nil
}

// DeleteRoutes implements iaasclient.VPCAPI; ids that do not exist are ignored.
func (c *Cloud) DeleteRoutes(ctx context.Context, req *ic.DeleteRoutesRequest) (*ic.DeleteRoutesResponse, error) {
	if err := c.enter(ctx, ic.ActionDeleteRoutes, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rt, ok := c.routeTables[req.RouteTableID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "routeTableId: route table %q not found", req.RouteTableID)
	}
	if len(req.RouteIDs) == 0 {
		return nil, c.failf(ic.CodeInvalidParameter, "routeIds: at least one is required")
	}
	rt.Routes = slices.DeleteFunc(rt.Routes, func(r ic.Route) bool { return slices.Contains(req.RouteIDs, r.RouteID) })
	return &ic.DeleteRoutesResponse{ResponseMeta: c.meta()}, nil
}
