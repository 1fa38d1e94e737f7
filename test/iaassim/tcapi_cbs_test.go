package iaassim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/tencentcloud"
)

const snapNameTag = "csi.kube-iaas.io/snapshot-name"

// CBS through the tencentcloud backend and the simulator's Tencent front-end, with the
// simulator's async disk tasks (20 ms): every state change is watched through
// DescribeDisks, as on Tencent Cloud.
func TestTencentCloudDisks(t *testing.T) {
	e := newEnv(t, 20*time.Millisecond)
	c := tcClient(t, e, func(cfg *tencentcloud.Config) {
		cfg.AccountID, cfg.SnapshotNameTag = "100000000001", snapNameTag
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wait := func(taskID string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitTask(ctx, taskID); err != nil {
			t.Fatal(err)
		}
	}
	ins, err := c.DescribeInstances(ctx, &iaasclient.DescribeInstancesRequest{Names: []string{"a1", "a3"}})
	if err != nil || len(ins.Instances) != 2 {
		t.Fatalf("instances: %+v, %v", ins, err)
	}
	a1, a3 := ins.Instances[0].InstanceID, ins.Instances[1].InstanceID
	if ins.Instances[0].Name != "a1" {
		a1, a3 = a3, a1
	}

	// Create, idempotent by client token; the type and the zone are kept.
	req := &iaasclient.CreateDiskRequest{Name: "pvc-1", Zone: "sim-1a", SizeGiB: 2, Type: iaasclient.DiskTypePremium,
		Tags: map[string]string{"csi.kube-iaas.io/volume-name": "pvc-1"}, ClientToken: "csivol-0123456789abcdef"}
	created, err := c.CreateDisk(ctx, req)
	wait(createdTask(created), err)
	again, err := c.CreateDisk(ctx, req)
	if err != nil || again.DiskID != created.DiskID {
		t.Fatalf("same client token: %+v, %v; want %s", again, err, created.DiskID)
	}
	found, err := c.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{Tags: map[string]string{"csi.kube-iaas.io/volume-name": "pvc-1"}})
	if err != nil || len(found.Disks) != 1 {
		t.Fatalf("by tag: %+v, %v", found, err)
	}
	d := found.Disks[0]
	if d.DiskID != created.DiskID || d.State != iaasclient.DiskAvailable || d.Type != iaasclient.DiskTypePremium || d.Zone != "sim-1a" ||
		d.SizeGiB != 2 || d.DeviceSerial != d.DiskID || d.SnapshotID != "" || len(d.Tags) != 1 {
		t.Fatalf("disk read back: %+v", d)
	}
	id := d.DiskID

	// Attach (async: ATTACHING, then ATTACHED), repeat, another instance, detach.
	wait(func() (string, error) {
		r, err := c.AttachDisk(ctx, &iaasclient.AttachDiskRequest{DiskID: id, InstanceID: a1})
		return taskOf(r), err
	}())
	wait(func() (string, error) {
		r, err := c.AttachDisk(ctx, &iaasclient.AttachDiskRequest{DiskID: id, InstanceID: a1})
		return taskOf(r), err
	}())
	if _, err := c.AttachDisk(ctx, &iaasclient.AttachDiskRequest{DiskID: id, InstanceID: a3}); !errors.Is(err, iaasclient.ErrInUse) {
		t.Fatalf("attach to a second instance: %v, want ResourceInUse", err)
	}
	if _, err := c.DetachDisk(ctx, &iaasclient.DetachDiskRequest{DiskID: id, InstanceID: a3}); !errors.Is(err, iaasclient.ErrInUse) {
		t.Fatalf("detach from an instance it is not on: %v, want ResourceInUse", err)
	}
	if _, err := c.DeleteDisk(ctx, &iaasclient.DeleteDiskRequest{DiskID: id}); !errors.Is(err, iaasclient.ErrInUse) {
		t.Fatalf("delete while attached: %v, want ResourceInUse", err)
	}
	onA1, err := c.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{InstanceIDs: []string{a1}})
	if err != nil || len(onA1.Disks) != 1 || onA1.Disks[0].State != iaasclient.DiskAttached || onA1.Disks[0].InstanceID != a1 {
		t.Fatalf("disks on a1: %+v, %v", onA1, err)
	}
	// Grow while attached.
	wait(func() (string, error) {
		r, err := c.ResizeDisk(ctx, &iaasclient.ResizeDiskRequest{DiskID: id, SizeGiB: 3})
		return taskOf(r), err
	}())
	if _, err := c.ResizeDisk(ctx, &iaasclient.ResizeDiskRequest{DiskID: id, SizeGiB: 1}); !errors.Is(err, iaasclient.ErrInvalidParameter) {
		t.Fatalf("shrink: %v, want InvalidParameter", err)
	}
	wait(func() (string, error) {
		r, err := c.DetachDisk(ctx, &iaasclient.DetachDiskRequest{DiskID: id, InstanceID: a1})
		return taskOf(r), err
	}())
	if r, err := c.DetachDisk(ctx, &iaasclient.DetachDiskRequest{DiskID: id, InstanceID: a1}); err != nil || r.TaskID != "" {
		t.Fatalf("detach a detached disk: %+v, %v; want done", r, err)
	}

	// Tags after creation go through the tag service.
	if _, err := c.ModifyDisk(ctx, &iaasclient.ModifyDiskRequest{DiskID: id, Tags: map[string]string{"csi.kube-iaas.io/volume-name": "pvc-1", "tier": "gold"}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{DiskIDs: []string{id}})
	if err != nil || len(got.Disks) != 1 || got.Disks[0].Tags["tier"] != "gold" || got.Disks[0].SizeGiB != 3 || got.Disks[0].State != iaasclient.DiskAvailable {
		t.Fatalf("after ModifyDisk: %+v, %v", got, err)
	}
	noAccount := tcClient(t, e, nil)
	if _, err := noAccount.ModifyDisk(ctx, &iaasclient.ModifyDiskRequest{DiskID: id, Tags: map[string]string{"tier": "x"}}); !errors.Is(err, iaasclient.ErrInvalidParameter) {
		t.Fatalf("tags without an account id: %v, want InvalidParameter", err)
	}

	// Snapshot (idempotent by name), restore, clone through a temporary snapshot.
	snapReq := &iaasclient.CreateSnapshotRequest{DiskID: id, Name: "snapshot-1", Tags: map[string]string{snapNameTag: "snapshot-1"}}
	snap, err := c.CreateSnapshot(ctx, snapReq)
	wait(createdTask(snap), err)
	snap2, err := c.CreateSnapshot(ctx, snapReq)
	if err != nil || snap2.SnapshotID != snap.SnapshotID {
		t.Fatalf("repeated CreateSnapshot: %+v, %v; want %s", snap2, err, snap.SnapshotID)
	}
	byName, err := c.DescribeSnapshots(ctx, &iaasclient.DescribeSnapshotsRequest{Tags: map[string]string{snapNameTag: "snapshot-1"}})
	if err != nil || len(byName.Snapshots) != 1 || byName.Snapshots[0].DiskID != id || byName.Snapshots[0].SizeGiB != 3 || byName.Snapshots[0].State != iaasclient.SnapshotAvailable {
		t.Fatalf("snapshot by name tag: %+v, %v", byName, err)
	}
	if _, err := c.CreateSnapshot(ctx, &iaasclient.CreateSnapshotRequest{DiskID: id, Name: "s", Tags: map[string]string{"team": "x"}}); !errors.Is(err, iaasclient.ErrInvalidParameter) {
		t.Fatalf("snapshot tags CBS cannot keep: %v, want InvalidParameter", err)
	}
	restored, err := c.CreateDisk(ctx, &iaasclient.CreateDiskRequest{Name: "pvc-2", Zone: "sim-1b", SnapshotID: snap.SnapshotID, ClientToken: "t-2"})
	wait(createdTask(restored), err)
	clone, err := c.CreateDisk(ctx, &iaasclient.CreateDiskRequest{Name: "pvc-3", Zone: "sim-1a", SourceDiskID: id, ClientToken: "t-3"})
	wait(createdTask(clone), err)
	both, err := c.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{DiskIDs: []string{restored.DiskID, clone.DiskID}})
	if err != nil || len(both.Disks) != 2 {
		t.Fatalf("restored and clone: %+v, %v", both, err)
	}
	for _, x := range both.Disks {
		switch x.DiskID {
		case restored.DiskID:
			if x.SnapshotID != snap.SnapshotID || x.SourceDiskID != "" || x.SizeGiB != 3 || x.Zone != "sim-1b" || x.Type != iaasclient.DefaultDiskType {
				t.Errorf("restored disk: %+v", x)
			}
		case clone.DiskID:
			if x.SourceDiskID != id || x.SnapshotID != "" || x.SizeGiB != 3 || len(x.Tags) != 0 {
				t.Errorf("clone: %+v", x)
			}
		}
	}
	// The clone's temporary snapshot is gone; the user's is left.
	snaps, err := c.DescribeSnapshots(ctx, &iaasclient.DescribeSnapshotsRequest{DiskIDs: []string{id}})
	if err != nil || len(snaps.Snapshots) != 1 || snaps.Snapshots[0].SnapshotID != snap.SnapshotID {
		t.Fatalf("snapshots of the source after the clone: %+v, %v", snaps, err)
	}

	// Unknown ids are NotFound; delete is idempotent for the consumer (NotFound).
	if _, err := c.AttachDisk(ctx, &iaasclient.AttachDiskRequest{DiskID: "disk-nosuch", InstanceID: a1}); !errors.Is(err, iaasclient.ErrNotFound) {
		t.Fatalf("attach an unknown disk: %v, want NotFound", err)
	}
	if _, err := c.AttachDisk(ctx, &iaasclient.AttachDiskRequest{DiskID: id, InstanceID: "ins-nosuch"}); !errors.Is(err, iaasclient.ErrNotFound) {
		t.Fatalf("attach to an unknown instance: %v, want NotFound", err)
	}
	for _, sid := range []string{snap.SnapshotID} {
		if _, err := c.DeleteSnapshot(ctx, &iaasclient.DeleteSnapshotRequest{SnapshotID: sid}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteSnapshot(ctx, &iaasclient.DeleteSnapshotRequest{SnapshotID: snap.SnapshotID}); !errors.Is(err, iaasclient.ErrNotFound) {
		t.Fatalf("delete a deleted snapshot: %v, want NotFound", err)
	}
	for _, did := range []string{id, restored.DiskID, clone.DiskID} {
		if _, err := c.DeleteDisk(ctx, &iaasclient.DeleteDiskRequest{DiskID: did}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteDisk(ctx, &iaasclient.DeleteDiskRequest{DiskID: id}); !errors.Is(err, iaasclient.ErrNotFound) {
		t.Fatalf("delete a deleted disk: %v, want NotFound", err)
	}
	// Another tenant's disk is invisible: beta cannot attach alpha's disk.
	d4, err := c.CreateDisk(ctx, &iaasclient.CreateDiskRequest{Name: "x", Zone: "sim-1a", SizeGiB: 1, ClientToken: "t-4"})
	wait(createdTask(d4), err)
	beta := tcClient(t, e, func(cfg *tencentcloud.Config) {
		cfg.Credentials, cfg.VpcID, cfg.LocalAddr = betaCreds, "vpc-beta", ipB1.String()
	})
	if _, err := beta.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{DiskIDs: []string{d4.DiskID}}); err != nil {
		t.Fatal(err)
	} else if r, _ := beta.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{DiskIDs: []string{d4.DiskID}}); len(r.Disks) != 0 {
		t.Fatalf("beta sees alpha's disk: %+v", r)
	}
}

// Over the instance's disk limit (a1 takes 2) CBS answers
// LimitExceeded.InstanceAttachedDisk, which is LimitExceeded for the consumers.
func TestTencentCloudDiskLimit(t *testing.T) {
	e := newEnv(t, 0)
	c := tcClient(t, e, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ins, err := c.DescribeInstances(ctx, &iaasclient.DescribeInstancesRequest{Names: []string{"a1"}})
	if err != nil || len(ins.Instances) != 1 {
		t.Fatal(ins, err)
	}
	a1 := ins.Instances[0].InstanceID
	for i, tok := range []string{"l-1", "l-2", "l-3"} {
		d, err := c.CreateDisk(ctx, &iaasclient.CreateDiskRequest{Name: tok, Zone: "sim-1a", SizeGiB: 1, ClientToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitTask(ctx, d.TaskID); err != nil {
			t.Fatal(err)
		}
		r, err := c.AttachDisk(ctx, &iaasclient.AttachDiskRequest{DiskID: d.DiskID, InstanceID: a1})
		if i == 2 {
			if !errors.Is(err, iaasclient.ErrLimitExceeded) {
				t.Fatalf("third disk on a1: %v, want LimitExceeded", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitTask(ctx, r.TaskID); err != nil {
			t.Fatal(err)
		}
	}
}

func taskOf(r *iaasclient.TaskResponse) string {
	if r == nil {
		return ""
	}
	return r.TaskID
}

// createdTask is the task of a create answer, "" for none (nil on error).
func createdTask(r any) string {
	switch r := r.(type) {
	case *iaasclient.CreateDiskResponse:
		if r != nil {
			return r.TaskID
		}
	case *iaasclient.CreateSnapshotResponse:
		if r != nil {
			return r.TaskID
		}
	}
	return ""
}
