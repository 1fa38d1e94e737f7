package fake

import (
	"context"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// Disk returns a copy of a stored disk.
func (c *Cloud) Disk(id string) (ic.Disk, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.disks[id]
	if !ok {
		return ic.Disk{}, false
	}
	return clone(*d), true
}

// AddDisk stores a disk as is (an empty id gets a new disk- id, an empty state is
// AVAILABLE), for tests that start from existing volumes.
func (c *Cloud) AddDisk(d ic.Disk) ic.Disk {
	c.mu.Lock()
	defer c.mu.Unlock()
	d = clone(d)
	if d.DiskID == "" {
		d.DiskID = c.newID("disk")
	}
	if d.State == "" {
		d.State = ic.DiskAvailable
		if d.InstanceID != "" {
			d.State = ic.DiskAttached
		}
	}
	if d.Type == "" {
		d.Type = ic.DefaultDiskType
	}
	if d.Zone == "" {
		d.Zone = DefaultZone
	}
	d.DeviceSerial = d.DiskID
	if d.CreatedAt.IsZero() {
		d.CreatedAt = c.now().UTC()
	}
	c.disks[d.DiskID] = &d
	return clone(d)
}

func (c *Cloud) usedDiskGiB() int {
	n := 0
	for _, d := range c.disks {
		n += d.SizeGiB
	}
	return n
}

// CreateDisk implements iaasclient.DiskAPI.
func (c *Cloud) CreateDisk(ctx context.Context, req *ic.CreateDiskRequest) (*ic.CreateDiskResponse, error) {
	if err := c.enter(ctx, ic.ActionCreateDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	typ, verr := validate.CreateDisk(req)
	if verr != nil {
		return nil, c.fail(verr)
	}
	fp := *req
	fp.ClientToken = ""
	if r, done, err := replay[ic.CreateDiskResponse](c, ic.ActionCreateDisk, req.ClientToken, fp); done {
		return r, err
	}
	if len(c.zones) > 0 && !c.zones[req.Zone] {
		return nil, c.fail(validate.UnknownZone("zone", req.Zone))
	}
	srcSize := 0
	switch {
	case req.SnapshotID != "":
		s, ok := c.snapshots[req.SnapshotID]
		if !ok {
			return nil, c.fail(validate.NotFound("snapshotId", "snapshot", req.SnapshotID))
		}
		if err := validate.SnapshotSource(s); err != nil {
			return nil, c.fail(err)
		}
		srcSize = s.SizeGiB
	case req.SourceDiskID != "":
		d, err := c.diskOf("sourceDiskId", req.SourceDiskID)
		if err != nil {
			return nil, err
		}
		if err := validate.DiskSource(d, req.Zone); err != nil {
			return nil, c.fail(err)
		}
		srcSize = d.SizeGiB
	}
	size, verr := validate.NewDiskSize(typ, req.SizeGiB, srcSize)
	if verr != nil {
		return nil, c.fail(verr)
	}
	if err := validate.TenantQuota("disks", "disks", len(c.disks), c.quotas["disks"]); err != nil {
		return nil, c.fail(err)
	}
	if err := validate.DiskGiBQuota(c.usedDiskGiB(), size, c.quotas["diskGiB"], false); err != nil {
		return nil, c.fail(err)
	}
	d := &ic.Disk{
		DiskID: c.newID("disk"), Name: req.Name, SizeGiB: size, Type: typ, Zone: req.Zone,
		State: ic.DiskCreating, Encrypted: req.Encrypted, SnapshotID: req.SnapshotID,
		SourceDiskID: req.SourceDiskID, Tags: clone(req.Tags), CreatedAt: c.now().UTC(),
	}
	d.DeviceSerial = d.DiskID
	c.disks[d.DiskID] = d
	id := d.DiskID
	tid := c.startTask(ic.ActionCreateDisk, id, func() {
		if d, ok := c.disks[id]; ok {
			d.State = ic.DiskAvailable
		}
	}, func() {
		if d, ok := c.disks[id]; ok {
			d.State = ic.DiskError
		}
	})
	resp := &ic.CreateDiskResponse{ResponseMeta: c.meta(), DiskID: id, TaskID: tid}
	c.recordToken(ic.ActionCreateDisk, req.ClientToken, fp, resp)
	r := *resp
	return &r, nil
}

// DescribeDisks implements iaasclient.DiskAPI.
func (c *Cloud) DescribeDisks(ctx context.Context, req *ic.DescribeDisksRequest) (*ic.DescribeDisksResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeDisks, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	off, lim, verr := validate.DescribeDisks(req)
	if verr != nil {
		return nil, c.fail(verr)
	}
	page, total := describe(c.disks, func(d *ic.Disk) bool { return validate.MatchDisk(req, d) }, off, lim)
	return &ic.DescribeDisksResponse{ResponseMeta: c.meta(), Disks: page, TotalCount: total}, nil
}

// DeleteDisk implements iaasclient.DiskAPI.
func (c *Cloud) DeleteDisk(ctx context.Context, req *ic.DeleteDiskRequest) (*ic.DeleteDiskResponse, error) {
	if err := c.enter(ctx, ic.ActionDeleteDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.diskOf("diskId", req.DiskID)
	if err != nil {
		return nil, err
	}
	if err := validate.DeleteDisk(d); err != nil {
		return nil, c.fail(err)
	}
	for _, o := range c.disks {
		if o.SourceDiskID == d.DiskID && o.State == ic.DiskCreating {
			return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %s is being cloned to %s", d.DiskID, o.DiskID)
		}
	}
	for _, sn := range c.snapshots {
		if sn.DiskID == d.DiskID && sn.State == ic.SnapshotCreating {
			return nil, c.failf(ic.CodeResourceInUse, "diskId: snapshot %s of disk %s is CREATING", sn.SnapshotID, d.DiskID)
		}
	}
	delete(c.disks, d.DiskID)
	return &ic.DeleteDiskResponse{ResponseMeta: c.meta()}, nil
}

// AttachDisk implements iaasclient.DiskAPI with the rules of AttachDiskRequest.
func (c *Cloud) AttachDisk(ctx context.Context, req *ic.AttachDiskRequest) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, ic.ActionAttachDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, in, err := c.diskAndInstance(req.DiskID, req.InstanceID)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, o := range c.disks {
		if o.InstanceID == in.InstanceID {
			n++
		}
	}
	repeat, verr := validate.AttachDisk(d, in, n)
	if verr != nil {
		return nil, c.fail(verr)
	}
	if repeat {
		// A task that only confirms; it ends after the attach it repeats.
		return c.taskResponse(c.startTask(ic.ActionAttachDisk, d.DiskID, nil, nil)), nil
	}
	d.State, d.InstanceID = ic.DiskAttaching, in.InstanceID
	id := d.DiskID
	tid := c.diskTransition(ic.ActionAttachDisk, id, ic.DiskAttaching, func(d *ic.Disk) {
		d.State = ic.DiskAttached
	}, func(d *ic.Disk) {
		d.State, d.InstanceID = ic.DiskAvailable, ""
	})
	return c.taskResponse(tid), nil
}

// DetachDisk implements iaasclient.DiskAPI with the rules of DetachDiskRequest: never
// a success for a disk that is attached elsewhere.
func (c *Cloud) DetachDisk(ctx context.Context, req *ic.DetachDiskRequest) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, ic.ActionDetachDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, _, err := c.diskAndInstance(req.DiskID, req.InstanceID)
	if err != nil {
		return nil, err
	}
	what, verr := validate.DetachDisk(d, req.InstanceID)
	switch {
	case verr != nil:
		return nil, c.fail(verr)
	case what == validate.DetachNothing:
		return c.taskResponse(c.doneTask(ic.ActionDetachDisk, d.DiskID)), nil
	case what == validate.DetachRepeat:
		return c.taskResponse(c.startTask(ic.ActionDetachDisk, d.DiskID, nil, nil)), nil
	}
	prev := d.State
	d.State = ic.DiskDetaching
	id := d.DiskID
	tid := c.diskTransition(ic.ActionDetachDisk, id, ic.DiskDetaching, func(d *ic.Disk) {
		d.State, d.InstanceID = ic.DiskAvailable, ""
	}, func(d *ic.Disk) {
		d.State = prev
	})
	return c.taskResponse(tid), nil
}

// ResizeDisk implements iaasclient.DiskAPI: grow only; the same size converges.
func (c *Cloud) ResizeDisk(ctx context.Context, req *ic.ResizeDiskRequest) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, ic.ActionResizeDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.diskOf("diskId", req.DiskID)
	if err != nil {
		return nil, err
	}
	if err := validate.ResizeDisk(d, req.SizeGiB); err != nil {
		return nil, c.fail(err)
	}
	if req.SizeGiB == d.SizeGiB {
		return c.taskResponse(c.startTask(ic.ActionResizeDisk, d.DiskID, nil, nil)), nil
	}
	if err := validate.DiskGiBQuota(c.usedDiskGiB(), req.SizeGiB-d.SizeGiB, c.quotas["diskGiB"], true); err != nil {
		return nil, c.fail(err)
	}
	id, size := d.DiskID, req.SizeGiB
	tid := c.startTask(ic.ActionResizeDisk, id, func() {
		if d, ok := c.disks[id]; ok {
			d.SizeGiB = size
		}
	}, nil)
	return c.taskResponse(tid), nil
}

