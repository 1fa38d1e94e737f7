package disks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/disks"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

const mib = 1 << 20

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

func sizeOf(t *testing.T, dev string) int64 {
	t.Helper()
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafePointer(&n))); e != 0 {
		t.Fatal(e)
	}
	return int64(n)
}

// A disk attached to a host/netns instance is a real block device of its size: mkfs,
// mount, write, detach (refused while mounted), attach again, data intact; resize while
// attached is visible at once; a snapshot and a disk made from it hold the same data.
func TestDiskLifecycle(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed")
		}
	}
	ctx := context.Background()
	m, err := disks.New(disks.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("disk-kitest%d-a", os.Getpid())
	clone := fmt.Sprintf("disk-kitest%d-b", os.Getpid())
	snap := fmt.Sprintf("snap-kitest%d-a", os.Getpid())
	inst := dataplane.InstanceRef{InstanceID: "ins-test", Backend: "netns", Key: "kitest"}
	mnt := t.TempDir()
	t.Cleanup(func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		for _, d := range []string{id, clone} {
			if err := m.Detach(ctx, d, inst); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})

	if err := m.Create(ctx, id, 64*mib, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Create(ctx, id, 64*mib, "", ""); err != nil {
		t.Fatalf("create again: %v", err)
	}
	if err := m.Attach(ctx, id, inst); err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ctx, id, inst); err != nil {
		t.Fatalf("attach again: %v", err)
	}
	dev := m.DevicePath(id)
	if dev != "/dev/disk/by-id/iaas-"+id {
		t.Fatalf("device path %s", dev)
	}
	st, err := os.Stat(dev)
	if err != nil || st.Mode()&os.ModeDevice == 0 {
		t.Fatalf("%s is not a block device: %v %v", dev, st, err)
	}
	if got := sizeOf(t, dev); got != 64*mib {
		t.Fatalf("device size %d, want %d", got, 64*mib)
	}
	run(t, "mkfs.ext4", "-q", "-F", dev)
	run(t, "mount", dev, mnt)
	if err := os.WriteFile(filepath.Join(mnt, "data"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Detach(ctx, id, inst); !errors.Is(err, iaasclient.ErrInUse) {
		t.Fatalf("detach of a mounted disk: %v, want ResourceInUse", err)
	}
	if err := m.Delete(ctx, id); !errors.Is(err, iaasclient.ErrInUse) {
		t.Fatalf("delete of an attached disk: %v, want ResourceInUse", err)
	}
	run(t, "umount", mnt)
	if err := m.Detach(ctx, id, inst); err != nil {
		t.Fatal(err)
	}
	if err := m.Detach(ctx, id, inst); err != nil {
		t.Fatalf("detach again: %v", err)
	}
	if _, err := os.Lstat(dev); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still exists after detach", dev)
	}
	if out, _ := exec.Command("losetup", "-j", m.DiskPath(id)).Output(); len(out) != 0 {
		t.Fatalf("loop device left: %s", out)
	}

	if err := m.Attach(ctx, id, inst); err != nil {
		t.Fatal(err)
	}
	if err := m.Resize(ctx, id, 128*mib); err != nil {
		t.Fatal(err)
	}
	if got := sizeOf(t, dev); got != 128*mib {
		t.Fatalf("size after resize %d, want %d", got, 128*mib)
	}
	if err := m.Resize(ctx, id, 64*mib); !errors.Is(err, iaasclient.ErrInvalidParameter) {
		t.Fatalf("shrink: %v", err)
	}
	run(t, "mount", dev, mnt)
	if b, err := os.ReadFile(filepath.Join(mnt, "data")); err != nil || string(b) != "kept" {
		t.Fatalf("data after re-attach: %q %v", b, err)
	}
	run(t, "umount", mnt)

	if err := m.CreateSnapshot(ctx, id, snap); err != nil {
		t.Fatal(err)
	}
	if err := m.Create(ctx, clone, 256*mib, snap, ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ctx, clone, inst); err != nil {
		t.Fatal(err)
	}
	if got := sizeOf(t, m.DevicePath(clone)); got != 256*mib {
		t.Fatalf("clone size %d", got)
	}
	run(t, "mount", "-o", "ro,noload", m.DevicePath(clone), mnt)
	if b, err := os.ReadFile(filepath.Join(mnt, "data")); err != nil || string(b) != "kept" {
		t.Fatalf("data in the disk made from the snapshot: %q %v", b, err)
	}
	run(t, "umount", mnt)
	var fs unix.Stat_t
	if err := unix.Stat(m.DiskPath(clone), &fs); err != nil || fs.Blocks*512 >= 64*mib {
		t.Fatalf("clone is not sparse: %d bytes allocated (%v)", fs.Blocks*512, err)
	}
	for _, d := range []string{id, clone} {
		if err := m.Detach(ctx, d, inst); err != nil {
			t.Fatal(err)
		}
		if err := m.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.DeleteSnapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
}
