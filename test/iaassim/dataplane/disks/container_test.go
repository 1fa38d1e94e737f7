package disks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/disks"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// fakeContainer starts a process with its own mount namespace and a private tmpfs on
// /dev, as a container has, and returns its PID.
func fakeContainer(t *testing.T) int {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		testutil.SkipOrFail(t, "unshare (util-linux) is not installed")
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /dev && exec sleep 300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // the process this test started
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		// unshare execs sh, which execs sleep once the tmpfs is mounted: same PID.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && string(b) == "sleep\n" {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("fake container did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A disk attached to a "docker" instance appears as a device node in the container's
// own /dev (reached through /proc/<pid>/root), not in the host's; it follows a resize,
// and detach removes it.
func TestDiskInContainer(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	pid := fakeContainer(t)
	running := true
	m, err := disks.New(disks.Config{DataDir: t.TempDir(), ContainerPID: func(_ context.Context, key string) (int, error) {
		if key != "c1" {
			return 0, iaasclient.Errorf(iaasclient.CodeResourceNotFound, "no container %s", key)
		}
		if !running {
			return 0, nil
		}
		return pid, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("disk-kitest%d-c", os.Getpid())
	inst := dataplane.InstanceRef{InstanceID: "ins-c1", Backend: "docker", Key: "c1"}
	t.Cleanup(func() {
		running = true
		if err := m.Detach(ctx, id, inst); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := m.Create(ctx, id, 32*mib, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ctx, id, inst); err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ctx, id, inst); err != nil {
		t.Fatalf("attach again: %v", err)
	}
	inside := filepath.Join("/proc", strconv.Itoa(pid), "root", "dev", "disk", "by-id", "iaas-"+id)
	var st unix.Stat_t
	if err := unix.Lstat(inside, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		t.Fatalf("%s is not a block device node: %v", inside, err)
	}
	if _, err := os.Lstat(m.DevicePath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the disk of a container instance appeared in the host's /dev too")
	}
	if got := sizeOf(t, inside); got != 32*mib {
		t.Fatalf("size %d", got)
	}
	if err := m.Resize(ctx, id, 48*mib); err != nil {
		t.Fatal(err)
	}
	if got := sizeOf(t, inside); got != 48*mib {
		t.Fatalf("size after resize %d", got)
	}
	// A stopped container cannot take a disk.
	running = false
	if err := m.Attach(ctx, id, inst); err == nil {
		t.Fatal("attached to a stopped container")
	}
	running = true
	if err := m.Detach(ctx, id, inst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(inside); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("node left in the container after detach: %v", err)
	}
	if err := m.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
}
