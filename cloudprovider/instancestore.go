package cloudprovider

import (
	"context"
	"fmt"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// instanceStore is what the instance, route and failover code need to know about
// instances: a recent view of every instance of the cluster's VPC.
type instanceStore interface {
	// instances returns a view no older than maxAge (at most the cache TTL).
	instances(ctx context.Context, maxAge time.Duration) (*instanceIndex, error)
	// instancesSince returns a view fetched at or after t.
	instancesSince(ctx context.Context, t time.Time) (*instanceIndex, error)
}

// instanceIndex is an immutable view of the VPC's instances.
type instanceIndex struct {
	byID   map[string]*ic.Instance
	byIP   map[string]*ic.Instance
	byName map[string][]*ic.Instance
}

func newInstanceIndex(list []ic.Instance) *instanceIndex {
	x := &instanceIndex{
		byID:   make(map[string]*ic.Instance, len(list)),
		byIP:   make(map[string]*ic.Instance, len(list)),
		byName: make(map[string][]*ic.Instance, len(list)),
	}
	for i := range list {
		in := &list[i]
		x.byID[in.InstanceID] = in
		// A terminated instance's IPs may already belong to a new one.
		if in.State != ic.InstanceTerminated {
			for _, ip := range in.PrivateIPs {
				x.byIP[ip] = in
			}
		}
		if in.Name != "" {
			x.byName[in.Name] = append(x.byName[in.Name], in)
		}
	}
	return x
}

// iaasInstances reads instances through one paginated DescribeInstances per TTL.
type iaasInstances struct {
	snap *snapshot[*instanceIndex]
}

var _ instanceStore = (*iaasInstances)(nil)

func newIaaSInstances(api ic.InstancesAPI, vpcID string, ttl time.Duration) *iaasInstances {
	fetch := func(ctx context.Context) (*instanceIndex, error) {
		var all []ic.Instance
		for offset := 0; ; {
			resp, err := api.DescribeInstances(ctx, &ic.DescribeInstancesRequest{
				Page: ic.Page{Offset: offset, Limit: ic.MaxPageSize},
			})
			if err != nil {
				return nil, fmt.Errorf("DescribeInstances: %w", err)
			}
			for _, in := range resp.Instances {
				if vpcID == "" || in.VpcID == vpcID {
					all = append(all, in)
				}
			}
			offset += len(resp.Instances)
			if len(resp.Instances) == 0 || offset >= resp.TotalCount {
				break
			}
		}
		return newInstanceIndex(all), nil
	}
	return &iaasInstances{snap: newSnapshot(ttl, fetch)}
}

func (s *iaasInstances) instances(ctx context.Context, maxAge time.Duration) (*instanceIndex, error) {
	return s.snap.getFresher(ctx, maxAge)
}

func (s *iaasInstances) instancesSince(ctx context.Context, t time.Time) (*instanceIndex, error) {
	return s.snap.getSince(ctx, t)
}
