package csi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// DeviceFinder finds the block device of an attached disk on this machine.
type DeviceFinder interface {
	// Wait returns the device path of diskID once it exists, or an error when ctx ends
	// first. hint is the device path from the publish context ("" = derive it).
	Wait(ctx context.Context, diskID, hint string) (string, error)
	// Present returns the device path of diskID and whether it exists now.
	Present(diskID string) (string, bool)
}

// devicePollInterval is how often Wait looks for a device: udev (or the simulator)
// creates the link within milliseconds of the attach task ending.
const devicePollInterval = 100 * time.Millisecond

// ByIDFinder finds an attached disk under /dev/disk/by-id (Dir overrides it) by its
// serial, which is the disk id on both backends: iaas-<disk-id> is the link the
// simulator's disk data plane makes, virtio-<disk-id> the one udev makes for a CBS
// disk on a Tencent Cloud CVM (virtio-blk exposes the disk id as the serial).
type ByIDFinder struct{ Dir string }

// devicePrefixes are the by-id name prefixes tried, in order.
var devicePrefixes = []string{filepath.Base(DevicePathPrefix), "virtio-"}

func (f ByIDFinder) paths(diskID string) []string {
	dir := f.Dir
	if dir == "" {
		dir = filepath.Dir(DevicePathPrefix)
	}
	out := make([]string, 0, len(devicePrefixes))
	for _, p := range devicePrefixes {
		out = append(out, filepath.Join(dir, p+diskID))
	}
	return out
}

// resolve follows the by-id link, so mounts name the real device (/dev/loop3) the
// way /proc/mounts does and comparisons with it work.
func resolve(p string) (string, bool) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", false
	}
	if _, err := os.Stat(real); err != nil {
		return "", false
	}
	return real, true
}

func resolveAny(paths []string) (string, bool) {
	for _, p := range paths {
		if dev, ok := resolve(p); ok {
			return dev, true
		}
	}
	return "", false
}

func (f ByIDFinder) Present(diskID string) (string, bool) { return resolveAny(f.paths(diskID)) }

func (f ByIDFinder) Wait(ctx context.Context, diskID, hint string) (string, error) {
	paths := f.paths(diskID)
	// Only a hint in the same directory is used: the publish context is data from the
	// controller, and the node never mounts a path it would not derive itself.
	if hint != "" && filepath.Dir(hint) == filepath.Dir(paths[0]) && strings.HasSuffix(hint, diskID) {
		paths = append([]string{hint}, paths...)
	}
	return waitFor(ctx, diskID, func() (string, bool) { return resolveAny(paths) })
}

func waitFor(ctx context.Context, diskID string, probe func() (string, bool)) (string, error) {
	t := time.NewTicker(devicePollInterval)
	defer t.Stop()
	for {
		if dev, ok := probe(); ok {
			return dev, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the device of disk %s did not appear: %w (%w)", diskID, iaasclient.ErrNotFound, ctx.Err())
		case <-t.C:
		}
	}
}

// IaaSFinder stands in for device discovery on machines where attached disks do not
// show up as devices (the simulator without its disk data plane, --fake-mounter): a disk
// the IaaS reports attached to this node "appears" as an empty file under Dir.
type IaaSFinder struct {
	Cloud  Cloud
	NodeID func(ctx context.Context) (string, error)
	Dir    string
}

func (f IaaSFinder) attached(ctx context.Context, diskID string) (string, bool) {
	node, err := f.NodeID(ctx)
	if err != nil {
		return "", false
	}
	d, err := f.Cloud.GetDisk(ctx, diskID)
	if err != nil || d.InstanceID != node || d.State != iaasclient.DiskAttached {
		return "", false
	}
	p := filepath.Join(f.Dir, filepath.Base(DevicePathPrefix)+diskID)
	if err := os.MkdirAll(f.Dir, 0o750); err != nil {
		return "", false
	}
	fh, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", false
	}
	fh.Close()
	return p, true
}

func (f IaaSFinder) Present(diskID string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.attached(ctx, diskID)
}

func (f IaaSFinder) Wait(ctx context.Context, diskID, _ string) (string, error) {
	return waitFor(ctx, diskID, func() (string, bool) { return f.attached(ctx, diskID) })
}
