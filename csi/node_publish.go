package csi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"
)

func (ns *NodeServer) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	volID, target, staging, vc := req.GetVolumeId(), req.GetTargetPath(), req.GetStagingTargetPath(), req.GetVolumeCapability()
	if volID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "target_path: required")
	}
	if vc == nil {
		return nil, status.Error(codes.InvalidArgument, "volume_capability: required")
	}
	if why := checkCapability(vc); why != "" {
		return nil, status.Errorf(codes.InvalidArgument, "volume_capability: %s", why)
	}
	if staging == "" && !isBlock(vc) {
		return nil, status.Error(codes.InvalidArgument, "staging_target_path: required (the driver stages volumes)")
	}
	release, err := ns.inflight.begin("publish/" + volID)
	if err != nil {
		return nil, err
	}
	defer release()

	var source string
	if isBlock(vc) {
		wctx, cancel := ns.deviceCtx(ctx)
		defer cancel()
		if source, err = ns.devices.Wait(wctx, volID, req.GetPublishContext()[publishContextDevicePath]); err != nil {
			return nil, status.Errorf(codes.NotFound, "volume %s is not attached to this node: %v", volID, err)
		}
	} else {
		staged, err := ns.mounter.IsMountPoint(staging)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, status.Errorf(codes.Internal, "checking staging path %s: %v", staging, err)
		}
		if !staged {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not staged at %s", volID, staging)
		}
		source = staging
	}

	if mounted, err := ns.mounter.IsMountPoint(target); err == nil && mounted {
		return &csi.NodePublishVolumeResponse{}, nil
	}
	if vc.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER {
		others, err := ns.publications(source, staging, target, isBlock(vc))
		if err != nil {
			// Fail closed: publishing a single-writer volume without knowing whether it
			// is in use elsewhere risks two writers on one device.
			return nil, status.Errorf(codes.Internal, "volume %s: finding where it is already published: %v", volID, err)
		}
		if len(others) > 0 {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is single-writer and already published at %v", volID, others)
		}
	}

	created, err := makeTarget(target, isBlock(vc))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "creating target %s: %v", target, err)
	}
	opts := []string{"bind"}
	if req.GetReadonly() || isReadOnlyMode(vc) {
		opts = append(opts, "ro")
	}
	opts = append(opts, vc.GetMount().GetMountFlags()...)
	klog.V(2).InfoS("Publishing volume", "volumeID", volID, "source", source, "target", target, "options", opts)
	if err := ns.mounter.Mount(source, target, "", opts); err != nil {
		if created {
			_ = os.Remove(target)
		}
		return nil, status.Errorf(codes.Internal, "bind-mounting %s at %s: %v", source, target, err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// publications lists where the volume is in use on this node other than at target: every
// mount of its device (see DeviceMounts: found by device number, not by path), less the
// staging mount of a filesystem volume and the device node itself. source is the device
// of a block volume, the staging path of a filesystem volume.
func (ns *NodeServer) publications(source, staging, target string, block bool) ([]string, error) {
	device := source
	if !block {
		// The device the staging mount shows (exact mount-point match, as NodeStage
		// checks it), which is what a bind mount of the staging path exposes.
		dev, _, err := mount.GetDeviceNameFromMount(ns.mounter, staging)
		if err != nil {
			return nil, err
		}
		if dev == "" {
			return nil, fmt.Errorf("no mount at %s in the mount table", staging)
		}
		device = dev
	}
	refs, err := ns.mounter.DeviceMounts(device)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(refs, func(r string) bool {
		return sameFile(r, target) || sameFile(r, device) || (!block && sameFile(r, staging))
	}), nil
}

// makeTarget creates the target: a directory for a filesystem, a file for a raw block
// device (a bind mount needs a file to cover). It reports whether it created it.
func makeTarget(target string, block bool) (bool, error) {
	if _, err := os.Lstat(target); err == nil {
		return false, nil
	}
	if !block {
		return true, os.MkdirAll(target, 0o750)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return false, err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o640)
	if err != nil {
		return false, err
	}
	return true, f.Close()
}

func (ns *NodeServer) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	volID, target := req.GetVolumeId(), req.GetTargetPath()
	if volID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "target_path: required")
	}
	release, err := ns.inflight.begin("publish/" + volID)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := unmountAll(ns.mounter, target); err != nil {
		return nil, status.Errorf(codes.Internal, "unmounting %s: %v", target, err)
	}
	// The target is ours (NodePublish created it), so it goes; a missing one is fine.
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "removing %s: %v", target, err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}
