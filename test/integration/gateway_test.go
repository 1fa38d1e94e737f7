package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

func gatewayClient(t *testing.T) gwclient.Interface {
	t.Helper()
	c, err := gwclient.NewForConfig(env.kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ensureGatewayClass creates the class iaas and waits until the CCM accepts it.
func ensureGatewayClass(t *testing.T, gc gwclient.Interface) {
	t.Helper()
	ctx := context.Background()
	_, err := gc.GatewayV1().GatewayClasses().Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "iaas"}, Spec: gwv1.GatewayClassSpec{ControllerName: iaas.GatewayControllerName},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	err = framework.Eventually(waitTimeout, func() error {
		cls, err := gc.GatewayV1().GatewayClasses().Get(ctx, "iaas", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(cls.Status.Conditions, string(gwv1.GatewayClassConditionStatusAccepted)) {
			return fmt.Errorf("class not accepted: %+v", cls.Status.Conditions)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func gwRule(typ gwv1.PathMatchType, path, svc string, port int32) gwv1.HTTPRouteRule {
	return gwv1.HTTPRouteRule{
		Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(typ), Value: ptr.To(path)}}},
		BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(svc), Port: ptr.To(port)}}}},
	}
}

func gwRoute(name, gateway string, hosts []gwv1.Hostname, rules ...gwv1.HTTPRouteRule) *gwv1.HTTPRoute {
	return &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: gwv1.ObjectName(gateway)}}},
			Hostnames: hosts, Rules: rules}}
}

// gatewayLB waits until the Gateway has exactly one LB, ACTIVE, satisfying cond.
func gatewayLB(t *testing.T, uid string, what string, cond func(ic.LoadBalancer) error) ic.LoadBalancer {
	t.Helper()
	var lb ic.LoadBalancer
	err := framework.Eventually(waitTimeout, func() error {
		all, err := env.sim.LoadBalancers(context.Background())
		if err != nil {
			return err
		}
		all = slices.DeleteFunc(all, func(lb ic.LoadBalancer) bool { return lb.Tags[iaas.TagGatewayUID] != uid })
		if len(all) != 1 {
			return fmt.Errorf("%d LBs for the Gateway", len(all))
		}
		lb = all[0]
		if lb.State != ic.LoadBalancerActive {
			return fmt.Errorf("LB %s is %s", lb.LoadBalancerID, lb.State)
		}
		return cond(lb)
	})
	if err != nil {
		t.Fatalf("%s: %v (LB %+v)", what, err, lb)
	}
	return lb
}

