package csi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"
)

// mountInfoPath is the mount table of the driver's mount namespace.
const mountInfoPath = "/proc/self/mountinfo"

// DeviceMounts lists every mount point through which the block device is reachable: the
// mounts of a filesystem on it and the bind mounts of the device node itself (raw-block
// publications), found by device number.
//
// Why not mount-utils' GetMountRefs(device): it finds the mount that contains the
// device's *path* and then that mount's other references. A bind mount of a device node
// (`mount --bind /dev/loop3 /target`) is listed in mountinfo under the filesystem that
// holds the node (devtmpfs, 0:6, root /loop3), and on hosts where "/" is listed after
// "/dev" the containment search settles on "/" and finds nothing, so a single-writer
// block volume could be published twice on one node (issue 14).
func (m *realMounter) DeviceMounts(device string) ([]string, error) {
	var st unix.Stat_t
	if err := unix.Stat(device, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", device, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil, fmt.Errorf("%s is not a block device", device)
	}
	infos, err := mount.ParseMountInfo(mountInfoPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", mountInfoPath, err)
	}
	return deviceMounts(infos, st.Rdev, blockDeviceAt), nil
}

// deviceMounts is DeviceMounts on a parsed mount table; rdevAt returns the device
// number of the block device node at a path (false: not a block device node).
func deviceMounts(infos []mount.MountInfo, rdev uint64, rdevAt func(path string) (uint64, bool)) []string {
	major, minor := int(unix.Major(rdev)), int(unix.Minor(rdev))
	var out []string
	for _, mi := range infos {
		mp := unescapeMountInfo(mi.MountPoint)
		switch {
		case mi.Major == major && mi.Minor == minor:
			// A filesystem on the device, or a bind mount of (part of) one: st_dev of its
			// files is the device.
			out = append(out, mp)
		case mi.Root != "/":
			// Only a bind mount of a file or subtree has a root other than "/", and a
			// device node is never a filesystem's root: this keeps the stat below off
			// the ordinary mounts (a hung network filesystem must not hang a publish).
			if r, ok := rdevAt(mp); ok && r == rdev {
				out = append(out, mp)
			}
		}
	}
	return out
}

// blockDeviceAt stats path without following a final link and without syncing with a
// remote server (AT_STATX_DONT_SYNC) and reports the device number of a block device.
func blockDeviceAt(path string) (uint64, bool) {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT|unix.AT_STATX_DONT_SYNC, unix.STATX_TYPE, &stx)
	if errors.Is(err, unix.ENOSYS) {
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
			return 0, false
		}
		return st.Rdev, true
	}
	if err != nil || uint32(stx.Mode)&unix.S_IFMT != unix.S_IFBLK {
		return 0, false
	}
	return unix.Mkdev(stx.Rdev_major, stx.Rdev_minor), true
}

// unescapeMountInfo undoes the kernel's octal escapes in mountinfo paths (\040 for a
// space, \011 tab, \012 newline, \134 backslash), which mount-utils leaves in place.
func unescapeMountInfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
