package csi

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

func TestControllerPublishValidation(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	v := e.mustCreate(t, "v", 1)
	for _, tc := range []struct {
		name string
		req  *csi.ControllerPublishVolumeRequest
		code codes.Code
	}{
		{"no volume", &csi.ControllerPublishVolumeRequest{NodeId: e.node, VolumeCapability: rwo}, codes.InvalidArgument},
		{"no node", &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), VolumeCapability: rwo}, codes.InvalidArgument},
		{"no capability", &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: e.node}, codes.InvalidArgument},
		{"missing volume", &csi.ControllerPublishVolumeRequest{VolumeId: "disk-x", NodeId: e.node, VolumeCapability: rwo}, codes.NotFound},
		{"missing node", &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: "ins-x", VolumeCapability: rwo}, codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.cs.ControllerPublishVolume(ctx, tc.req)
			wantCode(t, err, tc.code)
		})
	}
}

func TestControllerPublishUnpublish(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	v := e.mustCreate(t, "v", 1)
	id := v.GetVolumeId()
	req := &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: e.node, VolumeCapability: rwo}
	r, err := e.cs.ControllerPublishVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetPublishContext()[publishContextDevicePath] != DevicePathPrefix+id {
		t.Errorf("publish context = %v", r.GetPublishContext())
	}
	attaches := e.cloud.Calls(iaasclient.ActionAttachDisk)
	if _, err := e.cs.ControllerPublishVolume(ctx, req); err != nil {
		t.Fatalf("second publish: %v", err)
	}
	if e.cloud.Calls(iaasclient.ActionAttachDisk) != attaches {
		t.Error("an already attached volume was attached again")
	}
	// Multi-attach is refused.
	_, err = e.cs.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: e.other, VolumeCapability: rwo})
	wantCode(t, err, codes.FailedPrecondition)
	// Unpublish from the other node: the disk is not there, success, nothing detached.
	if _, err := e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: e.other}); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.cloud.Disk(id); d.InstanceID != e.node {
		t.Fatalf("unpublish from another node detached the disk: %+v", d)
	}
	for range 2 {
		if _, err := e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: e.node}); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := e.cloud.Disk(id); d.InstanceID != "" || d.State != iaasclient.DiskAvailable {
		t.Errorf("disk after unpublish: %+v", d)
	}
	// Unpublish of a deleted volume is success.
	if _, err := e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: "disk-gone", NodeId: e.node}); err != nil {
		t.Error(err)
	}
	_, err = e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{NodeId: e.node})
	wantCode(t, err, codes.InvalidArgument)
}

// Failover: the node's instance stopped; the IaaS fences it and allows the detach.
func TestControllerUnpublishFromStoppedInstance(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	v := e.mustCreate(t, "v", 1)
	e.mustPublish(t, v.GetVolumeId(), e.node)
	e.cloud.SetInstanceState(e.node, iaasclient.InstanceStopped)
	if _, err := e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: e.node}); err != nil {
		t.Fatal(err)
	}
	e.mustPublish(t, v.GetVolumeId(), e.other)
}

// The disk moved to another node between our read and the detach: the IaaS answers
// ResourceInUse, which means "not on this node": success, and nothing detached.
func TestControllerUnpublishRaceAttachedElsewhere(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	v := e.mustCreate(t, "v", 1)
	id := v.GetVolumeId()
	e.mustPublish(t, id, e.node)
	e.cloud.SetHook(func(ctx context.Context, action string, _ any) error {
		if action == iaasclient.ActionDetachDisk {
			// Someone else detached it and attached it to the other node meanwhile.
			e.cloud.SetHook(nil)
			if _, err := e.cloud.DetachDisk(ctx, &iaasclient.DetachDiskRequest{DiskID: id, InstanceID: e.node}); err != nil {
				return err
			}
			if _, err := e.cloud.AttachDisk(ctx, &iaasclient.AttachDiskRequest{DiskID: id, InstanceID: e.other}); err != nil {
				return err
			}
		}
		return nil
	})
	if _, err := e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: e.node}); err != nil {
		t.Fatalf("unpublish: %v", err)
	}
	if d, _ := e.cloud.Disk(id); d.InstanceID != e.other {
		t.Errorf("disk = %+v, want it on %s", d, e.other)
	}
}

