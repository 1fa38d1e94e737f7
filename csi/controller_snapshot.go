package csi

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func (cs *ControllerServer) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	name, srcID := req.GetName(), req.GetSourceVolumeId()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "name: required")
	}
	if srcID == "" {
		return nil, status.Error(codes.InvalidArgument, "source_volume_id: required")
	}
	tags, err := parseSnapshotParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	release, err := cs.inflight.begin("snapshot/" + name)
	if err != nil {
		return nil, err
	}
	defer release()

	existing, err := cs.cloud.FindSnapshotByTag(ctx, tagSnapshotName, name)
	switch {
	case err == nil:
		if existing.DiskID != srcID {
			return nil, status.Errorf(codes.AlreadyExists, "snapshot %q exists as %s of volume %s, not of %s", name, existing.SnapshotID, existing.DiskID, srcID)
		}
		return &csi.CreateSnapshotResponse{Snapshot: snapshotOf(existing)}, nil
	case !errors.Is(err, iaasclient.ErrNotFound):
		return nil, toStatus(err, "looking up snapshot %q", name)
	}
	if _, err := cs.cloud.GetDisk(ctx, srcID); err != nil {
		return nil, toStatus(err, "source volume %s", srcID)
	}
	tags[tagSnapshotName] = name
	if cs.clusterID != "" {
		tags[TagCluster] = cs.clusterID
	}
	snap, err := cs.cloud.CreateSnapshot(ctx, &iaasclient.CreateSnapshotRequest{
		DiskID: srcID, Name: name, Tags: tags,
		ClientToken: clientToken("csisnap", name, srcID),
	})
	if err != nil {
		return nil, toStatus(err, "creating snapshot %q of volume %s", name, srcID)
	}
	klog.InfoS("Created snapshot", "name", name, "snapshotID", snap.SnapshotID, "diskID", srcID)
	return &csi.CreateSnapshotResponse{Snapshot: snapshotOf(snap)}, nil
}

func (cs *ControllerServer) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "snapshot_id: required")
	}
	release, err := cs.inflight.begin("snapshot-id/" + id)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := cs.cloud.DeleteSnapshot(ctx, id); err != nil && !errors.Is(err, iaasclient.ErrNotFound) && !errors.Is(err, iaasclient.ErrInvalidParameter) {
		return nil, toStatus(err, "deleting snapshot %s", id)
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

func (cs *ControllerServer) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "snapshot_id: required")
	}
	s, err := cs.cloud.GetSnapshot(ctx, req.GetSnapshotId())
	if err != nil {
		return nil, toStatus(err, "snapshot %s", req.GetSnapshotId())
	}
	return &csi.GetSnapshotResponse{Snapshot: snapshotOf(s)}, nil
}

func (cs *ControllerServer) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	var snaps []iaasclient.Snapshot
	if id := req.GetSnapshotId(); id != "" {
		s, err := cs.cloud.GetSnapshot(ctx, id)
		switch {
		case errors.Is(err, iaasclient.ErrNotFound):
			return &csi.ListSnapshotsResponse{}, nil
		case err != nil:
			return nil, toStatus(err, "snapshot %s", id)
		}
		if src := req.GetSourceVolumeId(); src != "" && s.DiskID != src {
			return &csi.ListSnapshotsResponse{}, nil
		}
		snaps = []iaasclient.Snapshot{*s}
	} else {
		var err error
		if snaps, err = cs.cloud.ListSnapshots(ctx, req.GetSourceVolumeId()); err != nil {
			return nil, toStatus(err, "listing snapshots")
		}
	}
	ids := make([]string, len(snaps))
	for i := range snaps {
		ids[i] = snaps[i].SnapshotID
	}
	start, end, next, err := page(ids, req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListSnapshotsResponse{NextToken: next}
	for i := start; i < end; i++ {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: snapshotOf(&snaps[i])})
	}
	return resp, nil
}

func snapshotOf(s *iaasclient.Snapshot) *csi.Snapshot {
	// No accessible_topology: snapshots are regional (see GetPluginCapabilities).
	return &csi.Snapshot{
		SnapshotId:     s.SnapshotID,
		SourceVolumeId: s.DiskID,
		SizeBytes:      int64(s.SizeGiB) * gib,
		CreationTime:   timestamppb.New(s.CreatedAt),
		ReadyToUse:     s.State == iaasclient.SnapshotAvailable,
	}
}
