package csi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Cloud is what the driver needs of the IaaS, one level above the wire API: lookups
// that answer iaasclient.ErrNotFound for a missing resource whatever way the IaaS says
// it, and mutations that return only once their async task has ended.
type Cloud interface {
	GetDisk(ctx context.Context, diskID string) (*iaasclient.Disk, error)
	// FindDiskByTag returns the one disk carrying key=value, ErrNotFound if none.
	FindDiskByTag(ctx context.Context, key, value string) (*iaasclient.Disk, error)
	// ListDisks returns every disk of the tenant, ordered by id.
	ListDisks(ctx context.Context) ([]iaasclient.Disk, error)
	// CreateDisk answers errCreatedDiskGone when the IaaS names a disk that no longer
	// exists (a replayed client token).
	CreateDisk(ctx context.Context, req *iaasclient.CreateDiskRequest) (*iaasclient.Disk, error)
	DeleteDisk(ctx context.Context, diskID string) error
	AttachDisk(ctx context.Context, diskID, instanceID string) error
	DetachDisk(ctx context.Context, diskID, instanceID string) error
	ResizeDisk(ctx context.Context, diskID string, sizeGiB int) error
	// SetDiskTags replaces the disk's whole tag set.
	SetDiskTags(ctx context.Context, diskID string, tags map[string]string) error

	GetSnapshot(ctx context.Context, snapshotID string) (*iaasclient.Snapshot, error)
	FindSnapshotByTag(ctx context.Context, key, value string) (*iaasclient.Snapshot, error)
	// ListSnapshots returns the snapshots of diskID ("" = all), ordered by id.
	ListSnapshots(ctx context.Context, diskID string) ([]iaasclient.Snapshot, error)
	CreateSnapshot(ctx context.Context, req *iaasclient.CreateSnapshotRequest) (*iaasclient.Snapshot, error)
	DeleteSnapshot(ctx context.Context, snapshotID string) error

	Quotas(ctx context.Context) ([]iaasclient.Quota, error)
	Identity(ctx context.Context) (*iaasclient.Identity, error)
}

// NewCloud adapts the IaaS API (the HTTP client, or the fake in unit tests).
func NewCloud(api iaasclient.API) Cloud { return &iaasCloud{api: api} }

type iaasCloud struct{ api iaasclient.API }

var _ Cloud = (*iaasCloud)(nil)

// notFound normalizes the ways an IaaS can say "no such id": ResourceNotFound, an empty
// filtered result, or InvalidParameter for an id that is not even well formed (a CO
// may pass any string as a volume id, and for the CO that is a missing volume).
func notFound(kind, id string, err error) error {
	if err == nil || errors.Is(err, iaasclient.ErrInvalidParameter) {
		return fmt.Errorf("%s %q: %w", kind, id, iaasclient.ErrNotFound)
	}
	return fmt.Errorf("%s %q: %w", kind, id, err)
}

func (c *iaasCloud) GetDisk(ctx context.Context, id string) (*iaasclient.Disk, error) {
	resp, err := c.api.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{DiskIDs: []string{id}})
	if err != nil {
		if errors.Is(err, iaasclient.ErrNotFound) || errors.Is(err, iaasclient.ErrInvalidParameter) {
			return nil, notFound("disk", id, nil)
		}
		return nil, err
	}
	for i := range resp.Disks {
		if resp.Disks[i].DiskID == id {
			return &resp.Disks[i], nil
		}
	}
	return nil, notFound("disk", id, nil)
}

