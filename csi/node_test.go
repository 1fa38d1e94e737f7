package csi

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// nodeEnv is a node service over FakeMounter, with "devices" as plain files in a
// temporary by-id directory.
type nodeEnv struct {
	ns      *NodeServer
	m       *FakeMounter
	devDir  string
	root    string
	staging string
	target  string
}

func newNodeEnv(t *testing.T) *nodeEnv {
	t.Helper()
	root := t.TempDir()
	e := &nodeEnv{m: NewFakeMounter(), devDir: filepath.Join(root, "by-id"), root: root,
		staging: filepath.Join(root, "staging"), target: filepath.Join(root, "pods", "target")}
	if err := os.MkdirAll(e.devDir, 0o755); err != nil {
		t.Fatal(err)
	}
	who := func(context.Context) (*NodeIdentity, error) {
		return &NodeIdentity{NodeID: "ins-1", Zone: "zone-a", MaxVolumes: 16}, nil
	}
	e.ns = NewNodeServer(e.m, ByIDFinder{Dir: e.devDir}, who)
	e.ns.deviceWait = 300 * time.Millisecond
	return e
}

// attach makes the device of disk appear.
func (e *nodeEnv) attach(t *testing.T, disk string) string {
	t.Helper()
	p := filepath.Join(e.devDir, "iaas-"+disk)
	if err := os.WriteFile(p, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *nodeEnv) stage(disk string, vc *csi.VolumeCapability, volCtx map[string]string) error {
	_, err := e.ns.NodeStageVolume(context.Background(), &csi.NodeStageVolumeRequest{
		VolumeId: disk, StagingTargetPath: e.staging, VolumeCapability: vc, VolumeContext: volCtx,
	})
	return err
}

func (e *nodeEnv) publish(disk, target string, vc *csi.VolumeCapability, ro bool) error {
	_, err := e.ns.NodePublishVolume(context.Background(), &csi.NodePublishVolumeRequest{
		VolumeId: disk, StagingTargetPath: e.staging, TargetPath: target, VolumeCapability: vc, Readonly: ro,
	})
	return err
}

func (e *nodeEnv) mountAt(path string) (dev, fs string, opts []string, ok bool) {
	for _, mp := range e.m.MountPoints {
		if mp.Path == path {
			return mp.Device, mp.Type, mp.Opts, true
		}
	}
	return "", "", nil, false
}

func TestNodeGetInfoAndCapabilities(t *testing.T) {
	e := newNodeEnv(t)
	r, err := e.ns.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetNodeId() != "ins-1" || r.GetMaxVolumesPerNode() != 16 || r.GetAccessibleTopology().GetSegments()[TopologyKey] != "zone-a" {
		t.Errorf("info = %v", r)
	}
	c, _ := e.ns.NodeGetCapabilities(context.Background(), &csi.NodeGetCapabilitiesRequest{})
	if len(c.GetCapabilities()) != len(nodeCapabilities) {
		t.Errorf("capabilities = %v", c)
	}
}

func TestNodeStageValidation(t *testing.T) {
	e := newNodeEnv(t)
	for _, tc := range []struct {
		name string
		req  *csi.NodeStageVolumeRequest
		code codes.Code
	}{
		{"no volume", &csi.NodeStageVolumeRequest{StagingTargetPath: e.staging, VolumeCapability: rwo}, codes.InvalidArgument},
		{"no staging path", &csi.NodeStageVolumeRequest{VolumeId: "disk-1", VolumeCapability: rwo}, codes.InvalidArgument},
		{"no capability", &csi.NodeStageVolumeRequest{VolumeId: "disk-1", StagingTargetPath: e.staging}, codes.InvalidArgument},
		{"bad fs", &csi.NodeStageVolumeRequest{VolumeId: "disk-1", StagingTargetPath: e.staging, VolumeCapability: mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "vfat")}, codes.InvalidArgument},
		{"device never appears", &csi.NodeStageVolumeRequest{VolumeId: "disk-absent", StagingTargetPath: e.staging, VolumeCapability: rwo}, codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ns.NodeStageVolume(context.Background(), tc.req)
			wantCode(t, err, tc.code)
		})
	}
}

func TestNodeStageFormatsAndIsIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		vc       *csi.VolumeCapability
		volCtx   map[string]string
		wantFS   string
		wantOpts []string
	}{
		{"default ext4", rwo, nil, "ext4", nil},
		{"xfs from capability", mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "xfs"), nil, "xfs", []string{"nouuid"}},
		{"xfs from StorageClass", rwo, map[string]string{volumeContextFsType: "xfs"}, "xfs", []string{"nouuid"}},
		{"read-only mode", mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY, "ext4"), nil, "ext4", []string{"ro"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newNodeEnv(t)
			dev := e.attach(t, "disk-1")
			for range 2 {
				if err := e.stage("disk-1", tc.vc, tc.volCtx); err != nil {
					t.Fatal(err)
				}
			}
			got, fs, opts, ok := e.mountAt(e.staging)
			if !ok || got != dev || fs != tc.wantFS {
				t.Fatalf("staging mount = %s %s (mounted %t), want %s %s", got, fs, ok, dev, tc.wantFS)
			}
			for _, o := range tc.wantOpts {
				if !slices.Contains(opts, o) {
					t.Errorf("options %v lack %s", opts, o)
				}
			}
			if n := len(e.m.GetLog()); n != 1 {
				t.Errorf("%d mount actions for two stages, want 1", n)
			}
		})
	}
}

