package iaasclient

import "context"

// describeAll pages through a Describe action from offset 0 with the largest page
// (or the caller's Limit) until totalCount. Items are deduplicated by id, because a
// delete between two pages shifts later items forward and a create shifts them back.
func describeAll[T any](ctx context.Context, limit int, page func(ctx context.Context, p Page) ([]T, int, error), id func(T) string) ([]T, error) {
	if limit <= 0 || limit > MaxPageSize {
		limit = MaxPageSize
	}
	var out []T
	seen := map[string]bool{}
	for offset := 0; ; {
		items, total, err := page(ctx, Page{Offset: offset, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if k := id(it); !seen[k] {
				seen[k] = true
				out = append(out, it)
			}
		}
		offset += len(items)
		// An empty page before totalCount means the set shrank under us: what we
		// have is all there is.
		if len(items) == 0 || offset >= total {
			return out, nil
		}
	}
}

// DescribeAllInstances returns every instance matching req's filters; req's Offset is
// ignored and its Limit, when set, is the page size.
func DescribeAllInstances(ctx context.Context, api InstancesAPI, req DescribeInstancesRequest) ([]Instance, error) {
	return describeAll(ctx, req.Limit, func(ctx context.Context, p Page) ([]Instance, int, error) {
		req.Page = p
		r, err := api.DescribeInstances(ctx, &req)
		if err != nil {
			return nil, 0, err
		}
		return r.Instances, r.TotalCount, nil
	}, func(i Instance) string { return i.InstanceID })
}

// DescribeAllRouteTables returns every route table matching req's filters.
func DescribeAllRouteTables(ctx context.Context, api VPCAPI, req DescribeRouteTablesRequest) ([]RouteTable, error) {
	return describeAll(ctx, req.Limit, func(ctx context.Context, p Page) ([]RouteTable, int, error) {
		req.Page = p
		r, err := api.DescribeRouteTables(ctx, &req)
		if err != nil {
			return nil, 0, err
		}
		return r.RouteTables, r.TotalCount, nil
	}, func(t RouteTable) string { return t.RouteTableID })
}

// DescribeAllLoadBalancers returns every load balancer matching req's filters.
func DescribeAllLoadBalancers(ctx context.Context, api LoadBalancerAPI, req DescribeLoadBalancersRequest) ([]LoadBalancer, error) {
	return describeAll(ctx, req.Limit, func(ctx context.Context, p Page) ([]LoadBalancer, int, error) {
		req.Page = p
		r, err := api.DescribeLoadBalancers(ctx, &req)
		if err != nil {
			return nil, 0, err
		}
		return r.LoadBalancers, r.TotalCount, nil
	}, func(l LoadBalancer) string { return l.LoadBalancerID })
}

// DescribeAllDisks returns every disk matching req's filters.
func DescribeAllDisks(ctx context.Context, api DiskAPI, req DescribeDisksRequest) ([]Disk, error) {
	return describeAll(ctx, req.Limit, func(ctx context.Context, p Page) ([]Disk, int, error) {
		req.Page = p
		r, err := api.DescribeDisks(ctx, &req)
		if err != nil {
			return nil, 0, err
		}
		return r.Disks, r.TotalCount, nil
	}, func(d Disk) string { return d.DiskID })
}

// DescribeAllSnapshots returns every snapshot matching req's filters.
func DescribeAllSnapshots(ctx context.Context, api DiskAPI, req DescribeSnapshotsRequest) ([]Snapshot, error) {
	return describeAll(ctx, req.Limit, func(ctx context.Context, p Page) ([]Snapshot, int, error) {
		req.Page = p
		r, err := api.DescribeSnapshots(ctx, &req)
		if err != nil {
			return nil, 0, err
		}
		return r.Snapshots, r.TotalCount, nil
	}, func(s Snapshot) string { return s.SnapshotID })
}
