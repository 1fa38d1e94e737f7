// Package tencentcloud runs csi-sanity against the real driver binary on its
// tencentcloud backend (the official SDK, TC3-signed CBS, tag service and CVM metadata
// calls) pointed at the simulator's Tencent Cloud API 3.0 front-end, with the
// simulator's loop-device disks: the same run as ../ (the sim backend), so the two
// counts compare one to one. Device discovery: the simulator links an attached disk
// as /dev/disk/by-id/iaas-<disk-id>; on a real CVM udev names a CBS disk
// /dev/disk/by-id/virtio-<disk-id>; the driver looks for both. It needs root.
package tencentcloud

import (
	"os/exec"
	"testing"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func TestSanityTencentCloud(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tool := range []string{"losetup", "mkfs.ext4", "resize2fs", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed")
		}
	}
	env := harness.Start(t, harness.Options{SimArgs: harness.LoopDisks, TencentCloud: true})
	harness.Run(t, env.SanityConfig())
	env.RequireLog(t, "Disk successfully formatted (mkfs): ext4", "Expanded filesystem")
	// Every disk call went through the Tencent front-end: the simulator counted CBS
	// actions, and the driver's metrics name CBS actions (not the native ones).
	env.RequireSimCalls(t, "tc:cbs/CreateDisks", "tc:cbs/AttachDisks", "tc:cbs/DetachDisks", "tc:cbs/ResizeDisk",
		"tc:cbs/CreateSnapshot", "tc:cbs/DeleteSnapshots", "tc:cbs/TerminateDisks", "tc:tag/ModifyResourceTags")
}
