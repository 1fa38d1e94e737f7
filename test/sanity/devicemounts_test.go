package sanity

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kube-iaas/kube-iaas/csi"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// TestDeviceMountsRealLoop checks the driver's device-number lookup (issue 14) on this
// host's kernel and mount table: two bind mounts of a loop device onto files (how a
// raw-block volume is published), a filesystem on a second loop device mounted and
// bind-mounted (how a filesystem volume is staged and published), and each device
// lists exactly its own mounts.
func TestDeviceMountsRealLoop(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tool := range []string{"losetup", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed")
		}
	}
	dir := t.TempDir()
	blockDev, fsDev := loopDevice(t, dir, "block.img"), loopDevice(t, dir, "fs.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", fsDev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v\n%s", fsDev, err, out)
	}

	pubA, pubB := filepath.Join(dir, "pod-a", "dev"), filepath.Join(dir, "pod b", "dev")
	for _, p := range []string{pubA, pubB} {
		touch(t, p)
		bindMount(t, blockDev, p, "bind")
	}
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "pod-c", "mount")
	for _, p := range []string{staging, target} {
		if err := os.MkdirAll(p, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	bindMount(t, fsDev, staging, "")
	bindMount(t, staging, target, "bind")

	m := csi.NewMounter()
	got, err := m.DeviceMounts(blockDev)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{pubA, pubB}; !slices.Equal(got, want) {
		t.Errorf("DeviceMounts(%s) = %q, want %q", blockDev, got, want)
	}
	got, err = m.DeviceMounts(fsDev)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{staging, target}; !slices.Equal(got, want) {
		t.Errorf("DeviceMounts(%s) = %q, want %q", fsDev, got, want)
	}
	if _, err := m.DeviceMounts(filepath.Join(dir, "block.img")); err == nil {
		t.Errorf("DeviceMounts of a regular file: no error")
	}
	// For the record: what the path lookup the driver used before finds on this host.
	refs, err := m.GetMountRefs(blockDev)
	t.Logf("root listed after /dev on this host: %t; mount-utils GetMountRefs(%s) = %q, %v", rootAfterDev(t), blockDev, refs, err)
}

// loopDevice makes a 64 MiB sparse file and a loop device on it, detached at cleanup.
func loopDevice(t *testing.T, dir, name string) string {
	t.Helper()
	img := filepath.Join(dir, name)
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup %s: %v", img, err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if err := exec.Command("losetup", "-d", dev).Run(); err != nil {
			t.Errorf("losetup -d %s: %v", dev, err)
		}
	})
	return dev
}

func touch(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// bindMount mounts source at target (flag "bind" or "" for an ext4 mount) and
// registers a lazy unmount at cleanup, which runs before the loop devices are detached.
func bindMount(t *testing.T, source, target, flag string) {
	t.Helper()
	var err error
	if flag == "bind" {
		err = unix.Mount(source, target, "", unix.MS_BIND, "")
	} else {
		err = unix.Mount(source, target, "ext4", 0, "")
	}
	if err != nil {
		t.Fatalf("mount %s %s: %v", source, target, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
}

// rootAfterDev reports whether /proc/self/mountinfo lists "/" after "/dev".
func rootAfterDev(t *testing.T) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	dev, root := -1, -1
	for i, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		switch f[4] {
		case "/dev":
			dev = i
		case "/":
			root = i
		}
	}
	return dev >= 0 && root > dev
}
