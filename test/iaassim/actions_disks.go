package iaassim

import (
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// diskOf returns the tenant's disk or ResourceNotFound (also for other tenants').
func (s *Server) diskOf(c *call, field, id string) (*diskRec, *iaasclient.Error) {
	if err := validate.Required(field, id); err != nil {
		return nil, err
	}
	d := s.state.disks[id]
	if d == nil || d.Tenant != c.tenant.name {
		return nil, validate.NotFound(field, "disk", id)
	}
	return d, nil
}

func (s *Server) instanceOf(c *call, field, id string) (*instanceRec, *iaasclient.Error) {
	if err := validate.Required(field, id); err != nil {
		return nil, err
	}
	in := s.state.instances[id]
	if in == nil || in.Tenant != c.tenant.name {
		return nil, validate.NotFound(field, "instance", id)
	}
	return in, nil
}

// diskAndInstance returns the tenant's disk and instance an attach or detach names.
func (s *Server) diskAndInstance(c *call, diskID, instanceID string) (*diskRec, *instanceRec, *iaasclient.Error) {
	d, err := s.diskOf(c, "diskId", diskID)
	if err != nil {
		return nil, nil, err
	}
	in, err := s.instanceOf(c, "instanceId", instanceID)
	if err != nil {
		return nil, nil, err
	}
	return d, in, nil
}

// knownZone: a configured zone, the default zone, or the zone of an instance.
func (s *Server) knownZone(z string) bool {
	if z == s.defaultZone() || slices.Contains(s.cfg.Zones, z) {
		return true
	}
	for _, in := range s.state.instances {
		if in.Zone == z {
			return true
		}
	}
	return false
}

func (s *Server) defaultZone() string {
	if len(s.cfg.Zones) > 0 {
		return s.cfg.Zones[0]
	}
	return s.cfg.Region + "a"
}

// diskUsage is the tenant's disk count and GiB.
func (s *Server) diskUsage(tenant string) (count, sizeGiB int) {
	for _, d := range s.state.disks {
		if d.Tenant == tenant {
			count++
			sizeGiB += d.SizeGiB
		}
	}
	return count, sizeGiB
}

func (s *Server) createDisk(c *call, req *iaasclient.CreateDiskRequest) (any, *iaasclient.Error) {
	dtype, err := validate.CreateDisk(req)
	if err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	hashed := *req
	hashed.ClientToken = ""
	hash := paramsHash(hashed)
	resp := &iaasclient.CreateDiskResponse{}
	if ok, err := s.replayToken(c, req.ClientToken, hash, resp); ok || err != nil {
		return resp, err
	}
	if !s.knownZone(req.Zone) {
		return nil, validate.UnknownZone("zone", req.Zone)
	}
	srcSize := 0
	switch {
	case req.SnapshotID != "":
		snap := s.state.snapshots[req.SnapshotID]
		if snap == nil || snap.Tenant != c.tenant.name {
			return nil, validate.NotFound("snapshotId", "snapshot", req.SnapshotID)
		}
		if err := validate.SnapshotSource(&snap.Snapshot); err != nil {
			return nil, err
		}
		srcSize = snap.SizeGiB
	case req.SourceDiskID != "":
		src, err := s.diskOf(c, "sourceDiskId", req.SourceDiskID)
		if err != nil {
			return nil, err
		}
		if err := validate.DiskSource(&src.Disk, req.Zone); err != nil {
			return nil, err
		}
		srcSize = src.SizeGiB
	}
	size, err := validate.NewDiskSize(dtype, req.SizeGiB, srcSize)
	if err != nil {
		return nil, err
	}
	count, used := s.diskUsage(c.tenant.name)
	if err := validate.TenantQuota("disks", "disks", count, c.tenant.quotas.Disks); err != nil {
		return nil, err
	}
	if err := validate.DiskGiBQuota(used, size, c.tenant.quotas.DiskGiB, false); err != nil {
		return nil, err
	}
	id := newID("disk-", has(s.state.disks))
	d := &diskRec{Tenant: c.tenant.name, Disk: iaasclient.Disk{
		DiskID: id, Name: req.Name, SizeGiB: size, Type: dtype, Zone: req.Zone, State: iaasclient.DiskCreating,
		Encrypted: req.Encrypted, DeviceSerial: id, SnapshotID: req.SnapshotID, SourceDiskID: req.SourceDiskID,
		Tags: copyTags(req.Tags), CreatedAt: s.now().UTC(),
	}}
	tx := s.state.begin()
	tx.putDisk(d)
	t := s.newTask(tx, c, id, id, taskParams{SnapshotID: req.SnapshotID, SourceDiskID: req.SourceDiskID})
	resp.DiskID, resp.TaskID = id, t.TaskID
	s.recordToken(tx, c, req.ClientToken, hash, resp)
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Server) describeDisks(c *call, req *iaasclient.DescribeDisksRequest) (any, *iaasclient.Error) {
	off, lim, err := validate.DescribeDisks(req)
	if err != nil {
		return nil, err
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	page, total := describePage(s.state.disks, func(d *diskRec) bool {
		return d.Tenant == c.tenant.name && validate.MatchDisk(req, &d.Disk)
	}, func(d *diskRec) iaasclient.Disk { return d.Disk }, off, lim)
	return &iaasclient.DescribeDisksResponse{TotalCount: total, Disks: page}, nil
}

func (s *Server) deleteDisk(c *call, req *iaasclient.DeleteDiskRequest) (any, *iaasclient.Error) {
	err := func() *iaasclient.Error {
		s.state.mu.Lock()
		defer s.state.mu.Unlock()
		d, err := s.diskOf(c, "diskId", req.DiskID)
		if err != nil {
			return err
		}
		if err := validate.DeleteDisk(&d.Disk); err != nil {
			return err
		}
		for _, o := range s.state.disks {
			if o.SourceDiskID == d.DiskID && o.State == iaasclient.DiskCreating {
				return errf(iaasclient.CodeResourceInUse, "diskId: disk %s is being cloned to %s", d.DiskID, o.DiskID)
			}
		}
		for _, sn := range s.state.snapshots {
			if sn.DiskID == d.DiskID && sn.State == iaasclient.SnapshotCreating {
				return errf(iaasclient.CodeResourceInUse, "diskId: snapshot %s of disk %s is CREATING", sn.SnapshotID, d.DiskID)
			}
		}
		tx := s.state.begin()
		tx.delDisk(d.DiskID)
		return tx.commit()
	}()
	if err != nil {
		return nil, err
	}
	// The record is gone for good (durably) before the data goes; a data plane failure
	// leaks a file, never a record without its data.
	if err := s.state.waitAll(); err != nil {
		return nil, err
	}
	if err := s.dp.Disks.Delete(s.ctx, req.DiskID); err != nil {
		s.log().Error(err, "Deleting a disk's data failed", "disk", req.DiskID)
	}
	return &iaasclient.DeleteDiskResponse{}, nil
}

func (s *Server) attachDisk(c *call, req *iaasclient.AttachDiskRequest) (any, *iaasclient.Error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	d, in, err := s.diskAndInstance(c, req.DiskID, req.InstanceID)
	if err != nil {
		return nil, err
	}
	attached := 0
	for _, o := range s.state.disks {
		if o.InstanceID == in.InstanceID {
			attached++
		}
	}
	repeat, err := validate.AttachDisk(&d.Disk, &in.Instance, attached)
	if err != nil {
		return nil, err
	}
	tx := s.state.begin()
	// repeat (ATTACHING or ATTACHED here): a task that confirms the attachment, in order.
	if !repeat {
		n := clone(d)
		n.State, n.InstanceID = iaasclient.DiskAttaching, in.InstanceID
		tx.putDisk(n)
	}
	t := s.newTask(tx, c, d.DiskID, d.DiskID, taskParams{InstanceID: in.InstanceID})
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return &iaasclient.TaskResponse{TaskID: t.TaskID}, nil
}

func (s *Server) detachDisk(c *call, req *iaasclient.DetachDiskRequest) (any, *iaasclient.Error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	d, in, err := s.diskAndInstance(c, req.DiskID, req.InstanceID)
	if err != nil {
		return nil, err
	}
	what, err := validate.DetachDisk(&d.Disk, in.InstanceID)
	if err != nil {
		return nil, err
	}
	tx := s.state.begin()
	var t *taskRec
	switch what {
	case validate.DetachNothing:
		t = s.doneTask(tx, c, d.DiskID)
	default: // ATTACHED or DETACHING from this instance; a stopped instance is fenced
		if what == validate.DetachStart {
			n := clone(d)
			n.State = iaasclient.DiskDetaching
			tx.putDisk(n)
		}
		t = s.newTask(tx, c, d.DiskID, d.DiskID, taskParams{InstanceID: in.InstanceID})
	}
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return &iaasclient.TaskResponse{TaskID: t.TaskID}, nil
}

func (s *Server) resizeDisk(c *call, req *iaasclient.ResizeDiskRequest) (any, *iaasclient.Error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	d, err := s.diskOf(c, "diskId", req.DiskID)
	if err != nil {
		return nil, err
	}
	if err := validate.ResizeDisk(&d.Disk, req.SizeGiB); err != nil {
		return nil, err
	}
	tx := s.state.begin()
	if req.SizeGiB > d.SizeGiB {
		_, used := s.diskUsage(c.tenant.name)
		if err := validate.DiskGiBQuota(used, req.SizeGiB-d.SizeGiB, c.tenant.quotas.DiskGiB, true); err != nil {
			return nil, err
		}
		n := clone(d)
		n.SizeGiB = req.SizeGiB
		tx.putDisk(n)
	}
	t := s.newTask(tx, c, d.DiskID, d.DiskID, taskParams{SizeGiB: req.SizeGiB})
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return &iaasclient.TaskResponse{TaskID: t.TaskID}, nil
}

func (s *Server) modifyDisk(c *call, req *iaasclient.ModifyDiskRequest) (any, *iaasclient.Error) {
	if err := validate.ModifyDisk(req); err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	d, err := s.diskOf(c, "diskId", req.DiskID)
	if err != nil {
		return nil, err
	}
	n := clone(d)
	if req.Name != nil {
		n.Name = *req.Name
	}
	if req.Tags != nil {
		n.Tags = copyTags(req.Tags)
	}
	tx := s.state.begin()
	tx.putDisk(n)
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return &iaasclient.ModifyDiskResponse{}, nil
}
