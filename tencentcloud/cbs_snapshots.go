package tencentcloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	cbs "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cbs/v20170312"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// CBS snapshots (API 2017-03-12) carry no tags and CreateSnapshot takes no ClientToken.
// What the consumers need of both is the name: the CSI driver finds the snapshot of a
// CreateSnapshot name by a tag (Config.SnapshotNameTag). So the backend keeps the name
// in SnapshotName, answers that one tag from it, and makes CreateSnapshot idempotent by
// (disk, name): a snapshot of the disk with that name is the one a retry gets.

// maxSnapshotName is CBS's documented limit of SnapshotName (bytes).
const maxSnapshotName = 60

func snapshotState(s string) ic.SnapshotState {
	switch s {
	case "CREATING":
		return ic.SnapshotCreating
	case "NORMAL", "ROLLBACKING", "COPYING_FROM_REMOTE", "CHECKING_COPIED":
		return ic.SnapshotAvailable
	}
	return ic.SnapshotError
}

func (c *Client) snapshot(s *cbs.Snapshot) ic.Snapshot {
	out := ic.Snapshot{
		SnapshotID: str(s.SnapshotId), Name: str(s.SnapshotName), DiskID: str(s.DiskId),
		State: snapshotState(str(s.SnapshotState)), CreatedAt: tcTime(s.CreateTime),
	}
	if s.DiskSize != nil {
		out.SizeGiB = int(*s.DiskSize)
	}
	if s.Placement != nil {
		out.Zone = str(s.Placement.Zone)
	}
	if c.cfg.SnapshotNameTag != "" && out.Name != "" {
		out.Tags = map[string]string{c.cfg.SnapshotNameTag: out.Name}
	}
	return out
}

// snapshotName checks that the request's tags are ones CBS can keep: none, or the
// name tag with the snapshot's name as its value.
func (c *Client) snapshotName(req *ic.CreateSnapshotRequest) (string, error) {
	name := req.Name
	for k, v := range req.Tags {
		if k != c.cfg.SnapshotNameTag || c.cfg.SnapshotNameTag == "" {
			return "", ic.Errorf(ic.CodeInvalidParameter, "tags: CBS snapshots carry no tags; the tencentcloud backend keeps only the name (tag %s)", k)
		}
		if name == "" {
			name = v
		}
		if v != name {
			return "", ic.Errorf(ic.CodeInvalidParameter, "tags: %s=%s must equal the snapshot name %q on CBS", k, v, name)
		}
	}
	if name == "" {
		return "", ic.Errorf(ic.CodeInvalidParameter, "name: the tencentcloud backend needs a snapshot name (it is how a retry finds the snapshot)")
	}
	return cbsSnapshotName(name), nil
}

// cbsSnapshotName fits a name into CBS's 60 bytes: a longer one (CSI allows 128) keeps
// its start and ends in a hash of the whole, so it stays unique and a retry or a
// lookup computes the same name.
func cbsSnapshotName(name string) string {
	if len(name) <= maxSnapshotName {
		return name
	}
	h := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(h[:16])
	return name[:maxSnapshotName-len(suffix)] + suffix
}

func (c *Client) CreateSnapshot(ctx context.Context, req *ic.CreateSnapshotRequest) (*ic.CreateSnapshotResponse, error) {
	name, err := c.snapshotName(req)
	if err != nil {
		return nil, err
	}
	id, err := c.createSnapshot(ctx, req.DiskID, name)
	if err != nil {
		return nil, err
	}
	return &ic.CreateSnapshotResponse{SnapshotID: id, TaskID: snapshotTask(id)}, nil
}

// createSnapshot returns the snapshot of disk named name, making it if there is none.
func (c *Client) createSnapshot(ctx context.Context, diskID, name string) (string, error) {
	existing, _, err := c.describeSnapshotsPage(ctx, nil, []*cbs.Filter{
		{Name: sp("disk-id"), Values: sps([]string{diskID})},
		{Name: sp("snapshot-name"), Values: sps([]string{name})},
	}, 0, pageSize)
	if err != nil {
		return "", err
	}
	for _, s := range existing {
		if s.DiskID == diskID && s.Name == name && s.State != ic.SnapshotError {
			return s.SnapshotID, nil
		}
	}
	r := cbs.NewCreateSnapshotRequest()
	r.DiskId = sp(diskID)
	r.SnapshotName = sp(name)
	resp := cbs.NewCreateSnapshotResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return "", err
	}
	return str(resp.Response.SnapshotId), nil
}

