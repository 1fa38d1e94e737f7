// Package faults runs csi-sanity (fake mounter, no root needed) against a simulator
// that fails (15%), throttles (5%) or performs and then loses the answer of (5%) every
// API call: through the client's retries and the driver's idempotency (name tags,
// client tokens, state checks before attach and detach) every spec must pass as if the
// IaaS were healthy.
package faults

import (
	"testing"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func TestSanityUnderFaults(t *testing.T) {
	testutil.Heavy(t)
	env := harness.Start(t, harness.Options{
		FakeMounter: true,
		SimArgs:     []string{"--fault", "*:errorRate=0.15,throttleRate=0.05,timeoutRate=0.05", "--timeout-fault-delay=100ms"},
	})
	harness.Run(t, env.SanityConfig())
}
