package iaassim_test

import (
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestDiskAttachRules(t *testing.T) {
	e := newEnv(t, 0)
	c := e.alpha()
	a1, a2, a3 := instanceID(t, c, "127.0.0.11"), instanceID(t, c, "127.0.0.12"), instanceID(t, c, "127.0.0.13")
	d := createDisk(t, c, "sim-1a", 10)
	if got := describeDisk(t, c, d); got.State != iaasclient.DiskAvailable || got.DeviceSerial != d || got.Type != iaasclient.DefaultDiskType {
		t.Fatalf("new disk: %+v", got)
	}

	attach := func(disk, inst string) error {
		r, err := call[iaasclient.TaskResponse](t, c, iaasclient.ActionAttachDisk, iaasclient.AttachDiskRequest{DiskID: disk, InstanceID: inst})
		if err == nil {
			waitOK(t, c, r.TaskID)
		}
		return err
	}
	detach := func(disk, inst string) error {
		r, err := call[iaasclient.TaskResponse](t, c, iaasclient.ActionDetachDisk, iaasclient.DetachDiskRequest{DiskID: disk, InstanceID: inst})
		if err == nil {
			waitOK(t, c, r.TaskID)
		}
		return err
	}
	if err := attach(d, a1); err != nil {
		t.Fatal(err)
	}
	if got := describeDisk(t, c, d); got.State != iaasclient.DiskAttached || got.InstanceID != a1 {
		t.Fatalf("after attach: %+v", got)
	}
	if err := attach(d, a1); err != nil {
		t.Fatalf("attach to the same instance again: %v", err)
	}
	wantCode(t, attach(d, a3), iaasclient.CodeResourceInUse)
	wantCode(t, detach(d, a3), iaasclient.CodeResourceInUse)
	_, err := call[iaasclient.DeleteDiskResponse](t, c, iaasclient.ActionDeleteDisk, iaasclient.DeleteDiskRequest{DiskID: d})
	wantCode(t, err, iaasclient.CodeResourceInUse)
	// zone mismatch
	err = attach(createDisk(t, c, "sim-1a", 1), a2)
	wantCode(t, err, iaasclient.CodeInvalidParameter)
	if !strings.Contains(err.Error(), "instanceId") {
		t.Errorf("zone error does not name the field: %v", err)
	}

	// Stop a1: it is fenced, so detaching from it is allowed; then attach elsewhere.
	stop := must[iaasclient.TaskResponse](t, c, iaasclient.ActionStopInstances, iaasclient.InstancesRequest{InstanceIDs: []string{a1}})
	waitOK(t, c, stop.TaskID)
	in := must[iaasclient.DescribeInstancesResponse](t, c, iaasclient.ActionDescribeInstances, iaasclient.DescribeInstancesRequest{InstanceIDs: []string{a1}})
	if in.Instances[0].State != iaasclient.InstanceStopped {
		t.Fatalf("a1 after stop: %s", in.Instances[0].State)
	}
	if err := detach(d, a1); err != nil {
		t.Fatalf("detach from a stopped instance: %v", err)
	}
	if got := describeDisk(t, c, d); got.State != iaasclient.DiskAvailable || got.InstanceID != "" {
		t.Fatalf("after detach: %+v", got)
	}
	if err := detach(d, a1); err != nil {
		t.Fatalf("detach of a detached disk: %v", err)
	}
	if err := attach(d, a3); err != nil {
		t.Fatal(err)
	}
	start := must[iaasclient.TaskResponse](t, c, iaasclient.ActionStartInstances, iaasclient.InstancesRequest{InstanceIDs: []string{a1}})
	waitOK(t, c, start.TaskID)

	// MaxDisks of a1 is 2.
	if err := attach(createDisk(t, c, "sim-1a", 1), a1); err != nil {
		t.Fatal(err)
	}
	if err := attach(createDisk(t, c, "sim-1a", 1), a1); err != nil {
		t.Fatal(err)
	}
	wantCode(t, attach(createDisk(t, c, "sim-1a", 1), a1), iaasclient.CodeLimitExceeded)

	// Unknown ids.
	wantCode(t, attach("disk-000000000000", a1), iaasclient.CodeResourceNotFound)
	wantCode(t, attach(d, "ins-000000000000"), iaasclient.CodeResourceNotFound)
}

func TestDiskIntermediateStates(t *testing.T) {
	e := newEnv(t, 300*1e6) // 300ms
	c := e.alpha()
	a1 := instanceID(t, c, "127.0.0.11")
	cr := must[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: 1})
	if got := describeDisk(t, c, cr.DiskID); got.State != iaasclient.DiskCreating {
		t.Fatalf("state right after CreateDisk: %s", got.State)
	}
	_, err := call[iaasclient.TaskResponse](t, c, iaasclient.ActionAttachDisk, iaasclient.AttachDiskRequest{DiskID: cr.DiskID, InstanceID: a1})
	wantCode(t, err, iaasclient.CodeResourceInUse)
	waitOK(t, c, cr.TaskID)
	at := must[iaasclient.TaskResponse](t, c, iaasclient.ActionAttachDisk, iaasclient.AttachDiskRequest{DiskID: cr.DiskID, InstanceID: a1})
	if got := describeDisk(t, c, cr.DiskID); got.State != iaasclient.DiskAttaching || got.InstanceID != a1 {
		t.Fatalf("right after AttachDisk: %+v", got)
	}
	_, err = call[iaasclient.TaskResponse](t, c, iaasclient.ActionDetachDisk, iaasclient.DetachDiskRequest{DiskID: cr.DiskID, InstanceID: a1})
	wantCode(t, err, iaasclient.CodeResourceInUse)
	waitOK(t, c, at.TaskID)
	dt := must[iaasclient.TaskResponse](t, c, iaasclient.ActionDetachDisk, iaasclient.DetachDiskRequest{DiskID: cr.DiskID, InstanceID: a1})
	if got := describeDisk(t, c, cr.DiskID); got.State != iaasclient.DiskDetaching {
		t.Fatalf("right after DetachDisk: %+v", got)
	}
	waitOK(t, c, dt.TaskID)
}

