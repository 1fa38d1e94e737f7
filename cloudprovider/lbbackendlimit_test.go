package cloudprovider

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// More eligible nodes than the IaaS takes per listener: the Service gets a Warning
// naming the limit and the way out (the node selector), once per burst; with the
// selector narrowing the nodes the update goes through and nothing warns.
func TestLoadBalancerTooManyBackendsWarns(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := lbService("big")
	lbs, _ := e.cloud.LoadBalancer()
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	if evs := e.events(); hasEvent(evs, ReasonTooManyBackends) {
		t.Fatalf("warned with 3 nodes: %v", evs)
	}
	var many []*v1.Node
	for i := range validate.MaxBackends + 1 {
		n := readyNode(fmt.Sprintf("m%d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), fmt.Sprintf("iaas:///zone-a/ins-m%d", i))
		if i < 2 {
			n.Labels["pool"] = "edge"
		}
		many = append(many, n)
	}
	err := lbs.UpdateLoadBalancer(ctx, "k", svc, many)
	if err == nil {
		t.Fatal("an update with more backends than the IaaS allows succeeded")
	}
	evs := e.events()
	if !hasEvent(evs, "Warning "+ReasonTooManyBackends) || !hasEvent(evs, AnnotationNodeSelector) {
		t.Fatalf("events %v; want a %s Warning naming %s", evs, ReasonTooManyBackends, AnnotationNodeSelector)
	}
	// A retry of the same update does not repeat the Warning.
	_ = lbs.UpdateLoadBalancer(ctx, "k", svc, many)
	if evs := e.events(); hasEvent(evs, ReasonTooManyBackends) {
		t.Fatalf("warning repeated on retry: %v", evs)
	}
	svc.Annotations[AnnotationNodeSelector] = "pool=edge"
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, many); err != nil {
		t.Fatalf("narrowed to 2 nodes: %v", err)
	}
	if got := len(e.lb(t, svc).Listeners[0].Backends); got != 2 {
		t.Fatalf("%d backends, want 2", got)
	}
	if evs := e.events(); hasEvent(evs, ReasonTooManyBackends) {
		t.Fatalf("warned after narrowing: %v", evs)
	}
}
