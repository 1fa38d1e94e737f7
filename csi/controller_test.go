package csi

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

func TestCreateVolumeValidation(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		req   *csi.CreateVolumeRequest
		code  codes.Code
		param string // must appear in the message
	}{
		{"no name", &csi.CreateVolumeRequest{VolumeCapabilities: []*csi.VolumeCapability{rwo}}, codes.InvalidArgument, "name"},
		{"no capabilities", &csi.CreateVolumeRequest{Name: "v"}, codes.InvalidArgument, "volume_capabilities"},
		{"multi-node", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, "")}}, codes.InvalidArgument, "access mode"},
		{"bad fs in capability", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "ntfs")}}, codes.InvalidArgument, "ntfs"},
		{"unknown type", createReq("v", 1, map[string]string{"type": "FLOPPY"}), codes.InvalidArgument, `"type"`},
		{"bad fsType", createReq("v", 1, map[string]string{"fsType": "btrfs"}), codes.InvalidArgument, `"fsType"`},
		{"bad encrypted", createReq("v", 1, map[string]string{"encrypted": "maybe"}), codes.InvalidArgument, `"encrypted"`},
		{"bad tags", createReq("v", 1, map[string]string{"tags": "a=1,b"}), codes.InvalidArgument, `"tags"`},
		{"reserved tag", createReq("v", 1, map[string]string{"tags": "csi.kube-iaas.io/volume-name=x"}), codes.InvalidArgument, `"tags"`},
		{"empty zone", createReq("v", 1, map[string]string{"zone": " "}), codes.InvalidArgument, `"zone"`},
		{"unknown parameter", createReq("v", 1, map[string]string{"tpye": "CLOUD_SSD"}), codes.InvalidArgument, `"tpye"`},
		{"limit below required", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{rwo}, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib, LimitBytes: gib}}, codes.InvalidArgument, "capacity_range"},
		{"no step fits", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{rwo}, CapacityRange: &csi.CapacityRange{RequiredBytes: gib + 1, LimitBytes: gib + 2}}, codes.OutOfRange, "capacity_range"},
		{"over max", createReq("v", 40000, nil), codes.OutOfRange, "maximum"},
		{"zone outside topology", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{rwo}, Parameters: map[string]string{"zone": "zone-b"},
			AccessibilityRequirements: &csi.TopologyRequirement{Requisite: []*csi.Topology{{Segments: map[string]string{TopologyKey: testZone}}}}}, codes.ResourceExhausted, `"zone"`},
		{"missing snapshot source", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{rwo},
			VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "snap-nope"}}}}, codes.NotFound, "snap-nope"},
		{"missing volume source", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{rwo},
			VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: "disk-nope"}}}}, codes.NotFound, "disk-nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			_, err := e.cs.CreateVolume(ctx, tc.req)
			wantCode(t, err, tc.code)
			if !strings.Contains(status.Convert(err).Message(), tc.param) {
				t.Errorf("message %q does not name %q", status.Convert(err).Message(), tc.param)
			}
			if n := e.cloud.Calls(iaasclient.ActionCreateDisk); n != 0 {
				t.Errorf("CreateDisk called %d times for an invalid request", n)
			}
		})
	}
}

func TestCreateVolumeParameters(t *testing.T) {
	e := newTestEnv(t, fake.WithZones(testZone, "zone-b"))
	req := createReq("pvc-1", 3, map[string]string{
		"type": "cloud_premium", "fsType": "xfs", "zone": "zone-b", "tags": "team=storage, env=test", "encrypted": "true",
		"csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/pvc/namespace": "db", "csi.storage.k8s.io/pv/name": "pvc-1",
		"csi.storage.k8s.io/provisioner-secret-name": "ignored",
	})
	resp, err := e.cs.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	v := resp.GetVolume()
	d, _ := e.cloud.Disk(v.GetVolumeId())
	if d.Type != iaasclient.DiskTypePremium || d.Zone != "zone-b" || !d.Encrypted || d.SizeGiB != 3 {
		t.Errorf("disk = %+v", d)
	}
	for k, want := range map[string]string{
		tagVolumeName: "pvc-1", "team": "storage", "env": "test",
		tagPVCName: "data", tagPVCNamespace: "db", tagPVName: "pvc-1",
	} {
		if d.Tags[k] != want {
			t.Errorf("tag %s = %q, want %q", k, d.Tags[k], want)
		}
	}
	if v.GetVolumeContext()[volumeContextFsType] != "xfs" {
		t.Errorf("volume context = %v", v.GetVolumeContext())
	}
	if got := v.GetAccessibleTopology()[0].GetSegments()[TopologyKey]; got != "zone-b" {
		t.Errorf("topology = %v", got)
	}
	if v.GetCapacityBytes() != 3*gib {
		t.Errorf("capacity = %d", v.GetCapacityBytes())
	}
}

