package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// CSI names the sweeper shares with package csi (which this package does not import:
// it would pull the CSI driver into the CCM). TestCSINamesMatch keeps them equal.
const (
	csiDriverName = "disk.csi.kube-iaas.io"
	// tagPVName is the PV a disk was provisioned for (external-provisioner's
	// --extra-create-metadata): the object the deletion Event is about.
	tagPVName = "kubernetes.io/created-for/pv/name"
	// TagRetain marks a disk whose PersistentVolume has reclaimPolicy Retain: when that
	// PV is deleted the disk is kept on purpose, and the sweeper must not take it for a
	// leak. The sweeper writes it while the PV exists; an operator may set it by hand.
	TagRetain = "kube-iaas.io/retain"
)

// Event reasons of the disk sweeper (on the PersistentVolume the disk was made for).
const ReasonOrphanDiskDeleted = "OrphanedDiskDeleted"

// snapshotOwners is what the Kubernetes snapshot API says about this driver's snapshots.
type snapshotOwners struct {
	// served is false when the VolumeSnapshotContent API does not exist.
	served bool
	// handles are the snapshot ids some VolumeSnapshotContent of the driver refers to.
	handles map[string]bool
	// retainedBy names a VolumeSnapshotClass or VolumeSnapshotContent of the driver with
	// deletionPolicy Retain ("" if none): a snapshot whose content was deleted under
	// Retain is kept on purpose, and the IaaS has no way to mark it as such, so the
	// sweeper leaves every snapshot alone while such a policy is in use.
	retainedBy string
}

// diskSweeper deletes the disks and snapshots this cluster's CSI driver created
// (tagged TagCluster with its clusterId) whose PersistentVolume or
// VolumeSnapshotContent no longer exists: a PV deleted by hand with its finalizers
// removed, a provisioner that died between CreateVolume and creating the PV and never
// came back for that claim, a cluster restored from an older etcd backup. It never
// touches an untagged disk, another cluster's, a disk that is not AVAILABLE (attached
// or busy), one marked TagRetain, or one whose owner is gone for less than the grace.
type diskSweeper struct {
	api       ic.DiskAPI
	clusterID string
	pvs       corelisters.PersistentVolumeLister
	synced    func() bool // the PV informer has synced: before, every disk looks orphaned
	// snapshots lists the VolumeSnapshotContents fresh on each pass.
	snapshots func(ctx context.Context) (snapshotOwners, error)
	events    *eventer
	grace     time.Duration
	now       func() time.Time

	since        map[string]time.Time // "disk/<id>" or "snapshot/<id>" -> first pass that found it orphaned
	lastRetained string               // last retainedBy logged, so it is logged once
}

// sweep runs one pass and returns how many disks and snapshots it deleted.
func (s *diskSweeper) sweep(ctx context.Context) (int, error) {
	if !s.synced() {
		return 0, nil
	}
	// Kubernetes first, then the IaaS: a disk created after the PV list was read has no
	// PV in it, but it has to stay orphaned for the grace period before anything happens.
	pvs, err := s.pvs.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	owned := map[string]bool{}
	retain := map[string]bool{}
	for _, pv := range pvs {
		if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != csiDriverName {
			continue
		}
		owned[pv.Spec.CSI.VolumeHandle] = true
		if pv.Spec.PersistentVolumeReclaimPolicy == v1.PersistentVolumeReclaimRetain {
			retain[pv.Spec.CSI.VolumeHandle] = true
		}
	}
	snaps, err := s.snapshots(ctx)
	if err != nil {
		return 0, fmt.Errorf("listing VolumeSnapshotContents: %w", err)
	}
	disks, err := ic.DescribeAllDisks(ctx, s.api, ic.DescribeDisksRequest{Tags: map[string]string{TagCluster: s.clusterID}})
	if err != nil {
		return 0, err
	}
	now := s.now()
	seen := map[string]bool{}
	deleted := 0
	var errs []error
	for _, d := range disks {
		if d.Tags[TagCluster] != s.clusterID {
			continue
		}
		if retain[d.DiskID] && d.Tags[TagRetain] == "" {
			errs = append(errs, s.markRetained(ctx, d))
		}
		if owned[d.DiskID] || d.Tags[TagRetain] != "" {
			continue
		}
		if d.State != ic.DiskAvailable {
			continue // being created, attached, or busy: not a leak the sweeper may delete
		}
		key := "disk/" + d.DiskID
		seen[key] = true
		if !s.graceOver(key, now, "Disk has no PersistentVolume; deleting it after the grace period", "disk", d.DiskID, "pv", d.Tags[tagPVName]) {
			continue
		}
		if _, err := s.api.DeleteDisk(ctx, &ic.DeleteDiskRequest{DiskID: d.DiskID}); err != nil && !errors.Is(err, ic.ErrNotFound) {
			errs = append(errs, fmt.Errorf("deleting orphaned disk %s: %w", d.DiskID, err))
			continue
		}
		deleted++
		orphansDeleted().WithLabelValues("disk").Inc()
		klog.InfoS("Deleted orphaned disk", "disk", d.DiskID, "sizeGiB", d.SizeGiB, "pv", d.Tags[tagPVName], "orphanedFor", now.Sub(s.since[key]).Round(time.Second))
		if pv := d.Tags[tagPVName]; pv != "" {
			s.events.event(&v1.ObjectReference{Kind: "PersistentVolume", APIVersion: "v1", Name: pv}, v1.EventTypeNormal, ReasonOrphanDiskDeleted,
				"Deleted disk %s: it belonged to this cluster and no PersistentVolume had it for %v", d.DiskID, s.grace)
		}
		delete(s.since, key)
	}
	n, err := s.sweepSnapshots(ctx, snaps, now, seen)
	deleted += n
	errs = append(errs, err)
	for key := range s.since {
		if !seen[key] { // owner came back (cache lag), or gone from the IaaS
			delete(s.since, key)
		}
	}
	return deleted, errors.Join(errs...)
}

