package iaassim

import (
	"hash/fnv"
	"strconv"

	"github.com/google/uuid"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func (s *Server) tcDescribeVpcs(c *call, body []byte) (any, *iaasclient.Error) {
	var req vpc.DescribeVpcsRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	r, err := s.native(c, iaasclient.ActionDescribeVpcs, &iaasclient.DescribeVpcsRequest{VpcIDs: derefs(req.VpcIds)})
	if err != nil {
		return nil, err
	}
	resp := r.(*iaasclient.DescribeVpcsResponse)
	set := []*vpc.Vpc{}
	for _, v := range resp.Vpcs {
		set = append(set, &vpc.Vpc{VpcId: common.StringPtr(v.VpcID), VpcName: common.StringPtr(v.Name), CidrBlock: common.StringPtr(v.CidrBlock)})
	}
	// Tencent answers an unknown VpcId with an empty set, not an error.
	return map[string]any{"TotalCount": resp.TotalCount, "VpcSet": set}, nil
}

// tcRouteID is the numeric RouteId of a native route id (Tencent's older handle; the
// string RouteItemId is the native id itself).
func tcRouteID(id string) uint64 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return uint64(h.Sum32())
}

func tcRoute(tableID string, r *iaasclient.Route) *vpc.Route {
	id := tcRouteID(r.RouteID)
	return &vpc.Route{
		DestinationCidrBlock: common.StringPtr(r.DestinationCidr), GatewayType: common.StringPtr("NORMAL_CVM"),
		GatewayId: common.StringPtr(r.NextHopIP), RouteId: &id, RouteItemId: common.StringPtr(r.RouteID),
		RouteDescription: common.StringPtr(r.Description), Enabled: common.BoolPtr(true),
		RouteType: common.StringPtr("USER"), RouteTableId: common.StringPtr(tableID),
		CreatedTime: common.StringPtr(r.CreatedAt.UTC().Format("2006-01-02 15:04:05")),
	}
}

func tcRouteTable(t *iaasclient.RouteTable) *vpc.RouteTable {
	out := &vpc.RouteTable{VpcId: common.StringPtr(t.VpcID), RouteTableId: common.StringPtr(t.RouteTableID), RouteTableName: common.StringPtr(t.Name), RouteSet: []*vpc.Route{}}
	for i := range t.Routes {
		out.RouteSet = append(out.RouteSet, tcRoute(t.RouteTableID, &t.Routes[i]))
	}
	return out
}

func (s *Server) tcDescribeRouteTables(c *call, body []byte) (any, *iaasclient.Error) {
	var req vpc.DescribeRouteTablesRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	nreq := iaasclient.DescribeRouteTablesRequest{RouteTableIDs: derefs(req.RouteTableIds)}
	for _, f := range req.Filters {
		if f.Name != nil && *f.Name == "vpc-id" && len(f.Values) == 1 {
			nreq.VpcID = *f.Values[0]
			continue
		}
		return nil, errf(iaasclient.CodeInvalidParameter, "only the vpc-id filter is supported by this fake")
	}
	if req.Offset != nil {
		nreq.Offset, _ = strconv.Atoi(*req.Offset)
	}
	if req.Limit != nil {
		nreq.Limit, _ = strconv.Atoi(*req.Limit)
	}
	r, err := s.native(c, iaasclient.ActionDescribeRouteTables, &nreq)
	if err != nil {
		return nil, err
	}
	resp := r.(*iaasclient.DescribeRouteTablesResponse)
	set := []*vpc.RouteTable{}
	for i := range resp.RouteTables {
		set = append(set, tcRouteTable(&resp.RouteTables[i]))
	}
	return map[string]any{"TotalCount": resp.TotalCount, "RouteTableSet": set}, nil
}

// tcCreateRoutes: NORMAL_CVM routes name the next hop by private IP; the native API by
// instance, found here among the tenant's instances.
func (s *Server) tcCreateRoutes(c *call, body []byte) (any, *iaasclient.Error) {
	var req vpc.CreateRoutesRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if req.RouteTableId == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "RouteTableId is required")
	}
	nreq := iaasclient.CreateRoutesRequest{RouteTableID: *req.RouteTableId, ClientToken: uuid.NewString()}
	for _, r := range req.Routes {
		if r.GatewayType == nil || *r.GatewayType != "NORMAL_CVM" || r.GatewayId == nil || r.DestinationCidrBlock == nil {
			return nil, errf(iaasclient.CodeInvalidParameter, "Routes: DestinationCidrBlock and GatewayType NORMAL_CVM with GatewayId (an instance's private IP) are required by this fake")
		}
		inst := s.tenantInstanceByIP(c.tenant.name, *r.GatewayId)
		if inst == "" {
			return nil, errf(iaasclient.CodeInvalidParameter, "GatewayId %s is not a private IP of an instance", *r.GatewayId)
		}
		spec := iaasclient.RouteSpec{DestinationCidr: *r.DestinationCidrBlock, NextHopInstanceID: inst}
		if r.RouteDescription != nil {
			spec.Description = *r.RouteDescription
		}
		nreq.Routes = append(nreq.Routes, spec)
	}
	if _, err := s.native(c, iaasclient.ActionCreateRoutes, &nreq); err != nil {
		return nil, err
	}
	t, err := s.native(c, iaasclient.ActionDescribeRouteTables, &iaasclient.DescribeRouteTablesRequest{RouteTableIDs: []string{nreq.RouteTableID}})
	if err != nil {
		return nil, err
	}
	tables := t.(*iaasclient.DescribeRouteTablesResponse).RouteTables
	set := []*vpc.RouteTable{}
	for i := range tables {
		set = append(set, tcRouteTable(&tables[i]))
	}
	return map[string]any{"TotalCount": len(nreq.Routes), "RouteTableSet": set}, nil
}

func (s *Server) tcDeleteRoutes(c *call, body []byte) (any, *iaasclient.Error) {
	var req vpc.DeleteRoutesRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if req.RouteTableId == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "RouteTableId is required")
	}
	t, err := s.native(c, iaasclient.ActionDescribeRouteTables, &iaasclient.DescribeRouteTablesRequest{RouteTableIDs: []string{*req.RouteTableId}})
	if err != nil {
		return nil, err
	}
	byNum := map[uint64]string{}
	for _, tb := range t.(*iaasclient.DescribeRouteTablesResponse).RouteTables {
		for _, r := range tb.Routes {
			byNum[tcRouteID(r.RouteID)] = r.RouteID
		}
	}
	var ids []string
	for _, r := range req.Routes {
		switch {
		case r.RouteItemId != nil && *r.RouteItemId != "":
			ids = append(ids, *r.RouteItemId)
		case r.RouteId != nil:
			id, ok := byNum[*r.RouteId]
			if !ok {
				return nil, errf(iaasclient.CodeResourceNotFound, "RouteId %d not found", *r.RouteId)
			}
			ids = append(ids, id)
		default:
			return nil, errf(iaasclient.CodeInvalidParameter, "Routes: RouteId or RouteItemId is required")
		}
	}
	if _, err := s.native(c, iaasclient.ActionDeleteRoutes, &iaasclient.DeleteRoutesRequest{RouteTableID: *req.RouteTableId, RouteIDs: ids}); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// tenantInstanceByIP is the id of the tenant's live instance with this private IP.
func (s *Server) tenantInstanceByIP(tenantName, ip string) string {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	for _, in := range s.state.instances {
		if in.Tenant != tenantName || in.State == iaasclient.InstanceTerminated {
			continue
		}
		for _, p := range in.PrivateIPs {
			if p == ip {
				return in.InstanceID
			}
		}
	}
	return ""
}
