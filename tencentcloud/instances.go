package tencentcloud

import (
	"context"
	"fmt"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// DefaultMaxDisks is the CBS limit of data disks per CVM instance; CVM does not report
// it per instance.
const DefaultMaxDisks = 20

// instanceState maps CVM's InstanceState. STOPPED and SHUTDOWN (isolated, off) are
// fenced: the machine is off, its disks may move. STOPPING, STARTING and REBOOTING may
// still run, so they are not.
func instanceState(s string) ic.InstanceState {
	switch s {
	case "RUNNING", "STOPPING", "STARTING", "REBOOTING":
		return ic.InstanceRunning
	case "STOPPED", "SHUTDOWN":
		return ic.InstanceStopped
	case "TERMINATING", "LAUNCH_FAILED":
		return ic.InstanceTerminated
	}
	return ic.InstancePending
}

func (c *Client) instance(in *cvm.Instance) ic.Instance {
	out := ic.Instance{
		InstanceID: str(in.InstanceId), Name: str(in.InstanceName), Region: c.cfg.Region,
		InstanceType: str(in.InstanceType), PrivateIPs: strs(in.PrivateIpAddresses),
		State: instanceState(str(in.InstanceState)), MaxDisks: c.cfg.MaxDisks,
		CreatedAt: tcTime(in.CreatedTime),
	}
	if in.Placement != nil {
		out.Zone = str(in.Placement.Zone)
	}
	if in.VirtualPrivateCloud != nil {
		out.VpcID, out.SubnetID = str(in.VirtualPrivateCloud.VpcId), str(in.VirtualPrivateCloud.SubnetId)
	}
	if pub := strs(in.PublicIpAddresses); len(pub) > 0 {
		out.PublicIP = pub[0]
	}
	for _, t := range in.Tags {
		if out.Tags == nil {
			out.Tags = map[string]string{}
		}
		out.Tags[str(t.Key)] = str(t.Value)
	}
	return out
}

// maxFilterValues is CVM's documented limit of values per filter.
const maxFilterValues = 5

// DescribeInstances: by ids (InstanceIds, 100 per call) or by filters
// (private-ip-address, instance-name, tag:<key>); CVM refuses both at once.
func (c *Client) DescribeInstances(ctx context.Context, req *ic.DescribeInstancesRequest) (*ic.DescribeInstancesResponse, error) {
	if len(req.InstanceIDs) > 0 {
		out := &ic.DescribeInstancesResponse{Instances: []ic.Instance{}}
		for i := 0; i < len(req.InstanceIDs); i += pageSize {
			r := cvm.NewDescribeInstancesRequest()
			r.InstanceIds = sps(req.InstanceIDs[i:min(i+pageSize, len(req.InstanceIDs))])
			r.Limit = common.Int64Ptr(pageSize)
			resp := cvm.NewDescribeInstancesResponse()
			if err := c.call(ctx, r, resp); err != nil {
				return nil, err
			}
			for _, in := range resp.Response.InstanceSet {
				out.Instances = append(out.Instances, c.instance(in))
			}
		}
		out.Instances = filterInstances(out.Instances, req)
		out.TotalCount = len(out.Instances)
		return out, nil
	}
	if len(req.PrivateIPs) > maxFilterValues {
		// Several queries of at most five IPs each, merged.
		out := &ic.DescribeInstancesResponse{Instances: []ic.Instance{}}
		for i := 0; i < len(req.PrivateIPs); i += maxFilterValues {
			sub := *req
			sub.PrivateIPs = req.PrivateIPs[i:min(i+maxFilterValues, len(req.PrivateIPs))]
			sub.Page = ic.Page{}
			r, err := c.DescribeInstances(ctx, &sub)
			if err != nil {
				return nil, err
			}
			out.Instances = append(out.Instances, r.Instances...)
		}
		out.TotalCount = len(out.Instances)
		return out, nil
	}
	var filters []*cvm.Filter
	add := func(name string, values ...string) {
		if len(values) > 0 {
			filters = append(filters, &cvm.Filter{Name: sp(name), Values: sps(values)})
		}
	}
	add("private-ip-address", req.PrivateIPs...)
	add("instance-name", req.Names...)
	for k, v := range req.Tags {
		add("tag:"+k, v)
	}
	if len(req.Names) > maxFilterValues {
		return nil, ic.Errorf(ic.CodeInvalidParameter, "names: at most %d per query on Tencent Cloud", maxFilterValues)
	}
	out := &ic.DescribeInstancesResponse{Instances: []ic.Instance{}}
	offset, want := req.Offset, req.Limit
	if want <= 0 {
		want = ic.DefaultPageSize
	}
	for len(out.Instances) < want {
		o, l := window(offset, want-len(out.Instances))
		r := cvm.NewDescribeInstancesRequest()
		r.Filters = filters
		r.Offset, r.Limit = common.Int64Ptr(int64(o)), common.Int64Ptr(int64(l))
		resp := cvm.NewDescribeInstancesResponse()
		if err := c.call(ctx, r, resp); err != nil {
			return nil, err
		}
		for _, in := range resp.Response.InstanceSet {
			out.Instances = append(out.Instances, c.instance(in))
		}
		if resp.Response.TotalCount != nil {
			out.TotalCount = int(*resp.Response.TotalCount)
		}
		offset += len(resp.Response.InstanceSet)
		if len(resp.Response.InstanceSet) == 0 || offset >= out.TotalCount {
			break
		}
	}
	return out, nil
}

// filterInstances applies the filters CVM cannot combine with InstanceIds.
func filterInstances(in []ic.Instance, req *ic.DescribeInstancesRequest) []ic.Instance {
	out := in[:0]
	for _, i := range in {
		if len(req.Names) > 0 && !contains(req.Names, i.Name) {
			continue
		}
		if len(req.PrivateIPs) > 0 && !overlaps(req.PrivateIPs, i.PrivateIPs) {
			continue
		}
		ok := true
		for k, v := range req.Tags {
			ok = ok && i.Tags[k] == v
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if contains(b, x) {
			return true
		}
	}
	return false
}

// Start, Stop and Terminate return a task that waits for the instances' new state.
func (c *Client) StartInstances(ctx context.Context, req *ic.InstancesRequest) (*ic.TaskResponse, error) {
	r := cvm.NewStartInstancesRequest()
	r.InstanceIds = sps(req.InstanceIDs)
	if err := c.call(ctx, r, cvm.NewStartInstancesResponse()); err != nil {
		return nil, err
	}
	return &ic.TaskResponse{TaskID: instancesTask(ic.InstanceRunning, req.InstanceIDs)}, nil
}

func (c *Client) StopInstances(ctx context.Context, req *ic.InstancesRequest) (*ic.TaskResponse, error) {
	r := cvm.NewStopInstancesRequest()
	r.InstanceIds = sps(req.InstanceIDs)
	// A hard stop: the point of stopping in this API is fencing.
	r.StopType = sp("HARD")
	if err := c.call(ctx, r, cvm.NewStopInstancesResponse()); err != nil {
		return nil, err
	}
	return &ic.TaskResponse{TaskID: instancesTask(ic.InstanceStopped, req.InstanceIDs)}, nil
}

func (c *Client) TerminateInstances(ctx context.Context, req *ic.InstancesRequest) (*ic.TaskResponse, error) {
	r := cvm.NewTerminateInstancesRequest()
	r.InstanceIds = sps(req.InstanceIDs)
	if err := c.call(ctx, r, cvm.NewTerminateInstancesResponse()); err != nil {
		return nil, err
	}
	return &ic.TaskResponse{TaskID: instancesTask(ic.InstanceTerminated, req.InstanceIDs)}, nil
}

// Identity asks the CVM metadata service (unsigned GETs, answered for the caller's
// own instance).
func (c *Client) Identity(ctx context.Context) (*ic.Identity, error) {
	get := func(path string) (string, error) { return c.metadata(ctx, path) }
	id := &ic.Identity{MaxDisks: c.cfg.MaxDisks, VpcID: c.cfg.VpcID}
	for _, f := range []struct {
		path string
		dst  *string
	}{
		{"instance-id", &id.InstanceID}, {"placement/zone", &id.Zone}, {"placement/region", &id.Region},
		{"local-ipv4", &id.PrivateIP},
	} {
		v, err := get(f.path)
		if err != nil {
			return nil, fmt.Errorf("instance metadata %s: %w", f.path, err)
		}
		*f.dst = v
	}
	id.Name = id.InstanceID
	return id, nil
}