func (c *iaasCloud) FindDiskByTag(ctx context.Context, key, value string) (*iaasclient.Disk, error) {
	disks, err := c.describeDisks(ctx, iaasclient.DescribeDisksRequest{Tags: map[string]string{key: value}})
	if err != nil {
		return nil, err
	}
	switch len(disks) {
	case 0:
		return nil, notFound("disk tagged "+key, value, nil)
	case 1:
		return &disks[0], nil
	default:
		ids := make([]string, len(disks))
		for i := range disks {
			ids[i] = disks[i].DiskID
		}
		// Two disks for one name means something outside the driver created one; pick
		// neither, so a human decides which one holds the data.
		return nil, fmt.Errorf("disks %s all carry %s=%s: %w", strings.Join(ids, ","), key, value, iaasclient.ErrInternal)
	}
}

func (c *iaasCloud) ListDisks(ctx context.Context) ([]iaasclient.Disk, error) {
	return c.describeDisks(ctx, iaasclient.DescribeDisksRequest{})
}

// describeDisks reads every page of one query.
func (c *iaasCloud) describeDisks(ctx context.Context, req iaasclient.DescribeDisksRequest) ([]iaasclient.Disk, error) {
	var all []iaasclient.Disk
	req.Limit = iaasclient.MaxPageSize
	for {
		resp, err := c.api.DescribeDisks(ctx, &req)
		if err != nil {
			return nil, err
		}
		all = append(all, resp.Disks...)
		req.Offset += len(resp.Disks)
		if len(resp.Disks) == 0 || req.Offset >= resp.TotalCount {
			break
		}
	}
	slices.SortFunc(all, func(a, b iaasclient.Disk) int { return strings.Compare(a.DiskID, b.DiskID) })
	return slices.CompactFunc(all, func(a, b iaasclient.Disk) bool { return a.DiskID == b.DiskID }), nil
}

