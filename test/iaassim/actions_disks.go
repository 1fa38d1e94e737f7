package iaassim

import (
	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// diskOf returns the tenant's disk or ResourceNotFound (also for other tenants').
func (s *Server) diskOf(c *call, field, id string) (*diskRec, *iaasclient.Error) {
	if id == "" {
		return nil, invalid(field, "is required")
	}
	d := s.state.disks[id]
	if d == nil || d.Tenant != c.tenant.name {
		return nil, notFound(field, "disk", id)
	}
	return d, nil
}

func (s *Server) instanceOf(c *call, field, id string) (*instanceRec, *iaasclient.Error) {
	if id == "" {
		return nil, invalid(field, "is required")
	}
	in := s.state.instances[id]
	if in == nil || in.Tenant != c.tenant.name {
		return nil, notFound(field, "instance", id)
	}
	return in, nil
}

// knownZone: a configured zone, the default zone, or the zone of an instance.
func (s *Server) knownZone(z string) bool {
	if z == s.defaultZone() || inListStrict(s.cfg.Zones, z) {
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

func validateSize(field string, t iaasclient.DiskType, size int) *iaasclient.Error {
	lim := iaasclient.DiskTypes[t]
	if size < lim.MinGiB || size > lim.MaxGiB {
		return invalid(field, "must be %d-%d GiB for %s, got %d", lim.MinGiB, lim.MaxGiB, t, size)
	}
	if lim.StepGiB > 1 && size%lim.StepGiB != 0 {
		return invalid(field, "must be a multiple of %d GiB for %s", lim.StepGiB, t)
	}
	return nil
}

func (s *Server) createDisk(c *call, req *iaasclient.CreateDiskRequest) (any, *iaasclient.Error) {
	if err := validateName("name", req.Name, false); err != nil {
		return nil, err
	}
	if err := validateTags("tags", req.Tags); err != nil {
		return nil, err
	}
	dtype := req.Type
	if dtype == "" {
		dtype = iaasclient.DefaultDiskType
	}
	if _, ok := iaasclient.DiskTypes[dtype]; !ok {
		return nil, invalid("type", "unknown disk type %q", truncate(string(dtype)))
	}
	if req.SizeGiB < 0 {
		return nil, invalid("sizeGiB", "must not be negative, got %d", req.SizeGiB)
	}
	if req.SnapshotID != "" && req.SourceDiskID != "" {
		return nil, invalid("snapshotId", "give at most one of snapshotId and sourceDiskId")
	}
	if req.Zone == "" {
		return nil, invalid("zone", "is required")
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
		return nil, invalid("zone", "unknown zone %q", truncate(req.Zone))
	}
	size, srcSize := req.SizeGiB, 0
	switch {
	case req.SnapshotID != "":
		snap := s.state.snapshots[req.SnapshotID]
		if snap == nil || snap.Tenant != c.tenant.name {
			return nil, notFound("snapshotId", "snapshot", req.SnapshotID)
		}
		if snap.State != iaasclient.SnapshotAvailable {
			return nil, errf(iaasclient.CodeResourceInUse, "snapshotId: snapshot %s is %s", snap.SnapshotID, snap.State)
		}
		srcSize = snap.SizeGiB
	case req.SourceDiskID != "":
		src, err := s.diskOf(c, "sourceDiskId", req.SourceDiskID)
		if err != nil {
			return nil, err
		}
		if src.State == iaasclient.DiskCreating || src.State == iaasclient.DiskError {
			return nil, errf(iaasclient.CodeResourceInUse, "sourceDiskId: disk %s is %s", src.DiskID, src.State)
		}
		if src.Zone != req.Zone {
			return nil, invalid("sourceDiskId", "disk %s is in zone %s, not %s", src.DiskID, src.Zone, req.Zone)
		}
		srcSize = src.SizeGiB
	}
	if size == 0 {
		if srcSize == 0 {
			return nil, invalid("sizeGiB", "is required for an empty disk")
		}
		size = srcSize
	}
	if size < srcSize {
		return nil, invalid("sizeGiB", "%d GiB is smaller than the source's %d GiB", size, srcSize)
	}
	if err := validateSize("sizeGiB", dtype, size); err != nil {
		return nil, err
	}
	count, used := s.diskUsage(c.tenant.name)
	if q := c.tenant.quotas.Disks; count+1 > q {
		return nil, errf(iaasclient.CodeLimitExceeded, "disks: the tenant's quota of %d disks is used up", q)
	}
	if q := c.tenant.quotas.DiskGiB; used+size > q {
		return nil, errf(iaasclient.CodeLimitExceeded, "sizeGiB: %d GiB more would exceed the tenant's quota of %d GiB (%d used)", size, q, used)
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
	off, lim, err := validatePage(req.Page)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		n string
		v []string
	}{{"diskIds", req.DiskIDs}, {"names", req.Names}, {"instanceIds", req.InstanceIDs}} {
		if err := validateIDList(f.n, f.v); err != nil {
			return nil, err
		}
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	all := sortedValues(s.state.disks, func(d *diskRec) bool {
		return d.Tenant == c.tenant.name && inList(req.DiskIDs, d.DiskID) && inList(req.Names, d.Name) &&
			(req.Zone == "" || d.Zone == req.Zone) && tagsMatch(d.Tags, req.Tags) &&
			(len(req.InstanceIDs) == 0 || (d.InstanceID != "" && inList(req.InstanceIDs, d.InstanceID)))
	})
	resp := &iaasclient.DescribeDisksResponse{TotalCount: len(all), Disks: []iaasclient.Disk{}}
	for _, d := range paginate(all, off, lim) {
		resp.Disks = append(resp.Disks, d.Disk)
	}
	return resp, nil
}

func (s *Server) deleteDisk(c *call, req *iaasclient.DeleteDiskRequest) (any, *iaasclient.Error) {
	err := func() *iaasclient.Error {
		s.state.mu.Lock()
		defer s.state.mu.Unlock()
		d, err := s.diskOf(c, "diskId", req.DiskID)
		if err != nil {
			return err
		}
		if d.InstanceID != "" {
			return errf(iaasclient.CodeResourceInUse, "diskId: disk %s is %s instance %s", d.DiskID, d.State, d.InstanceID)
		}
		if d.State == iaasclient.DiskCreating {
			return errf(iaasclient.CodeResourceInUse, "diskId: disk %s is CREATING", d.DiskID)
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
	d, err := s.diskOf(c, "diskId", req.DiskID)
	if err != nil {
		return nil, err
	}
	in, err := s.instanceOf(c, "instanceId", req.InstanceID)
	if err != nil {
		return nil, err
	}
	if in.State == iaasclient.InstanceTerminated {
		return nil, errf(iaasclient.CodeResourceInUse, "instanceId: instance %s is TERMINATED", in.InstanceID)
	}
	if d.Zone != in.Zone {
		return nil, invalid("instanceId", "instance %s is in zone %s and disk %s in zone %s", in.InstanceID, in.Zone, d.DiskID, d.Zone)
	}
	tx := s.state.begin()
	switch {
	case d.InstanceID != "" && d.InstanceID != in.InstanceID:
		return nil, errf(iaasclient.CodeResourceInUse, "diskId: disk %s is %s instance %s", d.DiskID, d.State, d.InstanceID)
	case d.InstanceID == in.InstanceID && d.State == iaasclient.DiskDetaching:
		return nil, errf(iaasclient.CodeResourceInUse, "diskId: disk %s is DETACHING from instance %s", d.DiskID, in.InstanceID)
	case d.InstanceID == in.InstanceID:
		// ATTACHING or ATTACHED here: a task that confirms the attachment, in order.
	case d.State != iaasclient.DiskAvailable:
		return nil, errf(iaasclient.CodeResourceInUse, "diskId: disk %s is %s", d.DiskID, d.State)
	default:
		attached := 0
		for _, o := range s.state.disks {
			if o.InstanceID == in.InstanceID {
				attached++
			}
		}
		if attached >= in.MaxDisks {
			return nil, errf(iaasclient.CodeLimitExceeded, "instanceId: instance %s has %d disks, its limit", in.InstanceID, in.MaxDisks)
		}
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
	d, err := s.diskOf(c, "diskId", req.DiskID)
	if err != nil {
		return nil, err
	}
	in, err := s.instanceOf(c, "instanceId", req.InstanceID)
	if err != nil {
		return nil, err
	}
	tx := s.state.begin()
	var t *taskRec
	switch {
	case d.InstanceID == "":
		t = s.doneTask(tx, c, d.DiskID)
	case d.InstanceID != in.InstanceID:
		return nil, errf(iaasclient.CodeResourceInUse, "diskId: disk %s is %s instance %s", d.DiskID, d.State, d.InstanceID)
	case d.State == iaasclient.DiskAttaching:
		return nil, errf(iaasclient.CodeResourceInUse, "diskId: disk %s is ATTACHING to instance %s", d.DiskID, in.InstanceID)
	default: // ATTACHED or DETACHING from this instance; a stopped instance is fenced
		if d.State != iaasclient.DiskDetaching {
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
	if req.SizeGiB < d.SizeGiB {
		return nil, invalid("sizeGiB", "disks only grow: %d GiB is smaller than the current %d GiB", req.SizeGiB, d.SizeGiB)
	}
	if err := validateSize("sizeGiB", d.Type, req.SizeGiB); err != nil {
		return nil, err
	}
	if d.State == iaasclient.DiskCreating || d.State == iaasclient.DiskError {
		return nil, errf(iaasclient.CodeResourceInUse, "diskId: disk %s is %s", d.DiskID, d.State)
	}
	tx := s.state.begin()
	if req.SizeGiB > d.SizeGiB {
		_, used := s.diskUsage(c.tenant.name)
		if q := c.tenant.quotas.DiskGiB; used+req.SizeGiB-d.SizeGiB > q {
			return nil, errf(iaasclient.CodeLimitExceeded, "sizeGiB: growing by %d GiB would exceed the tenant's quota of %d GiB (%d used)", req.SizeGiB-d.SizeGiB, q, used)
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
	if req.Name != nil {
		if err := validateName("name", *req.Name, false); err != nil {
			return nil, err
		}
	}
	if err := validateTags("tags", req.Tags); err != nil {
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
