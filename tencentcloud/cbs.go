package tencentcloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"time"

	cbs "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cbs/v20170312"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// CBS (cloud block storage) disks. CBS answers mutations with a RequestId only; the
// tasks this file hands out poll DescribeDisks until the disk is in the wanted state
// (tasks.go).

// cbsChargeType: disks the driver makes are billed by the hour, so deleting a volume
// releases it at once (prepaid disks go to the recycle bin instead).
const cbsChargeType = "POSTPAID_BY_HOUR"

// CBS disks have no field for where their content came from, and the CSI driver needs
// it (a retried CreateVolume must match its source). The backend records the source
// in two tags set at creation, and reads them back into SnapshotID/SourceDiskID.
const (
	tagSourceSnapshot = ownTagPrefix + "source-snapshot"
	tagSourceDisk     = ownTagPrefix + "source-disk"
)

// Documented limits: DiskName is at most 60 bytes, ClientToken at most 64 ASCII
// characters.
const (
	maxDiskName    = 60
	maxClientToken = 64
)

// diskState maps CBS DiskState. EXPANDING and ROLLBACKING keep the attachment they
// had; TORECYCLE (isolated, e.g. unpaid) cannot be used.
func diskState(s, instanceID string) ic.DiskState {
	switch s {
	case "UNATTACHED":
		return ic.DiskAvailable
	case "ATTACHING":
		return ic.DiskAttaching
	case "ATTACHED":
		return ic.DiskAttached
	case "DETACHING":
		return ic.DiskDetaching
	case "EXPANDING", "ROLLBACKING":
		if instanceID != "" {
			return ic.DiskAttached
		}
		return ic.DiskAvailable
	}
	return ic.DiskError
}

func (c *Client) disk(d *cbs.Disk) ic.Disk {
	out := ic.Disk{
		DiskID: str(d.DiskId), Name: str(d.DiskName), Type: ic.DiskType(str(d.DiskType)),
		InstanceID: str(d.InstanceId), CreatedAt: tcTime(d.CreateTime),
		// A CBS disk shows up in its instance as a virtio disk whose serial is the disk id
		// (/dev/disk/by-id/virtio-<disk-id>).
		DeviceSerial: str(d.DiskId),
	}
	if d.DiskSize != nil {
		out.SizeGiB = int(*d.DiskSize)
	}
	if d.Encrypt != nil {
		out.Encrypted = *d.Encrypt
	}
	if d.Placement != nil {
		out.Zone = str(d.Placement.Zone)
	}
	out.State = diskState(str(d.DiskState), out.InstanceID)
	if out.State == ic.DiskAvailable {
		out.InstanceID = ""
	}
	for _, t := range d.Tags {
		switch k := str(t.Key); k {
		case tagSourceSnapshot:
			out.SnapshotID = str(t.Value)
		case tagSourceDisk:
			out.SourceDiskID = str(t.Value)
		default:
			if out.Tags == nil {
				out.Tags = map[string]string{}
			}
			out.Tags[k] = str(t.Value)
		}
	}
	return out
}

