package iaassim

import (
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// tcInstanceState: a TERMINATED instance is TERMINATING on Tencent Cloud until it
// disappears.
func tcInstanceState(s iaasclient.InstanceState) string {
	if s == iaasclient.InstanceTerminated {
		return "TERMINATING"
	}
	return string(s)
}

func tcInstance(in *iaasclient.Instance) *cvm.Instance {
	out := &cvm.Instance{
		InstanceId: common.StringPtr(in.InstanceID), InstanceName: common.StringPtr(in.Name),
		InstanceType: common.StringPtr(in.InstanceType), InstanceState: common.StringPtr(tcInstanceState(in.State)),
		Placement:           &cvm.Placement{Zone: common.StringPtr(in.Zone)},
		PrivateIpAddresses:  common.StringPtrs(in.PrivateIPs),
		VirtualPrivateCloud: &cvm.VirtualPrivateCloud{VpcId: common.StringPtr(in.VpcID), SubnetId: common.StringPtr(in.SubnetID)},
		CreatedTime:         common.StringPtr(in.CreatedAt.UTC().Format(time.RFC3339)),
	}
	if in.PublicIP != "" {
		out.PublicIpAddresses = common.StringPtrs([]string{in.PublicIP})
	}
	for k, v := range in.Tags {
		out.Tags = append(out.Tags, &cvm.Tag{Key: common.StringPtr(k), Value: common.StringPtr(v)})
	}
	return out
}

func derefs(p []*string) []string {
	out := make([]string, 0, len(p))
	for _, s := range p {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}

func (s *Server) tcDescribeInstances(c *call, body []byte) (any, *iaasclient.Error) {
	var req cvm.DescribeInstancesRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if len(req.InstanceIds) > 0 && len(req.Filters) > 0 {
		return nil, errf(iaasclient.CodeInvalidParameter, "InstanceIds and Filters cannot be given together")
	}
	nreq := iaasclient.DescribeInstancesRequest{InstanceIDs: derefs(req.InstanceIds)}
	if req.Offset != nil {
		nreq.Offset = int(*req.Offset)
	}
	nreq.Limit = 20
	if req.Limit != nil {
		if *req.Limit > 100 || *req.Limit < 0 {
			return nil, errf(iaasclient.CodeInvalidParameter, "Limit must be between 0 and 100")
		}
		nreq.Limit = int(*req.Limit)
	}
	for _, f := range req.Filters {
		name, vals := "", derefs(f.Values)
		if f.Name != nil {
			name = *f.Name
		}
		if len(vals) > 5 {
			return nil, errf(iaasclient.CodeInvalidParameter, "Filters.Values: at most 5")
		}
		switch {
		case name == "private-ip-address":
			nreq.PrivateIPs = vals
		case name == "instance-name":
			nreq.Names = vals
		case name == "instance-id":
			nreq.InstanceIDs = vals
		case strings.HasPrefix(name, "tag:") && len(vals) == 1:
			if nreq.Tags == nil {
				nreq.Tags = map[string]string{}
			}
			nreq.Tags[strings.TrimPrefix(name, "tag:")] = vals[0]
		default:
			return nil, errf(iaasclient.CodeInvalidParameter, "filter %q is not supported by this fake", name)
		}
	}
	r, err := s.native(c, iaasclient.ActionDescribeInstances, &nreq)
	if err != nil {
		return nil, err
	}
	resp := r.(*iaasclient.DescribeInstancesResponse)
	set := []*cvm.Instance{}
	for i := range resp.Instances {
		set = append(set, tcInstance(&resp.Instances[i]))
	}
	return map[string]any{"TotalCount": resp.TotalCount, "InstanceSet": set}, nil
}

// tcInstancesAction: Start/Stop/TerminateInstances answer only a RequestId; the caller
// watches InstanceState.
func (s *Server) tcInstancesAction(action string) tcAction {
	return func(c *call, body []byte) (any, *iaasclient.Error) {
		var req struct{ InstanceIds []string }
		if err := decodeTC(body, &req); err != nil {
			return nil, err
		}
		if _, err := s.native(c, action, &iaasclient.InstancesRequest{InstanceIDs: req.InstanceIds}); err != nil {
			return nil, err
		}
		return map[string]any{}, nil
	}
}
