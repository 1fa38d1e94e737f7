package cloudprovider

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

type diskSweepEnv struct {
	f       *fake.Cloud
	pvs     cache.Indexer
	owners  snapshotOwners
	synced  bool
	now     time.Time
	rec     *record.FakeRecorder
	sweeper *diskSweeper
}

const testGrace = time.Minute

func newDiskSweepEnv(t *testing.T) *diskSweepEnv {
	t.Helper()
	e := &diskSweepEnv{
		f: fake.New(), pvs: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}), synced: true,
		owners: snapshotOwners{served: true, handles: map[string]bool{}}, now: time.Unix(1_800_000_000, 0), rec: record.NewFakeRecorder(100),
	}
	ev := newEventer(e.rec)
	e.sweeper = &diskSweeper{
		api: e.f, clusterID: "test", pvs: corelisters.NewPersistentVolumeLister(e.pvs), synced: func() bool { return e.synced },
		snapshots: func(context.Context) (snapshotOwners, error) { return e.owners, nil },
		events:    ev, grace: testGrace, now: func() time.Time { return e.now }, since: map[string]time.Time{},
	}
	return e
}

func (e *diskSweepEnv) pv(t *testing.T, name, diskID string, policy v1.PersistentVolumeReclaimPolicy) {
	t.Helper()
	err := e.pvs.Add(&v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PersistentVolumeSpec{
		PersistentVolumeReclaimPolicy: policy,
		PersistentVolumeSource:        v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{Driver: csiDriverName, VolumeHandle: diskID}},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *diskSweepEnv) sweep(t *testing.T) int {
	t.Helper()
	n, err := e.sweeper.sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *diskSweepEnv) snapshot(t *testing.T, diskID string, tags map[string]string) string {
	t.Helper()
	r, err := e.f.CreateSnapshot(context.Background(), &ic.CreateSnapshotRequest{DiskID: diskID, Name: "s", Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	return r.SnapshotID
}

func exists(e *diskSweepEnv, id string) bool {
	if _, ok := e.f.Disk(id); ok {
		return true
	}
	_, ok := e.f.Snapshot(id)
	return ok
}

// Only this cluster's AVAILABLE disks and snapshots whose PV / VolumeSnapshotContent is
// gone are deleted, and only once they stayed orphaned for the grace period; an Event
// goes to the PV the disk was made for.
func TestDiskSweeperDeletesOnlyThisClustersOrphans(t *testing.T) {
	e := newDiskSweepEnv(t)
	mine := map[string]string{TagCluster: "test"}
	owned := e.f.AddDisk(ic.Disk{SizeGiB: 1, Tags: mine}).DiskID
	e.pv(t, "pv-owned", owned, v1.PersistentVolumeReclaimDelete)
	orphan := e.f.AddDisk(ic.Disk{SizeGiB: 1, Tags: map[string]string{TagCluster: "test", tagPVName: "pv-gone"}}).DiskID
	other := e.f.AddDisk(ic.Disk{SizeGiB: 1, Tags: map[string]string{TagCluster: "other"}}).DiskID
	untagged := e.f.AddDisk(ic.Disk{SizeGiB: 1}).DiskID
	attached := e.f.AddDisk(ic.Disk{SizeGiB: 1, Tags: mine, InstanceID: "ins-1"}).DiskID
	creating := e.f.AddDisk(ic.Disk{SizeGiB: 1, Tags: mine, State: ic.DiskCreating}).DiskID
	orphanSnap := e.snapshot(t, owned, mine)
	usedSnap := e.snapshot(t, owned, mine)
	e.owners.handles[usedSnap] = true
	otherSnap := e.snapshot(t, owned, map[string]string{TagCluster: "other"})

	e.synced = false
	before := fmt.Sprint(e.f.AllCalls())
	if n := e.sweep(t); n != 0 || fmt.Sprint(e.f.AllCalls()) != before {
		t.Fatalf("swept %d before the informer synced (calls %v)", n, e.f.AllCalls())
	}
	e.synced = true
	if n := e.sweep(t); n != 0 {
		t.Fatalf("deleted %d on the first sight", n)
	}
	e.now = e.now.Add(testGrace - time.Second)
	if n := e.sweep(t); n != 0 {
		t.Fatalf("deleted %d before the grace", n)
	}
	e.now = e.now.Add(time.Second)
	if n := e.sweep(t); n != 2 {
		t.Fatalf("deleted %d, want the orphaned disk and snapshot", n)
	}
	for id, want := range map[string]bool{owned: true, orphan: false, other: true, untagged: true, attached: true, creating: true,
		orphanSnap: false, usedSnap: true, otherSnap: true} {
		if exists(e, id) != want {
			t.Errorf("%s exists = %v, want %v", id, !want, want)
		}
	}
	select {
	case ev := <-e.rec.Events:
		if want := "Normal " + ReasonOrphanDiskDeleted + " Deleted disk " + orphan; len(ev) < len(want) || ev[:len(want)] != want {
			t.Errorf("event %q, want %q...", ev, want)
		}
	default:
		t.Error("no Event for the deleted disk")
	}
}

// A disk whose PV retains it is marked, and the mark keeps it after its PV is gone; a
// PV that reappears within the grace restarts the grace.
func TestDiskSweeperKeepsRetainedAndReturning(t *testing.T) {
	e := newDiskSweepEnv(t)
	mine := map[string]string{TagCluster: "test", "team": "a"}
	kept := e.f.AddDisk(ic.Disk{SizeGiB: 1, Tags: mine}).DiskID
	e.pv(t, "pv-retain", kept, v1.PersistentVolumeReclaimRetain)
	back := e.f.AddDisk(ic.Disk{SizeGiB: 1, Tags: mine}).DiskID
	e.sweep(t)
	d, _ := e.f.Disk(kept)
	if d.Tags[TagRetain] != "true" || d.Tags["team"] != "a" || d.Tags[TagCluster] != "test" {
		t.Fatalf("tags of the retained disk %v; want %s=true and the others kept", d.Tags, TagRetain)
	}
	if err := e.pvs.Delete(&v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-retain"}}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(testGrace / 2)
	e.pv(t, "pv-back", back, v1.PersistentVolumeReclaimDelete) // the owner shows up (informer lag)
	e.sweep(t)
	if err := e.pvs.Delete(&v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-back"}}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(testGrace / 2)
	e.sweep(t)
	if !exists(e, back) {
		t.Fatal("deleted although its PV was there within the grace")
	}
	e.now = e.now.Add(testGrace)
	if n := e.sweep(t); n != 1 || exists(e, back) || !exists(e, kept) {
		t.Fatalf("deleted %d; want only the unretained disk (retained exists %v)", n, exists(e, kept))
	}
}

// While a deletion policy Retain is in use for snapshots, or without the snapshot API,
// no snapshot is deleted: a retained snapshot cannot be told from a leaked one.
func TestDiskSweeperSnapshotsUnderRetainOrNoAPI(t *testing.T) {
	e := newDiskSweepEnv(t)
	mine := map[string]string{TagCluster: "test"}
	d := e.f.AddDisk(ic.Disk{SizeGiB: 1}).DiskID
	snap := e.snapshot(t, d, mine)
	for _, o := range []snapshotOwners{{served: true, retainedBy: "VolumeSnapshotClass/keep"}, {served: false}} {
		e.owners = o
		e.sweep(t)
		e.now = e.now.Add(2 * testGrace)
		if n := e.sweep(t); n != 0 || !exists(e, snap) {
			t.Fatalf("%+v: deleted %d", o, n)
		}
	}
}
