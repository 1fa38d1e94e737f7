package csi

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	mount "k8s.io/mount-utils"
)

// A mount table as this kind of host writes it: "/" (254:0) is listed after "/dev"
// (devtmpfs 0:6), so a path-containment search for /dev/loop0 from the end settles on
// "/" and finds no bind mount of the device (issue 14). The loop devices are 7:0 and 7:1.
const mountInfoRootAfterDev = `23 26 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334808k,mode=755
24 23 0:22 / /dev/shm rw,relatime - tmpfs tmpfs rw
21 26 0:20 / /proc rw,relatime - proc proc rw
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 26 0:30 / /srv/nfs rw,relatime - nfs4 server:/export rw
44 26 0:6 /loop0 /var/lib/kubelet/pods/a/publish rw,relatime - devtmpfs devtmpfs rw
45 26 0:6 /loop1 /var/lib/kubelet/pods/b/publish rw,relatime - devtmpfs devtmpfs rw
46 26 0:6 /loop0 /var/lib/kubelet/pods/c/my\040target rw,relatime - devtmpfs devtmpfs rw
47 26 0:22 /sub /var/lib/kubelet/pods/d/dir rw,relatime - tmpfs tmpfs rw
48 26 7:0 / /var/lib/kubelet/staging rw,relatime - ext4 /dev/loop0 rw
49 26 7:0 / /var/lib/kubelet/pods/e/mount rw,relatime - ext4 /dev/loop0 rw
50 26 7:0 /data /var/lib/kubelet/pods/e/subpath rw,relatime - ext4 /dev/loop0 rw
51 26 7:1 / /var/lib/kubelet/other-staging rw,relatime - ext4 /dev/loop1 rw
`

func TestDeviceMountsRootListedAfterDev(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(file, []byte(mountInfoRootAfterDev), 0o600); err != nil {
		t.Fatal(err)
	}
	infos, err := mount.ParseMountInfo(file)
	if err != nil {
		t.Fatal(err)
	}
	loop0, loop1 := unix.Mkdev(7, 0), unix.Mkdev(7, 1)
	// What stat says at each bind-mounted path: device nodes for the raw-block
	// publications, a directory (not a device) elsewhere.
	nodes := map[string]uint64{
		"/var/lib/kubelet/pods/a/publish":   loop0,
		"/var/lib/kubelet/pods/b/publish":   loop1,
		"/var/lib/kubelet/pods/c/my target": loop0,
	}
	var statted []string
	rdevAt := func(p string) (uint64, bool) {
		statted = append(statted, p)
		r, ok := nodes[p]
		return r, ok
	}

	got := deviceMounts(infos, loop0, rdevAt)
	want := []string{
		"/var/lib/kubelet/pods/a/publish",
		"/var/lib/kubelet/pods/c/my target",
		"/var/lib/kubelet/staging",
		"/var/lib/kubelet/pods/e/mount",
		"/var/lib/kubelet/pods/e/subpath",
	}
	if !slices.Equal(got, want) {
		t.Errorf("mounts of 7:0 = %q, want %q", got, want)
	}
	// Only bind mounts of a file or subtree are statted: never "/", "/dev" or the
	// NFS mount, which could hang.
	for _, p := range statted {
		if p == "/" || p == "/dev" || p == "/srv/nfs" || p == "/proc" {
			t.Errorf("statted %s, which has root /", p)
		}
	}

	got = deviceMounts(infos, loop1, rdevAt)
	want = []string{"/var/lib/kubelet/pods/b/publish", "/var/lib/kubelet/other-staging"}
	if !slices.Equal(got, want) {
		t.Errorf("mounts of 7:1 = %q, want %q", got, want)
	}
	if got := deviceMounts(infos, unix.Mkdev(7, 2), rdevAt); len(got) != 0 {
		t.Errorf("mounts of an unused device = %q", got)
	}
}

func TestUnescapeMountInfo(t *testing.T) {
	for in, want := range map[string]string{
		`/plain/path`:       "/plain/path",
		`/a\040b`:           "/a b",
		`/tab\011nl\012`:    "/tab\tnl\n",
		`/back\134slash`:    `/back\slash`,
		`/short\04`:         `/short\04`,
		`/not\999octal`:     `/not\999octal`,
		`\040`:              " ",
		`/end\`:             `/end\`,
		`/two\040\040space`: "/two  space",
	} {
		if got := unescapeMountInfo(in); got != want {
			t.Errorf("unescapeMountInfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// The single-writer check of a raw-block volume finds the publication by the device
// (FakeMounter side of DeviceMounts); after unpublish the device may be published again.
func TestNodePublishBlockSingleWriter(t *testing.T) {
	ctx := context.Background()
	e := newNodeEnv(t)
	e.attach(t, "disk-1")
	sw := blockCap()
	sw.AccessMode.Mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
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
	// Another disk is not in the way.
	e.attach(t, "disk-2")
	if err := e.publish("disk-2", filepath.Join(e.root, "pods", "disk-2"), sw, false); err != nil {
		t.Errorf("publishing another disk: %v", err)
	}
	if _, err := e.ns.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "disk-1", TargetPath: e.target}); err != nil {
		t.Fatal(err)
	}
	if err := e.publish("disk-1", other, sw, false); err != nil {
		t.Errorf("publish after the first publication went: %v", err)
	}
}
