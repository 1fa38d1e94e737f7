package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
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
// Secret's certificate, a header match, a 3:1 split by weight, a refused route reported
// in its status, a backend change
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
		// Only requests with the header reach the api Service.
		{ObjectMeta: metav1.ObjectMeta{Name: "canary"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "shop"}}},
			Hostnames:       []gwv1.Hostname{"canary.example.com"},
			Rules:           []gwv1.HTTPRouteRule{gwPathRule("/", "api")}}},
		// A method match the IaaS load balancer cannot do: refused, never half-served.
		{ObjectMeta: metav1.ObjectMeta{Name: "bypost"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "shop"}}},
			Hostnames:       []gwv1.Hostname{"post.example.com"},
			Rules:           []gwv1.HTTPRouteRule{gwPathRule("/", "api")}}},
		// Three of four requests to web, one to api.
		{ObjectMeta: metav1.ObjectMeta{Name: "split"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "shop"}}},
			Hostnames:       []gwv1.Hostname{"split.example.com"},
			Rules:           []gwv1.HTTPRouteRule{gwPathRule("/", "web")}}},
	}
	routes[2].Spec.Rules[0].Matches[0].Headers = []gwv1.HTTPHeaderMatch{{Name: "x-canary", Value: "1"}}
	routes[3].Spec.Rules[0].Matches[0].Method = ptr(gwv1.HTTPMethodPost)
	split := &routes[4].Spec.Rules[0]
	split.BackendRefs = append(split.BackendRefs, gwPathRule("/", "api").BackendRefs...)
	split.BackendRefs[0].Weight, split.BackendRefs[1].Weight = ptr(int32(3)), ptr(int32(1))
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
	for _, host := range []string{"other.example.com", "canary.example.com", "post.example.com"} {
		if code, body, _, err := l7Get(ctx, vip, 80, false, host, "/"); err != nil || code != http.StatusNotFound {
			t.Fatalf("%s: %d %q %v, want 404", host, code, body, err)
		}
	}
	err = poll(ctx, 250*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		code, body, _, err := l7GetWith(ctx, vip, 80, false, "canary.example.com", "/", http.Header{"X-Canary": {"1"}})
		if err != nil || code != http.StatusOK || !strings.HasPrefix(body, "api-") {
			return false, fmt.Sprintf("canary with its header: %d %q %v, want 200 from an api pod", code, body, err), nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSplit(t, ctx, vip, "split.example.com", map[string]float64{"web": 0.75, "api": 0.25})
	err = poll(ctx, 250*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		r, err := gc.GatewayV1().HTTPRoutes(ns).Get(ctx, "bypost", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range r.Status.Parents {
			if c := meta.FindStatusCondition(p.Conditions, "Accepted"); c != nil && c.Status == metav1.ConditionFalse && c.Reason == string(gwv1.RouteReasonUnsupportedValue) {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("bypost route status %+v", r.Status.Parents), nil
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

// wantSplit sends 400 requests to host on the VIP and checks that each backend prefix
// answers its share, within 0.1 (four standard deviations at a share of 0.25).
func wantSplit(t *testing.T, ctx context.Context, vip, host string, shares map[string]float64) {
	t.Helper()
	err := poll(ctx, 250*time.Millisecond, 60*time.Second, func(ctx context.Context) (bool, string, error) {
		code, body, _, err := l7Get(ctx, vip, 80, false, host, "/")
		return err == nil && code == http.StatusOK, fmt.Sprintf("%d %q %v", code, body, err), nil
	})
	if err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	const n = 400
	got := map[string]int{}
	for i := range n {
		code, body, _, err := l7Get(ctx, vip, 80, false, host, "/")
		if err != nil || code != http.StatusOK {
			t.Fatalf("%s, request %d: %d %q %v", host, i, code, body, err)
		}
		prefix, _, _ := strings.Cut(body, "-")
		got[prefix]++
	}
	for prefix, want := range shares {
		if share := float64(got[prefix]) / n; math.Abs(share-want) > 0.1 {
			t.Fatalf("%s: answers by backend %v of %d, want shares %v", host, got, n, shares)
		}
	}
	if len(got) != len(shares) {
		t.Fatalf("%s: answers by backend %v, want only %v", host, got, shares)
	}
	t.Logf("%s: answers by backend %v of %d (weights %v)", host, got, n, shares)
}
