package cloudprovider

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/klog/v2"
)

var (
	volumeSnapshotContents = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotcontents"}
	volumeSnapshotClasses  = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotclasses"}
)

// listSnapshotOwners reads the VolumeSnapshotContents and VolumeSnapshotClasses of the
// driver from the API server, fresh (a LIST per sweep, no informer: the snapshot CRDs
// may be installed after the CCM starts, and a sweep is minutes apart).
func listSnapshotOwners(dyn dynamic.Interface) func(ctx context.Context) (snapshotOwners, error) {
	return func(ctx context.Context) (snapshotOwners, error) {
		out := snapshotOwners{handles: map[string]bool{}}
		contents, err := dyn.Resource(volumeSnapshotContents).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			return out, nil // the snapshot API is not installed
		}
		if err != nil {
			return out, err
		}
		out.served = true
		for _, c := range contents.Items {
			if driver, _, _ := unstructured.NestedString(c.Object, "spec", "driver"); driver != csiDriverName {
				continue
			}
			for _, path := range [][]string{{"status", "snapshotHandle"}, {"spec", "source", "snapshotHandle"}} {
				if h, _, _ := unstructured.NestedString(c.Object, path...); h != "" {
					out.handles[h] = true
				}
			}
			if p, _, _ := unstructured.NestedString(c.Object, "spec", "deletionPolicy"); p == "Retain" && out.retainedBy == "" {
				out.retainedBy = "VolumeSnapshotContent/" + c.GetName()
			}
		}
		classes, err := dyn.Resource(volumeSnapshotClasses).List(ctx, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return out, err
		}
		if classes != nil {
			for _, c := range classes.Items {
				driver, _, _ := unstructured.NestedString(c.Object, "driver")
				policy, _, _ := unstructured.NestedString(c.Object, "deletionPolicy")
				if driver == csiDriverName && policy == "Retain" && out.retainedBy == "" {
					out.retainedBy = "VolumeSnapshotClass/" + c.GetName()
				}
			}
		}
		return out, nil
	}
}

// startDiskSweeper runs the disk and snapshot orphan sweeper on the shared PV
// informer. Not on the tencentcloud backend: CBS snapshots carry no tags, so the CSI
// driver marks nothing there (yet); and only with a cluster id, which is what tells
// this cluster's disks apart.
func (c *Cloud) startDiskSweeper(f informers.SharedInformerFactory) {
	if !c.cfg.SweeperEnabled() || c.dyn == nil || c.cfg.Provider == ProviderTencentCloud || c.cfg.ClusterID == "" {
		return
	}
	inf := f.Core().V1().PersistentVolumes()
	s := &diskSweeper{
		api: c.api, clusterID: c.cfg.ClusterID, pvs: inf.Lister(), synced: inf.Informer().HasSynced,
		snapshots: listSnapshotOwners(c.dyn), events: c.events, grace: c.cfg.OrphanSweeper.GracePeriod.Duration,
		now: time.Now, since: map[string]time.Time{},
	}
	klog.InfoS("Disk and snapshot orphan sweeper on", "grace", s.grace, "period", c.cfg.OrphanSweeper.Period.Duration)
	go func() {
		t := time.NewTicker(c.cfg.OrphanSweeper.Period.Duration)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			if n, err := s.sweep(ctx); err != nil {
				klog.ErrorS(fmt.Errorf("orphan sweep of disks and snapshots: %w", err), "Orphan sweeper", "deleted", n)
			}
			cancel()
		}
	}()
}
