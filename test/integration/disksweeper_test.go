package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

const csiDriver = "disk.csi.kube-iaas.io"

var (
	crds     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	contents = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotcontents"}
)

// installSnapshotCRDs serves VolumeSnapshotContent and VolumeSnapshotClass (cluster
// scoped, schema left open: the sweeper reads a few fields, nothing validates here).
func installSnapshotCRDs(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	ctx := context.Background()
	for _, k := range []struct{ kind, plural string }{{"VolumeSnapshotContent", "volumesnapshotcontents"}, {"VolumeSnapshotClass", "volumesnapshotclasses"}} {
		crd := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": k.plural + ".snapshot.storage.k8s.io",
				// A *.k8s.io group needs this; "unapproved" is honest for a test fixture.
				"annotations": map[string]any{"api-approved.kubernetes.io": "unapproved, a test fixture with the shape of the snapshot API"}},
			"spec": map[string]any{
				"group": "snapshot.storage.k8s.io", "scope": "Cluster",
				"names": map[string]any{"kind": k.kind, "plural": k.plural, "listKind": k.kind + "List"},
				"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
					"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
			},
		}}
		if _, err := dyn.Resource(crds).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err := framework.Eventually(waitTimeout, func() error {
		_, err := dyn.Resource(contents).List(ctx, metav1.ListOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func plantDisk(t *testing.T, name string, tags map[string]string) string {
	t.Helper()
	ctx := context.Background()
	r, err := env.sim.API.CreateDisk(ctx, &ic.CreateDiskRequest{Name: name, Zone: "sim-1a", SizeGiB: 1, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.sim.API.WaitTask(ctx, r.TaskID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = env.sim.API.DeleteDisk(context.Background(), &ic.DeleteDiskRequest{DiskID: r.DiskID}) })
	return r.DiskID
}

func plantSnapshot(t *testing.T, diskID string, tags map[string]string) string {
	t.Helper()
	ctx := context.Background()
	r, err := env.sim.API.CreateSnapshot(ctx, &ic.CreateSnapshotRequest{DiskID: diskID, Name: "planted", Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.sim.API.WaitTask(ctx, r.TaskID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.sim.API.DeleteSnapshot(context.Background(), &ic.DeleteSnapshotRequest{SnapshotID: r.SnapshotID})
	})
	return r.SnapshotID
}

func diskTags(t *testing.T, id string) (map[string]string, bool) {
	t.Helper()
	r, err := env.sim.API.DescribeDisks(context.Background(), &ic.DescribeDisksRequest{DiskIDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Disks) == 0 {
		return nil, false
	}
	return r.Disks[0].Tags, true
}

func snapshotExists(t *testing.T, id string) bool {
	t.Helper()
	r, err := env.sim.API.DescribeSnapshots(context.Background(), &ic.DescribeSnapshotsRequest{SnapshotIDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	return len(r.Snapshots) > 0
}

func createPV(t *testing.T, name, diskID string, policy v1.PersistentVolumeReclaimPolicy) {
	t.Helper()
	_, err := env.kube.Client.CoreV1().PersistentVolumes().Create(context.Background(), &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: policy,
			PersistentVolumeSource:        v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{Driver: csiDriver, VolumeHandle: diskID}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.CoreV1().PersistentVolumes().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// The real CCM against the real API server and simulator: disks and snapshots tagged
// with this cluster whose PersistentVolume / VolumeSnapshotContent does not exist are
// deleted after the grace, with an Event on the PV and the metric; another cluster's,
// untagged ones, ones in use by a PV or a content, and the disk of a Retain PV (even
// after that PV is deleted) stay.
func TestDiskSnapshotOrphanSweeper(t *testing.T) {
	if framework.Backend() == framework.BackendTencentCloud {
		t.Skip("no disk sweeper on the tencentcloud backend yet (CBS snapshots carry no tags)")
	}
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(env.kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	installSnapshotCRDs(t, dyn)
	disksBefore := ccmMetric(t, iaas.OrphansDeletedMetric+`{kind="disk"}`)
	snapsBefore := ccmMetric(t, iaas.OrphansDeletedMetric+`{kind="snapshot"}`)

	mine := map[string]string{iaas.TagCluster: "itest"}
	owned := plantDisk(t, "owned", mine)
	createPV(t, "pv-sweep-owned", owned, v1.PersistentVolumeReclaimDelete)
	retained := plantDisk(t, "retained", mine)
	createPV(t, "pv-sweep-retained", retained, v1.PersistentVolumeReclaimRetain)
	orphan := plantDisk(t, "orphan", map[string]string{iaas.TagCluster: "itest", "kubernetes.io/created-for/pv/name": "pv-sweep-gone"})
	other := plantDisk(t, "other", map[string]string{iaas.TagCluster: "other-cluster"})
	untagged := plantDisk(t, "untagged", nil)

	usedSnap := plantSnapshot(t, owned, mine)
	_, err = dyn.Resource(contents).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
		"metadata": map[string]any{"name": "snapcontent-sweep-used"},
		"spec": map[string]any{"driver": csiDriver, "deletionPolicy": "Delete",
			"source":            map[string]any{"snapshotHandle": usedSnap},
			"volumeSnapshotRef": map[string]any{"name": "used", "namespace": "default"}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orphanSnap := plantSnapshot(t, owned, mine)
	otherSnap := plantSnapshot(t, owned, map[string]string{iaas.TagCluster: "other-cluster"})
	planted := time.Now()

	// The Retain PV's disk gets its mark while the PV exists; then the PV goes.
	err = framework.Eventually(waitTimeout, func() error {
		if tags, _ := diskTags(t, retained); tags[iaas.TagRetain] == "" {
			return fmt.Errorf("disk %s of a Retain PV not marked (tags %v)", retained, tags)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deletePV(t, "pv-sweep-retained")

	err = framework.Eventually(waitTimeout, func() error {
		if _, ok := diskTags(t, orphan); ok {
			return fmt.Errorf("orphaned disk %s still there", orphan)
		}
		if snapshotExists(t, orphanSnap) {
			return fmt.Errorf("orphaned snapshot %s still there", orphanSnap)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(planted); took < sweeperGrace {
		t.Errorf("orphans deleted %v after they were planted, before the grace of %v", took, sweeperGrace)
	}
	t.Logf("orphaned disk and snapshot deleted %v after they were planted (grace %v)", time.Since(planted).Round(100*time.Millisecond), sweeperGrace)
	waitEvent(t, "default", "PersistentVolume", "pv-sweep-gone", iaas.ReasonOrphanDiskDeleted)

	time.Sleep(2 * sweeperGrace) // several more passes, the Retain PV gone for longer than the grace
	for what, id := range map[string]string{"a PV's": owned, "a deleted Retain PV's": retained, "another cluster's": other, "an untagged": untagged} {
		if _, ok := diskTags(t, id); !ok {
			t.Errorf("the sweeper deleted %s disk %s", what, id)
		}
	}
	for what, id := range map[string]string{"a content's": usedSnap, "another cluster's": otherSnap} {
		if !snapshotExists(t, id) {
			t.Errorf("the sweeper deleted %s snapshot %s", what, id)
		}
	}
	if got := ccmMetric(t, iaas.OrphansDeletedMetric+`{kind="disk"}`) - disksBefore; got != 1 {
		t.Errorf("%s{kind=disk} grew by %v, want 1", iaas.OrphansDeletedMetric, got)
	}
	if got := ccmMetric(t, iaas.OrphansDeletedMetric+`{kind="snapshot"}`) - snapsBefore; got != 1 {
		t.Errorf("%s{kind=snapshot} grew by %v, want 1", iaas.OrphansDeletedMetric, got)
	}
}

// deletePV deletes a PV for good: with no kube-controller-manager in this tier, nothing
// else would remove the pv-protection finalizer.
func deletePV(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	pvs := env.kube.Client.CoreV1().PersistentVolumes()
	if err := pvs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pvs.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	err := framework.Eventually(waitTimeout, func() error {
		if _, err := pvs.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("PV %s still there (%v)", name, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
