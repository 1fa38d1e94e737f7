package fake

import (
	"context"
	"slices"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
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
	off, lim, verr := validate.DescribeVpcs(req)
	if verr != nil {
		return nil, c.fail(verr)
	}
	page, total := describe(c.vpcs, func(v *ic.Vpc) bool { return validate.MatchVpc(req, v) }, off, lim)
	return &ic.DescribeVpcsResponse{ResponseMeta: c.meta(), Vpcs: page, TotalCount: total}, nil
}

// DescribeRouteTables implements iaasclient.VPCAPI.
func (c *Cloud) DescribeRouteTables(ctx context.Context, req *ic.DescribeRouteTablesRequest) (*ic.DescribeRouteTablesResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeRouteTables, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	off, lim, verr := validate.DescribeRouteTables(req)
	if verr != nil {
		return nil, c.fail(verr)
	}
	page, total := describe(c.routeTables, func(rt *ic.RouteTable) bool { return validate.MatchRouteTable(req, rt) }, off, lim)
	return &ic.DescribeRouteTablesResponse{ResponseMeta: c.meta(), RouteTables: page, TotalCount: total}, nil
}

// routeTableOf finds a route table by id.
func (c *Cloud) routeTableOf(id string) (*ic.RouteTable, error) {
	if err := validate.Required("routeTableId", id); err != nil {
		return nil, c.fail(err)
	}
	rt, ok := c.routeTables[id]
	if !ok {
		return nil, c.fail(validate.NotFound("routeTableId", "route table", id))
	}
	return rt, nil
}

// CreateRoutes implements iaasclient.VPCAPI: all or nothing, synchronous.
func (c *Cloud) CreateRoutes(ctx context.Context, req *ic.CreateRoutesRequest) (*ic.CreateRoutesResponse, error) {
	if err := c.enter(ctx, ic.ActionCreateRoutes, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := validate.Text("routeTableId", req.RouteTableID, validate.MaxNameLen); err != nil {
		return nil, c.fail(err)
	}
	fp := *req
	fp.ClientToken = ""
	if r, done, err := replay[ic.CreateRoutesResponse](c, ic.ActionCreateRoutes, req.ClientToken, fp); done {
		return r, err
	}
	rt, err := c.routeTableOf(req.RouteTableID)
	if err != nil {
		return nil, err
	}
	existing := make([]string, len(rt.Routes))
	for i, r := range rt.Routes {
		existing[i] = r.DestinationCidr
	}
	// Next hops first: a missing instance is a clearer answer than a limit.
	if err := c.check(validate.RouteNextHops(req.Routes, rt.VpcID, func(id string) *ic.Instance { return c.instances[id] })); err != nil {
		return nil, err
	}
	if err := c.check(validate.RouteSpecs(req.Routes, existing, rt.RouteLimit)); err != nil {
		return nil, err
	}
	now := c.now().UTC()
	out := make([]ic.Route, len(req.Routes))
	for i, r := range req.Routes {
		out[i] = ic.Route{
			RouteID: c.newID("route"), DestinationCidr: r.DestinationCidr,
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
	if err := validate.NonEmptyIDList("routeIds", "route", req.RouteIDs); err != nil {
		return nil, c.fail(err)
	}
	rt, err := c.routeTableOf(req.RouteTableID)
	if err != nil {
		return nil, err
	}
	rt.Routes = slices.DeleteFunc(rt.Routes, func(r ic.Route) bool { return slices.Contains(req.RouteIDs, r.RouteID) })
	return &ic.DeleteRoutesResponse{ResponseMeta: c.meta()}, nil
}
