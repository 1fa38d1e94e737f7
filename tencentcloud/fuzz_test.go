package tencentcloud

import (
	"maps"
	"testing"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Route descriptions come from the cloud, where anyone with VPC access can edit them:
// decoding never panics, and what we encode decodes to itself.
func FuzzRouteDescription(f *testing.F) {
	f.Add("kube-iaas:i=ins-1&k.cluster=c&k.node=n", "ins-1", "kube-iaas.io/node", "n-1")
	f.Add("kube-iaas:%zz", "", "a", "b")
	f.Add("hand-made", "ins-2", "x/y", "z w&=")
	f.Fuzz(func(t *testing.T, raw, inst, key, value string) {
		DecodeRouteDescription(raw)
		spec := ic.RouteSpec{NextHopInstanceID: inst, Tags: map[string]string{key: value}}
		tags, gotInst, desc := DecodeRouteDescription(encodeRouteDescription(spec))
		if gotInst != inst || desc != "" || !maps.Equal(tags, spec.Tags) {
			t.Fatalf("round trip of %q %q=%q: %q %v %q", inst, key, value, gotInst, tags, desc)
		}
	})
}
