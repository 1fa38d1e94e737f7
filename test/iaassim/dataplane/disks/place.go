package disks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

// place is where an instance sees its devices and how a name is made there.
type place struct {
	devDir  string
	stopped bool // a container that does not run: no /dev to write to
	// expose makes name refer to the loop device dev.
	expose func(name, dev string) error
}

// placeOf: "static" and "netns" instances share the host's mount namespace, so the
// name is a relative symlink in the host's /dev, as udev makes them. A "docker"
// instance has its own /dev (a tmpfs made at container start); the simulator reaches
// it through /proc/<pid>/root without entering the container, and makes a device node
// there with the loop device's major:minor (the kind node container is privileged, so
// its device cgroup lets it open the node).
func (m *Manager) placeOf(ctx context.Context, inst dataplane.InstanceRef) (place, error) {
	switch inst.Backend {
	case "static", "netns", "":
		return place{devDir: m.cfg.DevDir, expose: symlink}, nil
	case "docker":
		if m.cfg.ContainerPID == nil {
			return place{}, errors.New("disks: docker instances need a container PID resolver")
		}
		pid, err := m.cfg.ContainerPID(ctx, inst.Key)
		if err != nil {
			return place{}, fmt.Errorf("disks: container of %s: %w", inst.InstanceID, err)
		}
		if pid == 0 {
			return place{stopped: true}, nil
		}
		return place{devDir: filepath.Join(m.cfg.ProcDir, strconv.Itoa(pid), "root", "dev"), expose: mknod}, nil
	default:
		return place{}, fmt.Errorf("disks: unknown instance backend %q", inst.Backend)
	}
}

// symlink points name at ../../<loopN>, replacing a stale link atomically.
func symlink(name, dev string) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	target := filepath.Join("..", "..", filepath.Base(dev))
	if cur, err := os.Readlink(name); err == nil && cur == target {
		return nil
	}
	tmp := name + ".new"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// mknod makes name a block device node with dev's major:minor, replacing a stale one
// atomically.
func mknod(name, dev string) error {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	var cur unix.Stat_t
	if err := unix.Lstat(name, &cur); err == nil && cur.Mode&unix.S_IFMT == unix.S_IFBLK && cur.Rdev == st.Rdev {
		return nil
	}
	tmp := name + ".new"
	os.Remove(tmp)
	if err := unix.Mknod(tmp, unix.S_IFBLK|0o660, int(st.Rdev)); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