// cbsToken fits our client token into CBS's 64 characters (a longer one is hashed,
// deterministically, so a retry still sends the same token).
func cbsToken(t string) string {
	if len(t) <= maxClientToken {
		return t
	}
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// truncName cuts a display name to n bytes; names are labels, identity is in tags.
func truncName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func cbsTags(tags map[string]string) []*cbs.Tag {
	out := make([]*cbs.Tag, 0, len(tags))
	for k, v := range tags {
		out = append(out, &cbs.Tag{Key: sp(k), Value: sp(v)})
	}
	return out
}

// CreateDisk: CreateDisks with one disk, billed by the hour, idempotent by ClientToken.
// A clone (SourceDiskID) goes through a snapshot, since CBS cannot copy a disk
// (cbs_clone.go).
func (c *Client) CreateDisk(ctx context.Context, req *ic.CreateDiskRequest) (*ic.CreateDiskResponse, error) {
	if req.Zone == "" {
		return nil, ic.Errorf(ic.CodeInvalidParameter, "zone: CBS needs the availability zone of a disk")
	}
	if req.SnapshotID != "" && req.SourceDiskID != "" {
		return nil, ic.Errorf(ic.CodeInvalidParameter, "snapshotId and sourceDiskId: at most one")
	}
	for k := range req.Tags {
		if k == tagSourceDisk || k == tagSourceSnapshot {
			return nil, ic.Errorf(ic.CodeInvalidParameter, "tags: %s is reserved by the tencentcloud backend", k)
		}
	}
	if req.SourceDiskID != "" {
		return c.cloneDisk(ctx, req)
	}
	return c.createDisks(ctx, req, req.SnapshotID, "")
}

// createDisks sends CreateDisks; snapshotID is the content, sourceDisk what to record
// as the source (a clone's disk, whose temporary snapshot is then snapshotID).
func (c *Client) createDisks(ctx context.Context, req *ic.CreateDiskRequest, snapshotID, sourceDisk string) (*ic.CreateDiskResponse, error) {
	dtype := req.Type
	if dtype == "" {
		dtype = ic.DefaultDiskType
	}
	tags := maps.Clone(req.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	switch {
	case sourceDisk != "":
		tags[tagSourceDisk] = sourceDisk
	case snapshotID != "":
		tags[tagSourceSnapshot] = snapshotID
	}
	r := cbs.NewCreateDisksRequest()
	r.DiskType = sp(string(dtype))
	r.DiskChargeType = sp(cbsChargeType)
	r.Placement = &cbs.Placement{Zone: sp(req.Zone)}
	r.DiskName = sp(truncName(req.Name, maxDiskName))
	one := uint64(1)
	r.DiskCount = &one
	if req.SizeGiB > 0 {
		size := uint64(req.SizeGiB)
		r.DiskSize = &size
	}
	if snapshotID != "" {
		r.SnapshotId = sp(snapshotID)
	}
	if req.ClientToken != "" {
		r.ClientToken = sp(cbsToken(req.ClientToken))
	}
	if req.Encrypted {
		r.Encrypt = sp("ENCRYPT")
	}
	r.Tags = cbsTags(tags)
	resp := cbs.NewCreateDisksResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, err
	}
	ids := strs(resp.Response.DiskIdSet)
	if len(ids) != 1 {
		return nil, ic.Errorf(ic.CodeInternalError, "CreateDisks answered %d disk ids, want 1", len(ids))
	}
	return &ic.CreateDiskResponse{DiskID: ids[0], TaskID: diskCreatedTask(ids[0], "")}, nil
}

// describeDisksPage is one DescribeDisks call.
func (c *Client) describeDisksPage(ctx context.Context, ids []string, filters []*cbs.Filter, offset, limit int) ([]ic.Disk, int, error) {
	r := cbs.NewDescribeDisksRequest()
	if len(ids) > 0 {
		r.DiskIds = sps(ids)
	}
	r.Filters = filters
	o, l := uint64(offset), uint64(limit)
	r.Offset, r.Limit = &o, &l
	resp := cbs.NewDescribeDisksResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, 0, err
	}
	out := make([]ic.Disk, 0, len(resp.Response.DiskSet))
	for _, d := range resp.Response.DiskSet {
		out = append(out, c.disk(d))
	}
	total := len(out)
	if resp.Response.TotalCount != nil {
		total = int(*resp.Response.TotalCount)
	}
	return out, total, nil
}