// An ext4 volume is grown before it is mounted (a restored or cloned disk bigger than its
// source; online ext4 growth needs CAP_SYS_RESOURCE): GrowUnmounted sees the device with
// nothing mounted. XFS grows only mounted, and a read-only stage changes nothing.
func TestNodeStageGrowsExt4BeforeMount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vc     *csi.VolumeCapability
		volCtx map[string]string
		grow   bool
	}{
		{"default ext4", rwo, nil, true},
		{"xfs", rwo, map[string]string{volumeContextFsType: "xfs"}, false},
		{"read-only ext4", mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY, "ext4"), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newNodeEnv(t)
			dev := e.attach(t, "disk-1")
			if err := e.stage("disk-1", tc.vc, tc.volCtx); err != nil {
				t.Fatal(err)
			}
			got := e.m.Grown()
			if tc.grow && !slices.Equal(got, []string{dev}) {
				t.Errorf("grown before mount: %v, want [%s]", got, dev)
			}
			if !tc.grow && len(got) != 0 {
				t.Errorf("grown before mount: %v, want none", got)
			}
			if _, _, _, ok := e.mountAt(e.staging); !ok {
				t.Error("not staged")
			}
		})
	}
}

func TestNodeStageRefusesOtherDevice(t *testing.T) {
	e := newNodeEnv(t)
	e.attach(t, "disk-1")
	e.attach(t, "disk-2")
	if err := e.stage("disk-1", rwo, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.stage("disk-2", rwo, nil), codes.FailedPrecondition)
}

func TestNodeStageBlockMountsNothing(t *testing.T) {
	e := newNodeEnv(t)
	e.attach(t, "disk-1")
	if err := e.stage("disk-1", blockCap(), nil); err != nil {
		t.Fatal(err)
	}
	if len(e.m.GetLog()) != 0 {
		t.Errorf("block stage mounted: %v", e.m.GetLog())
	}
}

func TestNodePublishUnpublishMount(t *testing.T) {
	ctx := context.Background()
	e := newNodeEnv(t)
	dev := e.attach(t, "disk-1")
	wantCode(t, e.publish("disk-1", e.target, rwo, false), codes.FailedPrecondition) // not staged
	if _, err := os.Stat(e.target); err == nil {
		t.Error("a failed publish left the target behind")
	}
	if err := e.stage("disk-1", rwo, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.publish("disk-1", e.target, rwo, true); err != nil {
			t.Fatal(err)
		}
	}
	got, _, opts, ok := e.mountAt(e.target)
	if !ok || got != dev || !slices.Contains(opts, "bind") || !slices.Contains(opts, "ro") {
		t.Fatalf("target mount = %s %v %t", got, opts, ok)
	}
	// SINGLE_NODE_WRITER may be published twice on one node (two pods, one claim).
	second := filepath.Join(e.root, "pods", "second")
	if err := e.publish("disk-1", second, rwo, false); err != nil {
		t.Fatalf("second target: %v", err)
	}
	for _, tgt := range []string{e.target, second} {
		for range 2 {
			if _, err := e.ns.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "disk-1", TargetPath: tgt}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := os.Stat(tgt); !os.IsNotExist(err) {
			t.Errorf("target %s still exists: %v", tgt, err)
		}
		if _, _, _, ok := e.mountAt(tgt); ok {
			t.Errorf("%s still mounted", tgt)
		}
	}
	for range 2 {
		if _, err := e.ns.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "disk-1", StagingTargetPath: e.staging}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, ok := e.mountAt(e.staging); ok {
		t.Error("staging still mounted")
	}
	if _, err := e.ns.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "disk-1", StagingTargetPath: filepath.Join(e.root, "never")}); err != nil {
		t.Errorf("unstage of a missing path: %v", err)
	}
}

func TestNodePublishSingleWriter(t *testing.T) {
	e := newNodeEnv(t)
	e.attach(t, "disk-1")
	sw := mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER, "")
	if err := e.stage("disk-1", sw, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.publish("disk-1", e.target, sw, false); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(e.root, "pods", "other_target")
	wantCode(t, e.publish("disk-1", other, sw, false), codes.FailedPrecondition)
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("refused publish created %s", other)
	}
	if err := e.publish("disk-1", e.target, sw, false); err != nil {
		t.Errorf("republish at the same target: %v", err)
	}
}