func gatewayCerts(t *testing.T, uid string) []ic.Certificate {
	t.Helper()
	resp, err := env.sim.API.DescribeCertificates(context.Background(), &ic.DescribeCertificatesRequest{
		Tags: map[string]string{iaas.TagGatewayUID: uid}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Certificates
}

// routeCondition waits until the route's status for Gateway gateway has condition typ
// with status and reason.
func routeCondition(t *testing.T, gc gwclient.Interface, route, gateway, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	err := framework.Eventually(waitTimeout, func() error {
		r, err := gc.GatewayV1().HTTPRoutes("default").Get(context.Background(), route, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, p := range r.Status.Parents {
			if p.ControllerName != iaas.GatewayControllerName || string(p.ParentRef.Name) != gateway {
				continue
			}
			c := meta.FindStatusCondition(p.Conditions, typ)
			if c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == r.Generation {
				return nil
			}
			return fmt.Errorf("route %s: %s is %+v", route, typ, c)
		}
		return fmt.Errorf("route %s: no status from %s: %+v", route, gateway, r.Status.Parents)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGateway: a Gateway of a class with controllerName kube-iaas.io/gateway gets one
// IaaS L7 load balancer, with an HTTP and an HTTPS listener (the Secret uploaded as a
// certificate) carrying the host/path rules of the HTTPRoutes attached to it to the
// NodePorts of their Services on the ready nodes; the VIP and conditions are in its
// status; routes get Accepted/ResolvedRefs with the reasons of the Gateway API, and
// unsupported features are refused in status and by a Warning; a route change follows;
// deleting the Gateway leaves nothing in the IaaS and no status on the routes.
func TestGateway(t *testing.T) {
	needsLayer7(t)
	ctx := context.Background()
	gc := gatewayClient(t)
	ensureGatewayClass(t, gc)
	for i := range 2 {
		initializedNode(t, fmt.Sprintf("gw-%d", i), "sim-1a", "")
	}
	web := nodePortSvc(t, "gw-web", v1.ServicePort{Name: "http", Port: 80})
	api := nodePortSvc(t, "gw-api", v1.ServicePort{Name: "http", Port: 8080})
	if _, err := env.kube.Client.CoreV1().Secrets("default").Create(ctx, tlsSecret(t, "gw-tls", "shop.example.com"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.CoreV1().Secrets("default").Delete(context.Background(), "gw-tls", metav1.DeleteOptions{})
	})

	gw, err := gc.GatewayV1().Gateways("default").Create(ctx, &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: gwv1.GatewaySpec{GatewayClassName: "iaas", Listeners: []gwv1.Listener{
			{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
			{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType, Hostname: ptr.To(gwv1.Hostname("*.example.com")),
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "gw-tls"}}}},
			{Name: "tcp", Port: 9000, Protocol: gwv1.TCPProtocolType},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = gc.GatewayV1().Gateways("default").Delete(context.Background(), "shop", metav1.DeleteOptions{})
		}
	})
	uid := string(gw.UID)
	routes := []*gwv1.HTTPRoute{
		// Two Services by host and path.
		gwRoute("shop", "shop", []gwv1.Hostname{"shop.example.com"},
			gwRule(gwv1.PathMatchPathPrefix, "/api", "gw-api", 8080),
			gwRule(gwv1.PathMatchPathPrefix, "/", "gw-web", 80)),
		gwRoute("admin", "shop", []gwv1.Hostname{"admin.example.org"}, gwRule(gwv1.PathMatchExact, "/login", "gw-web", 80)),
		// Three of four requests to web, one to api: the IaaS backends' weights.
		gwRoute("split", "shop", []gwv1.Hostname{"split.example.com"}, gwRule(gwv1.PathMatchPathPrefix, "/", "gw-web", 80)),
		// Bad ones: a missing Service, a method match (the IaaS cannot), a parentRef to no listener.
		gwRoute("missing", "shop", []gwv1.Hostname{"missing.example.com"}, gwRule(gwv1.PathMatchPathPrefix, "/", "gw-none", 80)),
		gwRoute("method", "shop", []gwv1.Hostname{"method.example.com"}, gwRule(gwv1.PathMatchPathPrefix, "/", "gw-web", 80)),
		gwRoute("section", "shop", nil, gwRule(gwv1.PathMatchPathPrefix, "/", "gw-web", 80)),
	}
	split := &routes[2].Spec.Rules[0]
	split.BackendRefs = append(split.BackendRefs, gwRule(gwv1.PathMatchPathPrefix, "/", "gw-api", 8080).BackendRefs...)
	split.BackendRefs[0].Weight, split.BackendRefs[1].Weight = ptr.To[int32](3), ptr.To[int32](1)
	routes[4].Spec.Rules[0].Matches[0].Method = ptr.To(gwv1.HTTPMethodPost)
	routes[5].Spec.ParentRefs[0].SectionName = ptr.To(gwv1.SectionName("nope"))
	for _, r := range routes {
		if _, err := gc.GatewayV1().HTTPRoutes("default").Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		name := r.Name
		t.Cleanup(func() {
			_ = gc.GatewayV1().HTTPRoutes("default").Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}

	ips := readyIPs(t)
	lb := gatewayLB(t, uid, "created", func(lb ic.LoadBalancer) error {
		http, https := l7Listener(lb, ic.ProtocolHTTP), l7Listener(lb, ic.ProtocolHTTPS)
		if len(lb.Listeners) != 2 || http == nil || https == nil || http.Port != 80 || https.Port != 443 {
			return fmt.Errorf("listeners %+v", lb.Listeners)
		}
		// HTTP takes every host; HTTPS only those under *.example.com.
		if len(http.Rules) != 5 || len(https.Rules) != 4 {
			return fmt.Errorf("rules: HTTP %+v, HTTPS %+v", http.Rules, https.Rules)
		}
		for _, err := range []error{
			wantRule(http, "shop.example.com", "/api", api.Spec.Ports[0].NodePort, ips),
			wantRule(http, "shop.example.com", "/", web.Spec.Ports[0].NodePort, ips),
			wantRule(http, "admin.example.org", "/login", web.Spec.Ports[0].NodePort, ips),
			wantRule(http, "missing.example.com", "/", 0, nil), // no backends: 503
			wantRule(https, "shop.example.com", "/api", api.Spec.Ports[0].NodePort, ips),
			wantRule(https, "shop.example.com", "/", web.Spec.Ports[0].NodePort, ips),
			wantRule(https, "missing.example.com", "/", 0, nil),
		} {
			if err != nil {
				return err
			}
		}
		if i := slices.IndexFunc(http.Rules, func(r ic.L7Rule) bool { return r.Host == "admin.example.org" }); http.Rules[i].PathType != ic.PathExact {
			return fmt.Errorf("admin rule %+v", http.Rules[i])
		}
		// web's nodes weigh 3/n each, api's 1/n: scaled, 100 and 33.
		i := slices.IndexFunc(http.Rules, func(r ic.L7Rule) bool { return r.Host == "split.example.com" })
		weights := map[int]int{}
		for _, b := range http.Rules[i].Backends {
			weights[b.Port] = b.Weight
		}
		if len(http.Rules[i].Backends) != 2*len(ips) || weights[int(web.Spec.Ports[0].NodePort)] != 100 || weights[int(api.Spec.Ports[0].NodePort)] != 33 {
			return fmt.Errorf("split rule backends %+v, want web's NodePort weighing 100 and api's 33 on every node", http.Rules[i].Backends)
		}
		return nil
	})
	if lb.Tags[iaas.TagCluster] != "itest" || lb.Tags[iaas.TagGateway] != "default.shop" || lb.Type != ic.LoadBalancerPublic {
		t.Fatalf("LB %+v", lb)
	}
	certs := gatewayCerts(t, uid)
	if len(certs) != 1 || l7Listener(lb, ic.ProtocolHTTPS).CertificateID != certs[0].CertificateID ||
		certs[0].Tags[iaas.TagTLSSecret] != "default.gw-tls" {
		t.Fatalf("certificates %+v", certs)
	}

	// The Gateway's status: finalizer, VIP, conditions, listeners.
	err = framework.Eventually(waitTimeout, func() error {
		cur, err := gc.GatewayV1().Gateways("default").Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !slices.Contains(cur.Finalizers, iaas.GatewayFinalizer) {
			return fmt.Errorf("finalizers %v", cur.Finalizers)
		}
		if a := cur.Status.Addresses; len(a) != 1 || a[0].Value != lb.VIP || a[0].Type == nil || *a[0].Type != gwv1.IPAddressType {
			return fmt.Errorf("addresses %+v, VIP %s", a, lb.VIP)
		}
		for _, typ := range []string{"Accepted", "Programmed"} {
			if c := meta.FindStatusCondition(cur.Status.Conditions, typ); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != cur.Generation {
				return fmt.Errorf("gateway %s: %+v", typ, c)
			}
		}
		want := map[string][3]string{ // Accepted, Programmed, attached routes
			"http":  {"True", "True", "4"}, // shop, admin, split, missing
			"https": {"True", "True", "3"}, // shop, split, missing
			"tcp":   {"False", "False", "0"},
		}
		if len(cur.Status.Listeners) != 3 {
			return fmt.Errorf("listeners %+v", cur.Status.Listeners)
		}
		for _, l := range cur.Status.Listeners {
			w := want[string(l.Name)]
			a, p := meta.FindStatusCondition(l.Conditions, "Accepted"), meta.FindStatusCondition(l.Conditions, "Programmed")
			if a == nil || p == nil || string(a.Status) != w[0] || string(p.Status) != w[1] || fmt.Sprint(l.AttachedRoutes) != w[2] {
				return fmt.Errorf("listener %s: accepted %+v programmed %+v attached %d, want %v", l.Name, a, p, l.AttachedRoutes, w)
			}
		}
		if a := meta.FindStatusCondition(cur.Status.Listeners[2].Conditions, "Accepted"); a.Reason != string(gwv1.ListenerReasonUnsupportedProtocol) {
			return fmt.Errorf("tcp listener %+v", a)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, "default", "Gateway", "shop", iaas.ReasonGatewayListener)

	// The routes' status, with the Gateway API's reasons, and Warnings for the bad ones.
	routeCondition(t, gc, "shop", "shop", "Accepted", metav1.ConditionTrue, "Accepted")
	routeCondition(t, gc, "shop", "shop", "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")
	routeCondition(t, gc, "missing", "shop", "Accepted", metav1.ConditionTrue, "Accepted")
	routeCondition(t, gc, "missing", "shop", "ResolvedRefs", metav1.ConditionFalse, string(gwv1.RouteReasonBackendNotFound))
	routeCondition(t, gc, "method", "shop", "Accepted", metav1.ConditionFalse, string(gwv1.RouteReasonUnsupportedValue))
	routeCondition(t, gc, "section", "shop", "Accepted", metav1.ConditionFalse, string(gwv1.RouteReasonNoMatchingParent))
	if ev := waitEvent(t, "default", "HTTPRoute", "method", iaas.ReasonRouteUnsupported); ev.Type != v1.EventTypeWarning {
		t.Fatalf("event %+v", ev)
	}
	waitEvent(t, "default", "HTTPRoute", "missing", iaas.ReasonRouteBackend)

	// The missing Service appears; the shop route sends / to the API instead.
	none := nodePortSvc(t, "gw-none", v1.ServicePort{Name: "http", Port: 80})
	err = framework.Eventually(waitTimeout, func() error {
		cur, err := gc.GatewayV1().HTTPRoutes("default").Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Rules[1].BackendRefs[0].Name = "gw-api"
		cur.Spec.Rules[1].BackendRefs[0].Port = ptr.To(int32(8080))
		_, err = gc.GatewayV1().HTTPRoutes("default").Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	gatewayLB(t, uid, "rules follow the route and the Service", func(lb ic.LoadBalancer) error {
		for _, l := range lb.Listeners {
			for _, err := range []error{
				wantRule(&l, "shop.example.com", "/", api.Spec.Ports[0].NodePort, ips),
				wantRule(&l, "missing.example.com", "/", none.Spec.Ports[0].NodePort, ips),
			} {
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	routeCondition(t, gc, "missing", "shop", "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")

	// Delete: the finalizer holds the Gateway until the LB and certificate are gone,
	// and the routes lose their status for it.
	if err := gc.GatewayV1().Gateways("default").Delete(ctx, "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted = true
	err = framework.Eventually(waitTimeout, func() error {
		_, err := gc.GatewayV1().Gateways("default").Get(ctx, "shop", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("Gateway still there (%v)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := env.sim.LoadBalancers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		if l.LoadBalancerID == lb.LoadBalancerID || l.Tags[iaas.TagGatewayUID] == uid {
			t.Fatalf("LB left after delete: %+v", l)
		}
	}
	if c := gatewayCerts(t, uid); len(c) != 0 {
		t.Fatalf("certificates left after delete: %+v", c)
	}
	err = framework.Eventually(waitTimeout, func() error {
		for _, r := range routes {
			cur, err := gc.GatewayV1().HTTPRoutes("default").Get(ctx, r.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(cur.Status.Parents) != 0 {
				return fmt.Errorf("route %s keeps status %+v", r.Name, cur.Status.Parents)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
