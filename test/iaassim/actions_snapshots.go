package iaassim

import (
	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func (s *Server) createSnapshot(c *call, req *iaasclient.CreateSnapshotRequest) (any, *iaasclient.Error) {
	if err := validateName("name", req.Name, false); err != nil {
		return nil, err
	}
	if err := validateTags("tags", req.Tags); err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	hashed := *req
	hashed.ClientToken = ""
	hash := paramsHash(hashed)
	resp := &iaasclient.CreateSnapshotResponse{}
	if ok, err := s.replayToken(c, req.ClientToken, hash, resp); ok || err != nil {
		return resp, err
	}
	d, err := s.diskOf(c, "diskId", req.DiskID)
	if err != nil {
		return nil, err
	}
	if d.State == iaasclient.DiskCreating || d.State == iaasclient.DiskError {
		return nil, errf(iaasclient.CodeResourceInUse, "diskId: disk %s is %s", d.DiskID, d.State)
	}
	count := 0
	for _, sn := range s.state.snapshots {
		if sn.Tenant == c.tenant.name {
			count++
		}
	}
	if q := c.tenant.quotas.Snapshots; count+1 > q {
		return nil, errf(iaasclient.CodeLimitExceeded, "snapshots: the tenant's quota of %d snapshots is used up", q)
	}
	sn := &snapshotRec{Tenant: c.tenant.name, Snapshot: iaasclient.Snapshot{
		SnapshotID: newID("snap-", has(s.state.snapshots)), Name: req.Name, DiskID: d.DiskID, SizeGiB: d.SizeGiB,
		Zone: d.Zone, State: iaasclient.SnapshotCreating, Tags: copyTags(req.Tags), CreatedAt: s.now().UTC(),
	}}
	tx := s.state.begin()
	tx.putSnapshot(sn)
	t := s.newTask(tx, c, sn.SnapshotID, d.DiskID, taskParams{DiskID: d.DiskID})
	resp.SnapshotID, resp.TaskID = sn.SnapshotID, t.TaskID
	s.recordToken(tx, c, req.ClientToken, hash, resp)
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Server) describeSnapshots(c *call, req *iaasclient.DescribeSnapshotsRequest) (any, *iaasclient.Error) {
	off, lim, err := validatePage(req.Page)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		n string
		v []string
	}{{"snapshotIds", req.SnapshotIDs}, {"diskIds", req.DiskIDs}, {"names", req.Names}} {
		if err := validateIDList(f.n, f.v); err != nil {
			return nil, err
		}
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	all := sortedValues(s.state.snapshots, func(sn *snapshotRec) bool {
		return sn.Tenant == c.tenant.name && inList(req.SnapshotIDs, sn.SnapshotID) && inList(req.DiskIDs, sn.DiskID) &&
			inList(req.Names, sn.Name) && tagsMatch(sn.Tags, req.Tags)
	})
	resp := &iaasclient.DescribeSnapshotsResponse{TotalCount: len(all), Snapshots: []iaasclient.Snapshot{}}
	for _, sn := range paginate(all, off, lim) {
		resp.Snapshots = append(resp.Snapshots, sn.Snapshot)
	}
	return resp, nil
}

func (s *Server) deleteSnapshot(c *call, req *iaasclient.DeleteSnapshotRequest) (any, *iaasclient.Error) {
	err := func() *iaasclient.Error {
		s.state.mu.Lock()
		defer s.state.mu.Unlock()
		if req.SnapshotID == "" {
			return invalid("snapshotId", "is required")
		}
		sn := s.state.snapshots[req.SnapshotID]
		if sn == nil || sn.Tenant != c.tenant.name {
			return notFound("snapshotId", "snapshot", req.SnapshotID)
		}
		if sn.State == iaasclient.SnapshotCreating {
			return errf(iaasclient.CodeResourceInUse, "snapshotId: snapshot %s is CREATING", sn.SnapshotID)
		}
		for _, d := range s.state.disks {
			if d.SnapshotID == sn.SnapshotID && d.State == iaasclient.DiskCreating {
				return errf(iaasclient.CodeResourceInUse, "snapshotId: disk %s is being created from snapshot %s", d.DiskID, sn.SnapshotID)
			}
		}
		tx := s.state.begin()
		tx.delSnapshot(sn.SnapshotID)
		return tx.commit()
	}()
	if err != nil {
		return nil, err
	}
	if err := s.state.waitAll(); err != nil {
		return nil, err
	}
	if err := s.dp.Disks.DeleteSnapshot(s.ctx, req.SnapshotID); err != nil {
		s.log().Error(err, "Deleting a snapshot's data failed", "snapshot", req.SnapshotID)
	}
	return &iaasclient.DeleteSnapshotResponse{}, nil
}