func TestCreateVolumeSizeAndZone(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rng      *csi.CapacityRange
		topo     *csi.TopologyRequirement
		wantGiB  int
		wantZone string
	}{
		{"rounds up bytes", &csi.CapacityRange{RequiredBytes: gib + 1}, nil, 2, testZone},
		{"default size", nil, nil, defaultVolumeGiB, testZone},
		{"only a limit", &csi.CapacityRange{LimitBytes: 4 * gib}, nil, 4, testZone},
		{"exact", &csi.CapacityRange{RequiredBytes: 5 * gib, LimitBytes: 5 * gib}, nil, 5, testZone},
		{"preferred wins", &csi.CapacityRange{RequiredBytes: gib}, &csi.TopologyRequirement{
			Requisite: []*csi.Topology{{Segments: map[string]string{TopologyKey: "zone-b"}}, {Segments: map[string]string{TopologyKey: "zone-c"}}},
			Preferred: []*csi.Topology{{Segments: map[string]string{TopologyKey: "zone-c"}}},
		}, 1, "zone-c"},
		{"first requisite", &csi.CapacityRange{RequiredBytes: gib}, &csi.TopologyRequirement{
			Requisite: []*csi.Topology{{Segments: map[string]string{TopologyKey: "zone-b"}}},
		}, 1, "zone-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			resp, err := e.cs.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
				Name: "v", CapacityRange: tc.rng, VolumeCapabilities: []*csi.VolumeCapability{rwo}, AccessibilityRequirements: tc.topo,
			})
			if err != nil {
				t.Fatal(err)
			}
			d, _ := e.cloud.Disk(resp.GetVolume().GetVolumeId())
			if d.SizeGiB != tc.wantGiB || d.Zone != tc.wantZone {
				t.Errorf("disk size %d zone %s, want %d %s", d.SizeGiB, d.Zone, tc.wantGiB, tc.wantZone)
			}
		})
	}
}

