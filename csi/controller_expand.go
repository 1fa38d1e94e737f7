package csi

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

func (cs *ControllerServer) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	if req.GetCapacityRange().GetRequiredBytes() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "capacity_range.required_bytes: required")
	}
	release, err := cs.inflight.begin("volume/" + id)
	if err != nil {
		return nil, err
	}
	defer release()
	d, err := cs.cloud.GetDisk(ctx, id)
	if err != nil {
		return nil, toStatus(err, "volume %s", id)
	}
	want, err := sizeGiB(req.GetCapacityRange(), diskTypeLimits(d.Type), 0)
	if err != nil {
		return nil, err
	}
	// A raw block volume has no filesystem to grow on the node.
	nodeExpansion := !isBlock(req.GetVolumeCapability())
	if d.SizeGiB >= want {
		return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(d.SizeGiB) * gib, NodeExpansionRequired: nodeExpansion}, nil
	}
	if err := cs.cloud.ResizeDisk(ctx, id, want); err != nil {
		return nil, toStatus(err, "resizing volume %s to %d GiB", id, want)
	}
	klog.InfoS("Expanded volume", "diskID", id, "fromGiB", d.SizeGiB, "toGiB", want)
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(want) * gib, NodeExpansionRequired: nodeExpansion}, nil
}