func (s *diskSweeper) sweepSnapshots(ctx context.Context, owners snapshotOwners, now time.Time, seen map[string]bool) (int, error) {
	if !owners.served {
		return 0, nil // no snapshot API: no way to tell a leak from a snapshot in use
	}
	if owners.retainedBy != s.lastRetained {
		s.lastRetained = owners.retainedBy
		if owners.retainedBy != "" {
			klog.InfoS("Orphan sweeper leaves snapshots alone: a deletion policy Retain is in use", "object", owners.retainedBy)
		}
	}
	if owners.retainedBy != "" {
		return 0, nil
	}
	list, err := ic.DescribeAllSnapshots(ctx, s.api, ic.DescribeSnapshotsRequest{Tags: map[string]string{TagCluster: s.clusterID}})
	if err != nil {
		return 0, err
	}
	deleted := 0
	var errs []error
	for _, sn := range list {
		if sn.Tags[TagCluster] != s.clusterID || owners.handles[sn.SnapshotID] || sn.Tags[TagRetain] != "" || sn.State == ic.SnapshotCreating {
			continue
		}
		key := "snapshot/" + sn.SnapshotID
		seen[key] = true
		if !s.graceOver(key, now, "Snapshot has no VolumeSnapshotContent; deleting it after the grace period", "snapshot", sn.SnapshotID, "disk", sn.DiskID) {
			continue
		}
		if _, err := s.api.DeleteSnapshot(ctx, &ic.DeleteSnapshotRequest{SnapshotID: sn.SnapshotID}); err != nil && !errors.Is(err, ic.ErrNotFound) {
			errs = append(errs, fmt.Errorf("deleting orphaned snapshot %s: %w", sn.SnapshotID, err))
			continue
		}
		deleted++
		orphansDeleted().WithLabelValues("snapshot").Inc()
		klog.InfoS("Deleted orphaned snapshot", "snapshot", sn.SnapshotID, "disk", sn.DiskID, "orphanedFor", now.Sub(s.since[key]).Round(time.Second))
		delete(s.since, key)
	}
	return deleted, errors.Join(errs...)
}

// graceOver records the first pass that found key orphaned and reports whether the
// grace period has passed since.
func (s *diskSweeper) graceOver(key string, now time.Time, msg string, kv ...any) bool {
	first, ok := s.since[key]
	if !ok {
		s.since[key] = now
		klog.InfoS(msg, append(kv, "grace", s.grace)...)
		return s.grace <= 0
	}
	return now.Sub(first) >= s.grace
}

// markRetained tags the disk of a Retain PV, so that it survives its PV. The tag set is
// replaced as a whole, so it is written from the fresh listing plus the one tag.
func (s *diskSweeper) markRetained(ctx context.Context, d ic.Disk) error {
	tags := maps.Clone(d.Tags)
	tags[TagRetain] = "true"
	if _, err := s.api.ModifyDisk(ctx, &ic.ModifyDiskRequest{DiskID: d.DiskID, Tags: tags}); err != nil && !errors.Is(err, ic.ErrNotFound) {
		return fmt.Errorf("marking disk %s of a Retain PersistentVolume: %w", d.DiskID, err)
	}
	klog.InfoS("Marked disk as retained: its PersistentVolume's reclaim policy is Retain", "disk", d.DiskID, "tag", TagRetain)
	return nil
}