func TestCreateVolumeIdempotent(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	v1 := e.mustCreate(t, "pvc-a", 10)
	v2 := e.mustCreate(t, "pvc-a", 10)
	if v1.GetVolumeId() != v2.GetVolumeId() {
		t.Fatalf("same name gave two volumes: %s, %s", v1.GetVolumeId(), v2.GetVolumeId())
	}
	if n := e.cloud.Calls(iaasclient.ActionCreateDisk); n != 1 {
		t.Errorf("CreateDisk called %d times, want 1", n)
	}

	for _, tc := range []struct {
		name string
		req  *csi.CreateVolumeRequest
	}{
		{"bigger", createReq("pvc-a", 20, nil)},
		{"other type", createReq("pvc-a", 10, map[string]string{"type": "CLOUD_BASIC"})},
		{"encrypted", createReq("pvc-a", 10, map[string]string{"encrypted": "true"})},
		{"other zone", createReq("pvc-a", 10, map[string]string{"zone": "zone-b"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.cs.CreateVolume(ctx, tc.req)
			wantCode(t, err, codes.AlreadyExists)
		})
	}
}

// A controller that crashed after the IaaS accepted the create (so the disk exists but
// the retry may not see the tag yet) gets the same disk back through the client token.
func TestCreateVolumeClientTokenReplay(t *testing.T) {
	e := newTestEnv(t)
	req := createReq("pvc-t", 1, nil)
	v1, err := e.cs.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// Drop the name tag as if the tag write were lost: only the token can dedupe now.
	d, _ := e.cloud.Disk(v1.GetVolume().GetVolumeId())
	if _, err := e.cloud.ModifyDisk(context.Background(), &iaasclient.ModifyDiskRequest{DiskID: d.DiskID, Tags: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	v2, err := e.cs.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if v1.GetVolume().GetVolumeId() != v2.GetVolume().GetVolumeId() {
		t.Errorf("replay made a second disk: %s then %s", v1.GetVolume().GetVolumeId(), v2.GetVolume().GetVolumeId())
	}
}

// A name reused after its disk was deleted replays to a gone disk; the driver must
// create a new one instead of failing forever.
func TestCreateVolumeAfterDeleteSameName(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	v1 := e.mustCreate(t, "sanity", 1)
	if _, err := e.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v1.GetVolumeId()}); err != nil {
		t.Fatal(err)
	}
	v2 := e.mustCreate(t, "sanity", 1)
	if v2.GetVolumeId() == v1.GetVolumeId() {
		t.Fatalf("got the deleted volume back")
	}
	if _, ok := e.cloud.Disk(v2.GetVolumeId()); !ok {
		t.Fatalf("new volume %s does not exist", v2.GetVolumeId())
	}
}

func TestCreateVolumeFromSources(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	src := e.mustCreate(t, "src", 5)
	snap, err := e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s1", SourceVolumeId: src.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	fromSnap, err := e.cs.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "from-snap", VolumeCapabilities: []*csi.VolumeCapability{rwo},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fromSnap.GetVolume().GetCapacityBytes() != 5*gib || fromSnap.GetVolume().GetContentSource().GetSnapshot().GetSnapshotId() != snap.GetSnapshot().GetSnapshotId() {
		t.Errorf("from snapshot: %v", fromSnap.GetVolume())
	}
	_, err = e.cs.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "clone-small", VolumeCapabilities: []*csi.VolumeCapability{rwo}, CapacityRange: &csi.CapacityRange{RequiredBytes: gib, LimitBytes: 2 * gib},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}}},
	})
	wantCode(t, err, codes.OutOfRange)
	clone, err := e.cs.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "clone", VolumeCapabilities: []*csi.VolumeCapability{rwo}, CapacityRange: &csi.CapacityRange{RequiredBytes: 8 * gib},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := e.cloud.Disk(clone.GetVolume().GetVolumeId()); d.SourceDiskID != src.GetVolumeId() || d.SizeGiB != 8 {
		t.Errorf("clone disk = %+v", d)
	}
	// The source snapshot is deleted after the volume was made: a retried CreateVolume
	// still answers with the volume.
	if _, err := e.cs.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId()}); err != nil {
		t.Fatal(err)
	}
	again, err := e.cs.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "from-snap", VolumeCapabilities: []*csi.VolumeCapability{rwo},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}},
	})
	if err != nil || again.GetVolume().GetVolumeId() != fromSnap.GetVolume().GetVolumeId() {
		t.Errorf("retry after the source was deleted: %v, %v", again, err)
	}
	// Same name, other source: AlreadyExists.
	_, err = e.cs.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "clone", VolumeCapabilities: []*csi.VolumeCapability{rwo}, CapacityRange: &csi.CapacityRange{RequiredBytes: 8 * gib},
	})
	wantCode(t, err, codes.AlreadyExists)
}

func TestDeleteVolume(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	_, err := e.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument)
	if _, err := e.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "disk-missing"}); err != nil {
		t.Errorf("missing volume: %v", err)
	}
	if _, err := e.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "not even an id"}); err != nil {
		t.Errorf("malformed id: %v", err)
	}
	v := e.mustCreate(t, "v", 1)
	e.mustPublish(t, v.GetVolumeId(), e.node)
	_, err = e.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId()})
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: e.node}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := e.cloud.Disk(v.GetVolumeId()); ok {
		t.Error("disk still exists")
	}
}

func TestListVolumesPaging(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	var ids []string
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		ids = append(ids, e.mustCreate(t, n, 1).GetVolumeId())
	}
	e.mustPublish(t, ids[1], e.node)

	_, err := e.cs.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: "invalid-token"})
	wantCode(t, err, codes.Aborted)
	_, err = e.cs.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: -1})
	wantCode(t, err, codes.InvalidArgument)

	p1, err := e.cs.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.GetEntries()) != 2 || p1.GetNextToken() == "" {
		t.Fatalf("page 1: %d entries, token %q", len(p1.GetEntries()), p1.GetNextToken())
	}
	if got := p1.GetEntries()[1].GetStatus().GetPublishedNodeIds(); len(got) != 1 || got[0] != e.node {
		t.Errorf("published nodes of %s = %v", ids[1], got)
	}
	// The last listed volume disappears between pages: the token still works.
	if _, err := e.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: p1.GetEntries()[0].GetVolume().GetVolumeId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: ids[1], NodeId: e.node}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: ids[1]}); err != nil {
		t.Fatal(err)
	}
	p2, err := e.cs.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: p1.GetNextToken()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range p2.GetEntries() {
		got = append(got, en.GetVolume().GetVolumeId())
	}
	if strings.Join(got, ",") != strings.Join(ids[2:], ",") || p2.GetNextToken() != "" {
		t.Errorf("page 2 = %v (token %q), want %v", got, p2.GetNextToken(), ids[2:])
	}
}

