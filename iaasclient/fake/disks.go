package fake

import (
	"context"
	"slices"
	"strings"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
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

func (c *Cloud) validSize(field string, t ic.DiskType, size int) error {
	lim := ic.DiskTypes[t]
	if size < lim.MinGiB || size > lim.MaxGiB || (lim.StepGiB > 0 && size%lim.StepGiB != 0) {
		return c.failf(ic.CodeInvalidParameter, "%s: %d GiB is not a multiple of %d between %d and %d for %s", field, size, lim.StepGiB, lim.MinGiB, lim.MaxGiB, t)
	}
	return nil
}

// CreateDisk implements iaasclient.DiskAPI.
func (c *Cloud) CreateDisk(ctx context.Context, req *ic.CreateDiskRequest) (*ic.CreateDiskResponse, error) {
	if err := c.enter(ctx, ic.ActionCreateDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fp := *req
	fp.ClientToken = ""
	if prev, err := c.checkToken(ic.ActionCreateDisk, req.ClientToken, fp); err != nil || prev != nil {
		if err != nil {
			return nil, err
		}
		r := *prev.(*ic.CreateDiskResponse)
		return &r, nil
	}
	if req.Zone == "" {
		return nil, c.failf(ic.CodeInvalidParameter, "zone: required")
	}
	if len(c.zones) > 0 && !c.zones[req.Zone] {
		return nil, c.failf(ic.CodeInvalidParameter, "zone: %q is not a zone of this region", req.Zone)
	}
	typ := req.Type
	if typ == "" {
		typ = ic.DefaultDiskType
	}
	if _, ok := ic.DiskTypes[typ]; !ok {
		return nil, c.failf(ic.CodeInvalidParameter, "type: %q is not a disk type", req.Type)
	}
	if req.SizeGiB < 0 {
		return nil, c.failf(ic.CodeInvalidParameter, "sizeGiB: must not be negative")
	}
	if req.SnapshotID != "" && req.SourceDiskID != "" {
		return nil, c.failf(ic.CodeInvalidParameter, "snapshotId: snapshotId and sourceDiskId are exclusive")
	}
	size, srcSize := req.SizeGiB, 0
	switch {
	case req.SnapshotID != "":
		s, ok := c.snapshots[req.SnapshotID]
		if !ok {
			return nil, c.failf(ic.CodeResourceNotFound, "snapshotId: snapshot %q not found", req.SnapshotID)
		}
		if s.State != ic.SnapshotAvailable {
			return nil, c.failf(ic.CodeResourceInUse, "snapshotId: snapshot %q is %s", s.SnapshotID, s.State)
		}
		srcSize = s.SizeGiB
	case req.SourceDiskID != "":
		d, ok := c.disks[req.SourceDiskID]
		if !ok {
			return nil, c.failf(ic.CodeResourceNotFound, "sourceDiskId: disk %q not found", req.SourceDiskID)
		}
		if d.Zone != req.Zone {
			return nil, c.failf(ic.CodeInvalidParameter, "sourceDiskId: disk %q is in zone %q, not %q", d.DiskID, d.Zone, req.Zone)
		}
		if d.State == ic.DiskCreating || d.State == ic.DiskError {
			return nil, c.failf(ic.CodeResourceInUse, "sourceDiskId: disk %q is %s", d.DiskID, d.State)
		}
		srcSize = d.SizeGiB
	}
	if size == 0 {
		if srcSize == 0 {
			return nil, c.failf(ic.CodeInvalidParameter, "sizeGiB: is required for an empty disk")
		}
		size = srcSize
	}
	if size < srcSize {
		return nil, c.failf(ic.CodeInvalidParameter, "sizeGiB: %d GiB is smaller than the source's %d GiB", size, srcSize)
	}
	if err := c.validSize("sizeGiB", typ, size); err != nil {
		return nil, err
	}
	if len(c.disks) >= c.quotas["disks"] {
		return nil, c.failf(ic.CodeLimitExceeded, "disks: quota of %d reached", c.quotas["disks"])
	}
	if c.usedDiskGiB()+size > c.quotas["diskGiB"] {
		return nil, c.failf(ic.CodeLimitExceeded, "sizeGiB: quota of %d GiB would be exceeded", c.quotas["diskGiB"])
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
	var all []ic.Disk
	for _, d := range c.disks {
		if !anyOf(req.DiskIDs, d.DiskID) || !anyOf(req.Names, d.Name) || !hasTags(d.Tags, req.Tags) {
			continue
		}
		if (req.Zone != "" && d.Zone != req.Zone) || (len(req.InstanceIDs) > 0 && !slices.Contains(req.InstanceIDs, d.InstanceID)) {
			continue
		}
		all = append(all, *d)
	}
	slices.SortFunc(all, func(a, b ic.Disk) int { return strings.Compare(a.DiskID, b.DiskID) })
	lo, hi, err := c.pageOf(req.Page, len(all))
	if err != nil {
		return nil, err
	}
	return &ic.DescribeDisksResponse{ResponseMeta: c.meta(), Disks: clone(all[lo:hi]), TotalCount: len(all)}, nil
}

// DeleteDisk implements iaasclient.DiskAPI.
func (c *Cloud) DeleteDisk(ctx context.Context, req *ic.DeleteDiskRequest) (*ic.DeleteDiskResponse, error) {
	if err := c.enter(ctx, ic.ActionDeleteDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.disks[req.DiskID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "diskId: disk %q not found", req.DiskID)
	}
	if d.InstanceID != "" {
		return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %q is %s instance %q", d.DiskID, d.State, d.InstanceID)
	}
	if d.State == ic.DiskCreating {
		return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %q is CREATING", d.DiskID)
	}
	for _, o := range c.disks {
		if o.SourceDiskID == d.DiskID && o.State == ic.DiskCreating {
			return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %q is being cloned to %q", d.DiskID, o.DiskID)
		}
	}
	for _, sn := range c.snapshots {
		if sn.DiskID == d.DiskID && sn.State == ic.SnapshotCreating {
			return nil, c.failf(ic.CodeResourceInUse, "diskId: snapshot %q of disk %q is CREATING", sn.SnapshotID, d.DiskID)
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
	d, ok := c.disks[req.DiskID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "diskId: disk %q not found", req.DiskID)
	}
	in, err := c.instanceOf(req.InstanceID)
	if err != nil {
		return nil, err
	}
	if in.State == ic.InstanceTerminated {
		return nil, c.failf(ic.CodeResourceInUse, "instanceId: instance %q is TERMINATED", in.InstanceID)
	}
	if d.Zone != in.Zone {
		return nil, c.failf(ic.CodeInvalidParameter, "instanceId: instance %q is in zone %q, disk %q in zone %q", in.InstanceID, in.Zone, d.DiskID, d.Zone)
	}
	if d.InstanceID == in.InstanceID && (d.State == ic.DiskAttached || d.State == ic.DiskAttaching) {
		// A task that only confirms; it ends after the attach it repeats.
		return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: c.startTask(ic.ActionAttachDisk, d.DiskID, nil, nil)}, nil
	}
	if d.InstanceID != "" {
		return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %q is %s instance %q", d.DiskID, d.State, d.InstanceID)
	}
	if d.State != ic.DiskAvailable {
		return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %q is %s", d.DiskID, d.State)
	}
	n := 0
	for _, o := range c.disks {
		if o.InstanceID == in.InstanceID {
			n++
		}
	}
	if n >= in.MaxDisks {
		return nil, c.failf(ic.CodeLimitExceeded, "instanceId: instance %q already has %d of %d disks", in.InstanceID, n, in.MaxDisks)
	}
	d.State, d.InstanceID = ic.DiskAttaching, in.InstanceID
	id := d.DiskID
	tid := c.startTask(ic.ActionAttachDisk, id, func() {
		if d, ok := c.disks[id]; ok && d.State == ic.DiskAttaching {
			d.State = ic.DiskAttached
		}
	}, func() {
		if d, ok := c.disks[id]; ok && d.State == ic.DiskAttaching {
			d.State, d.InstanceID = ic.DiskAvailable, ""
		}
	})
	return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: tid}, nil
}

// DetachDisk implements iaasclient.DiskAPI with the rules of DetachDiskRequest: never
// a success for a disk that is attached elsewhere.
func (c *Cloud) DetachDisk(ctx context.Context, req *ic.DetachDiskRequest) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, ic.ActionDetachDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.disks[req.DiskID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "diskId: disk %q not found", req.DiskID)
	}
	if _, err := c.instanceOf(req.InstanceID); err != nil {
		return nil, err
	}
	if d.InstanceID == "" {
		return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: c.doneTask(ic.ActionDetachDisk, d.DiskID)}, nil
	}
	if d.InstanceID != req.InstanceID {
		return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %q is %s instance %q, not %q", d.DiskID, d.State, d.InstanceID, req.InstanceID)
	}
	if d.State == ic.DiskAttaching {
		return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %q is ATTACHING to instance %q", d.DiskID, d.InstanceID)
	}
	if d.State == ic.DiskDetaching {
		return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: c.startTask(ic.ActionDetachDisk, d.DiskID, nil, nil)}, nil
	}
	prev := d.State
	d.State = ic.DiskDetaching
	id := d.DiskID
	tid := c.startTask(ic.ActionDetachDisk, id, func() {
		if d, ok := c.disks[id]; ok && d.State == ic.DiskDetaching {
			d.State, d.InstanceID = ic.DiskAvailable, ""
		}
	}, func() {
		if d, ok := c.disks[id]; ok && d.State == ic.DiskDetaching {
			d.State = prev
		}
	})
	return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: tid}, nil
}

