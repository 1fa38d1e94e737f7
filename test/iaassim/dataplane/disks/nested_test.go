package disks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/disks"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// loopOf is the loop device backed by file, or "".
func loopOf(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-n", "-O", "NAME", "-j", file).Output()
	if err != nil {
		t.Fatalf("losetup -j %s: %v", file, err)
	}
	return strings.TrimSpace(string(out))
}

// stack makes a loop device over the block device dev, as kubelet does for a raw block
// volume, and removes it at the end of the test whatever happened.
func stack(t *testing.T, dev string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-f", "--show", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -f %s: %v: %s", dev, err, out)
	}
	nested := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if bound(nested) {
			exec.Command("losetup", "-d", nested).Run()
		}
	})
	return nested
}

// bound reports whether the loop device has a backing file.
func bound(dev string) bool {
	_, err := os.Stat(filepath.Join("/sys/block", filepath.Base(dev), "loop"))
	return err == nil
}

func newStackedDisk(t *testing.T, m *disks.Manager, id string, inst dataplane.InstanceRef) (disk, nested, deeper string) {
	t.Helper()
	ctx := context.Background()
	if err := m.Create(ctx, id, 16*mib, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ctx, id, inst); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if dev := loopOf(t, m.DiskPath(id)); dev != "" {
			exec.Command("losetup", "-d", dev).Run()
		}
		os.Remove(m.DevicePath(id))
	})
	disk = loopOf(t, m.DiskPath(id))
	if disk == "" {
		t.Fatal("attached disk has no loop device")
	}
	nested = stack(t, disk)
	deeper = stack(t, nested)
	return disk, nested, deeper
}

// A machine's kernel stacks loop devices on its disks (kubelet, for raw block volumes).
// They are host kernel objects that outlive the container instance; PowerOff releases
// them, two levels deep, and leaves the disk attached; a Detach from a stopped instance
// does the same by itself, so the disk detaches instead of being held for ever.
func TestPowerOffReleasesStackedLoopDevices(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("losetup"); err != nil {
		testutil.SkipOrFail(t, "losetup is not installed")
	}
	ctx := context.Background()
	stopped := map[string]bool{}
	m, err := disks.New(disks.Config{
		DataDir: t.TempDir(),
		ContainerPID: func(_ context.Context, key string) (int, error) {
			if stopped[key] {
				return 0, nil
			}
			return os.Getpid(), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	running := dataplane.InstanceRef{InstanceID: "ins-test", Backend: "netns", Key: "kitest"}

	t.Run("PowerOff", func(t *testing.T) {
		id := fmt.Sprintf("disk-kinest%d-a", os.Getpid())
		disk, nested, deeper := newStackedDisk(t, m, id, running)
		if err := m.PowerOff(ctx, id); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{nested, deeper} {
			if bound(d) {
				t.Errorf("%s stacked on the disk is still bound after PowerOff", d)
			}
		}
		if got := loopOf(t, m.DiskPath(id)); got != disk {
			t.Fatalf("PowerOff changed the disk's own loop device: %q, want %q", got, disk)
		}
		if err := m.PowerOff(ctx, id); err != nil {
			t.Fatalf("PowerOff again: %v", err)
		}
		if err := m.Detach(ctx, id, running); err != nil {
			t.Fatalf("detach after PowerOff: %v", err)
		}
		if got := loopOf(t, m.DiskPath(id)); got != "" {
			t.Fatalf("disk still on %s after detach", got)
		}
		if err := m.PowerOff(ctx, id); err != nil {
			t.Fatalf("PowerOff of a detached disk: %v", err)
		}
	})

	t.Run("DetachFromStoppedInstance", func(t *testing.T) {
		id := fmt.Sprintf("disk-kinest%d-b", os.Getpid())
		_, nested, deeper := newStackedDisk(t, m, id, running)
		stopped["kind-worker"] = true
		dead := dataplane.InstanceRef{InstanceID: "ins-dead", Backend: "docker", Key: "kind-worker"}
		if err := m.Detach(ctx, id, dead); err != nil {
			t.Fatalf("detach from a stopped instance: %v", err)
		}
		for _, d := range []string{nested, deeper} {
			if bound(d) {
				t.Errorf("%s stacked on the disk is still bound", d)
			}
		}
		if got := loopOf(t, m.DiskPath(id)); got != "" {
			t.Fatalf("disk still on %s after detach", got)
		}
	})

	t.Run("DetachAll", func(t *testing.T) {
		ids := []string{fmt.Sprintf("disk-kinest%d-c", os.Getpid()), fmt.Sprintf("disk-kinest%d-d", os.Getpid())}
		var all []string
		for _, id := range ids {
			disk, nested, deeper := newStackedDisk(t, m, id, running)
			all = append(all, disk, nested, deeper)
		}
		// A deleted backing file (the disk went while its device was held) is still ours.
		if err := os.Remove(m.DiskPath(ids[1])); err != nil {
			t.Fatal(err)
		}
		detached, err := m.DetachAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(detached) != len(all) {
			t.Errorf("DetachAll detached %v, want the %d devices %v", detached, len(all), all)
		}
		for _, d := range all {
			if bound(d) {
				t.Errorf("%s is still bound after DetachAll", d)
			}
		}
		if _, err := os.Stat(m.DiskPath(ids[0])); err != nil {
			t.Fatalf("DetachAll must not delete disks: %v", err)
		}
		if again, err := m.DetachAll(ctx); err != nil || len(again) != 0 {
			t.Fatalf("DetachAll again: %v %v, want nothing to do", again, err)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		for _, id := range []string{"", "../etc/passwd", "disk/x", strings.Repeat("a", 200)} {
			if err := m.PowerOff(ctx, id); !errors.Is(err, iaasclient.ErrInvalidParameter) {
				t.Errorf("PowerOff(%q) = %v, want InvalidParameter", id, err)
			}
		}
		if err := m.PowerOff(ctx, "disk-missing"); err != nil {
			t.Errorf("PowerOff of a missing disk: %v, want nothing to do", err)
		}
		id := fmt.Sprintf("disk-kinest%d-e", os.Getpid())
		if err := m.Create(ctx, id, 16*mib, "", ""); err != nil {
			t.Fatal(err)
		}
		if err := m.PowerOff(ctx, id); err != nil {
			t.Errorf("PowerOff of a detached disk: %v", err)
		}
	})
}