func TestNodePublishBlock(t *testing.T) {
	ctx := context.Background()
	e := newNodeEnv(t)
	dev := e.attach(t, "disk-1")
	if err := e.stage("disk-1", blockCap(), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.publish("disk-1", e.target, blockCap(), false); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(e.target)
	if err != nil || fi.IsDir() {
		t.Fatalf("block target must be a file: %v %v", fi, err)
	}
	if got, _, _, ok := e.mountAt(e.target); !ok || got != dev {
		t.Errorf("block target mount = %s %t", got, ok)
	}
	st, err := e.ns.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "disk-1", VolumePath: e.target})
	if err != nil || len(st.GetUsage()) != 1 || st.GetUsage()[0].GetUnit() != csi.VolumeUsage_BYTES {
		t.Errorf("block stats = %v %v", st, err)
	}
	if _, err := e.ns.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "disk-1", TargetPath: e.target}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.target); !os.IsNotExist(err) {
		t.Errorf("block target still exists")
	}
}

func TestNodeGetVolumeStats(t *testing.T) {
	ctx := context.Background()
	e := newNodeEnv(t)
	e.attach(t, "disk-1")
	for _, tc := range []struct {
		name string
		req  *csi.NodeGetVolumeStatsRequest
		code codes.Code
	}{
		{"no volume", &csi.NodeGetVolumeStatsRequest{VolumePath: e.target}, codes.InvalidArgument},
		{"no path", &csi.NodeGetVolumeStatsRequest{VolumeId: "disk-1"}, codes.InvalidArgument},
		{"missing path", &csi.NodeGetVolumeStatsRequest{VolumeId: "disk-1", VolumePath: "some/path"}, codes.NotFound},
		{"not mounted", &csi.NodeGetVolumeStatsRequest{VolumeId: "disk-1", VolumePath: e.root}, codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ns.NodeGetVolumeStats(ctx, tc.req)
			wantCode(t, err, tc.code)
		})
	}
	if err := e.stage("disk-1", rwo, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.publish("disk-1", e.target, rwo, false); err != nil {
		t.Fatal(err)
	}
	st, err := e.ns.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "disk-1", VolumePath: e.target})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetUsage()) != 2 || st.GetUsage()[0].GetTotal() <= 0 || st.GetUsage()[1].GetUnit() != csi.VolumeUsage_INODES {
		t.Errorf("stats = %v", st)
	}
}

func TestNodeExpandVolume(t *testing.T) {
	ctx := context.Background()
	e := newNodeEnv(t)
	dev := e.attach(t, "disk-1")
	_, err := e.ns.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: "disk-x", VolumePath: "some/path"})
	wantCode(t, err, codes.NotFound)
	_, err = e.ns.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: "disk-1"})
	wantCode(t, err, codes.InvalidArgument)
	if err := e.stage("disk-1", rwo, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.publish("disk-1", e.target, rwo, false); err != nil {
		t.Fatal(err)
	}
	// Another disk's id at this path: refused, nothing resized.
	e.attach(t, "disk-2")
	_, err = e.ns.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: "disk-2", VolumePath: e.target})
	wantCode(t, err, codes.NotFound)
	r, err := e.ns.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: "disk-1", VolumePath: e.target})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetCapacityBytes() != 4096 || !slices.Equal(e.m.Resized(), []string{dev}) {
		t.Errorf("expand = %v, resized %v", r, e.m.Resized())
	}
}

func TestNodeVolumeHealth(t *testing.T) {
	ctx := context.Background()
	e := newNodeEnv(t)
	dev := e.attach(t, "disk-1")
	if err := e.stage("disk-1", rwo, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.publish("disk-1", e.target, rwo, false); err != nil {
		t.Fatal(err)
	}
	health := func(req *csi.NodeGetVolumeHealthRequest) []*csi.VolumeHealth_VolumeHealthEntry {
		t.Helper()
		r, err := e.ns.NodeGetVolumeHealth(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.GetVolumeHealth().GetHealthStatuses()
	}
	if h := health(&csi.NodeGetVolumeHealthRequest{VolumeId: "disk-1", VolumePublishPath: e.target, StagingTargetPath: e.staging}); len(h) != 0 {
		t.Errorf("healthy volume reported %v", h)
	}
	// Unmounted behind the driver's back.
	if err := e.m.Unmount(e.target); err != nil {
		t.Fatal(err)
	}
	if h := health(&csi.NodeGetVolumeHealthRequest{VolumeId: "disk-1", VolumePublishPath: e.target}); len(h) != 1 || h[0].GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE {
		t.Errorf("unmounted target: %v", h)
	}
	// The device vanished (detached under the pod).
	if err := os.Remove(dev); err != nil {
		t.Fatal(err)
	}
	if h := health(&csi.NodeGetVolumeHealthRequest{VolumeId: "disk-1"}); len(h) != 1 {
		t.Errorf("gone device: %v", h)
	}
	_, err := e.ns.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{})
	wantCode(t, err, codes.InvalidArgument)
}