func (c *Client) describeSnapshotsPage(ctx context.Context, ids []string, filters []*cbs.Filter, offset, limit int) ([]ic.Snapshot, int, error) {
	r := cbs.NewDescribeSnapshotsRequest()
	if len(ids) > 0 {
		r.SnapshotIds = sps(ids)
	}
	r.Filters = filters
	o, l := uint64(offset), uint64(limit)
	r.Offset, r.Limit = &o, &l
	resp := cbs.NewDescribeSnapshotsResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, 0, err
	}
	out := make([]ic.Snapshot, 0, len(resp.Response.SnapshotSet))
	for _, s := range resp.Response.SnapshotSet {
		out = append(out, c.snapshot(s))
	}
	total := len(out)
	if resp.Response.TotalCount != nil {
		total = int(*resp.Response.TotalCount)
	}
	return out, total, nil
}

// DescribeSnapshots: by ids, or by filters (disk-id, snapshot-name; the name tag is
// a snapshot-name filter). Other tags match nothing: CBS snapshots have none.
func (c *Client) DescribeSnapshots(ctx context.Context, req *ic.DescribeSnapshotsRequest) (*ic.DescribeSnapshotsResponse, error) {
	out := &ic.DescribeSnapshotsResponse{Snapshots: []ic.Snapshot{}}
	names := req.Names
	for k, v := range req.Tags {
		if k != c.cfg.SnapshotNameTag || c.cfg.SnapshotNameTag == "" {
			return out, nil
		}
		if len(names) > 0 && !contains(names, v) {
			return out, nil
		}
		names = []string{cbsSnapshotName(v)}
	}
	if len(req.SnapshotIDs) > 0 {
		for i := 0; i < len(req.SnapshotIDs); i += pageSize {
			snaps, _, err := c.describeSnapshotsPage(ctx, req.SnapshotIDs[i:min(i+pageSize, len(req.SnapshotIDs))], nil, 0, pageSize)
			if err != nil {
				return nil, err
			}
			for _, s := range snaps {
				if (len(names) == 0 || contains(names, s.Name)) && (len(req.DiskIDs) == 0 || contains(req.DiskIDs, s.DiskID)) {
					out.Snapshots = append(out.Snapshots, s)
				}
			}
		}
		out.TotalCount = len(out.Snapshots)
		return out, nil
	}
	var filters []*cbs.Filter
	if len(req.DiskIDs) > 0 {
		filters = append(filters, &cbs.Filter{Name: sp("disk-id"), Values: sps(req.DiskIDs)})
	}
	if len(names) > 0 {
		filters = append(filters, &cbs.Filter{Name: sp("snapshot-name"), Values: sps(names)})
	}
	offset, want := req.Offset, req.Limit
	if want <= 0 {
		want = ic.DefaultPageSize
	}
	for len(out.Snapshots) < want {
		o, l := window(offset, want-len(out.Snapshots))
		snaps, total, err := c.describeSnapshotsPage(ctx, nil, filters, o, l)
		if err != nil {
			return nil, err
		}
		out.Snapshots = append(out.Snapshots, snaps...)
		out.TotalCount = total
		offset += len(snaps)
		if len(snaps) == 0 || offset >= total {
			break
		}
	}
	return out, nil
}

func (c *Client) DeleteSnapshot(ctx context.Context, req *ic.DeleteSnapshotRequest) (*ic.DeleteSnapshotResponse, error) {
	r := cbs.NewDeleteSnapshotsRequest()
	r.SnapshotIds = sps([]string{req.SnapshotID})
	if err := c.call(ctx, r, cbs.NewDeleteSnapshotsResponse()); err != nil {
		return nil, err
	}
	return &ic.DeleteSnapshotResponse{}, nil
}