// ResizeDisk implements iaasclient.DiskAPI: grow only; the same size converges.
func (c *Cloud) ResizeDisk(ctx context.Context, req *ic.ResizeDiskRequest) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, ic.ActionResizeDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.disks[req.DiskID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "diskId: disk %q not found", req.DiskID)
	}
	if req.SizeGiB < d.SizeGiB {
		return nil, c.failf(ic.CodeInvalidParameter, "sizeGiB: %d GiB is smaller than the disk's %d GiB", req.SizeGiB, d.SizeGiB)
	}
	if err := c.validSize("sizeGiB", d.Type, req.SizeGiB); err != nil {
		return nil, err
	}
	if d.State == ic.DiskCreating || d.State == ic.DiskError {
		return nil, c.failf(ic.CodeResourceInUse, "diskId: disk %q is %s", d.DiskID, d.State)
	}
	if req.SizeGiB == d.SizeGiB {
		return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: c.startTask(ic.ActionResizeDisk, d.DiskID, nil, nil)}, nil
	}
	if c.usedDiskGiB()+req.SizeGiB-d.SizeGiB > c.quotas["diskGiB"] {
		return nil, c.failf(ic.CodeLimitExceeded, "sizeGiB: quota of %d GiB would be exceeded", c.quotas["diskGiB"])
	}
	id, size := d.DiskID, req.SizeGiB
	tid := c.startTask(ic.ActionResizeDisk, id, func() {
		if d, ok := c.disks[id]; ok {
			d.SizeGiB = size
		}
	}, nil)
	return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: tid}, nil
}

// ModifyDisk implements iaasclient.DiskAPI.
func (c *Cloud) ModifyDisk(ctx context.Context, req *ic.ModifyDiskRequest) (*ic.ModifyDiskResponse, error) {
	if err := c.enter(ctx, ic.ActionModifyDisk, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.disks[req.DiskID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "diskId: disk %q not found", req.DiskID)
	}
	if req.Name != nil {
		d.Name = *req.Name
	}
	if req.Tags != nil {
		d.Tags = clone(req.Tags)
	}
	return &ic.ModifyDiskResponse{ResponseMeta: c.meta()}, nil
}

// instanceOf finds an instance in any state.
func (c *Cloud) instanceOf(id string) (*ic.Instance, error) {
	if id == "" {
		return nil, c.failf(ic.CodeInvalidParameter, "instanceId: is required")
	}
	in, ok := c.instances[id]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "instanceId: instance %q not found", id)
	}
	return in, nil
}
