package csi

import (
	"fmt"
	"io"
	"os"
	"sync"

	mount "k8s.io/mount-utils"
	"k8s.io/utils/exec"
)

// Mounter is everything the node service does to filesystems and mounts.
type Mounter interface {
	mount.Interface
	// FormatAndMount formats source with fstype when it holds no filesystem, then mounts.
	FormatAndMount(source, target, fstype string, options []string) error
	// NeedResize reports whether the filesystem on device (mounted at path) is smaller
	// than the device.
	NeedResize(device, path string) (bool, error)
	// Resize grows the filesystem on device, mounted at path, to the device's size.
	Resize(device, path string) (bool, error)
	// GrowUnmounted grows an ext filesystem on the unmounted device to the device's
	// size (grow_unmounted.go); false when there was nothing to grow.
	GrowUnmounted(device string) (bool, error)
	// DeviceSize is the size in bytes of a block device or file.
	DeviceSize(path string) (int64, error)
	// DeviceMounts lists the mount points that use device: mounts of a filesystem on
	// it and bind mounts of the device node (raw-block publications).
	DeviceMounts(device string) ([]string, error)
}

// NewMounter is the real mounter. Without systemd: a mount made by the node plugin must
// not depend on a transient systemd scope of a container that may restart.
func NewMounter() Mounter {
	e := exec.New()
	return &realMounter{
		SafeFormatAndMount: mount.NewSafeFormatAndMount(mount.NewWithoutSystemd(""), e),
		resizer:            mount.NewResizeFs(e),
	}
}

type realMounter struct {
	*mount.SafeFormatAndMount
	resizer *mount.ResizeFs
}

func (m *realMounter) NeedResize(device, path string) (bool, error) {
	return m.resizer.NeedResize(device, path)
}

func (m *realMounter) Resize(device, path string) (bool, error) {
	return m.resizer.Resize(device, path)
}

func (m *realMounter) DeviceSize(path string) (int64, error) { return fileSize(path) }

func fileSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// Seek works for block devices, where Stat reports size 0.
	return f.Seek(0, io.SeekEnd)
}

// FakeMounter keeps mounts in memory (mount-utils' FakeMounter) and pretends to format:
// it lets unit tests, and the driver on a machine without root (--fake-mounter), run
// the node service without touching the host.
type FakeMounter struct {
	*mount.FakeMounter
	mu      sync.Mutex
	formats map[string]string // device -> filesystem
	resized []string          // devices Resize was called for
	grown   []string          // devices GrowUnmounted was called for while unmounted
}

// NewFakeMounter returns an empty FakeMounter.
func NewFakeMounter() *FakeMounter {
	return &FakeMounter{FakeMounter: mount.NewFakeMounter(nil), formats: map[string]string{}}
}

func (f *FakeMounter) FormatAndMount(source, target, fstype string, options []string) error {
	if fstype == "" {
		fstype = defaultFsType
	}
	f.mu.Lock()
	have := f.formats[source]
	if have == "" {
		f.formats[source] = fstype
	}
	f.mu.Unlock()
	if have != "" && have != fstype {
		return fmt.Errorf("%s holds %s, not %s", source, have, fstype)
	}
	return f.Mount(source, target, fstype, options)
}

// Format returns the filesystem FormatAndMount put on device ("" = none).
func (f *FakeMounter) Format(device string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.formats[device]
}

func (f *FakeMounter) NeedResize(string, string) (bool, error) { return false, nil }

func (f *FakeMounter) Resize(device, _ string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resized = append(f.resized, device)
	return true, nil
}

// GrowUnmounted records device when nothing has it mounted (the real one must never
// run e2fsck and resize2fs on a mounted filesystem); it grows nothing.
func (f *FakeMounter) GrowUnmounted(device string) (bool, error) {
	mps, err := f.DeviceMounts(device)
	if err != nil {
		return false, err
	}
	if len(mps) > 0 {
		return false, fmt.Errorf("%s is mounted at %v", device, mps)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grown = append(f.grown, device)
	return false, nil
}

// Grown lists the devices GrowUnmounted was called for while unmounted.
func (f *FakeMounter) Grown() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.grown...)
}

// Resized lists the devices Resize was called for.
func (f *FakeMounter) Resized() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.resized...)
}

// DeviceMounts lists the recorded mounts of device. Like the kernel, FakeMounter records
// a bind mount of a mount point under the device of that mount point.
func (f *FakeMounter) DeviceMounts(device string) ([]string, error) {
	mps, err := f.List()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mp := range mps {
		if sameFile(mp.Device, device) {
			out = append(out, mp.Path)
		}
	}
	return out, nil
}

func (f *FakeMounter) DeviceSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
