package iaassim

import (
	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

func (s *Server) createSnapshot(c *call, req *iaasclient.CreateSnapshotRequest) (any, *iaasclient.Error) {
	if err := validate.CreateSnapshot(req); err != nil {
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
	if err := validate.DiskReady("diskId", &d.Disk); err != nil {
		return nil, err
	}
	count := 0
	for _, sn := range s.state.snapshots {
		if sn.Tenant == c.tenant.name {
			count++
		}
	}
	if err := validate.TenantQuota("snapshots", "snapshots", count, c.tenant.quotas.Snapshots); err != nil {
		return nil, err
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
	off, lim, err := validate.DescribeSnapshots(req)
	if err != nil {
		return nil, err
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	page, total := describePage(s.state.snapshots, func(sn *snapshotRec) bool {
		return sn.Tenant == c.tenant.name && validate.MatchSnapshot(req, &sn.Snapshot)
	}, func(sn *snapshotRec) iaasclient.Snapshot { return sn.Snapshot }, off, lim)
	return &iaasclient.DescribeSnapshotsResponse{TotalCount: total, Snapshots: page}, nil
}

func (s *Server) deleteSnapshot(c *call, req *iaasclient.DeleteSnapshotRequest) (any, *iaasclient.Error) {
	err := func() *iaasclient.Error {
		s.state.mu.Lock()
		defer s.state.mu.Unlock()
		if err := validate.Required("snapshotId", req.SnapshotID); err != nil {
			return err
		}
		sn := s.state.snapshots[req.SnapshotID]
		if sn == nil || sn.Tenant != c.tenant.name {
			return validate.NotFound("snapshotId", "snapshot", req.SnapshotID)
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
