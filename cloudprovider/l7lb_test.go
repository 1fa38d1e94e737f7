package cloudprovider

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestL7LBType(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ann   map[string]string
		def   ic.LoadBalancerType
		want  ic.LoadBalancerType
		wrong bool
	}{
		{"no annotation, no default", nil, "", ic.LoadBalancerPublic, false},
		{"no annotation, default internal", nil, ic.LoadBalancerInternal, ic.LoadBalancerInternal, false},
		{"internal", map[string]string{AnnotationType: "internal"}, ic.LoadBalancerPublic, ic.LoadBalancerInternal, false},
		{"public over an internal default", map[string]string{AnnotationType: "public"}, ic.LoadBalancerInternal, ic.LoadBalancerPublic, false},
		{"bad value keeps the default", map[string]string{AnnotationType: "Internal"}, ic.LoadBalancerInternal, ic.LoadBalancerInternal, true},
		{"empty value", map[string]string{AnnotationType: ""}, "", ic.LoadBalancerPublic, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, probs := l7LBType(tc.ann, tc.def, "SomeReason")
			if got != tc.want {
				t.Fatalf("type %q, want %q", got, tc.want)
			}
			if tc.wrong != (len(probs) == 1) || (tc.wrong && probs[0].reason != "SomeReason") {
				t.Fatalf("problems %+v", probs)
			}
		})
	}
}

// An internal Ingress gets its LB in the configured subnet; a bad type is a Warning
// and the LB is still made, with the default type.
func TestIngressLBTypeAnnotation(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Name: "http", Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	api := nodePortService("api", v1.ServiceTypeNodePort, v1.ServicePort{Name: "http", Port: 8080, NodePort: 30808, Protocol: v1.ProtocolTCP})
	internal, bad := testIngress("inner", strPtr("iaas"), ""), testIngress("bad", strPtr("iaas"), "")
	internal.Annotations = map[string]string{AnnotationType: "internal"}
	bad.Annotations = map[string]string{AnnotationType: "private"}
	e := newIngEnv(t, ingressClass("iaas", IngressControllerName, false), web, api, readyNode("n1", "10.0.0.1", ""), internal, bad)
	e.ctl.lbs.subnetID = "subnet-inner"

	e.sync(t, "inner")
	lb := e.ingressLB(t, internal.UID)
	if lb == nil || lb.Type != ic.LoadBalancerInternal || lb.SubnetID != "subnet-inner" || lb.Tags[TagIngress] != "default.inner" {
		t.Fatalf("internal Ingress LB %+v", lb)
	}
	e.sync(t, "bad")
	lb = e.ingressLB(t, bad.UID)
	if lb == nil || lb.Type != ic.LoadBalancerPublic || lb.SubnetID != "" {
		t.Fatalf("LB of the Ingress with a bad type %+v", lb)
	}
	if evs := e.events(); !hasEvent(evs, `Warning `+ReasonIngressUnsupported) || !hasEvent(evs, `"private": must be public or internal`) {
		t.Fatalf("events %v", evs)
	}
}
