package iaassim

import (
	"strings"
	"time"

	"github.com/google/uuid"
	cbs "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cbs/v20170312"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// The CBS actions of the Tencent front-end, on the native disks and snapshots (so the
// loop-device data plane serves them too). What CBS does differently from the native
// API is done here: one answer per action with no task id (callers watch DiskState),
// disks listed only once created, AttachDisks/DetachDisks/ResizeDisk refusing what
// CBS refuses, states and error codes in CBS's words.

// tcDiskState is CBS's DiskState of a native state.
func tcDiskState(s iaasclient.DiskState) string {
	if s == iaasclient.DiskAvailable {
		return "UNATTACHED"
	}
	return string(s) // ATTACHING, ATTACHED, DETACHING
}

func tcDisk(d *iaasclient.Disk) *cbs.Disk {
	size := uint64(d.SizeGiB)
	out := &cbs.Disk{
		DiskId: common.StringPtr(d.DiskID), DiskName: common.StringPtr(d.Name), DiskSize: &size,
		DiskType: common.StringPtr(string(d.Type)), DiskState: common.StringPtr(tcDiskState(d.State)),
		DiskUsage: common.StringPtr("DATA_DISK"), DiskChargeType: common.StringPtr("POSTPAID_BY_HOUR"),
		Portable: common.BoolPtr(true), SnapshotAbility: common.BoolPtr(true),
		Placement: &cbs.Placement{Zone: common.StringPtr(d.Zone)}, Encrypt: common.BoolPtr(d.Encrypted),
		Attached:   common.BoolPtr(d.InstanceID != "" && d.State != iaasclient.DiskAttaching),
		InstanceId: common.StringPtr(d.InstanceID), CreateTime: common.StringPtr(d.CreatedAt.UTC().Format(time.DateTime)),
		Tags: []*cbs.Tag{},
	}
	for k, v := range d.Tags {
		out.Tags = append(out.Tags, &cbs.Tag{Key: common.StringPtr(k), Value: common.StringPtr(v)})
	}
	return out
}

// tcLimit reads CBS's Offset/Limit (default 20, at most 100).
func tcLimit(offset, limit *uint64) (int, int, *iaasclient.Error) {
	o, l := 0, 20
	if offset != nil {
		o = int(*offset)
	}
	if limit != nil {
		if *limit > 100 {
			return 0, 0, errf(iaasclient.CodeInvalidParameter, "Limit must be at most 100")
		}
		l = int(*limit)
	}
	return o, l, nil
}

func (s *Server) tcCreateDisks(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.CreateDisksRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	switch {
	case req.DiskCount != nil && *req.DiskCount != 1:
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskCount: this fake creates one disk per call")
	case req.DiskChargeType == nil || *req.DiskChargeType != "POSTPAID_BY_HOUR":
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskChargeType: this fake serves POSTPAID_BY_HOUR")
	case req.Placement == nil || req.Placement.Zone == nil:
		return nil, errf(iaasclient.CodeInvalidParameter, "Placement.Zone is required")
	case req.DiskType == nil:
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskType is required")
	case req.DiskSize == nil && req.SnapshotId == nil:
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskSize is required unless SnapshotId is given")
	case req.Encrypt != nil && *req.Encrypt != "ENCRYPT":
		return nil, errf(iaasclient.CodeInvalidParameter, "Encrypt must be ENCRYPT")
	}
	nreq := iaasclient.CreateDiskRequest{Zone: *req.Placement.Zone, Type: iaasclient.DiskType(*req.DiskType), Encrypted: req.Encrypt != nil}
	if req.DiskName != nil {
		nreq.Name = *req.DiskName
	}
	if req.DiskSize != nil {
		nreq.SizeGiB = int(*req.DiskSize)
	}
	if req.SnapshotId != nil {
		nreq.SnapshotID = *req.SnapshotId
	}
	nreq.ClientToken = uuid.NewString()
	if req.ClientToken != nil {
		nreq.ClientToken = "cbs:" + *req.ClientToken
	}
	for _, t := range req.Tags {
		if t.Key == nil || t.Value == nil {
			return nil, errf(iaasclient.CodeInvalidParameter, "Tags: Key and Value are required")
		}
		if nreq.Tags == nil {
			nreq.Tags = map[string]string{}
		}
		nreq.Tags[*t.Key] = *t.Value
	}
	r, err := s.native(c, iaasclient.ActionCreateDisk, &nreq)
	if err != nil {
		return nil, err
	}
	return map[string]any{"DiskIdSet": []string{r.(*iaasclient.CreateDiskResponse).DiskID}}, nil
}

// tcAllDisks is every native disk of the tenant that matches nreq, CBS-visible ones
// only: a disk still CREATING (or failed) is not listed by CBS.
func (s *Server) tcAllDisks(c *call, nreq iaasclient.DescribeDisksRequest) ([]iaasclient.Disk, *iaasclient.Error) {
	var out []iaasclient.Disk
	nreq.Limit = iaasclient.MaxPageSize
	for {
		r, err := s.native(c, iaasclient.ActionDescribeDisks, &nreq)
		if err != nil {
			return nil, err
		}
		resp := r.(*iaasclient.DescribeDisksResponse)
		for _, d := range resp.Disks {
			if d.State != iaasclient.DiskCreating && d.State != iaasclient.DiskError {
				out = append(out, d)
			}
		}
		nreq.Offset += len(resp.Disks)
		if len(resp.Disks) == 0 || nreq.Offset >= resp.TotalCount {
			return out, nil
		}
	}
}

func (s *Server) tcDescribeDisks(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.DescribeDisksRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if len(req.DiskIds) > 0 && len(req.Filters) > 0 {
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskIds and Filters cannot be given together")
	}
	off, lim, err := tcLimit(req.Offset, req.Limit)
	if err != nil {
		return nil, err
	}
	nreq := iaasclient.DescribeDisksRequest{DiskIDs: derefs(req.DiskIds)}
	for _, f := range req.Filters {
		name, vals := "", derefs(f.Values)
		if f.Name != nil {
			name = *f.Name
		}
		switch {
		case name == "disk-id":
			nreq.DiskIDs = vals
		case name == "disk-name":
			nreq.Names = vals
		case name == "instance-id":
			nreq.InstanceIDs = vals
		case name == "zone" && len(vals) == 1:
			nreq.Zone = vals[0]
		case strings.HasPrefix(name, "tag:") && len(vals) == 1:
			if nreq.Tags == nil {
				nreq.Tags = map[string]string{}
			}
			nreq.Tags[strings.TrimPrefix(name, "tag:")] = vals[0]
		default:
			return nil, errf(iaasclient.CodeInvalidParameter, "filter %q is not supported by this fake", name)
		}
	}
	all, err := s.tcAllDisks(c, nreq)
	if err != nil {
		return nil, err
	}
	set := []*cbs.Disk{}
	for i := off; i < len(all) && i < off+lim; i++ {
		set = append(set, tcDisk(&all[i]))
	}
	return map[string]any{"TotalCount": len(all), "DiskSet": set}, nil
}

// tcDiskOf is one CBS-visible disk of the tenant.
func (s *Server) tcDiskOf(c *call, id string) (*iaasclient.Disk, *iaasclient.Error) {
	all, err := s.tcAllDisks(c, iaasclient.DescribeDisksRequest{DiskIDs: []string{id}})
	if err != nil {
		return nil, err
	}
	if len(all) != 1 {
		return nil, errf(iaasclient.CodeResourceNotFound, "disk %s not found", id)
	}
	return &all[0], nil
}

// tcDiskIDs checks CBS's 1..10 disks per Attach/Detach call.
func tcDiskIDs(ids []*string) ([]string, *iaasclient.Error) {
	out := derefs(ids)
	if len(out) == 0 || len(out) > 10 {
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskIds: 1 to 10 disks per call")
	}
	return out, nil
}

// tcAttachDisks: CBS refuses a disk that is not UNATTACHED (the native API would
// accept a repeat on the same instance).
func (s *Server) tcAttachDisks(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.AttachDisksRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	ids, err := tcDiskIDs(req.DiskIds)
	if err != nil {
		return nil, err
	}
	if req.InstanceId == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "InstanceId is required")
	}
	for _, id := range ids {
		d, err := s.tcDiskOf(c, id)
		if err != nil {
			return nil, err
		}
		if d.State != iaasclient.DiskAvailable {
			return nil, errf(iaasclient.CodeResourceInUse, "disk %s is %s", id, tcDiskState(d.State))
		}
		if _, err := s.native(c, iaasclient.ActionAttachDisk, &iaasclient.AttachDiskRequest{DiskID: id, InstanceID: *req.InstanceId}); err != nil {
			return nil, err
		}
	}
	return map[string]any{}, nil
}

