package csi

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Disks and snapshots carry the cluster's id (the orphan sweeper's ownership mark),
// even when a StorageClass tag tries to set that key; without a cluster id, no tag.
func TestClusterTag(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	e.cs.clusterID = "c1"
	v, err := e.cs.CreateVolume(ctx, createReq("v", 1, map[string]string{ParamTags: TagCluster + "=other"}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.cloud.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{DiskIDs: []string{v.GetVolume().GetVolumeId()}})
	if err != nil || len(d.Disks) != 1 || d.Disks[0].Tags[TagCluster] != "c1" {
		t.Fatalf("disk %+v %v; want tag %s=c1", d, err, TagCluster)
	}
	again, err := e.cs.CreateVolume(ctx, createReq("v", 1, map[string]string{ParamTags: TagCluster + "=other"}))
	if err != nil || again.GetVolume().GetVolumeId() != v.GetVolume().GetVolumeId() {
		t.Fatalf("idempotent create with the cluster tag: %v %v", again, err)
	}
	s, err := e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: v.GetVolume().GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	sn, err := e.cloud.DescribeSnapshots(ctx, &iaasclient.DescribeSnapshotsRequest{SnapshotIDs: []string{s.GetSnapshot().GetSnapshotId()}})
	if err != nil || len(sn.Snapshots) != 1 || sn.Snapshots[0].Tags[TagCluster] != "c1" {
		t.Fatalf("snapshot %+v %v; want tag %s=c1", sn, err, TagCluster)
	}

	e.cs.clusterID = ""
	v, err = e.cs.CreateVolume(ctx, createReq("untagged", 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	d, err = e.cloud.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{DiskIDs: []string{v.GetVolume().GetVolumeId()}})
	if err != nil || len(d.Disks) != 1 {
		t.Fatal(d, err)
	}
	if _, ok := d.Disks[0].Tags[TagCluster]; ok {
		t.Fatalf("tagged without a cluster id: %v", d.Disks[0].Tags)
	}
}
