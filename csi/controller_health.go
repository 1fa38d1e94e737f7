package csi

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func (cs *ControllerServer) ControllerGetVolumeHealth(ctx context.Context, req *csi.ControllerGetVolumeHealthRequest) (*csi.ControllerGetVolumeHealthResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	d, err := cs.cloud.GetDisk(ctx, req.GetVolumeId())
	if err != nil {
		return nil, toStatus(err, "volume %s", req.GetVolumeId())
	}
	return &csi.ControllerGetVolumeHealthResponse{VolumeHealth: diskHealth(d)}, nil
}

func (cs *ControllerServer) ControllerListVolumeHealth(ctx context.Context, req *csi.ControllerListVolumeHealthRequest) (*csi.ControllerListVolumeHealthResponse, error) {
	disks, next, err := cs.diskPage(ctx, req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	resp := &csi.ControllerListVolumeHealthResponse{NextToken: next}
	for i := range disks {
		resp.Entries = append(resp.Entries, diskHealth(&disks[i]))
	}
	return resp, nil
}

// diskHealth: the IaaS knows one adverse condition of a disk, its ERROR state (the
// backing storage failed); the data may be gone, so it is reported as inaccessible.
func diskHealth(d *iaasclient.Disk) *csi.VolumeHealth {
	h := &csi.VolumeHealth{VolumeId: d.DiskID}
	if d.State == iaasclient.DiskError {
		h.HealthStatuses = append(h.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
			Status: csi.VolumeHealthErrorType_INACCESSIBLE,
			Reason: "the IaaS reports the disk in state ERROR",
		})
	}
	return h
}
