// Package block runs csi-sanity like ../ (real driver, real simulator, real loop
// devices, root) in raw-block mode (-csi.testvolumeaccesstype=block): volumes are
// published by bind-mounting the device node onto a file, so the single-writer check,
// unpublish and the cleanup of every spec work on device bind mounts, which mountinfo
// lists under devtmpfs, not under the path of the device.
package block

import (
	"os/exec"
	"testing"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func TestSanityBlockRealDevices(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("losetup"); err != nil {
		testutil.SkipOrFail(t, "losetup is not installed")
	}
	env := harness.Start(t, harness.Options{SimArgs: harness.LoopDisks})
	cfg := env.SanityConfig()
	cfg.TestVolumeAccessType = "block"
	harness.Run(t, cfg)
	// The driver published a real loop device (the by-id link resolves to /dev/loopN).
	env.RequireLog(t, `"Publishing volume"`, `source="/dev/loop`)
}
