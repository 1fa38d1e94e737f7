package tencentcloud

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// gatewayNormalCVM is the next-hop type of a route to an ordinary CVM instance; its
// GatewayId is the instance's private IP.
const gatewayNormalCVM = "NORMAL_CVM"

// Route entries have no tags on Tencent Cloud, so the tags that mark ownership (and the
// next-hop instance, which the API does not return for NORMAL_CVM) travel in
// RouteDescription: "kube-iaas:" followed by a URL query. Routes whose description
// does not start so are someone else's and come back untagged.
const descPrefix = "kube-iaas:"

// ownTagPrefix is the prefix of the tags the CCM writes (cloudprovider/tags.go).
const ownTagPrefix = "kube-iaas.io/"

func encodeRouteDescription(spec ic.RouteSpec) string {
	v := url.Values{}
	for k, val := range spec.Tags {
		// Tencent allows 100 characters of description: our own tag prefix is shortened.
		if rest, ok := strings.CutPrefix(k, ownTagPrefix); ok {
			v.Set("k."+rest, val)
		} else {
			v.Set("t."+k, val)
		}
	}
	v.Set("i", spec.NextHopInstanceID)
	return descPrefix + v.Encode()
}

// DecodeRouteDescription reads back what CreateRoutes wrote into RouteDescription: the
// tags and the next-hop instance (desc is the description of a route not ours).
func DecodeRouteDescription(s string) (tags map[string]string, instanceID, desc string) {
	rest, ok := strings.CutPrefix(s, descPrefix)
	if !ok {
		return nil, "", s
	}
	v, err := url.ParseQuery(rest)
	if err != nil {
		return nil, "", s
	}
	for k := range v {
		if key, ok := strings.CutPrefix(k, "k."); ok {
			if tags == nil {
				tags = map[string]string{}
			}
			tags[ownTagPrefix+key] = v.Get(k)
		}
		if key, ok := strings.CutPrefix(k, "t."); ok {
			if tags == nil {
				tags = map[string]string{}
			}
			tags[key] = v.Get(k)
		}
	}
	return tags, v.Get("i"), ""
}

func routeID(r *vpc.Route) string {
	if id := str(r.RouteItemId); id != "" {
		return id
	}
	if r.RouteId != nil {
		return strconv.FormatUint(*r.RouteId, 10)
	}
	return ""
}

func route(r *vpc.Route) ic.Route {
	tags, inst, desc := DecodeRouteDescription(str(r.RouteDescription))
	return ic.Route{
		RouteID: routeID(r), DestinationCidr: str(r.DestinationCidrBlock), NextHopIP: str(r.GatewayId),
		NextHopInstanceID: inst, Description: desc, Tags: tags, CreatedAt: tcTime(r.CreatedTime),
	}
}

// DefaultRouteLimit is Tencent's documented route entries per table.
const DefaultRouteLimit = 50

func (c *Client) DescribeVpcs(ctx context.Context, req *ic.DescribeVpcsRequest) (*ic.DescribeVpcsResponse, error) {
	r := vpc.NewDescribeVpcsRequest()
	if len(req.VpcIDs) > 0 {
		r.VpcIds = sps(req.VpcIDs)
	}
	o, l := window(req.Offset, req.Limit)
	r.Offset, r.Limit = sp(strconv.Itoa(o)), sp(strconv.Itoa(l))
	resp := vpc.NewDescribeVpcsResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, err
	}
	out := &ic.DescribeVpcsResponse{Vpcs: []ic.Vpc{}}
	for _, v := range resp.Response.VpcSet {
		out.Vpcs = append(out.Vpcs, ic.Vpc{VpcID: str(v.VpcId), Name: str(v.VpcName), CidrBlock: str(v.CidrBlock), Region: c.cfg.Region})
	}
	if resp.Response.TotalCount != nil {
		out.TotalCount = int(*resp.Response.TotalCount)
	}
	return out, nil
}

