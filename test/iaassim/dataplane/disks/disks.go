// Package disks is the disk data plane of the simulated IaaS: a disk is a sparse file
// <DataDir>/disks/<disk-id>.img, a snapshot a copy under <DataDir>/snapshots/. Attach
// binds the file to a loop device and names it /dev/disk/by-id/iaas-<disk-id> where the
// instance sees devices: for "static" and "netns" instances (which share the host's
// mount namespace) that is the host's /dev, as a relative symlink to ../../loopN (what
// udev would make; there is no udev here to fight over it).
//
// The data plane keeps no state of its own: the loop device of a disk is found again
// by its backing file (`losetup -j`), so after a restart of the simulator a re-Attach is
// a no-op and a Detach still finds its device.
package disks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

// Config of the disk data plane.
type Config struct {
	// DataDir holds disks/ and snapshots/.
	DataDir string
	// DevDir is the host's device directory, "/dev" unless a test says otherwise.
	DevDir string
	// ContainerPID finds the host PID of a running "docker" instance (0 when it does
	// not run); nil means docker instances are not supported.
	ContainerPID func(ctx context.Context, key string) (int, error)
	// ProcDir is /proc unless a test says otherwise.
	ProcDir string
}

// Manager implements dataplane.Disks.
type Manager struct {
	cfg Config
	mu  sync.Mutex // one operation at a time: they are short and touch shared loop state
}

var _ dataplane.Disks = (*Manager)(nil)

// New creates the data directories.
func New(cfg Config) (*Manager, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("disks: a data directory is required")
	}
	if cfg.DevDir == "" {
		cfg.DevDir = "/dev"
	}
	if cfg.ProcDir == "" {
		cfg.ProcDir = "/proc"
	}
	for _, d := range []string{"disks", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("disks: %w", err)
		}
	}
	return &Manager{cfg: cfg}, nil
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func checkID(kind, id string) error {
	if !safeID.MatchString(id) {
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "%s id %q is not a safe file name", kind, id)
	}
	return nil
}

// DiskPath is the backing file of a disk.
func (m *Manager) DiskPath(id string) string {
	return filepath.Join(m.cfg.DataDir, "disks", id+".img")
}

func (m *Manager) snapPath(id string) string {
	return filepath.Join(m.cfg.DataDir, "snapshots", id+".img")
}

// DevicePath is where an attached disk appears: <DevDir>/disk/by-id/iaas-<id>.
func (m *Manager) DevicePath(id string) string {
	return filepath.Join(m.cfg.DevDir, "disk", "by-id", "iaas-"+id)
}

// Create makes an empty sparse disk, or a copy of a snapshot or disk grown to sizeBytes.
// An existing disk of the requested size is success (a retried task).
func (m *Manager) Create(ctx context.Context, diskID string, sizeBytes int64, fromSnapshotID, fromDiskID string) error {
	if err := checkID("disk", diskID); err != nil {
		return err
	}
	if sizeBytes <= 0 {
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "size %d must be positive", sizeBytes)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.DiskPath(diskID)
	if st, err := os.Stat(p); err == nil {
		if st.Size() >= sizeBytes {
			return nil
		}
		return iaasclient.Errorf(iaasclient.CodeResourceInUse, "disk %s exists with %d bytes", diskID, st.Size())
	}
	tmp := p + ".creating"
	os.Remove(tmp) // a previous attempt that died half-way
	src := ""
	switch {
	case fromSnapshotID != "":
		if err := checkID("snapshot", fromSnapshotID); err != nil {
			return err
		}
		src = m.snapPath(fromSnapshotID)
	case fromDiskID != "":
		if err := checkID("disk", fromDiskID); err != nil {
			return err
		}
		src = m.DiskPath(fromDiskID)
		if dev, _ := findLoop(ctx, src); dev != "" {
			_ = flush(dev)
		}
	}
	if src != "" {
		st, err := os.Stat(src)
		if err != nil {
			return iaasclient.Errorf(iaasclient.CodeResourceNotFound, "source of disk %s: %v", diskID, err)
		}
		if st.Size() > sizeBytes {
			return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "size %d is smaller than the source's %d", sizeBytes, st.Size())
		}
		how, err := copyFile(tmp, src)
		if err != nil {
			return fmt.Errorf("disks: copy %s: %w", src, err)
		}
		klog.V(2).InfoS("Copied disk source", "disk", diskID, "source", src, "how", how)
	} else {
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("disks: %w", err)
		}
		f.Close()
	}
	if err := os.Truncate(tmp, sizeBytes); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("disks: size: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("disks: %w", err)
	}
	klog.InfoS("Created disk", "disk", diskID, "bytes", sizeBytes, "snapshot", fromSnapshotID, "sourceDisk", fromDiskID)
	return nil
}

