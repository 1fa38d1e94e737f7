package disks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// A machine's kernel can stack its own loop device on an attached disk: kubelet does so
// for every raw block volume (`losetup -f /dev/...` over the device, to pin it). In a
// real machine that device dies with the machine. Here the instance is a container and
// loop devices are host kernel objects: they outlive the container, nobody inside
// remembers them after a restart, and they hold the disk's own loop device open for
// ever, so the disk could never be detached again. Stopping or terminating an instance
// therefore takes with it the loop devices stacked on its disks, as power-off would.

// maxNesting bounds the walk over devices stacked on devices stacked on the disk.
const maxNesting = 4

// loopsOn returns the loop devices (/dev/loopN) whose backing file is the block device
// dev itself (the loop's lo_rdevice is dev's device number).
func loopsOn(dev string) ([]string, error) {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return nil, fmt.Errorf("disks: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil, fmt.Errorf("disks: %s is not a block device", dev)
	}
	entries, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil, fmt.Errorf("disks: %w", err)
	}
	var on []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "loop") || "/dev/"+name == dev {
			continue
		}
		// Only bound loop devices have a backing file; unbound ones are skipped cheaply.
		if _, err := os.Stat(filepath.Join("/sys/block", name, "loop")); err != nil {
			continue
		}
		info, err := loopStatus("/dev/" + name)
		if err != nil {
			// Unbound between the two looks, or no node in /dev: not stacked on dev.
			continue
		}
		if info.Rdevice == st.Rdev {
			on = append(on, "/dev/"+name)
		}
	}
	return on, nil
}

func loopStatus(dev string) (*unix.LoopInfo64, error) {
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return unix.IoctlLoopGetStatus64(fd)
}

// releaseStacked detaches every loop device stacked on dev, deepest first. A stacked
// device that someone still holds open is only marked auto-clear by `losetup -d` and
// goes when closed; the caller's waitReleased decides whether dev itself is free.
func releaseStacked(ctx context.Context, dev string, depth int) ([]string, error) {
	if depth >= maxNesting {
		return nil, fmt.Errorf("disks: loop devices nested more than %d deep on %s", maxNesting, dev)
	}
	on, err := loopsOn(dev)
	if err != nil {
		return nil, err
	}
	var released []string
	for _, d := range on {
		deeper, err := releaseStacked(ctx, d, depth+1)
		released = append(released, deeper...)
		if err != nil {
			return released, err
		}
		if _, err := losetup(ctx, "-d", d); err != nil {
			if _, serr := loopStatus(d); errors.Is(serr, unix.ENXIO) {
				continue // unbound since we looked: what we wanted
			}
			return released, err
		}
		released = append(released, d)
	}
	return released, nil
}

// PowerOff releases what the instance's kernel had stacked on the disk (see above). The
// control plane calls it for every disk of an instance it stopped or is terminating; a
// disk that is not attached has nothing to release.
func (m *Manager) PowerOff(ctx context.Context, diskID string) error {
	if err := checkID("disk", diskID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.DiskPath(diskID)
	if _, err := os.Stat(p); err != nil {
		return nil
	}
	dev, err := findLoop(ctx, p)
	if err != nil || dev == "" {
		return err
	}
	return releaseFromDisk(ctx, diskID, dev)
}

// releaseFromDisk releases what is stacked on dev, the loop device of diskID.
func releaseFromDisk(ctx context.Context, diskID, dev string) error {
	released, err := releaseStacked(ctx, dev, 0)
	if len(released) > 0 {
		klog.InfoS("Released loop devices the stopped instance had stacked on its disk", "disk", diskID, "device", dev, "released", released)
	}
	return err
}

// DetachAll detaches the loop device of every disk of this data directory, deleted
// files included, and what is stacked on them. It is for after the simulator stopped
// for good (down.sh): the disks are then no instance's any more.
func (m *Manager) DetachAll(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out, err := losetup(ctx, "-n", "-l", "-O", "NAME,BACK-FILE")
	if err != nil {
		return nil, err
	}
	prefix := filepath.Join(m.cfg.DataDir, "disks") + "/"
	var detached []string
	var errs []error
	for _, line := range strings.Split(out, "\n") {
		name, file, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(strings.TrimSpace(file), prefix) {
			continue
		}
		released, err := releaseStacked(ctx, name, 0)
		detached = append(detached, released...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := losetup(ctx, "-d", name); err != nil {
			errs = append(errs, err)
			continue
		}
		detached = append(detached, name)
	}
	return detached, errors.Join(errs...)
}
