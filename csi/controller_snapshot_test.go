package csi

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestSnapshots(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	v1, v2 := e.mustCreate(t, "v1", 2), e.mustCreate(t, "v2", 3)

	_, err := e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{SourceVolumeId: v1.GetVolumeId()})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: "disk-x"})
	wantCode(t, err, codes.NotFound)
	_, err = e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: v1.GetVolumeId(), Parameters: map[string]string{"type": "x"}})
	wantCode(t, err, codes.InvalidArgument)

	s1, err := e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: v1.GetVolumeId(), Parameters: map[string]string{"tags": "a=b"}})
	if err != nil {
		t.Fatal(err)
	}
	snap := s1.GetSnapshot()
	if !snap.GetReadyToUse() || snap.GetSizeBytes() != 2*gib || snap.GetSourceVolumeId() != v1.GetVolumeId() || snap.GetCreationTime() == nil {
		t.Errorf("snapshot = %v", snap)
	}
	again, err := e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: v1.GetVolumeId()})
	if err != nil || again.GetSnapshot().GetSnapshotId() != snap.GetSnapshotId() {
		t.Errorf("idempotent create: %v %v", again, err)
	}
	if n := e.cloud.Calls(iaasclient.ActionCreateSnapshot); n != 1 {
		t.Errorf("CreateSnapshot called %d times", n)
	}
	_, err = e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: v2.GetVolumeId()})
	wantCode(t, err, codes.AlreadyExists)
	s2, err := e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s2", SourceVolumeId: v2.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}

	g, err := e.cs.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: snap.GetSnapshotId()})
	if err != nil || g.GetSnapshot().GetSnapshotId() != snap.GetSnapshotId() {
		t.Errorf("get: %v %v", g, err)
	}
	_, err = e.cs.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: "none-exist-id"})
	wantCode(t, err, codes.NotFound)
	_, err = e.cs.GetSnapshot(ctx, &csi.GetSnapshotRequest{})
	wantCode(t, err, codes.InvalidArgument)

	for _, tc := range []struct {
		name string
		req  *csi.ListSnapshotsRequest
		want []string
	}{
		{"all", &csi.ListSnapshotsRequest{}, []string{snap.GetSnapshotId(), s2.GetSnapshot().GetSnapshotId()}},
		{"by id", &csi.ListSnapshotsRequest{SnapshotId: snap.GetSnapshotId()}, []string{snap.GetSnapshotId()}},
		{"by missing id", &csi.ListSnapshotsRequest{SnapshotId: "snap-x"}, nil},
		{"by source", &csi.ListSnapshotsRequest{SourceVolumeId: v2.GetVolumeId()}, []string{s2.GetSnapshot().GetSnapshotId()}},
		{"by missing source", &csi.ListSnapshotsRequest{SourceVolumeId: "disk-x"}, nil},
		{"id and other source", &csi.ListSnapshotsRequest{SnapshotId: snap.GetSnapshotId(), SourceVolumeId: v2.GetVolumeId()}, nil},
		{"page", &csi.ListSnapshotsRequest{MaxEntries: 1}, []string{snap.GetSnapshotId()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.cs.ListSnapshots(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, en := range r.GetEntries() {
				got = append(got, en.GetSnapshot().GetSnapshotId())
			}
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	p, _ := e.cs.ListSnapshots(ctx, &csi.ListSnapshotsRequest{MaxEntries: 1})
	rest, err := e.cs.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: p.GetNextToken()})
	if err != nil || len(rest.GetEntries()) != 1 || rest.GetEntries()[0].GetSnapshot().GetSnapshotId() != s2.GetSnapshot().GetSnapshotId() {
		t.Errorf("second page: %v %v", rest, err)
	}
	_, err = e.cs.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "bogus"})
	wantCode(t, err, codes.Aborted)

	for range 2 {
		if _, err := e.cs.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId()}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.cs.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{})
	wantCode(t, err, codes.InvalidArgument)
}

func TestVolumeHealth(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	v := e.mustCreate(t, "v", 1)
	bad := e.cloud.AddDisk(iaasclient.Disk{SizeGiB: 1, State: iaasclient.DiskError})
	h, err := e.cs.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{VolumeId: v.GetVolumeId()})
	if err != nil || len(h.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Errorf("healthy volume: %v %v", h, err)
	}
	h, err = e.cs.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{VolumeId: bad.DiskID})
	if err != nil || h.GetVolumeHealth().GetHealthStatuses()[0].GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE {
		t.Errorf("failed disk: %v %v", h, err)
	}
	_, err = e.cs.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{})
	wantCode(t, err, codes.InvalidArgument)
	l, err := e.cs.ControllerListVolumeHealth(ctx, &csi.ControllerListVolumeHealthRequest{})
	if err != nil || len(l.GetEntries()) != 2 {
		t.Errorf("list: %v %v", l, err)
	}
}