// ModifyDisk implements iaasclient.DiskAPI.
func (c *Cloud) ModifyDisk(ctx context.Context, req *ic.ModifyDiskRequest) (*ic.ModifyDiskResponse, error) {
	if err := c.enter(ctx, ic.ActionModifyDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := validate.ModifyDisk(req); err != nil {
		return nil, c.fail(err)
	}
	d, err := c.diskOf("diskId", req.DiskID)
	if err != nil {
		return nil, err
	}
	if req.Name != nil {
		d.Name = *req.Name
	}
	if req.Tags != nil {
		d.Tags = clone(req.Tags)
	}
	return &ic.ModifyDiskResponse{ResponseMeta: c.meta()}, nil
}

// diskTransition starts a task on disk id, which the call has just put in state from:
// when the task ends, done (success) or undo (failure) moves the disk on, unless it
// has left that state meanwhile.
func (c *Cloud) diskTransition(action, id string, from ic.DiskState, done, undo func(*ic.Disk)) string {
	on := func(f func(*ic.Disk)) func() {
		return func() {
			if d, ok := c.disks[id]; ok && d.State == from {
				f(d)
			}
		}
	}
	return c.startTask(action, id, on(done), on(undo))
}

// instanceOf finds an instance in any state.
func (c *Cloud) instanceOf(id string) (*ic.Instance, error) {
	if err := validate.Required("instanceId", id); err != nil {
		return nil, c.fail(err)
	}
	in, ok := c.instances[id]
	if !ok {
		return nil, c.fail(validate.NotFound("instanceId", "instance", id))
	}
	return in, nil
}

// diskAndInstance finds the disk and the instance an attach or detach names.
func (c *Cloud) diskAndInstance(diskID, instanceID string) (*ic.Disk, *ic.Instance, error) {
	d, err := c.diskOf("diskId", diskID)
	if err != nil {
		return nil, nil, err
	}
	in, err := c.instanceOf(instanceID)
	if err != nil {
		return nil, nil, err
	}
	return d, in, nil
}

// diskOf finds a disk named in field.
func (c *Cloud) diskOf(field, id string) (*ic.Disk, error) {
	if err := validate.Required(field, id); err != nil {
		return nil, c.fail(err)
	}
	d, ok := c.disks[id]
	if !ok {
		return nil, c.fail(validate.NotFound(field, "disk", id))
	}
	return d, nil
}
