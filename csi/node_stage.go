package csi

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"
)

func (ns *NodeServer) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	volID, staging, vc := req.GetVolumeId(), req.GetStagingTargetPath(), req.GetVolumeCapability()
	if volID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	if staging == "" {
		return nil, status.Error(codes.InvalidArgument, "staging_target_path: required")
	}
	if vc == nil {
		return nil, status.Error(codes.InvalidArgument, "volume_capability: required")
	}
	if why := checkCapability(vc); why != "" {
		return nil, status.Errorf(codes.InvalidArgument, "volume_capability: %s", why)
	}
	release, err := ns.inflight.begin("stage/" + volID)
	if err != nil {
		return nil, err
	}
	defer release()

	wctx, cancel := ns.deviceCtx(ctx)
	defer cancel()
	dev, err := ns.devices.Wait(wctx, volID, req.GetPublishContext()[publishContextDevicePath])
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "volume %s is not attached to this node: %v", volID, err)
	}
	if isBlock(vc) {
		// A raw block volume is published straight from the device; nothing to stage.
		return &csi.NodeStageVolumeResponse{}, nil
	}

	fsType := vc.GetMount().GetFsType()
	if fsType == "" {
		fsType = req.GetVolumeContext()[volumeContextFsType]
	}
	if fsType == "" {
		fsType = defaultFsType
	}
	fsType = strings.ToLower(fsType)
	if err := checkFsType(fsType); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "fsType: %v", err)
	}

	if err := os.MkdirAll(staging, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "creating staging path %s: %v", staging, err)
	}
	mounted, err := ns.mounter.IsMountPoint(staging)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "checking staging path %s: %v", staging, err)
	}
	if mounted {
		have, _, err := mount.GetDeviceNameFromMount(ns.mounter, staging)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "reading the mount at %s: %v", staging, err)
		}
		if sameFile(have, dev) {
			return &csi.NodeStageVolumeResponse{}, nil
		}
		return nil, status.Errorf(codes.FailedPrecondition, "staging path %s holds %s, not volume %s (%s)", staging, have, volID, dev)
	}

	readOnly := isReadOnlyMode(vc)
	opts := append([]string(nil), vc.GetMount().GetMountFlags()...)
	if readOnly {
		opts = append(opts, "ro")
	}
	if fsType == fsXFS {
		// Clones and restored snapshots carry their source's XFS UUID; without nouuid the
		// second of them cannot be mounted on the same node.
		opts = append(opts, "nouuid")
	}
	if !readOnly && fsType == fsExt4 {
		// A disk restored or cloned into a bigger volume, or grown while detached, holds
		// a smaller ext4 than itself: grow it before the mount, where resize2fs needs no
		// CAP_SYS_RESOURCE (online growth below does). Best effort, like the growth below.
		if _, err := ns.mounter.GrowUnmounted(dev); err != nil {
			klog.ErrorS(err, "Growing the filesystem before mounting failed; trying again once it is mounted", "volumeID", volID, "device", dev)
		}
	}
	klog.V(2).InfoS("Staging volume", "volumeID", volID, "device", dev, "stagingPath", staging, "fsType", fsType, "options", opts)
	if err := ns.mounter.FormatAndMount(dev, staging, fsType, opts); err != nil {
		return nil, status.Errorf(codes.Internal, "formatting and mounting %s at %s: %v", dev, staging, err)
	}
	if !readOnly {
		// The disk may have grown while it was not attached; grow the filesystem now so
		// the pod sees the size the claim says. Best effort: the volume is usable at its
		// old size, and kubelet calls NodeExpandVolume for a pending resize anyway, so a
		// failed growth must not keep the pod from its data.
		if need, err := ns.mounter.NeedResize(dev, staging); err != nil {
			klog.ErrorS(err, "Checking whether the filesystem needs to grow", "volumeID", volID, "device", dev)
		} else if need {
			if _, err := ns.mounter.Resize(dev, staging); err != nil {
				klog.ErrorS(err, "Growing the filesystem at stage failed; it keeps its size until NodeExpandVolume", "volumeID", volID, "device", dev)
			}
		}
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

func (ns *NodeServer) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	volID, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	if volID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	if staging == "" {
		return nil, status.Error(codes.InvalidArgument, "staging_target_path: required")
	}
	release, err := ns.inflight.begin("stage/" + volID)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := unmountAll(ns.mounter, staging); err != nil {
		return nil, status.Errorf(codes.Internal, "unmounting %s: %v", staging, err)
	}
	// The staging directory belongs to the CO, which created it; it stays.
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// unmountAll unmounts path until nothing is mounted there (a retried stage after a
// crash may have stacked two mounts). A missing path is already unmounted.
func unmountAll(m Mounter, path string) error {
	for range 8 {
		mounted, err := m.IsMountPoint(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil && mount.IsCorruptedMnt(err) {
			mounted = true
		} else if err != nil {
			return err
		}
		if !mounted {
			return nil
		}
		if err := m.Unmount(path); err != nil {
			return err
		}
	}
	return status.Errorf(codes.Internal, "%s is still mounted after 8 unmounts", path)
}

// sameFile compares two paths after following links (/dev/disk/by-id/... vs /dev/loop3).
func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}
