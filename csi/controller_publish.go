package csi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func (cs *ControllerServer) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	volID, nodeID := req.GetVolumeId(), req.GetNodeId()
	if volID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	if nodeID == "" {
		return nil, status.Error(codes.InvalidArgument, "node_id: required")
	}
	if req.GetVolumeCapability() == nil {
		return nil, status.Error(codes.InvalidArgument, "volume_capability: required")
	}
	if why := checkCapability(req.GetVolumeCapability()); why != "" {
		return nil, status.Errorf(codes.InvalidArgument, "volume_capability: %s", why)
	}
	release, err := cs.inflight.begin("volume/" + volID + "/node/" + nodeID)
	if err != nil {
		return nil, err
	}
	defer release()

	d, err := cs.cloud.GetDisk(ctx, volID)
	if err != nil {
		return nil, toStatus(err, "volume %s", volID)
	}
	if d.InstanceID == nodeID && d.State == iaasclient.DiskAttached {
		return publishResponse(d), nil
	}
	if d.InstanceID != "" && d.InstanceID != nodeID {
		// Multi-attach is refused here, before the IaaS is asked, so the message says
		// where the disk is; the IaaS refuses it too (ResourceInUse).
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is %s on node %s; it can be attached to one node at a time", volID, d.State, d.InstanceID)
	}
	// No separate lookup of the node: AttachDisk answers ResourceNotFound for an unknown
	// or terminated instance, which is the NotFound the CO expects, one call cheaper.
	if err := cs.cloud.AttachDisk(ctx, volID, nodeID); err != nil {
		if errors.Is(err, iaasclient.ErrInUse) {
			return nil, status.Errorf(codes.FailedPrecondition, "attaching volume %s to node %s: %v", volID, nodeID, err)
		}
		return nil, toStatus(err, "attaching volume %s to node %s", volID, nodeID)
	}
	if d.State != iaasclient.DiskAvailable {
		// The disk was mid-transition (an earlier attach whose caller gave up): the IaaS
		// answers such a repeat at once, so wait for the disk itself to be attached.
		if err := cs.waitDisk(ctx, volID, func(d *iaasclient.Disk) bool {
			return d.InstanceID == nodeID && d.State == iaasclient.DiskAttached
		}); err != nil {
			return nil, toStatus(err, "waiting for volume %s to be attached to node %s", volID, nodeID)
		}
	}
	klog.InfoS("Attached volume", "diskID", volID, "nodeID", nodeID)
	return publishResponse(d), nil
}

// detachAttempts bounds the DetachDisk calls of one ControllerUnpublish whose disk
// stays on the node.
const detachAttempts = 3

// diskPollInterval paces waits on a disk's state; attach and detach take seconds on a
// real cloud, and the RPC's deadline bounds the wait.
const diskPollInterval = 200 * time.Millisecond

// waitDisk polls the disk until done says so or ctx ends; a disk that disappears ends
// the wait with ErrNotFound.
func (cs *ControllerServer) waitDisk(ctx context.Context, id string, done func(*iaasclient.Disk) bool) error {
	for {
		d, err := cs.cloud.GetDisk(ctx, id)
		if err != nil {
			return err
		}
		if done(d) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("disk %s is %s on %q: %w", id, d.State, d.InstanceID, ctx.Err())
		case <-time.After(diskPollInterval):
		}
	}
}

func publishResponse(d *iaasclient.Disk) *csi.ControllerPublishVolumeResponse {
	serial := d.DeviceSerial
	if serial == "" {
		serial = d.DiskID
	}
	return &csi.ControllerPublishVolumeResponse{PublishContext: map[string]string{
		publishContextDevicePath: DevicePathPrefix + serial,
	}}
}

// ControllerUnpublishVolume detaches the disk from the node. "Not attached to this
// node" is success; "still attached to this node" never is, whatever a call answered.
func (cs *ControllerServer) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	volID, nodeID := req.GetVolumeId(), req.GetNodeId()
	if volID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	release, err := cs.inflight.begin("volume/" + volID + "/node/" + nodeID)
	if err != nil {
		return nil, err
	}
	defer release()

	d, err := cs.cloud.GetDisk(ctx, volID)
	if errors.Is(err, iaasclient.ErrNotFound) {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	if err != nil {
		return nil, toStatus(err, "volume %s", volID)
	}
	if d.InstanceID == "" || (nodeID != "" && d.InstanceID != nodeID) {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	// An empty node_id means "from every node"; a disk is on at most one.
	target := d.InstanceID
	for attempt := 1; ; attempt++ {
		err = cs.cloud.DetachDisk(ctx, volID, target)
		if err == nil {
			if d.State != iaasclient.DiskAttached {
				// A detach already running (DETACHING) is answered at once; success
				// means the disk has left the node, so wait for that.
				err := cs.waitDisk(ctx, volID, func(d *iaasclient.Disk) bool { return d.InstanceID != target })
				if err != nil && !errors.Is(err, iaasclient.ErrNotFound) {
					return nil, toStatus(err, "waiting for volume %s to leave node %s", volID, target)
				}
			}
			klog.InfoS("Detached volume", "diskID", volID, "nodeID", target)
			return &csi.ControllerUnpublishVolumeResponse{}, nil
		}
		if !errors.Is(err, iaasclient.ErrInUse) && !errors.Is(err, iaasclient.ErrNotFound) {
			return nil, toStatus(err, "detaching volume %s from node %s", volID, target)
		}
		// ResourceInUse means the disk is attached elsewhere now, or that its device is
		// busy on the node; NotFound that the disk or the instance is gone. Success only
		// if the disk is not on this node.
		var gerr error
		d, gerr = cs.cloud.GetDisk(ctx, volID)
		if errors.Is(gerr, iaasclient.ErrNotFound) {
			return &csi.ControllerUnpublishVolumeResponse{}, nil
		}
		if gerr != nil {
			return nil, toStatus(gerr, "volume %s after detach", volID)
		}
		if d.InstanceID != target {
			break
		}
		// Still here: the device was busy (a scanner holding it for a moment is common).
		// Try again briefly; a device that stays busy is the CO's to retry.
		if attempt == detachAttempts {
			return nil, status.Errorf(codes.Internal, "volume %s is still %s on node %s: %v", volID, d.State, target, err)
		}
		klog.InfoS("Detach refused while the disk is still on the node; retrying", "diskID", volID, "nodeID", target, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, status.Errorf(codes.Internal, "volume %s is still %s on node %s: %v", volID, d.State, target, err)
		case <-time.After(time.Duration(attempt) * cs.detachBackoff):
		}
	}
	klog.InfoS("Volume is not on the node", "diskID", volID, "nodeID", target, "detachAnswer", err)
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}
