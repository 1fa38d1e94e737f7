package csi

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"
)

// NodeExpandVolume grows the filesystem online to the size of its (already grown) disk.
func (ns *NodeServer) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	volID, path := req.GetVolumeId(), req.GetVolumePath()
	fi, err := statVolumePath(volID, path)
	if err != nil {
		return nil, err
	}
	dev, ok := ns.devices.Present(volID)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s is not attached to this node", volID)
	}
	if isBlock(req.GetVolumeCapability()) || !fi.IsDir() {
		// Nothing to grow: the device already has the new size.
		size, err := ns.mounter.DeviceSize(dev)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "reading the size of %s: %v", dev, err)
		}
		return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
	}
	release, err := ns.inflight.begin("expand/" + volID)
	if err != nil {
		return nil, err
	}
	defer release()

	mounted, _, err := mount.GetDeviceNameFromMount(ns.mounter, path)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reading the mount at %s: %v", path, err)
	}
	if mounted == "" {
		return nil, status.Errorf(codes.FailedPrecondition, "nothing is mounted at %s", path)
	}
	if !sameFile(mounted, dev) {
		return nil, status.Errorf(codes.NotFound, "%s holds %s, not volume %s (%s)", path, mounted, volID, dev)
	}
	if _, err := ns.mounter.Resize(dev, path); err != nil {
		return nil, status.Errorf(codes.Internal, "growing the filesystem of %s at %s: %v", dev, path, err)
	}
	size, err := ns.mounter.DeviceSize(dev)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reading the size of %s: %v", dev, err)
	}
	klog.InfoS("Expanded filesystem", "volumeID", volID, "device", dev, "path", path, "bytes", size)
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}