// A detach whose task fails leaves the disk on the node: never report it detached.
func TestControllerUnpublishNeverLiesAboutAttachedDisk(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		inject func(c *fake.Cloud)
		code   codes.Code
	}{
		{"task failed", func(c *fake.Cloud) {
			c.FailNextTask(iaasclient.ActionDetachDisk, iaasclient.Errorf(iaasclient.CodeInternalError, "device busy"))
		}, codes.Internal},
		{"device stays busy", func(c *fake.Cloud) {
			c.InjectError(iaasclient.ActionDetachDisk, iaasclient.Errorf(iaasclient.CodeResourceInUse, "busy"), detachAttempts)
		}, codes.Internal},
		{"throttled", func(c *fake.Cloud) {
			c.InjectError(iaasclient.ActionDetachDisk, iaasclient.Errorf(iaasclient.CodeRequestLimitExceeded, "slow down"), 1)
		}, codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			v := e.mustCreate(t, "v", 1)
			e.mustPublish(t, v.GetVolumeId(), e.node)
			tc.inject(e.cloud)
			_, err := e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: e.node})
			wantCode(t, err, tc.code)
			if d, _ := e.cloud.Disk(v.GetVolumeId()); d.InstanceID != e.node {
				t.Fatalf("disk = %+v", d)
			}
		})
	}
}

// A device busy for a moment (a scanner opened it) is retried within the call.
func TestControllerUnpublishRetriesBriefBusy(t *testing.T) {
	e := newTestEnv(t)
	v := e.mustCreate(t, "v", 1)
	e.mustPublish(t, v.GetVolumeId(), e.node)
	e.cloud.InjectError(iaasclient.ActionDetachDisk, iaasclient.Errorf(iaasclient.CodeResourceInUse, "busy"), 1)
	if _, err := e.cs.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: e.node}); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.cloud.Disk(v.GetVolumeId()); d.InstanceID != "" {
		t.Errorf("disk = %+v", d)
	}
}

func TestControllerPublishErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		inject func(e *testEnv)
		code   codes.Code
	}{
		{"attach limit", func(e *testEnv) {
			e.cloud.InjectError(iaasclient.ActionAttachDisk, iaasclient.Errorf(iaasclient.CodeLimitExceeded, "full"), 1)
		}, codes.ResourceExhausted},
		{"task failed", func(e *testEnv) {
			e.cloud.FailNextTask(iaasclient.ActionAttachDisk, iaasclient.Errorf(iaasclient.CodeInternalError, "boom"))
		}, codes.Internal},
		{"unauthorized", func(e *testEnv) {
			e.cloud.InjectError(iaasclient.ActionAttachDisk, iaasclient.Errorf(iaasclient.CodeUnauthorizedOperation, "no"), 1)
		}, codes.PermissionDenied},
		{"context ended", func(e *testEnv) {
			e.cloud.SetHook(func(ctx context.Context, action string, _ any) error {
				if action == iaasclient.ActionAttachDisk {
					return context.DeadlineExceeded
				}
				return nil
			})
		}, codes.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			v := e.mustCreate(t, "v", 1)
			tc.inject(e)
			_, err := e.cs.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: e.node, VolumeCapability: rwo})
			wantCode(t, err, tc.code)
		})
	}
}

// A repeated publish or unpublish of a disk still in transition must not answer before
// the transition ends, even though the IaaS acknowledges the repeat at once.
func TestPublishUnpublishWaitForTransitions(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, fake.WithTaskSteps(-1))
	done := make(chan struct{})
	defer close(done)
	// The IaaS finishes tasks on its own schedule, here every 50 ms.
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
				e.cloud.CompleteTasks()
			}
		}
	}()
	v := e.mustCreate(t, "v", 1)
	id := v.GetVolumeId()
	// An attach an earlier (timed out) call started: the disk is ATTACHING.
	if _, err := e.cloud.AttachDisk(ctx, &iaasclient.AttachDiskRequest{DiskID: id, InstanceID: e.node}); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.cloud.Disk(id); d.State != iaasclient.DiskAttaching {
		t.Skipf("the IaaS finished the attach already (%s)", d.State)
	}
	e.mustPublish(t, id, e.node)
	if d, _ := e.cloud.Disk(id); d.State != iaasclient.DiskAttached {
		t.Fatalf("publish answered while the disk is %s", d.State)
	}
	if _, err := e.cloud.DetachDisk(ctx, &iaasclient.DetachDiskRequest{DiskID: id, InstanceID: e.node}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: e.node}); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.cloud.Disk(id); d.InstanceID != "" {
		t.Fatalf("unpublish answered while the disk is %s on %s", d.State, d.InstanceID)
	}
}
