package fake

import (
	"context"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
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
	if err := validate.CreateSnapshot(req); err != nil {
		return nil, c.fail(err)
	}
	fp := *req
	fp.ClientToken = ""
	if r, done, err := replay[ic.CreateSnapshotResponse](c, ic.ActionCreateSnapshot, req.ClientToken, fp); done {
		return r, err
	}
	d, err := c.diskOf("diskId", req.DiskID)
	if err != nil {
		return nil, err
	}
	if err := validate.DiskReady("diskId", d); err != nil {
		return nil, c.fail(err)
	}
	if err := validate.TenantQuota("snapshots", "snapshots", len(c.snapshots), c.quotas["snapshots"]); err != nil {
		return nil, c.fail(err)
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
	off, lim, verr := validate.DescribeSnapshots(req)
	if verr != nil {
		return nil, c.fail(verr)
	}
	page, total := describe(c.snapshots, func(s *ic.Snapshot) bool { return validate.MatchSnapshot(req, s) }, off, lim)
	return &ic.DescribeSnapshotsResponse{ResponseMeta: c.meta(), Snapshots: page, TotalCount: total}, nil
}

// DeleteSnapshot implements iaasclient.DiskAPI; a snapshot still being created is
// ResourceInUse.
func (c *Cloud) DeleteSnapshot(ctx context.Context, req *ic.DeleteSnapshotRequest) (*ic.DeleteSnapshotResponse, error) {
	if err := c.enter(ctx, ic.ActionDeleteSnapshot, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := validate.Required("snapshotId", req.SnapshotID); err != nil {
		return nil, c.fail(err)
	}
	s, ok := c.snapshots[req.SnapshotID]
	if !ok {
		return nil, c.fail(validate.NotFound("snapshotId", "snapshot", req.SnapshotID))
	}
	if s.State == ic.SnapshotCreating {
		return nil, c.failf(ic.CodeResourceInUse, "snapshotId: snapshot %s is CREATING", s.SnapshotID)
	}
	for _, d := range c.disks {
		if d.SnapshotID == s.SnapshotID && d.State == ic.DiskCreating {
			return nil, c.failf(ic.CodeResourceInUse, "snapshotId: disk %s is being created from snapshot %s", d.DiskID, s.SnapshotID)
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
