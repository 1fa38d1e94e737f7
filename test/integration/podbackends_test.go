package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// podEndpoint is an endpoint of a slice; ready and terminating as given (nil: unset).
func podEndpoint(ip string, ready, terminating *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
}

// ruleAddrs is the sorted ip:port list of the rule for host on l, or an error when
// there is no such rule.
func ruleAddrs(l *ic.Listener, host string) ([]string, error) {
	if l == nil {
		return nil, fmt.Errorf("no listener")
	}
	i := slices.IndexFunc(l.Rules, func(r ic.L7Rule) bool { return r.Host == host })
	if i < 0 {
		return nil, fmt.Errorf("no rule for %s in %+v", host, l.Rules)
	}
	out := []string{}
	for _, b := range l.Rules[i].Backends {
		out = append(out, fmt.Sprintf("%s:%d", b.IP, b.Port))
	}
	slices.Sort(out)
	return out, nil
}

// TestL7PodBackends: an Ingress and an HTTPRoute to a ClusterIP Service send requests
// straight to its ready pods (pod IP:targetPort from its EndpointSlices, made here: the
// tier has no EndpointSlice controller); a slice change is followed by both; with no
// ready endpoint the rule stays with no backends (503) and a Warning, the route still
// ResolvedRefs=True.
func TestL7PodBackends(t *testing.T) {
	needsLayer7(t)
	ctx := context.Background()
	kube := env.kube.Client
	gc := gatewayClient(t)
	ensureGatewayClass(t, gc)
	ensureIngressClass(t)

	_, err := kube.CoreV1().Services("default").Create(ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-api"},
		Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, Selector: map[string]string{"app": "pod-api"},
			Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: v1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Services("default").Delete(context.Background(), "pod-api", metav1.DeleteOptions{})
	})
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-api-1", Labels: map[string]string{
			discoveryv1.LabelServiceName: "pod-api", discoveryv1.LabelManagedBy: "integration-test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(v1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{
			podEndpoint("10.244.1.5", ptr.To(true), nil),
			podEndpoint("10.244.1.6", ptr.To(false), nil),
			podEndpoint("10.244.1.7", ptr.To(false), ptr.To(true)),
		},
	}
	if slice, err = kube.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.DiscoveryV1().EndpointSlices("default").Delete(context.Background(), "pod-api-1", metav1.DeleteOptions{})
	})

	class := "iaas"
	ing, err := kube.NetworkingV1().Ingresses("default").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{
			hostRule("pods.example.com", path("/", networkingv1.PathTypePrefix, backendTo("pod-api", "http")))}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.NetworkingV1().Ingresses("default").Delete(context.Background(), "pods", metav1.DeleteOptions{})
	})
	gw, err := gc.GatewayV1().Gateways("default").Create(ctx, &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       gwv1.GatewaySpec{GatewayClassName: "iaas", Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = gc.GatewayV1().Gateways("default").Delete(context.Background(), "pods", metav1.DeleteOptions{})
	})
	if _, err := gc.GatewayV1().HTTPRoutes("default").Create(ctx,
		gwRoute("pods", "pods", []gwv1.Hostname{"pods.example.com"}, gwRule(gwv1.PathMatchPathPrefix, "/", "pod-api", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = gc.GatewayV1().HTTPRoutes("default").Delete(context.Background(), "pods", metav1.DeleteOptions{})
	})

	// Both LBs carry the rule to the ready pod at the target port, nothing else.
	follow := func(what string, want []string) {
		t.Helper()
		check := func(lb ic.LoadBalancer) error {
			got, err := ruleAddrs(l7Listener(lb, ic.ProtocolHTTP), "pods.example.com")
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("backends %v, want %v", got, want)
			}
			return nil
		}
		ingressLB(t, ing, "Ingress: "+what, check)
		gatewayLB(t, string(gw.UID), "Gateway: "+what, check)
	}
	follow("first pod", []string{"10.244.1.5:8080"})
	routeCondition(t, gc, "pods", "pods", string(gwv1.RouteConditionResolvedRefs), metav1.ConditionTrue, string(gwv1.RouteReasonResolvedRefs))

	// A rollout: the old pod terminates, two new ones are ready (one unset: ready).
	slice.Endpoints = []discoveryv1.Endpoint{
		podEndpoint("10.244.1.5", ptr.To(false), ptr.To(true)),
		podEndpoint("10.244.2.8", ptr.To(true), nil),
		podEndpoint("10.244.3.9", nil, nil),
	}
	if slice, err = kube.DiscoveryV1().EndpointSlices("default").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	follow("after the rollout", []string{"10.244.2.8:8080", "10.244.3.9:8080"})

	// Scaled to zero: the rules stay, empty (503), with a Warning on each object.
	if err := kube.DiscoveryV1().EndpointSlices("default").Delete(ctx, slice.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	follow("scaled to zero", []string{})
	waitEvent(t, "default", "Ingress", "pods", iaas.ReasonIngressNoEndpoints)
	waitEvent(t, "default", "HTTPRoute", "pods", iaas.ReasonRouteNoEndpoints)
	routeCondition(t, gc, "pods", "pods", string(gwv1.RouteConditionResolvedRefs), metav1.ConditionTrue, string(gwv1.RouteReasonResolvedRefs))
}
