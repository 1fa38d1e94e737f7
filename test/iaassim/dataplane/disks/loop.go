package disks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// losetup runs util-linux losetup: it handles the LOOP_CTL_GET_FREE/LOOP_SET_FD race
// with other loop users on the host and finds devices by backing file (by inode) after a
// restart of the simulator, which is all the state attachments need.
func losetup(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "losetup", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("losetup %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// findLoop returns the loop device backed by file, or "".
func findLoop(ctx context.Context, file string) (string, error) {
	out, err := losetup(ctx, "-n", "-O", "NAME", "-j", file)
	if err != nil {
		return "", err
	}
	if out == "" {
		return "", nil
	}
	return strings.Fields(out)[0], nil
}

// ensureLoop returns the loop device of file, making one when there is none.
func ensureLoop(ctx context.Context, file string) (string, error) {
	if dev, err := findLoop(ctx, file); err != nil || dev != "" {
		return dev, err
	}
	return losetup(ctx, "-f", "--show", file)
}

// busy reports why dev cannot be detached: mounted or held by another exclusive user
// (a file system, device mapper) makes O_EXCL open fail with EBUSY.
func busy(dev string) error {
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%s is in use (mounted or held)", dev)
	}
	if err != nil {
		return err
	}
	unix.Close(fd)
	if hs, _ := os.ReadDir(filepath.Join("/sys/block", filepath.Base(dev), "holders")); len(hs) > 0 {
		return fmt.Errorf("%s is held by %s", dev, hs[0].Name())
	}
	return nil
}

// waitReleased waits for the kernel to let go of a detached loop device. `losetup -d`
// on a device that someone still has open only marks it auto-clear and returns at once
// (blkid-style scanners open devices briefly); the disk is detached only when the file
// has no loop device left. Still held after a few seconds is an error (ResourceInUse),
// never a silent success.
func waitReleased(ctx context.Context, file, dev string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		cur, err := findLoop(ctx, file)
		if err != nil {
			return err
		}
		if cur == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return iaasclient.Errorf(iaasclient.CodeResourceInUse, "%s is still held open; it detaches when closed", dev)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// flush writes the loop device's cached blocks to its backing file (before a snapshot).
func flush(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
