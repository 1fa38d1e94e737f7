package csi

import (
	"context"
	"maps"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// ControllerModifyVolume applies a VolumeAttributesClass: its tags are merged into the
// disk's tags (the driver's own tags are kept; a class cannot set them).
func (cs *ControllerServer) ControllerModifyVolume(ctx context.Context, req *csi.ControllerModifyVolumeRequest) (*csi.ControllerModifyVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	tags, err := parseMutableParams(req.GetMutableParameters())
	if err != nil {
		return nil, err
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
	merged := maps.Clone(d.Tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	if maps.Equal(merged, d.Tags) {
		return &csi.ControllerModifyVolumeResponse{}, nil
	}
	// The tag set is replaced as a whole; the in-flight key keeps two modifications of
	// one volume from losing each other's tags.
	if err := cs.cloud.SetDiskTags(ctx, id, merged); err != nil {
		return nil, toStatus(err, "setting tags of volume %s", id)
	}
	klog.InfoS("Modified volume", "diskID", id, "tags", tags)
	return &csi.ControllerModifyVolumeResponse{}, nil
}