func (s *Server) tcDetachDisks(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.DetachDisksRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	ids, err := tcDiskIDs(req.DiskIds)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		d, err := s.tcDiskOf(c, id)
		if err != nil {
			return nil, err
		}
		if d.State != iaasclient.DiskAttached {
			return nil, errf(iaasclient.CodeResourceInUse, "disk %s is %s, not ATTACHED", id, tcDiskState(d.State))
		}
		// InstanceId matters only for shared disks on CBS; a plain disk leaves its own.
		if _, err := s.native(c, iaasclient.ActionDetachDisk, &iaasclient.DetachDiskRequest{DiskID: id, InstanceID: d.InstanceID}); err != nil {
			return nil, err
		}
	}
	return map[string]any{}, nil
}

func (s *Server) tcResizeDisk(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.ResizeDiskRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if req.DiskId == nil || req.DiskSize == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskId and DiskSize are required")
	}
	d, err := s.tcDiskOf(c, *req.DiskId)
	if err != nil {
		return nil, err
	}
	if int(*req.DiskSize) <= d.SizeGiB {
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskSize must be larger than the disk's %d GB", d.SizeGiB)
	}
	if _, err := s.native(c, iaasclient.ActionResizeDisk, &iaasclient.ResizeDiskRequest{DiskID: d.DiskID, SizeGiB: int(*req.DiskSize)}); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func (s *Server) tcTerminateDisks(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.TerminateDisksRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	ids := derefs(req.DiskIds)
	if len(ids) == 0 {
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskIds is required")
	}
	for _, id := range ids {
		if _, err := s.native(c, iaasclient.ActionDeleteDisk, &iaasclient.DeleteDiskRequest{DiskID: id}); err != nil {
			return nil, err
		}
	}
	return map[string]any{}, nil
}

func (s *Server) tcModifyDiskAttributes(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.ModifyDiskAttributesRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if req.DiskName == nil || req.ProjectId != nil || req.Portable != nil || req.DeleteWithInstance != nil || req.DiskType != nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "this fake changes DiskName only")
	}
	for _, id := range derefs(req.DiskIds) {
		if _, err := s.native(c, iaasclient.ActionModifyDisk, &iaasclient.ModifyDiskRequest{DiskID: id, Name: req.DiskName}); err != nil {
			return nil, err
		}
	}
	return map[string]any{}, nil
}
