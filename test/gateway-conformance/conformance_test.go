// Package conformance runs the Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance v1.6.3, the version of the CRDs and API the CCM
// uses) against the cluster in $KUBECONFIG. Everything is set by the suite's own flags
// (run.sh passes -gateway-class=iaas, -conformance-profiles=GATEWAY-HTTP, the supported
// features and the skips README.md explains), so this file only calls the entry point.
package conformance

import (
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
)

func TestGatewayConformance(t *testing.T) {
	conformance.RunConformance(t)
}