func TestControllerGetVolumeAndValidate(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	_, err := e.cs.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: "disk-x"})
	wantCode(t, err, codes.NotFound)
	v := e.mustCreate(t, "v", 2)
	e.mustPublish(t, v.GetVolumeId(), e.node)
	g, err := e.cs.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: v.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	if g.GetVolume().GetCapacityBytes() != 2*gib || g.GetStatus().GetPublishedNodeIds()[0] != e.node {
		t.Errorf("get = %v", g)
	}

	_, err = e.cs.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: "disk-x", VolumeCapabilities: []*csi.VolumeCapability{rwo}})
	wantCode(t, err, codes.NotFound)
	_, err = e.cs.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: v.GetVolumeId()})
	wantCode(t, err, codes.InvalidArgument)
	ok, err := e.cs.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: v.GetVolumeId(), VolumeCapabilities: []*csi.VolumeCapability{rwo, blockCap()}})
	if err != nil || ok.GetConfirmed() == nil {
		t.Errorf("supported capabilities not confirmed: %v %v", ok, err)
	}
	no, err := e.cs.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: v.GetVolumeId(),
		VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, "")}})
	if err != nil || no.GetConfirmed() != nil || no.GetMessage() == "" {
		t.Errorf("multi-node confirmed: %v %v", no, err)
	}
}

func TestControllerExpandVolume(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	_, err := e.cs.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: "disk-x", CapacityRange: &csi.CapacityRange{RequiredBytes: gib}})
	wantCode(t, err, codes.NotFound)
	v := e.mustCreate(t, "v", 2)
	_, err = e.cs.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: v.GetVolumeId()})
	wantCode(t, err, codes.InvalidArgument)

	e.mustPublish(t, v.GetVolumeId(), e.node) // online expansion
	r, err := e.cs.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: v.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 3*gib + 5}, VolumeCapability: rwo})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetCapacityBytes() != 4*gib || !r.GetNodeExpansionRequired() {
		t.Errorf("expand = %v", r)
	}
	if d, _ := e.cloud.Disk(v.GetVolumeId()); d.SizeGiB != 4 {
		t.Errorf("disk size %d", d.SizeGiB)
	}
	// Smaller than now: no call, current size.
	before := e.cloud.Calls(iaasclient.ActionResizeDisk)
	r, err = e.cs.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: v.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: gib}, VolumeCapability: blockCap()})
	if err != nil || r.GetCapacityBytes() != 4*gib || r.GetNodeExpansionRequired() {
		t.Errorf("shrink = %v, %v", r, err)
	}
	if e.cloud.Calls(iaasclient.ActionResizeDisk) != before {
		t.Error("resize called for a smaller size")
	}
}

func TestGetCapacity(t *testing.T) {
	e := newTestEnv(t, fake.WithQuota("diskGiB", 100))
	e.mustCreate(t, "v", 30)
	r, err := e.cs.GetCapacity(context.Background(), &csi.GetCapacityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetAvailableCapacity() != 70*gib || r.GetMaximumVolumeSize().GetValue() != 70*gib || r.GetMinimumVolumeSize().GetValue() != gib {
		t.Errorf("capacity = %v", r)
	}
	_, err = e.cs.GetCapacity(context.Background(), &csi.GetCapacityRequest{Parameters: map[string]string{"type": "x"}})
	wantCode(t, err, codes.InvalidArgument)
}

func TestControllerCapabilitiesAreKnown(t *testing.T) {
	e := newTestEnv(t)
	r, _ := e.cs.ControllerGetCapabilities(context.Background(), nil)
	if len(r.GetCapabilities()) != len(controllerCapabilities) {
		t.Fatalf("capabilities %v", r)
	}
}
