package main

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fakediscovery "k8s.io/client-go/discovery/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"
)

// Without the Gateway API CRDs the controller must stay off, not fail the CCM.
func TestGatewayAPIMissing(t *testing.T) {
	d := k8sfake.NewClientset().Discovery().(*fakediscovery.FakeDiscovery)
	if missing, _, err := gatewayAPIMissing(d); err != nil || missing != "gateway.networking.k8s.io/v1" {
		t.Fatalf("no group: %q, %v", missing, err)
	}
	d.Resources = []*metav1.APIResourceList{{GroupVersion: "gateway.networking.k8s.io/v1",
		APIResources: []metav1.APIResource{{Name: "gatewayclasses"}, {Name: "gateways"}}}}
	if missing, _, err := gatewayAPIMissing(d); err != nil || missing != "httproutes" {
		t.Fatalf("no httproutes: %q, %v", missing, err)
	}
	d.Resources[0].APIResources = append(d.Resources[0].APIResources, metav1.APIResource{Name: "httproutes"})
	if missing, grants, err := gatewayAPIMissing(d); err != nil || missing != "" || grants {
		t.Fatalf("all there but ReferenceGrants: %q, %v, %v", missing, grants, err)
	}
	d.Resources[0].APIResources = append(d.Resources[0].APIResources, metav1.APIResource{Name: "referencegrants"})
	if missing, grants, err := gatewayAPIMissing(d); err != nil || missing != "" || !grants {
		t.Fatalf("with ReferenceGrants: %q, %v, %v", missing, grants, err)
	}
}
