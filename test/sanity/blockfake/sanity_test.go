// Package blockfake runs csi-sanity in raw-block mode (-csi.testvolumeaccesstype=block)
// with the driver's --fake-mounter: no root, no device; the block code paths of the
// driver against the real simulator. The real-device block run is ../block.
package blockfake

import (
	"testing"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func TestSanityBlockFakeMounter(t *testing.T) {
	testutil.Heavy(t)
	env := harness.Start(t, harness.Options{FakeMounter: true})
	cfg := env.SanityConfig()
	cfg.TestVolumeAccessType = "block"
	harness.Run(t, cfg)
}