func (c *Client) DescribeRouteTables(ctx context.Context, req *ic.DescribeRouteTablesRequest) (*ic.DescribeRouteTablesResponse, error) {
	r := vpc.NewDescribeRouteTablesRequest()
	if len(req.RouteTableIDs) > 0 {
		r.RouteTableIds = sps(req.RouteTableIDs)
	} else if req.VpcID != "" {
		r.Filters = []*vpc.Filter{{Name: sp("vpc-id"), Values: sps([]string{req.VpcID})}}
	}
	o, l := window(req.Offset, req.Limit)
	r.Offset, r.Limit = sp(strconv.Itoa(o)), sp(strconv.Itoa(l))
	resp := vpc.NewDescribeRouteTablesResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, err
	}
	out := &ic.DescribeRouteTablesResponse{RouteTables: []ic.RouteTable{}}
	for _, t := range resp.Response.RouteTableSet {
		rt := ic.RouteTable{RouteTableID: str(t.RouteTableId), VpcID: str(t.VpcId), Name: str(t.RouteTableName), RouteLimit: DefaultRouteLimit, Routes: []ic.Route{}}
		for _, e := range t.RouteSet {
			// Only user routes: the local and network-probe routes cannot be changed.
			if rtype := str(e.RouteType); rtype != "" && rtype != "USER" {
				continue
			}
			rt.Routes = append(rt.Routes, route(e))
		}
		out.RouteTables = append(out.RouteTables, rt)
	}
	if resp.Response.TotalCount != nil {
		out.TotalCount = int(*resp.Response.TotalCount)
	}
	return out, nil
}

// CreateRoutes needs the next hop's private IP (NORMAL_CVM routes name the IP): one
// DescribeInstances for the batch. Tencent has no client token here; the CCM's route
// reconciliation (which re-reads the table) makes a repeated batch harmless.
func (c *Client) CreateRoutes(ctx context.Context, req *ic.CreateRoutesRequest) (*ic.CreateRoutesResponse, error) {
	ids := make([]string, 0, len(req.Routes))
	for _, s := range req.Routes {
		ids = append(ids, s.NextHopInstanceID)
	}
	ins, err := c.DescribeInstances(ctx, &ic.DescribeInstancesRequest{InstanceIDs: ids})
	if err != nil {
		return nil, err
	}
	ipOf := map[string]string{}
	for _, i := range ins.Instances {
		if len(i.PrivateIPs) > 0 {
			ipOf[i.InstanceID] = i.PrivateIPs[0]
		}
	}
	r := vpc.NewCreateRoutesRequest()
	r.RouteTableId = sp(req.RouteTableID)
	for _, s := range req.Routes {
		ip, ok := ipOf[s.NextHopInstanceID]
		if !ok {
			return nil, ic.Errorf(ic.CodeResourceNotFound, "next hop instance %s not found", s.NextHopInstanceID)
		}
		r.Routes = append(r.Routes, &vpc.Route{
			DestinationCidrBlock: sp(s.DestinationCidr), GatewayType: sp(gatewayNormalCVM), GatewayId: sp(ip),
			RouteDescription: sp(encodeRouteDescription(s)),
		})
	}
	resp := vpc.NewCreateRoutesResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, err
	}
	// The answer is the whole table; ours are the entries matching what was sent.
	out := &ic.CreateRoutesResponse{Routes: []ic.Route{}}
	for _, t := range resp.Response.RouteTableSet {
		for _, e := range t.RouteSet {
			for _, s := range r.Routes {
				if str(e.DestinationCidrBlock) == str(s.DestinationCidrBlock) && str(e.GatewayId) == str(s.GatewayId) && str(e.RouteDescription) == str(s.RouteDescription) {
					out.Routes = append(out.Routes, route(e))
				}
			}
		}
	}
	return out, nil
}

// DeleteRoutes names routes by RouteItemId, or by the numeric RouteId of tables that
// have no item ids.
func (c *Client) DeleteRoutes(ctx context.Context, req *ic.DeleteRoutesRequest) (*ic.DeleteRoutesResponse, error) {
	r := vpc.NewDeleteRoutesRequest()
	r.RouteTableId = sp(req.RouteTableID)
	for _, id := range req.RouteIDs {
		if n, err := strconv.ParseUint(id, 10, 64); err == nil {
			r.Routes = append(r.Routes, &vpc.Route{RouteId: &n})
		} else {
			r.Routes = append(r.Routes, &vpc.Route{RouteItemId: sp(id)})
		}
	}
	if err := c.call(ctx, r, vpc.NewDeleteRoutesResponse()); err != nil {
		return nil, err
	}
	return &ic.DeleteRoutesResponse{}, nil
}
