package validate

import (
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Page checks offset and limit and returns the effective bounds (limit 0 is
// iaasclient.DefaultPageSize).
func Page(p iaasclient.Page) (offset, limit int, err *iaasclient.Error) {
	if p.Offset < 0 {
		return 0, 0, Invalid("offset", "must not be negative")
	}
	if p.Limit < 0 || p.Limit > iaasclient.MaxPageSize {
		return 0, 0, Invalid("limit", "must be 0-%d, got %d", iaasclient.MaxPageSize, p.Limit)
	}
	limit = p.Limit
	if limit == 0 {
		limit = iaasclient.DefaultPageSize
	}
	return p.Offset, limit, nil
}

// Paginate returns the page of items (already in id order) that starts at offset.
func Paginate[T any](items []T, offset, limit int) []T {
	if offset >= len(items) {
		return []T{}
	}
	end := min(offset+limit, len(items))
	return items[offset:end]
}

// Select returns the page [offset, offset+limit) of the objects of m (keyed by id) that
// keep accepts, in id order, and how many it accepts in all: Describe results are
// ordered by id, and totalCount counts every match.
func Select[T any](m map[string]*T, keep func(*T) bool, offset, limit int) (page []*T, total int) {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if keep(v) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	total = len(keys)
	keys = Paginate(keys, offset, limit)
	page = make([]*T, len(keys))
	for i, k := range keys {
		page[i] = m[k]
	}
	return page, total
}

// InFilter reports whether v passes a filter of values: an empty filter passes all.
func InFilter(filter []string, v string) bool {
	return len(filter) == 0 || slices.Contains(filter, v)
}

// TagsMatch reports whether have holds every tag of want (with the same value).
func TagsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

type namedList struct {
	field string
	ids   []string
}

func describe(p iaasclient.Page, lists ...namedList) (offset, limit int, err *iaasclient.Error) {
	if offset, limit, err = Page(p); err != nil {
		return 0, 0, err
	}
	for _, l := range lists {
		if err := IDList(l.field, l.ids); err != nil {
			return 0, 0, err
		}
	}
	return offset, limit, nil
}

// DescribeInstances checks the request and returns its page bounds.
func DescribeInstances(req *iaasclient.DescribeInstancesRequest) (offset, limit int, err *iaasclient.Error) {
	return describe(req.Page, namedList{"instanceIds", req.InstanceIDs}, namedList{"privateIps", req.PrivateIPs}, namedList{"names", req.Names})
}

// MatchInstance reports whether in passes the request's filters.
func MatchInstance(req *iaasclient.DescribeInstancesRequest, in *iaasclient.Instance) bool {
	return InFilter(req.InstanceIDs, in.InstanceID) && InFilter(req.Names, in.Name) && TagsMatch(in.Tags, req.Tags) &&
		(len(req.PrivateIPs) == 0 || slices.ContainsFunc(in.PrivateIPs, func(ip string) bool { return slices.Contains(req.PrivateIPs, ip) }))
}

// DescribeVpcs checks the request and returns its page bounds.
func DescribeVpcs(req *iaasclient.DescribeVpcsRequest) (offset, limit int, err *iaasclient.Error) {
	return describe(req.Page, namedList{"vpcIds", req.VpcIDs})
}

// MatchVpc reports whether v passes the request's filters.
func MatchVpc(req *iaasclient.DescribeVpcsRequest, v *iaasclient.Vpc) bool {
	return InFilter(req.VpcIDs, v.VpcID)
}

// DescribeRouteTables checks the request and returns its page bounds.
func DescribeRouteTables(req *iaasclient.DescribeRouteTablesRequest) (offset, limit int, err *iaasclient.Error) {
	return describe(req.Page, namedList{"routeTableIds", req.RouteTableIDs})
}

// MatchRouteTable reports whether rt passes the request's filters.
func MatchRouteTable(req *iaasclient.DescribeRouteTablesRequest, rt *iaasclient.RouteTable) bool {
	return InFilter(req.RouteTableIDs, rt.RouteTableID) && (req.VpcID == "" || rt.VpcID == req.VpcID)
}

// DescribeLoadBalancers checks the request and returns its page bounds.
func DescribeLoadBalancers(req *iaasclient.DescribeLoadBalancersRequest) (offset, limit int, err *iaasclient.Error) {
	return describe(req.Page, namedList{"loadBalancerIds", req.LoadBalancerIDs}, namedList{"names", req.Names})
}

// MatchLoadBalancer reports whether lb passes the request's filters.
func MatchLoadBalancer(req *iaasclient.DescribeLoadBalancersRequest, lb *iaasclient.LoadBalancer) bool {
	return InFilter(req.LoadBalancerIDs, lb.LoadBalancerID) && InFilter(req.Names, lb.Name) && TagsMatch(lb.Tags, req.Tags)
}

// DescribeDisks checks the request and returns its page bounds.
func DescribeDisks(req *iaasclient.DescribeDisksRequest) (offset, limit int, err *iaasclient.Error) {
	return describe(req.Page, namedList{"diskIds", req.DiskIDs}, namedList{"names", req.Names}, namedList{"instanceIds", req.InstanceIDs})
}

// MatchDisk reports whether d passes the request's filters; an instanceIds filter
// matches only disks attached (or attaching, or detaching) to one of them.
func MatchDisk(req *iaasclient.DescribeDisksRequest, d *iaasclient.Disk) bool {
	return InFilter(req.DiskIDs, d.DiskID) && InFilter(req.Names, d.Name) &&
		(req.Zone == "" || d.Zone == req.Zone) && TagsMatch(d.Tags, req.Tags) &&
		(len(req.InstanceIDs) == 0 || (d.InstanceID != "" && slices.Contains(req.InstanceIDs, d.InstanceID)))
}

// DescribeSnapshots checks the request and returns its page bounds.
func DescribeSnapshots(req *iaasclient.DescribeSnapshotsRequest) (offset, limit int, err *iaasclient.Error) {
	return describe(req.Page, namedList{"snapshotIds", req.SnapshotIDs}, namedList{"diskIds", req.DiskIDs}, namedList{"names", req.Names})
}

// MatchSnapshot reports whether s passes the request's filters.
func MatchSnapshot(req *iaasclient.DescribeSnapshotsRequest, s *iaasclient.Snapshot) bool {
	return InFilter(req.SnapshotIDs, s.SnapshotID) && InFilter(req.DiskIDs, s.DiskID) && InFilter(req.Names, s.Name) && TagsMatch(s.Tags, req.Tags)
}

// InstancesRequest checks a Start/Stop/TerminateInstances request.
func InstancesRequest(req *iaasclient.InstancesRequest) *iaasclient.Error {
	if len(req.InstanceIDs) == 0 {
		return Invalid("instanceIds", "at least one instance id is required")
	}
	if len(req.InstanceIDs) > MaxInstancesPerCall {
		return Invalid("instanceIds", "at most %d instances per call", MaxInstancesPerCall)
	}
	return IDList("instanceIds", req.InstanceIDs)
}
