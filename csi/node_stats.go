package csi

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (ns *NodeServer) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	volID, path := req.GetVolumeId(), req.GetVolumePath()
	fi, err := statVolumePath(volID, path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		// A raw block volume: its size is all there is to report.
		size, err := ns.mounter.DeviceSize(path)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "reading the size of %s: %v", path, err)
		}
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: size}}}, nil
	}
	mounted, err := ns.mounter.IsMountPoint(path)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "checking %s: %v", path, err)
	}
	if !mounted {
		return nil, status.Errorf(codes.NotFound, "volume %s is not mounted at %s", volID, path)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, status.Errorf(codes.Internal, "statfs %s: %v", path, err)
	}
	bsize := int64(st.Bsize)
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{
			Unit:      csi.VolumeUsage_BYTES,
			Total:     int64(st.Blocks) * bsize,
			Available: int64(st.Bavail) * bsize,
			Used:      int64(st.Blocks-st.Bfree) * bsize,
		},
		{
			Unit:      csi.VolumeUsage_INODES,
			Total:     int64(st.Files),
			Available: int64(st.Ffree),
			Used:      int64(st.Files - st.Ffree),
		},
	}}, nil
}

// NodeGetVolumeHealth reports a volume inaccessible when its device is gone from the
// node (detached under a running pod, or the disk failed) or when a path the CO names
// is no longer a mount (unmounted behind the kubelet's back).
func (ns *NodeServer) NodeGetVolumeHealth(ctx context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
	volID := req.GetVolumeId()
	if volID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	h := &csi.VolumeHealth{VolumeId: volID}
	bad := func(reason string) {
		h.HealthStatuses = append(h.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
			Status: csi.VolumeHealthErrorType_INACCESSIBLE, Reason: reason,
		})
	}
	if dev, ok := ns.devices.Present(volID); !ok {
		bad("the disk's device is not present on this node")
	} else if _, err := os.Stat(dev); err != nil {
		bad("the disk's device cannot be read: " + err.Error())
	}
	for _, p := range []string{req.GetStagingTargetPath(), req.GetVolumePublishPath()} {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			bad(p + ": " + err.Error())
			continue
		}
		if mounted, err := ns.mounter.IsMountPoint(p); err != nil || !mounted {
			if fi.IsDir() || err != nil {
				bad(p + " is not a mount point")
			}
		}
	}
	return &csi.NodeGetVolumeHealthResponse{VolumeHealth: h}, nil
}

// NodeGetStorageHealth: from a node the storage backend is the IaaS; if its metadata
// endpoint does not answer, attaches and new volumes on this node will not work either.
func (ns *NodeServer) NodeGetStorageHealth(ctx context.Context, _ *csi.NodeGetStorageHealthRequest) (*csi.NodeGetStorageHealthResponse, error) {
	if ns.probeBackend == nil {
		return &csi.NodeGetStorageHealthResponse{}, nil
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ns.probeBackend(pctx); err != nil {
		return &csi.NodeGetStorageHealthResponse{BackendHealth: []*csi.NodeGetStorageHealthResponse_StorageBackendHealth{{
			Status: csi.StorageHealthErrorType_STORAGE_UNREACHABLE,
			Reason: "the IaaS does not answer: " + err.Error(),
		}}}, nil
	}
	return &csi.NodeGetStorageHealthResponse{}, nil
}

// statVolumePath checks the ids of a request about a published or staged volume and
// stats its path: NotFound when nothing is there, as the CSI spec asks.
func statVolumePath(volID, path string) (os.FileInfo, error) {
	if volID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	if path == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_path: required")
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, status.Errorf(codes.NotFound, "volume %s is not at %s", volID, path)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "stat %s: %v", path, err)
	}
	return fi, nil
}
