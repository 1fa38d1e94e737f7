package iaassim

import (
	"time"

	"github.com/google/uuid"
	cbs "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cbs/v20170312"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// CBS snapshots on the native ones. CBS's CreateSnapshot (2017-03-12) has no tags and
// no ClientToken: every call makes a new snapshot.

func tcSnapshotState(s iaasclient.SnapshotState) string {
	if s == iaasclient.SnapshotAvailable {
		return "NORMAL"
	}
	return string(s) // CREATING, ERROR
}

func tcSnapshot(sn *iaasclient.Snapshot) *cbs.Snapshot {
	size := uint64(sn.SizeGiB)
	pct := uint64(100)
	if sn.State == iaasclient.SnapshotCreating {
		pct = 0
	}
	return &cbs.Snapshot{
		SnapshotId: common.StringPtr(sn.SnapshotID), SnapshotName: common.StringPtr(sn.Name), DiskId: common.StringPtr(sn.DiskID),
		DiskSize: &size, SnapshotState: common.StringPtr(tcSnapshotState(sn.State)), Percent: &pct,
		Placement: &cbs.Placement{Zone: common.StringPtr(sn.Zone)}, DiskUsage: common.StringPtr("DATA_DISK"),
		CreateTime: common.StringPtr(sn.CreatedAt.UTC().Format(time.DateTime)), IsPermanent: common.BoolPtr(true),
		SnapshotType: common.StringPtr("PRIVATE_SNAPSHOT"), Encrypt: common.BoolPtr(false),
	}
}

func (s *Server) tcCreateSnapshot(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.CreateSnapshotRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if req.DiskId == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "DiskId is required")
	}
	nreq := iaasclient.CreateSnapshotRequest{DiskID: *req.DiskId, ClientToken: uuid.NewString()}
	if req.SnapshotName != nil {
		nreq.Name = *req.SnapshotName
	}
	r, err := s.native(c, iaasclient.ActionCreateSnapshot, &nreq)
	if err != nil {
		return nil, err
	}
	return map[string]any{"SnapshotId": r.(*iaasclient.CreateSnapshotResponse).SnapshotID}, nil
}

func (s *Server) tcDescribeSnapshots(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.DescribeSnapshotsRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if len(req.SnapshotIds) > 0 && len(req.Filters) > 0 {
		return nil, errf(iaasclient.CodeInvalidParameter, "SnapshotIds and Filters cannot be given together")
	}
	off, lim, err := tcLimit(req.Offset, req.Limit)
	if err != nil {
		return nil, err
	}
	nreq := iaasclient.DescribeSnapshotsRequest{SnapshotIDs: derefs(req.SnapshotIds)}
	for _, f := range req.Filters {
		name, vals := "", derefs(f.Values)
		if f.Name != nil {
			name = *f.Name
		}
		switch name {
		case "snapshot-id":
			nreq.SnapshotIDs = vals
		case "snapshot-name":
			nreq.Names = vals
		case "disk-id":
			nreq.DiskIDs = vals
		default:
			return nil, errf(iaasclient.CodeInvalidParameter, "filter %q is not supported by this fake", name)
		}
	}
	nreq.Offset, nreq.Limit = off, lim
	if lim == 0 {
		nreq.Limit = 1
	}
	r, err := s.native(c, iaasclient.ActionDescribeSnapshots, &nreq)
	if err != nil {
		return nil, err
	}
	resp := r.(*iaasclient.DescribeSnapshotsResponse)
	set := []*cbs.Snapshot{}
	for i := range resp.Snapshots {
		if i < lim {
			set = append(set, tcSnapshot(&resp.Snapshots[i]))
		}
	}
	return map[string]any{"TotalCount": resp.TotalCount, "SnapshotSet": set}, nil
}

func (s *Server) tcDeleteSnapshots(c *call, body []byte) (any, *iaasclient.Error) {
	var req cbs.DeleteSnapshotsRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	ids := derefs(req.SnapshotIds)
	if len(ids) == 0 {
		return nil, errf(iaasclient.CodeInvalidParameter, "SnapshotIds is required")
	}
	for _, id := range ids {
		if _, err := s.native(c, iaasclient.ActionDeleteSnapshot, &iaasclient.DeleteSnapshotRequest{SnapshotID: id}); err != nil {
			return nil, err
		}
	}
	return map[string]any{}, nil
}