// Delete removes a detached disk; a missing disk is already deleted.
func (m *Manager) Delete(ctx context.Context, diskID string) error {
	if err := checkID("disk", diskID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.DiskPath(diskID)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	dev, err := findLoop(ctx, p)
	if err != nil {
		return err
	}
	if dev != "" {
		return iaasclient.Errorf(iaasclient.CodeResourceInUse, "disk %s is attached as %s", diskID, dev)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("disks: %w", err)
	}
	klog.InfoS("Deleted disk", "disk", diskID)
	return nil
}

// Resize grows the file and, when attached, the loop device (`losetup -c`), so the
// instance sees the new size at once.
func (m *Manager) Resize(ctx context.Context, diskID string, sizeBytes int64) error {
	if err := checkID("disk", diskID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.DiskPath(diskID)
	st, err := os.Stat(p)
	if err != nil {
		return iaasclient.Errorf(iaasclient.CodeResourceNotFound, "disk %s: %v", diskID, err)
	}
	if sizeBytes < st.Size() {
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "disk %s: cannot shrink from %d to %d bytes", diskID, st.Size(), sizeBytes)
	}
	if sizeBytes > st.Size() {
		if err := os.Truncate(p, sizeBytes); err != nil {
			return fmt.Errorf("disks: %w", err)
		}
	}
	dev, err := findLoop(ctx, p)
	if err != nil {
		return err
	}
	if dev != "" {
		if _, err := losetup(ctx, "-c", dev); err != nil {
			return err
		}
	}
	klog.InfoS("Resized disk", "disk", diskID, "bytes", sizeBytes, "device", dev)
	return nil
}

// Attach binds the disk to a loop device and makes it appear in the instance as
// /dev/disk/by-id/iaas-<id>. Attaching an attached disk again (after a restart) repairs
// the name and changes nothing else.
func (m *Manager) Attach(ctx context.Context, diskID string, inst dataplane.InstanceRef) error {
	if err := checkID("disk", diskID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	where, err := m.placeOf(ctx, inst)
	if err != nil {
		return err
	}
	if where.stopped {
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "instance %s does not run", inst.InstanceID)
	}
	p := m.DiskPath(diskID)
	if _, err := os.Stat(p); err != nil {
		return iaasclient.Errorf(iaasclient.CodeResourceNotFound, "disk %s: %v", diskID, err)
	}
	dev, err := ensureLoop(ctx, p)
	if err != nil {
		return err
	}
	name := filepath.Join(where.devDir, "disk", "by-id", "iaas-"+diskID)
	if err := where.expose(name, dev); err != nil {
		return fmt.Errorf("disks: expose %s as %s: %w", dev, name, err)
	}
	klog.InfoS("Attached disk", "disk", diskID, "instance", inst.InstanceID, "backend", inst.Backend, "device", dev, "name", name)
	return nil
}

// Detach removes the name and the loop device. A device that is still mounted or held
// is an error (ResourceInUse): the data plane never pulls a disk from under a file
// system. A detached disk is success.
func (m *Manager) Detach(ctx context.Context, diskID string, inst dataplane.InstanceRef) error {
	if err := checkID("disk", diskID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	where, err := m.placeOf(ctx, inst)
	if err != nil {
		return err
	}
	p := m.DiskPath(diskID)
	dev := ""
	if _, err := os.Stat(p); err == nil {
		if dev, err = findLoop(ctx, p); err != nil {
			return err
		}
	}
	if dev != "" && where.stopped {
		// A restart of the simulator between the stop and its PowerOff, or a disk
		// attached before this was done at stop: the dead machine holds nothing.
		if err := releaseFromDisk(ctx, diskID, dev); err != nil {
			return err
		}
	}
	if dev != "" {
		if err := busy(dev); err != nil {
			return iaasclient.Errorf(iaasclient.CodeResourceInUse, "disk %s: %v", diskID, err)
		}
	}
	// A stopped container's /dev went with it; there is no name to remove.
	if !where.stopped {
		name := filepath.Join(where.devDir, "disk", "by-id", "iaas-"+diskID)
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disks: %w", err)
		}
	}
	if dev != "" {
		if _, err := losetup(ctx, "-d", dev); err != nil {
			return err
		}
		if err := waitReleased(ctx, p, dev); err != nil {
			return err
		}
	}
	klog.InfoS("Detached disk", "disk", diskID, "instance", inst.InstanceID, "device", dev)
	return nil
}

// CreateSnapshot copies the disk (reflink where possible, else sparse-aware). An
// attached disk is flushed first; the copy is crash-consistent, as a cloud's is.
func (m *Manager) CreateSnapshot(ctx context.Context, diskID, snapshotID string) error {
	if err := checkID("disk", diskID); err != nil {
		return err
	}
	if err := checkID("snapshot", snapshotID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dst := m.snapPath(snapshotID)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	src := m.DiskPath(diskID)
	if _, err := os.Stat(src); err != nil {
		return iaasclient.Errorf(iaasclient.CodeResourceNotFound, "disk %s: %v", diskID, err)
	}
	if dev, _ := findLoop(ctx, src); dev != "" {
		if err := flush(dev); err != nil {
			return fmt.Errorf("disks: flush %s: %w", dev, err)
		}
	}
	tmp := dst + ".creating"
	os.Remove(tmp)
	how, err := copyFile(tmp, src)
	if err != nil {
		return fmt.Errorf("disks: snapshot %s: %w", snapshotID, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("disks: %w", err)
	}
	klog.InfoS("Created snapshot", "snapshot", snapshotID, "disk", diskID, "how", how)
	return nil
}

// DeleteSnapshot removes the copy; a missing one is already deleted.
func (m *Manager) DeleteSnapshot(ctx context.Context, snapshotID string) error {
	if err := checkID("snapshot", snapshotID); err != nil {
		return err
	}
	if err := os.Remove(m.snapPath(snapshotID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("disks: %w", err)
	}
	return nil
}
