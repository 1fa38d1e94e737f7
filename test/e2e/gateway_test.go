package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

const tagGatewayUID = "kube-iaas.io/gateway-uid"

func gwPathRule(path, svc string) gwv1.HTTPRouteRule {
	return gwv1.HTTPRouteRule{
		Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr(path)}}},
		BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(svc), Port: ptr(int32(80))}}}},
	}
}

// TestGateway: two Services behind one Gateway of class iaas (test/kind installs the
// Gateway API CRDs and the class from the module cache), routed by host and path by an
// HTTPRoute through the IaaS L7 load balancer's VIP, an HTTPS listener served with the
// Secret's certificate, a refused route reported in its status, a backend change
// followed, and nothing left in the IaaS after delete.
func TestGateway(t *testing.T) {
	e, ctx := setup(t)
	gc, err := gwclient.NewForConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := e.namespace(t, ctx, "gw")
	cert := e.l7Backends(t, ctx, ns)

	t0 := time.Now()
	gw, err := gc.GatewayV1().Gateways(ns).Create(ctx, &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: gwv1.GatewaySpec{GatewayClassName: "iaas", Listeners: []gwv1.Listener{
			{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
			{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType, Hostname: ptr(gwv1.Hostname("secure.example.com")),
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "secure-tls"}}}},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes := []*gwv1.HTTPRoute{
		{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "shop", SectionName: ptr(gwv1.SectionName("http"))}}},
			Hostnames:       []gwv1.Hostname{"shop.example.com"},
			Rules:           []gwv1.HTTPRouteRule{gwPathRule("/", "web"), gwPathRule("/api", "api")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "secure"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "shop"}}},
			Hostnames:       []gwv1.Hostname{"secure.example.com"},
			Rules:           []gwv1.HTTPRouteRule{gwPathRule("/", "api")}}},
		// A header match the IaaS load balancer cannot do: refused, never half-served.
		{ObjectMeta: metav1.ObjectMeta{Name: "canary"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "shop"}}},
			Hostnames:       []gwv1.Hostname{"canary.example.com"},
			Rules:           []gwv1.HTTPRouteRule{gwPathRule("/", "api")}}},
	}
	routes[2].Spec.Rules[0].Matches[0].Headers = []gwv1.HTTPHeaderMatch{{Name: "x-canary", Value: "1"}}
	for _, r := range routes {
		if _, err := gc.GatewayV1().HTTPRoutes(ns).Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var vip string
	err = poll(ctx, 250*time.Millisecond, 90*time.Second, func(ctx context.Context) (bool, string, error) {
		cur, err := gc.GatewayV1().Gateways(ns).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if a := cur.Status.Addresses; len(a) == 1 && a[0].Value != "" && meta.IsStatusConditionTrue(cur.Status.Conditions, "Programmed") {
			vip = a[0].Value
			return true, "", nil
		}
		return false, fmt.Sprintf("status %+v", cur.Status), nil
	})
	if err != nil {
		t.Fatalf("Gateway status: %v", err)
	}
	tIP := time.Since(t0)

	want := func(port int, useTLS bool, host, path, prefix string) {
		t.Helper()
		wantL7(t, ctx, vip, cert, port, useTLS, host, path, prefix)
	}
	want(80, false, "shop.example.com", "/", "web")
	t.Logf("Gateway created -> VIP %s programmed in %v -> routed HTTP in %v", vip, tIP.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	want(80, false, "shop.example.com", "/api/v1/items", "api")
	want(80, false, "shop.example.com", "/apiary", "web") // PathPrefix is element-wise
	want(443, true, "secure.example.com", "/", "api")
	for _, host := range []string{"other.example.com", "canary.example.com"} {
		if code, body, _, err := l7Get(ctx, vip, 80, false, host, "/"); err != nil || code != http.StatusNotFound {
			t.Fatalf("%s: %d %q %v, want 404", host, code, body, err)
		}
	}
	err = poll(ctx, 250*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		r, err := gc.GatewayV1().HTTPRoutes(ns).Get(ctx, "canary", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range r.Status.Parents {
			if c := meta.FindStatusCondition(p.Conditions, "Accepted"); c != nil && c.Status == metav1.ConditionFalse && c.Reason == string(gwv1.RouteReasonUnsupportedValue) {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("canary route status %+v", r.Status.Parents), nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The load balancer in the IaaS: ours, one, HTTP and HTTPS, the VIP of the status.
	e.wantOneL7LB(t, ctx, tagGatewayUID, string(gw.UID), vip)

	// Backend change: shop.example.com/ moves to the api Service.
	err = poll(ctx, 200*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		cur, err := gc.GatewayV1().HTTPRoutes(ns).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		cur.Spec.Rules[0] = gwPathRule("/", "api")
		if _, err := gc.GatewayV1().HTTPRoutes(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	want(80, false, "shop.example.com", "/", "api")
	t.Logf("rule moved to another Service -> served by it in %v", time.Since(t1).Round(time.Millisecond))

	// Delete: the load balancer and the certificate go, the VIP stops answering.
	t1 = time.Now()
	if err := gc.GatewayV1().Gateways(ns).Delete(ctx, "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitL7Gone(t, ctx, tagGatewayUID, string(gw.UID), vip, func(ctx context.Context) bool {
		_, err := gc.GatewayV1().Gateways(ns).Get(ctx, "shop", metav1.GetOptions{})
		return err == nil
	})
	t.Logf("Gateway deleted -> load balancer and certificate gone in %v", time.Since(t1).Round(time.Millisecond))
}
