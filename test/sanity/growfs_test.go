package sanity

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/csi"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// TestGrowUnmountedExt4 runs the real e2fsck and resize2fs of the node plugin's
// GrowUnmounted on an ext4 image file that was made smaller than its file and then
// grown, as a disk restored from a snapshot into a bigger volume is (the upstream
// storage suite's "restoring snapshot to larger size pvc" found that such a volume kept
// its source's size where ext4 cannot grow online, without CAP_SYS_RESOURCE). A second
// call finds nothing to do; a file with no filesystem is left alone.
func TestGrowUnmountedExt4(t *testing.T) {
	testutil.Heavy(t)
	for _, tool := range []string{"mkfs.ext4", "dumpe2fs", "e2fsck", "resize2fs", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed")
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
		return string(out)
	}
	blocks := func() int64 {
		t.Helper()
		for _, l := range strings.Split(run("dumpe2fs", "-h", img), "\n") {
			if v, ok := strings.CutPrefix(l, "Block count:"); ok {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatal("no block count")
		return 0
	}
	run("truncate", "-s", "64M", img)
	run("mkfs.ext4", "-q", "-F", "-b", "4096", img)
	before := blocks()
	run("truncate", "-s", "128M", img)

	m := csi.NewMounter()
	grown, err := m.GrowUnmounted(img)
	if err != nil || !grown {
		t.Fatalf("GrowUnmounted = %t, %v; want true", grown, err)
	}
	if after := blocks(); after != 2*before {
		t.Errorf("block count %d -> %d, want %d", before, after, 2*before)
	}
	run("e2fsck", "-f", "-n", img)
	if grown, err := m.GrowUnmounted(img); err != nil || grown {
		t.Errorf("second GrowUnmounted = %t, %v; want false, nil", grown, err)
	}

	empty := filepath.Join(dir, "empty.img")
	run("truncate", "-s", "16M", empty)
	if grown, err := m.GrowUnmounted(empty); err != nil || grown {
		t.Errorf("GrowUnmounted of a file without a filesystem = %t, %v; want false, nil", grown, err)
	}
}
