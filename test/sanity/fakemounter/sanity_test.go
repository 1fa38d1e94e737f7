// Package fakemounter runs csi-sanity against the real driver binary and the real
// iaas-sim over HTTP, with the driver's --fake-mounter: nothing is formatted or mounted
// and no device appears, so it runs without root. The real-device run is ../ (it needs
// root); the two are separate packages because Ginkgo runs one suite per process.
package fakemounter

import (
	"testing"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func TestSanityFakeMounter(t *testing.T) {
	testutil.Heavy(t)
	env := harness.Start(t, harness.Options{FakeMounter: true})
	harness.Run(t, env.SanityConfig())
}
