package iaassim

import (
	"context"
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

func (s *Server) describeVpcs(c *call, req *iaasclient.DescribeVpcsRequest) (any, *iaasclient.Error) {
	off, lim, err := validate.DescribeVpcs(req)
	if err != nil {
		return nil, err
	}
	page, total := describePage(s.vpcs, func(v *vpcInfo) bool {
		return v.tenant == c.tenant.name && validate.MatchVpc(req, &v.vpc)
	}, func(v *vpcInfo) iaasclient.Vpc { return v.vpc }, off, lim)
	return &iaasclient.DescribeVpcsResponse{TotalCount: total, Vpcs: page}, nil
}

func (s *Server) describeRouteTables(c *call, req *iaasclient.DescribeRouteTablesRequest) (any, *iaasclient.Error) {
	off, lim, err := validate.DescribeRouteTables(req)
	if err != nil {
		return nil, err
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	page, total := describePage(s.state.routeTables, func(r *routeTableRec) bool {
		return r.Tenant == c.tenant.name && validate.MatchRouteTable(req, &r.RouteTable)
	}, func(r *routeTableRec) iaasclient.RouteTable {
		rt := r.RouteTable
		if rt.Routes == nil {
			rt.Routes = []iaasclient.Route{}
		}
		return rt
	}, off, lim)
	return &iaasclient.DescribeRouteTablesResponse{TotalCount: total, RouteTables: page}, nil
}

// routeTableOf returns the tenant's table or ResourceNotFound (also for other tenants').
func (s *Server) routeTableOf(c *call, id string) (*routeTableRec, *iaasclient.Error) {
	if err := validate.Required("routeTableId", id); err != nil {
		return nil, err
	}
	rt := s.state.routeTables[id]
	if rt == nil || rt.Tenant != c.tenant.name {
		return nil, validate.NotFound("routeTableId", "route table", id)
	}
	return rt, nil
}

func (s *Server) createRoutes(c *call, req *iaasclient.CreateRoutesRequest) (any, *iaasclient.Error) {
	if err := validate.Text("routeTableId", req.RouteTableID, validate.MaxNameLen); err != nil {
		return nil, err
	}
	resp, err := s.createRoutesLocked(c, req)
	if err != nil {
		return nil, err
	}
	s.syncRouter(s.ctx)
	return resp, nil
}

func (s *Server) createRoutesLocked(c *call, req *iaasclient.CreateRoutesRequest) (any, *iaasclient.Error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	hashed := *req
	hashed.ClientToken = ""
	hash := paramsHash(hashed)
	resp := &iaasclient.CreateRoutesResponse{}
	if ok, err := s.replayToken(c, req.ClientToken, hash, resp); ok || err != nil {
		return resp, err
	}
	rt, err := s.routeTableOf(c, req.RouteTableID)
	if err != nil {
		return nil, err
	}
	var existing []string
	for _, r := range rt.Routes {
		existing = append(existing, r.DestinationCidr)
	}
	// Next hops first: a missing instance is a clearer answer than a limit.
	err = validate.RouteNextHops(req.Routes, rt.VpcID, func(id string) *iaasclient.Instance {
		if in := s.state.instances[id]; in != nil && in.Tenant == c.tenant.name {
			return &in.Instance
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := validate.RouteSpecs(req.Routes, existing, rt.RouteLimit); err != nil {
		return nil, err
	}
	n := clone(rt)
	now := s.now().UTC()
	taken := func(id string) bool {
		return slices.ContainsFunc(n.Routes, func(r iaasclient.Route) bool { return r.RouteID == id })
	}
	for _, sp := range req.Routes {
		in := s.state.instances[sp.NextHopInstanceID]
		r := iaasclient.Route{
			RouteID: newID("route-", taken), DestinationCidr: sp.DestinationCidr,
			NextHopInstanceID: in.InstanceID, NextHopIP: in.PrivateIPs[0],
			Description: sp.Description, Tags: copyTags(sp.Tags), CreatedAt: now,
		}
		n.Routes = append(n.Routes, r)
		resp.Routes = append(resp.Routes, r)
	}
	tx := s.state.begin()
	tx.putRouteTable(n)
	s.recordToken(tx, c, req.ClientToken, hash, resp)
	if err := tx.commit(); err != nil {
		return nil, err
	}
	s.routerDirty.Store(true)
	return resp, nil
}

func (s *Server) deleteRoutes(c *call, req *iaasclient.DeleteRoutesRequest) (any, *iaasclient.Error) {
	if err := validate.NonEmptyIDList("routeIds", "route", req.RouteIDs); err != nil {
		return nil, err
	}
	changed, err := func() (bool, *iaasclient.Error) {
		s.state.mu.Lock()
		defer s.state.mu.Unlock()
		rt, err := s.routeTableOf(c, req.RouteTableID)
		if err != nil {
			return false, err
		}
		n := clone(rt)
		n.Routes = slices.DeleteFunc(n.Routes, func(r iaasclient.Route) bool { return slices.Contains(req.RouteIDs, r.RouteID) })
		if len(n.Routes) == len(rt.Routes) {
			return false, nil
		}
		tx := s.state.begin()
		tx.putRouteTable(n)
		if err := tx.commit(); err != nil {
			return false, err
		}
		s.routerDirty.Store(true)
		return true, nil
	}()
	if err != nil {
		return nil, err
	}
	if changed {
		s.syncRouter(s.ctx)
	}
	return &iaasclient.DeleteRoutesResponse{}, nil
}

// allRoutes is every route of every table, for Router.Sync.
func (s *Server) allRoutes() []dataplane.RouteEntry {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	var out []dataplane.RouteEntry
	for _, rt := range sortedValues(s.state.routeTables, nil) {
		for _, r := range rt.Routes {
			out = append(out, dataplane.RouteEntry{DestinationCidr: r.DestinationCidr, NextHopIP: r.NextHopIP})
		}
	}
	return out
}

// syncRouter programs the router with the stored routes. A failure leaves routerDirty
// set and the background loop retries.
func (s *Server) syncRouter(ctx context.Context) {
	s.routerMu.Lock()
	defer s.routerMu.Unlock()
	s.routerDirty.Store(false)
	if err := s.dp.Router.Sync(ctx, s.allRoutes()); err != nil {
		s.routerDirty.Store(true)
		s.log().Error(err, "Programming the VPC router failed; will retry")
	}
}