func (c *iaasCloud) CreateDisk(ctx context.Context, req *iaasclient.CreateDiskRequest) (*iaasclient.Disk, error) {
	resp, err := c.api.CreateDisk(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := c.wait(ctx, resp.TaskID); err != nil {
		return nil, fmt.Errorf("creating disk %s: %w", resp.DiskID, err)
	}
	d, err := c.GetDisk(ctx, resp.DiskID)
	if errors.Is(err, iaasclient.ErrNotFound) {
		return nil, fmt.Errorf("disk %s: %w", resp.DiskID, errCreatedDiskGone)
	}
	return d, err
}

func (c *iaasCloud) DeleteDisk(ctx context.Context, id string) error {
	_, err := c.api.DeleteDisk(ctx, &iaasclient.DeleteDiskRequest{DiskID: id})
	return err
}

func (c *iaasCloud) AttachDisk(ctx context.Context, diskID, instanceID string) error {
	resp, err := c.api.AttachDisk(ctx, &iaasclient.AttachDiskRequest{DiskID: diskID, InstanceID: instanceID})
	if err != nil {
		return err
	}
	return c.wait(ctx, resp.TaskID)
}

func (c *iaasCloud) DetachDisk(ctx context.Context, diskID, instanceID string) error {
	resp, err := c.api.DetachDisk(ctx, &iaasclient.DetachDiskRequest{DiskID: diskID, InstanceID: instanceID})
	if err != nil {
		return err
	}
	return c.wait(ctx, resp.TaskID)
}

func (c *iaasCloud) ResizeDisk(ctx context.Context, diskID string, sizeGiB int) error {
	resp, err := c.api.ResizeDisk(ctx, &iaasclient.ResizeDiskRequest{DiskID: diskID, SizeGiB: sizeGiB})
	if err != nil {
		return err
	}
	return c.wait(ctx, resp.TaskID)
}

func (c *iaasCloud) SetDiskTags(ctx context.Context, diskID string, tags map[string]string) error {
	_, err := c.api.ModifyDisk(ctx, &iaasclient.ModifyDiskRequest{DiskID: diskID, Tags: tags})
	return err
}

// wait follows a task; a call that finished synchronously may answer no task id.
func (c *iaasCloud) wait(ctx context.Context, taskID string) error {
	if taskID == "" {
		return nil
	}
	_, err := c.api.WaitTask(ctx, taskID)
	return err
}

func (c *iaasCloud) GetSnapshot(ctx context.Context, id string) (*iaasclient.Snapshot, error) {
	resp, err := c.api.DescribeSnapshots(ctx, &iaasclient.DescribeSnapshotsRequest{SnapshotIDs: []string{id}})
	if err != nil {
		if errors.Is(err, iaasclient.ErrNotFound) || errors.Is(err, iaasclient.ErrInvalidParameter) {
			return nil, notFound("snapshot", id, nil)
		}
		return nil, err
	}
	for i := range resp.Snapshots {
		if resp.Snapshots[i].SnapshotID == id {
			return &resp.Snapshots[i], nil
		}
	}
	return nil, notFound("snapshot", id, nil)
}

func (c *iaasCloud) FindSnapshotByTag(ctx context.Context, key, value string) (*iaasclient.Snapshot, error) {
	snaps, err := c.describeSnapshots(ctx, iaasclient.DescribeSnapshotsRequest{Tags: map[string]string{key: value}})
	if err != nil {
		return nil, err
	}
	switch len(snaps) {
	case 0:
		return nil, notFound("snapshot tagged "+key, value, nil)
	case 1:
		return &snaps[0], nil
	default:
		return nil, fmt.Errorf("%d snapshots carry %s=%s: %w", len(snaps), key, value, iaasclient.ErrInternal)
	}
}

func (c *iaasCloud) ListSnapshots(ctx context.Context, diskID string) ([]iaasclient.Snapshot, error) {
	req := iaasclient.DescribeSnapshotsRequest{}
	if diskID != "" {
		req.DiskIDs = []string{diskID}
	}
	snaps, err := c.describeSnapshots(ctx, req)
	if diskID != "" && (errors.Is(err, iaasclient.ErrNotFound) || errors.Is(err, iaasclient.ErrInvalidParameter)) {
		return nil, nil
	}
	return snaps, err
}

func (c *iaasCloud) describeSnapshots(ctx context.Context, req iaasclient.DescribeSnapshotsRequest) ([]iaasclient.Snapshot, error) {
	var all []iaasclient.Snapshot
	req.Limit = iaasclient.MaxPageSize
	for {
		resp, err := c.api.DescribeSnapshots(ctx, &req)
		if err != nil {
			return nil, err
		}
		all = append(all, resp.Snapshots...)
		req.Offset += len(resp.Snapshots)
		if len(resp.Snapshots) == 0 || req.Offset >= resp.TotalCount {
			break
		}
	}
	slices.SortFunc(all, func(a, b iaasclient.Snapshot) int { return strings.Compare(a.SnapshotID, b.SnapshotID) })
	return slices.CompactFunc(all, func(a, b iaasclient.Snapshot) bool { return a.SnapshotID == b.SnapshotID }), nil
}

func (c *iaasCloud) CreateSnapshot(ctx context.Context, req *iaasclient.CreateSnapshotRequest) (*iaasclient.Snapshot, error) {
	resp, err := c.api.CreateSnapshot(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := c.wait(ctx, resp.TaskID); err != nil {
		return nil, fmt.Errorf("creating snapshot %s: %w", resp.SnapshotID, err)
	}
	return c.GetSnapshot(ctx, resp.SnapshotID)
}

func (c *iaasCloud) DeleteSnapshot(ctx context.Context, id string) error {
	_, err := c.api.DeleteSnapshot(ctx, &iaasclient.DeleteSnapshotRequest{SnapshotID: id})
	return err
}

func (c *iaasCloud) Quotas(ctx context.Context) ([]iaasclient.Quota, error) {
	resp, err := c.api.DescribeQuotas(ctx, &iaasclient.DescribeQuotasRequest{})
	if err != nil {
		return nil, err
	}
	return resp.Quotas, nil
}

func (c *iaasCloud) Identity(ctx context.Context) (*iaasclient.Identity, error) {
	return c.api.Identity(ctx)
}
