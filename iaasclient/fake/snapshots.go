package fake

import (
	"context"
	"slices"
	"strings"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Snapshot returns a copy of a stored snapshot.
func (c *Cloud) Snapshot(id string) (ic.Snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.snapshots[id]
	if !ok {
		return ic.Snapshot{}, false
	}
	return clone(*s), true
}

// CreateSnapshot implements iaasclient.DiskAPI.
func (c *Cloud) CreateSnapshot(ctx context.Context, req *ic.CreateSnapshotRequest) (*ic.CreateSnapshotResponse, error) {
	if err := c.enter(ctx, ic.ActionCreateSnapshot, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fp := *req
	fp.ClientToken = ""
	if prev, err := c.checkToken(ic.ActionCreateSnapshot, req.ClientToken, fp); err != nil || prev != nil {
		if err != nil {
			return nil, err
		}
		r := *prev.(*ic.CreateSnapshotResponse)
		return &r, nil
	}
	d, ok := c.disks[req.DiskID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "diskId: disk %q not found", req.DiskID)
	}
	if d.State == ic.DiskCreating || d.State == ic.DiskError {
		return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %q is %s", d.DiskID, d.State)
	}
	if len(c.snapshots) >= c.quotas["snapshots"] {
		return nil, c.failf(ic.CodeLimitExceeded, "snapshots: quota of %d reached", c.quotas["snapshots"])
	}
	s := &ic.Snapshot{
		SnapshotID: c.newID("snap"), Name: req.Name, DiskID: d.DiskID, SizeGiB: d.SizeGiB,
		Zone: d.Zone, State: ic.SnapshotCreating, Tags: clone(req.Tags), CreatedAt: c.now().UTC(),
	}
	c.snapshots[s.SnapshotID] = s
	id := s.SnapshotID
	tid := c.startTask(ic.ActionCreateSnapshot, id, func() {
		if s, ok := c.snapshots[id]; ok {
			s.State = ic.SnapshotAvailable
		}
	}, func() {
		if s, ok := c.snapshots[id]; ok {
			s.State = ic.SnapshotError
		}
	})
	resp := &ic.CreateSnapshotResponse{ResponseMeta: c.meta(), SnapshotID: id, TaskID: tid}
	c.recordToken(ic.ActionCreateSnapshot, req.ClientToken, fp, resp)
	r := *resp
	return &r, nil
}

// DescribeSnapshots implements iaasclient.DiskAPI.
func (c *Cloud) DescribeSnapshots(ctx context.Context, req *ic.DescribeSnapshotsRequest) (*ic.DescribeSnapshotsResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeSnapshots, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []ic.Snapshot
	for _, s := range c.snapshots {
		if anyOf(req.SnapshotIDs, s.SnapshotID) && anyOf(req.DiskIDs, s.DiskID) && anyOf(req.Names, s.Name) && hasTags(s.Tags, req.Tags) {
			all = append(all, *s)
		}
	}
	slices.SortFunc(all, func(a, b ic.Snapshot) int { return strings.Compare(a.SnapshotID, b.SnapshotID) })
	lo, hi, err := c.pageOf(req.Page, len(all))
	if err != nil {
		return nil, err
	}
	return &ic.DescribeSnapshotsResponse{ResponseMeta: c.meta(), Snapshots: clone(all[lo:hi]), TotalCount: len(all)}, nil
}

// DeleteSnapshot implements iaasclient.DiskAPI; a snapshot still being created is
// ResourceInUse.
func (c *Cloud) DeleteSnapshot(ctx context.Context, req *ic.DeleteSnapshotRequest) (*ic.DeleteSnapshotResponse, error) {
	if err := c.enter(ctx, ic.ActionDeleteSnapshot, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.snapshots[req.SnapshotID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "snapshotId: snapshot %q not found", req.SnapshotID)
	}
	if s.State == ic.SnapshotCreating {
		return nil, c.failf(ic.CodeResourceInUse, "snapshotId: snapshot %q is CREATING", s.SnapshotID)
	}
	for _, d := range c.disks {
		if d.SnapshotID == s.SnapshotID && d.State == ic.DiskCreating {
			return nil, c.failf(ic.CodeResourceInUse, "snapshotId: disk %q is being created from snapshot %q", d.DiskID, s.SnapshotID)
		}
	}
	delete(c.snapshots, s.SnapshotID)
	return &ic.DeleteSnapshotResponse{ResponseMeta: c.meta()}, nil
}

// DescribeQuotas implements iaasclient.API.
func (c *Cloud) DescribeQuotas(ctx context.Context, req *ic.DescribeQuotasRequest) (*ic.DescribeQuotasResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeQuotas, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	maxListeners, maxRoutes := 0, 0
	for _, lb := range c.lbs {
		maxListeners = max(maxListeners, len(lb.Listeners))
	}
	for _, rt := range c.routeTables {
		maxRoutes = max(maxRoutes, len(rt.Routes))
	}
	used := map[string]int{
		"disks": len(c.disks), "diskGiB": c.usedDiskGiB(), "snapshots": len(c.snapshots),
		"loadBalancers": len(c.lbs), "listenersPerLoadBalancer": maxListeners, "routesPerTable": maxRoutes,
	}
	var qs []ic.Quota
	for _, r := range []string{"disks", "diskGiB", "snapshots", "loadBalancers", "listenersPerLoadBalancer", "routesPerTable"} {
		qs = append(qs, ic.Quota{Resource: r, Limit: c.quotas[r], Used: used[r]})
	}
	return &ic.DescribeQuotasResponse{ResponseMeta: c.meta(), Quotas: qs}, nil
}
