package cloudprovider

import (
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// drain empties q of what the informers queued so far: their initial adds and the
// echoes of the status and finalizer writes of a sync, which arrive a little later.
func drain(q workqueue.TypedRateLimitingInterface[string]) {
	time.Sleep(200 * time.Millisecond)
	for q.Len() > 0 {
		k, _ := q.Get()
		q.Done(k)
		q.Forget(k)
	}
}

// nextKey waits (past endpointsSettle) for the controller to queue one key and takes it.
func nextKey(t *testing.T, q workqueue.TypedRateLimitingInterface[string]) string {
	t.Helper()
	eventually(t, "queued after an EndpointSlice change", func() error {
		if q.Len() == 0 {
			return fmt.Errorf("nothing queued")
		}
		return nil
	})
	k, _ := q.Get()
	q.Done(k)
	q.Forget(k)
	return k
}

// nothingQueued checks, once a change had time to pass the settle delay, that it
// queued nothing.
func nothingQueued(t *testing.T, q workqueue.TypedRateLimitingInterface[string], what string) {
	t.Helper()
	time.Sleep(endpointsSettle + 200*time.Millisecond)
	if n := q.Len(); n != 0 {
		t.Fatalf("%d keys queued for %s", n, what)
	}
}

// sliceCached waits until the controller's lister has slice name satisfying f.
func sliceCached(t *testing.T, l discoverylisters.EndpointSliceLister, name string, f func(*discoveryv1.EndpointSlice) bool) {
	t.Helper()
	eventually(t, "slice cache", func() error {
		s, err := l.EndpointSlices("default").Get(name)
		if err == nil && !f(s) {
			err = fmt.Errorf("not yet")
		}
		return err
	})
}

func TestIngressClusterIPBackendFollowsEndpointSlices(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Name: "http", Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	api := nodePortService("api", v1.ServiceTypeClusterIP, v1.ServicePort{Name: "http", Port: 8080, Protocol: v1.ProtocolTCP})
	slice := epSlice("api-1", "api", map[string]int32{"http": 9000}, ep("10.244.1.5", ptr.To(true), nil))
	ing := testIngress("shop", nil, "")
	e := newIngEnv(t, ingressClass("iaas", IngressControllerName, true), web, api, slice, readyNode("n1", "10.0.0.1", ""), ing)

	e.sync(t, "shop")
	http := listener(e.ingressLB(t, ing.UID), ic.ProtocolHTTP)
	if got := ruleBackends(http, "b.example.com"); !slices.Equal(got, []string{"10.244.1.5:9000"}) {
		t.Fatalf("ClusterIP backends %v, want the pod at its target port", got)
	}
	if got := ruleBackends(http, "a.example.com"); !slices.Equal(got, []string{"10.0.0.1:30080"}) {
		t.Fatalf("NodePort backends %v", got)
	}
	if evs := e.events(); hasEvent(evs, "Warning") {
		t.Fatalf("warnings on a good Ingress: %v", evs)
	}

	// A rollout: the pod goes, another comes. The Ingress is queued and follows.
	drain(e.ctl.queue)
	slice = slice.DeepCopy()
	slice.Endpoints = []discoveryv1.Endpoint{ep("10.244.1.5", ptr.To(false), ptr.To(true)), ep("10.244.2.9", nil, nil)}
	if _, err := e.kube.DiscoveryV1().EndpointSlices("default").Update(e.ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if k := nextKey(t, e.ctl.queue); k != "default/shop" {
		t.Fatalf("queued %q", k)
	}
	sliceCached(t, e.ctl.slices, slice.Name, func(s *discoveryv1.EndpointSlice) bool { return len(s.Endpoints) == 2 })
	e.sync(t, "shop")
	if got := ruleBackends(listener(e.ingressLB(t, ing.UID), ic.ProtocolHTTP), "b.example.com"); !slices.Equal(got, []string{"10.244.2.9:9000"}) {
		t.Fatalf("after the rollout %v", got)
	}

	// Scaled to zero: an empty group (503) and a warning, the rule stays.
	drain(e.ctl.queue)
	if err := e.kube.DiscoveryV1().EndpointSlices("default").Delete(e.ctx, slice.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if k := nextKey(t, e.ctl.queue); k != "default/shop" {
		t.Fatalf("queued %q", k)
	}
	eventually(t, "slice gone", func() error {
		if _, err := e.ctl.slices.EndpointSlices("default").Get(slice.Name); err == nil {
			return fmt.Errorf("still cached")
		}
		return nil
	})
	e.sync(t, "shop")
	http = listener(e.ingressLB(t, ing.UID), ic.ProtocolHTTP)
	i := slices.IndexFunc(http.Rules, func(r ic.L7Rule) bool { return r.Host == "b.example.com" })
	if i < 0 || http.Rules[i].Backends == nil || len(http.Rules[i].Backends) != 0 {
		t.Fatalf("rules %+v", http.Rules)
	}
	want := "Warning " + ReasonIngressNoEndpoints + ` rules[1].paths[0] (host "b.example.com", path "/api"): Service default/api port "http" has no ready endpoints`
	if evs := e.events(); !hasEvent(evs, want) {
		t.Fatalf("no event %q in %v", want, evs)
	}

	// A slice of a Service no Ingress uses queues nothing.
	other := epSlice("other-1", "other", map[string]int32{"http": 1}, ep("10.244.7.7", nil, nil))
	if _, err := e.kube.DiscoveryV1().EndpointSlices("default").Create(e.ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sliceCached(t, e.ctl.slices, "other-1", func(*discoveryv1.EndpointSlice) bool { return true })
	nothingQueued(t, e.ctl.queue, "an unrelated slice")
}

func TestGatewayClusterIPBackendFollowsEndpointSlices(t *testing.T) {
	api := nodePortService("api", v1.ServiceTypeClusterIP, v1.ServicePort{Port: 8080, Protocol: v1.ProtocolTCP})
	ext := nodePortService("ext", v1.ServiceTypeExternalName, v1.ServicePort{Port: 80, Protocol: v1.ProtocolTCP})
	slice := epSlice("api-1", "api", map[string]int32{"": 3000}, ep("10.244.1.5", ptr.To(true), nil), ep("10.244.1.6", nil, nil))
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "iaas", Generation: 1}, Spec: gwv1.GatewayClassSpec{ControllerName: GatewayControllerName}}
	gw := testGateway("shop", httpListener("http", 80, ""))
	route := testRoute("shop", "shop", []string{"a.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("api", 8080)))
	extRoute := testRoute("ext", "shop", []string{"x.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("ext", 80)))
	e := newGwEnv(t, []runtime.Object{api, ext, slice, readyNode("n1", "10.0.0.1", "")}, class, gw, route, extRoute)

	e.sync(t, "shop")
	http := listener(e.lb(t, gw.UID), ic.ProtocolHTTP)
	if got := ruleBackends(http, "a.example.com"); !slices.Equal(got, []string{"10.244.1.5:3000", "10.244.1.6:3000"}) {
		t.Fatalf("ClusterIP backends %v", got)
	}
	resolved := func(name string) *metav1.Condition {
		t.Helper()
		r, err := e.gw.GatewayV1().HTTPRoutes("default").Get(e.ctx, name, metav1.GetOptions{})
		if err != nil || len(r.Status.Parents) != 1 {
			t.Fatalf("route %s: %v %+v", name, err, r.Status)
		}
		return meta.FindStatusCondition(r.Status.Parents[0].Conditions, string(gwv1.RouteConditionResolvedRefs))
	}
	if c := resolved("shop"); c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(gwv1.RouteReasonResolvedRefs) {
		t.Fatalf("ResolvedRefs of a ClusterIP backend: %+v", c)
	}
	if c := resolved("ext"); c == nil || c.Status != metav1.ConditionFalse || c.Reason != routeReasonUnsupportedSvc {
		t.Fatalf("ResolvedRefs of an ExternalName backend: %+v", c)
	}

	// Not ready any more: queued, then an empty group with ResolvedRefs still True and
	// a message saying why it answers 503.
	drain(e.ctl.queue)
	slice = slice.DeepCopy()
	for i := range slice.Endpoints {
		slice.Endpoints[i].Conditions.Ready = ptr.To(false)
	}
	if _, err := e.kube.DiscoveryV1().EndpointSlices("default").Update(e.ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if k := nextKey(t, e.ctl.queue); k != gatewayKeyPrefix+"default/shop" {
		t.Fatalf("queued %q", k)
	}
	sliceCached(t, e.ctl.slices, slice.Name, func(s *discoveryv1.EndpointSlice) bool { return !*s.Endpoints[0].Conditions.Ready })
	e.sync(t, "shop")
	if got := ruleBackends(listener(e.lb(t, gw.UID), ic.ProtocolHTTP), "a.example.com"); len(got) != 0 {
		t.Fatalf("backends of no ready pod %v", got)
	}
	if c := resolved("shop"); c == nil || c.Status != metav1.ConditionTrue || c.Message != "rules[0]: Service default/api port 8080 has no ready endpoints; requests get 503 until one is ready" {
		t.Fatalf("ResolvedRefs with no ready endpoints: %+v", c)
	}
	if evs := e.events(); !hasEvent(evs, "Warning "+ReasonRouteNoEndpoints+" rules[0]: Service default/api port 8080 has no ready endpoints") {
		t.Fatalf("no %s event in %v", ReasonRouteNoEndpoints, evs)
	}

	// A change the backends do not read (an annotation) does not queue the Gateway again.
	slice, _ = e.kube.DiscoveryV1().EndpointSlices("default").Get(e.ctx, slice.Name, metav1.GetOptions{})
	slice.Annotations = map[string]string{"touched": "yes"}
	drain(e.ctl.queue)
	if _, err := e.kube.DiscoveryV1().EndpointSlices("default").Update(e.ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sliceCached(t, e.ctl.slices, slice.Name, func(s *discoveryv1.EndpointSlice) bool { return s.Annotations["touched"] == "yes" })
	nothingQueued(t, e.ctl.queue, "an annotation change")
}