// DescribeDisks: by ids (100 per call; CBS refuses ids and filters together, so the
// other filters apply here) or by filters (disk-name, zone, instance-id, tag:<key>).
func (c *Client) DescribeDisks(ctx context.Context, req *ic.DescribeDisksRequest) (*ic.DescribeDisksResponse, error) {
	out := &ic.DescribeDisksResponse{Disks: []ic.Disk{}}
	if len(req.DiskIDs) > 0 {
		for i := 0; i < len(req.DiskIDs); i += pageSize {
			ids := req.DiskIDs[i:min(i+pageSize, len(req.DiskIDs))]
			disks, _, err := c.describeDisksPage(ctx, ids, nil, 0, pageSize)
			if err != nil {
				return nil, err
			}
			for _, d := range disks {
				if diskMatches(req, &d) {
					out.Disks = append(out.Disks, d)
				}
			}
		}
		out.TotalCount = len(out.Disks)
		return out, nil
	}
	var filters []*cbs.Filter
	add := func(name string, values ...string) {
		if len(values) > 0 {
			filters = append(filters, &cbs.Filter{Name: sp(name), Values: sps(values)})
		}
	}
	add("disk-name", req.Names...)
	if req.Zone != "" {
		add("zone", req.Zone)
	}
	add("instance-id", req.InstanceIDs...)
	for k, v := range req.Tags {
		add("tag:"+k, v)
	}
	offset, want := req.Offset, req.Limit
	if want <= 0 {
		want = ic.DefaultPageSize
	}
	for len(out.Disks) < want {
		o, l := window(offset, want-len(out.Disks))
		disks, total, err := c.describeDisksPage(ctx, nil, filters, o, l)
		if err != nil {
			return nil, err
		}
		out.Disks = append(out.Disks, disks...)
		out.TotalCount = total
		offset += len(disks)
		if len(disks) == 0 || offset >= total {
			break
		}
	}
	return out, nil
}

func diskMatches(req *ic.DescribeDisksRequest, d *ic.Disk) bool {
	if len(req.Names) > 0 && !contains(req.Names, d.Name) {
		return false
	}
	if req.Zone != "" && d.Zone != req.Zone {
		return false
	}
	if len(req.InstanceIDs) > 0 && !contains(req.InstanceIDs, d.InstanceID) {
		return false
	}
	for k, v := range req.Tags {
		if d.Tags[k] != v {
			return false
		}
	}
	return true
}

// getDisk is one disk by id, ErrNotFound when CBS does not list it.
func (c *Client) getDisk(ctx context.Context, id string) (*ic.Disk, error) {
	disks, _, err := c.describeDisksPage(ctx, []string{id}, nil, 0, 1)
	if err != nil {
		return nil, err
	}
	for i := range disks {
		if disks[i].DiskID == id {
			return &disks[i], nil
		}
	}
	return nil, ic.Errorf(ic.CodeResourceNotFound, "disk %s not found", id)
}

// DeleteDisk: TerminateDisks. An attached disk is refused by CBS (ResourceInUse).
func (c *Client) DeleteDisk(ctx context.Context, req *ic.DeleteDiskRequest) (*ic.DeleteDiskResponse, error) {
	r := cbs.NewTerminateDisksRequest()
	r.DiskIds = sps([]string{req.DiskID})
	if err := c.call(ctx, r, cbs.NewTerminateDisksResponse()); err != nil {
		return nil, err
	}
	return &ic.DeleteDiskResponse{}, nil
}

// AttachDisk keeps our contract, which CBS's AttachDisks does not: attaching to the
// instance a disk is already on succeeds, another instance is ResourceInUse. CBS
// answers at once and the disk goes ATTACHING then ATTACHED; the task polls that.
func (c *Client) AttachDisk(ctx context.Context, req *ic.AttachDiskRequest) (*ic.TaskResponse, error) {
	d, err := c.getDisk(ctx, req.DiskID)
	if err != nil {
		return nil, err
	}
	switch {
	case d.InstanceID == req.InstanceID && (d.State == ic.DiskAttached || d.State == ic.DiskAttaching):
		return &ic.TaskResponse{TaskID: diskAttachTask(req.DiskID, req.InstanceID, time.Now())}, nil
	case d.InstanceID != "":
		return nil, ic.Errorf(ic.CodeResourceInUse, "disk %s is %s on instance %s", d.DiskID, d.State, d.InstanceID)
	case d.State != ic.DiskAvailable:
		return nil, ic.Errorf(ic.CodeResourceInUse, "disk %s is %s", d.DiskID, d.State)
	}
	r := cbs.NewAttachDisksRequest()
	r.DiskIds = sps([]string{req.DiskID})
	r.InstanceId = sp(req.InstanceID)
	if err := c.call(ctx, r, cbs.NewAttachDisksResponse()); err != nil {
		return nil, err
	}
	return &ic.TaskResponse{TaskID: diskAttachTask(req.DiskID, req.InstanceID, time.Now())}, nil
}

