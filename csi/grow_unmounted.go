package csi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/klog/v2"
	"k8s.io/utils/exec"
)

// GrowUnmounted grows an ext filesystem on an unmounted device to the device's size:
// `e2fsck -f -p`, then `resize2fs`, as resize2fs wants for an offline resize. Growing
// before the mount is what a disk restored or cloned into a bigger volume, or grown while
// detached, needs; a mounted ext4 can only grow through EXT4_IOC_RESIZE_FS, which needs
// CAP_SYS_RESOURCE (some VMs withhold it from every process). It does nothing, and runs
// no check, when the device holds no ext filesystem or the filesystem already fills it.
func (m *realMounter) GrowUnmounted(device string) (bool, error) {
	format, err := m.GetDiskFormat(device)
	if err != nil {
		return false, fmt.Errorf("reading the format of %s: %w", device, err)
	}
	if format != "ext4" && format != "ext3" && format != "ext2" {
		return false, nil
	}
	out, err := m.Exec.Command("dumpe2fs", "-h", device).Output()
	if err != nil {
		return false, fmt.Errorf("dumpe2fs -h %s: %w", device, err)
	}
	fsBytes, err := extFsBytes(out)
	if err != nil {
		return false, fmt.Errorf("dumpe2fs -h %s: %w", device, err)
	}
	devBytes, err := fileSize(device)
	if err != nil {
		return false, fmt.Errorf("reading the size of %s: %w", device, err)
	}
	if devBytes <= fsBytes {
		return false, nil
	}
	// -p repairs what is safe to repair without asking; exit status 1 means it did.
	if out, err := m.Exec.Command("e2fsck", "-f", "-p", device).CombinedOutput(); err != nil && exitStatus(err) != 1 {
		return false, fmt.Errorf("e2fsck -f -p %s: %w: %s", device, err, strings.TrimSpace(string(out)))
	}
	if out, err := m.Exec.Command("resize2fs", device).CombinedOutput(); err != nil {
		return false, fmt.Errorf("resize2fs %s: %w: %s", device, err, strings.TrimSpace(string(out)))
	}
	klog.InfoS("Grew the filesystem before mounting", "device", device, "fromBytes", fsBytes, "toBytes", devBytes)
	return true, nil
}

// extFsBytes is the size of an ext filesystem from the header dumpe2fs -h prints
// ("Block count:" times "Block size:").
func extFsBytes(dumpe2fs []byte) (int64, error) {
	var count, size int64 = -1, -1
	s := bufio.NewScanner(bytes.NewReader(dumpe2fs))
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch strings.TrimSpace(k) {
		case "Block count":
			if err != nil {
				return 0, fmt.Errorf("block count %q: %w", v, err)
			}
			count = n
		case "Block size":
			if err != nil {
				return 0, fmt.Errorf("block size %q: %w", v, err)
			}
			size = n
		}
	}
	if count < 0 || size <= 0 {
		return 0, errors.New("no block count and block size in the output")
	}
	return count * size, nil
}

func exitStatus(err error) int {
	var ee exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus()
	}
	return -1
}
