// Package xfs runs csi-sanity like ../ (real loop devices, real mounts, root), with the
// StorageClass parameter fsType=xfs, so XFS formatting, mounting (nouuid) and online
// growth (xfs_growfs) go through the same checks as ext4.
package xfs

import (
	"os/exec"
	"testing"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func TestSanityXFS(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tool := range []string{"losetup", "mkfs.xfs", "xfs_growfs", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed (apt-get install xfsprogs)")
		}
	}
	env := harness.Start(t, harness.Options{SimArgs: harness.LoopDisks})
	cfg := env.SanityConfig()
	cfg.TestVolumeParameters = map[string]string{"fsType": "xfs"}
	harness.Run(t, cfg)
	env.RequireLog(t, "Disk successfully formatted (mkfs): xfs", "Expanded filesystem")
}