// DetachDisk: a disk on no instance is detached already (no task); a disk on another
// instance is ResourceInUse, never "detached", so a caller cannot mistake it.
func (c *Client) DetachDisk(ctx context.Context, req *ic.DetachDiskRequest) (*ic.TaskResponse, error) {
	d, err := c.getDisk(ctx, req.DiskID)
	if err != nil {
		return nil, err
	}
	switch {
	case d.InstanceID == "":
		return &ic.TaskResponse{}, nil
	case d.InstanceID != req.InstanceID:
		return nil, ic.Errorf(ic.CodeResourceInUse, "disk %s is %s on instance %s, not on %s", d.DiskID, d.State, d.InstanceID, req.InstanceID)
	case d.State == ic.DiskDetaching:
		return &ic.TaskResponse{TaskID: diskDetachTask(req.DiskID, req.InstanceID, time.Now())}, nil
	}
	r := cbs.NewDetachDisksRequest()
	r.DiskIds = sps([]string{req.DiskID})
	r.InstanceId = sp(req.InstanceID)
	if err := c.call(ctx, r, cbs.NewDetachDisksResponse()); err != nil {
		return nil, err
	}
	return &ic.TaskResponse{TaskID: diskDetachTask(req.DiskID, req.InstanceID, time.Now())}, nil
}

// ResizeDisk grows a disk (CBS refuses a size that is not larger: the same size is
// answered here without a call, a smaller one is InvalidParameter).
func (c *Client) ResizeDisk(ctx context.Context, req *ic.ResizeDiskRequest) (*ic.TaskResponse, error) {
	d, err := c.getDisk(ctx, req.DiskID)
	if err != nil {
		return nil, err
	}
	switch {
	case req.SizeGiB < d.SizeGiB:
		return nil, ic.Errorf(ic.CodeInvalidParameter, "sizeGiB: disk %s has %d GiB, cannot shrink to %d", d.DiskID, d.SizeGiB, req.SizeGiB)
	case req.SizeGiB == d.SizeGiB:
		return &ic.TaskResponse{TaskID: diskResizeTask(req.DiskID, req.SizeGiB)}, nil
	}
	r := cbs.NewResizeDiskRequest()
	r.DiskId = sp(req.DiskID)
	size := uint64(req.SizeGiB)
	r.DiskSize = &size
	if err := c.call(ctx, r, cbs.NewResizeDiskResponse()); err != nil {
		return nil, err
	}
	return &ic.TaskResponse{TaskID: diskResizeTask(req.DiskID, req.SizeGiB)}, nil
}

// ModifyDisk: the name through ModifyDiskAttributes, the tags through the tag service
// (CBS has no tag action of its own; tags.go). Tags replace the whole set, except the
// backend's own source tags, which stay.
func (c *Client) ModifyDisk(ctx context.Context, req *ic.ModifyDiskRequest) (*ic.ModifyDiskResponse, error) {
	if req.Name != nil {
		r := cbs.NewModifyDiskAttributesRequest()
		r.DiskIds = sps([]string{req.DiskID})
		r.DiskName = sp(truncName(*req.Name, maxDiskName))
		if err := c.call(ctx, r, cbs.NewModifyDiskAttributesResponse()); err != nil {
			return nil, err
		}
	}
	if req.Tags == nil {
		return &ic.ModifyDiskResponse{}, nil
	}
	for k := range req.Tags {
		if k == tagSourceDisk || k == tagSourceSnapshot {
			return nil, ic.Errorf(ic.CodeInvalidParameter, "tags: %s is reserved by the tencentcloud backend", k)
		}
	}
	d, err := c.getDisk(ctx, req.DiskID)
	if err != nil {
		return nil, err
	}
	if err := c.replaceTags(ctx, "cbs", "volume/"+req.DiskID, d.Tags, req.Tags); err != nil {
		return nil, fmt.Errorf("tags of disk %s: %w", req.DiskID, err)
	}
	return &ic.ModifyDiskResponse{}, nil
}