func TestDiskSizesSnapshotsQuotas(t *testing.T) {
	e := newEnv(t, 0)
	c := e.alpha()
	_, err := call[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: -1})
	wantCode(t, err, iaasclient.CodeInvalidParameter)
	if !strings.Contains(err.Error(), "sizeGiB") {
		t.Errorf("error does not name sizeGiB: %v", err)
	}
	_, err = call[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Zone: "nowhere", SizeGiB: 1})
	wantCode(t, err, iaasclient.CodeInvalidParameter)
	_, err = call[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: 1, Type: "FLOPPY"})
	wantCode(t, err, iaasclient.CodeInvalidParameter)

	d := createDisk(t, c, "sim-1a", 10)
	_, err = call[iaasclient.TaskResponse](t, c, iaasclient.ActionResizeDisk, iaasclient.ResizeDiskRequest{DiskID: d, SizeGiB: 5})
	wantCode(t, err, iaasclient.CodeInvalidParameter)
	rs := must[iaasclient.TaskResponse](t, c, iaasclient.ActionResizeDisk, iaasclient.ResizeDiskRequest{DiskID: d, SizeGiB: 20})
	waitOK(t, c, rs.TaskID)
	if got := describeDisk(t, c, d); got.SizeGiB != 20 {
		t.Fatalf("size after resize: %d", got.SizeGiB)
	}

	sn := must[iaasclient.CreateSnapshotResponse](t, c, iaasclient.ActionCreateSnapshot, iaasclient.CreateSnapshotRequest{DiskID: d, Name: "s"})
	waitOK(t, c, sn.TaskID)
	// From the snapshot: size 0 means the snapshot's; smaller is refused.
	_, err = call[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Zone: "sim-1b", SizeGiB: 5, SnapshotID: sn.SnapshotID})
	wantCode(t, err, iaasclient.CodeInvalidParameter)
	fromSnap := must[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Zone: "sim-1b", SnapshotID: sn.SnapshotID})
	waitOK(t, c, fromSnap.TaskID)
	if got := describeDisk(t, c, fromSnap.DiskID); got.SizeGiB != 20 || got.SnapshotID != sn.SnapshotID {
		t.Fatalf("disk from snapshot: %+v", got)
	}
	_, err = call[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Zone: "sim-1b", SourceDiskID: d})
	wantCode(t, err, iaasclient.CodeInvalidParameter) // clones stay in the zone

	// Quotas: 100 GiB, 6 disks, 3 snapshots.
	_, err = call[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: 61})
	wantCode(t, err, iaasclient.CodeLimitExceeded)
	for range 4 {
		createDisk(t, c, "sim-1a", 1)
	}
	_, err = call[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: 1})
	wantCode(t, err, iaasclient.CodeLimitExceeded)
	for range 2 {
		r := must[iaasclient.CreateSnapshotResponse](t, c, iaasclient.ActionCreateSnapshot, iaasclient.CreateSnapshotRequest{DiskID: d})
		waitOK(t, c, r.TaskID)
	}
	_, err = call[iaasclient.CreateSnapshotResponse](t, c, iaasclient.ActionCreateSnapshot, iaasclient.CreateSnapshotRequest{DiskID: d})
	wantCode(t, err, iaasclient.CodeLimitExceeded)

	q := must[iaasclient.DescribeQuotasResponse](t, c, iaasclient.ActionDescribeQuotas, struct{}{})
	got := map[string]iaasclient.Quota{}
	for _, x := range q.Quotas {
		got[x.Resource] = x
	}
	if got["disks"].Used != 6 || got["disks"].Limit != 6 || got["snapshots"].Used != 3 || got["diskGiB"].Used != 44 || got["routesPerTable"].Limit != 50 {
		t.Fatalf("quotas: %+v", q.Quotas)
	}

	// Delete: snapshot, then the disk; a second delete is ResourceNotFound.
	must[iaasclient.DeleteSnapshotResponse](t, c, iaasclient.ActionDeleteSnapshot, iaasclient.DeleteSnapshotRequest{SnapshotID: sn.SnapshotID})
	must[iaasclient.DeleteDiskResponse](t, c, iaasclient.ActionDeleteDisk, iaasclient.DeleteDiskRequest{DiskID: fromSnap.DiskID})
	_, err = call[iaasclient.DeleteDiskResponse](t, c, iaasclient.ActionDeleteDisk, iaasclient.DeleteDiskRequest{DiskID: fromSnap.DiskID})
	wantCode(t, err, iaasclient.CodeResourceNotFound)

	// Modify: name and tags; tags filter.
	name := "renamed"
	must[iaasclient.ModifyDiskResponse](t, c, iaasclient.ActionModifyDisk, iaasclient.ModifyDiskRequest{DiskID: d, Name: &name, Tags: map[string]string{"pv": "x"}})
	r := must[iaasclient.DescribeDisksResponse](t, c, iaasclient.ActionDescribeDisks, iaasclient.DescribeDisksRequest{Tags: map[string]string{"pv": "x"}})
	if r.TotalCount != 1 || r.Disks[0].Name != "renamed" {
		t.Fatalf("by tag: %+v", r)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t, 0)
	c := e.alpha()
	var ids []string
	for range 5 {
		ids = append(ids, createDisk(t, c, "sim-1a", 1))
	}
	var seen []string
	for off := 0; off < 6; off += 2 {
		r := must[iaasclient.DescribeDisksResponse](t, c, iaasclient.ActionDescribeDisks, iaasclient.DescribeDisksRequest{Page: iaasclient.Page{Offset: off, Limit: 2}})
		if r.TotalCount != 5 {
			t.Fatalf("totalCount %d", r.TotalCount)
		}
		for _, d := range r.Disks {
			seen = append(seen, d.DiskID)
		}
	}
	if len(seen) != 5 {
		t.Fatalf("pages gave %v", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1] >= seen[i] {
			t.Fatalf("not sorted by id: %v", seen)
		}
	}
	_, err := call[iaasclient.DescribeDisksResponse](t, c, iaasclient.ActionDescribeDisks, iaasclient.DescribeDisksRequest{Page: iaasclient.Page{Limit: 1001}})
	wantCode(t, err, iaasclient.CodeInvalidParameter)
	_, err = call[iaasclient.DescribeDisksResponse](t, c, iaasclient.ActionDescribeDisks, iaasclient.DescribeDisksRequest{Page: iaasclient.Page{Offset: -1}})
	wantCode(t, err, iaasclient.CodeInvalidParameter)
}
