// Package sanity runs csi-sanity against the real driver binary and the real iaas-sim
// over HTTP, with the simulator's loop-device disks: this host is the simulator's one
// instance (private IP 127.0.0.1), attached disks appear as /dev/disk/by-id/iaas-<id>,
// and the driver formats (ext4, the default) and mounts them for real. It needs root.
// ./xfs is the same run with fsType xfs; ./fakemounter runs without root; ./block and
// ./blockfake are the raw-block runs (-csi.testvolumeaccesstype=block) on real devices and
// with the fake mounter.
package sanity

import (
	"os/exec"
	"testing"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func TestSanityRealDevices(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tool := range []string{"losetup", "mkfs.ext4", "resize2fs", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed")
		}
	}
	env := harness.Start(t, harness.Options{SimArgs: harness.LoopDisks})
	harness.Run(t, env.SanityConfig())
	// mount-utils' SafeFormatAndMount and ResizeFs lines: mkfs and resize2fs really ran.
	env.RequireLog(t, "Disk successfully formatted (mkfs): ext4", "Expanded filesystem")
}
