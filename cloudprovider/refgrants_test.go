package cloudprovider

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwlisters "sigs.k8s.io/gateway-api/pkg/client/listers/apis/v1"
)

func grant(ns, name string, from []gwv1.ReferenceGrantFrom, to ...gwv1.ReferenceGrantTo) *gwv1.ReferenceGrant {
	return &gwv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: gwv1.ReferenceGrantSpec{From: from, To: to}}
}

func grantLister(t *testing.T, grants ...*gwv1.ReferenceGrant) refGrants {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, g := range grants {
		if err := idx.Add(g); err != nil {
			t.Fatal(err)
		}
	}
	return grantsFrom(gwlisters.NewReferenceGrantLister(idx))
}

// A ReferenceGrant in the target's namespace must name the referring kind and
// namespace and the target kind (and name, if it gives one); the same namespace needs
// none.
func TestReferenceGrants(t *testing.T) {
	routesOfDefault := []gwv1.ReferenceGrantFrom{{Group: gatewayGroup, Kind: "HTTPRoute", Namespace: "default"}}
	grants := grantLister(t,
		grant("apps", "web-only", routesOfDefault, gwv1.ReferenceGrantTo{Kind: "Service", Name: ptr.To(gwv1.ObjectName("web"))}),
		grant("shared", "any-service", routesOfDefault, gwv1.ReferenceGrantTo{Kind: "Service"}),
		grant("certs", "gateways", []gwv1.ReferenceGrantFrom{{Group: gatewayGroup, Kind: "Gateway", Namespace: "default"}}, gwv1.ReferenceGrantTo{Kind: "Secret"}),
		// Wrong group on either side: allows nothing.
		grant("odd", "groups", []gwv1.ReferenceGrantFrom{{Group: "example.com", Kind: "HTTPRoute", Namespace: "default"}}, gwv1.ReferenceGrantTo{Kind: "Service"}),
		grant("odd", "to-group", routesOfDefault, gwv1.ReferenceGrantTo{Group: "example.com", Kind: "Service"}),
	)
	for _, tc := range []struct {
		fromKind gwv1.Kind
		fromNS   string
		toKind   gwv1.Kind
		toNS     string
		toName   string
		want     bool
	}{
		{"HTTPRoute", "default", "Service", "default", "web", true}, // same namespace
		{"HTTPRoute", "default", "Service", "apps", "web", true},
		{"HTTPRoute", "default", "Service", "apps", "api", false}, // the grant names web only
		{"HTTPRoute", "team", "Service", "apps", "web", false},    // from another namespace
		{"HTTPRoute", "default", "Service", "shared", "anything", true},
		{"HTTPRoute", "default", "Secret", "shared", "tls", false}, // a Service grant is not a Secret grant
		{"Gateway", "default", "Secret", "certs", "tls", true},
		{"HTTPRoute", "default", "Secret", "certs", "tls", false}, // a Gateway grant is not a route's
		{"HTTPRoute", "default", "Service", "odd", "web", false},
		{"HTTPRoute", "default", "Service", "nowhere", "web", false},
	} {
		if got := grants(tc.fromKind, tc.fromNS, tc.toKind, tc.toNS, tc.toName); got != tc.want {
			t.Errorf("%s of %s -> %s %s/%s: %v, want %v", tc.fromKind, tc.fromNS, tc.toKind, tc.toNS, tc.toName, got, tc.want)
		}
	}
}

// The plan uses the grants: a backendRef and a certificateRef to another namespace are
// resolved where a grant allows them and RefNotPermitted where none does.
func TestPlanGatewayReferenceGrants(t *testing.T) {
	grants := grantLister(t,
		grant("apps", "routes", []gwv1.ReferenceGrantFrom{{Group: gatewayGroup, Kind: "HTTPRoute", Namespace: "default"}},
			gwv1.ReferenceGrantTo{Kind: "Service", Name: ptr.To(gwv1.ObjectName("web"))}),
		grant("certs", "gateways", []gwv1.ReferenceGrantFrom{{Group: gatewayGroup, Kind: "Gateway", Namespace: "default"}}, gwv1.ReferenceGrantTo{Kind: "Secret"}))
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	granted, ungranted := httpsListener("granted", 443, "a.example.com", "tls"), httpsListener("ungranted", 8443, "", "tls")
	granted.TLS.CertificateRefs[0].Namespace = ptr.To(gwv1.Namespace("certs"))
	ungranted.TLS.CertificateRefs[0].Namespace = ptr.To(gwv1.Namespace("elsewhere"))
	gw := testGateway("gw", httpListener("http", 80, ""), granted, ungranted)
	allowed := testRoute("allowed", "gw", []string{"allowed.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	allowed.Spec.ParentRefs[0].SectionName = ptr.To(gwv1.SectionName("http"))
	allowed.Spec.Rules[0].BackendRefs[0].Namespace = ptr.To(gwv1.Namespace("apps"))
	denied := testRoute("denied", "gw", []string{"denied.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("api", 80)))
	denied.Spec.ParentRefs[0].SectionName = ptr.To(gwv1.SectionName("http"))
	denied.Spec.Rules[0].BackendRefs[0].Namespace = ptr.To(gwv1.Namespace("apps"))

	p := planWithGrants(gw, grants, []*v1.Service{web}, []nodeIP{{"n1", "10.0.0.1"}}, allowed, denied)
	if l := listenerNamed(p, "granted"); !l.resolved.ok || l.secret != (nsName{"certs", "tls"}) {
		t.Errorf("granted listener: resolved %+v secret %v", l.resolved, l.secret)
	}
	if l := listenerNamed(p, "ungranted"); l.resolved.ok || l.resolved.reason != string(gwv1.ListenerReasonRefNotPermitted) || l.secret != (nsName{}) {
		t.Errorf("ungranted listener: resolved %+v secret %v", l.resolved, l.secret)
	}
	for name, want := range map[string]string{"allowed": string(gwv1.RouteReasonResolvedRefs), "denied": string(gwv1.RouteReasonRefNotPermitted)} {
		if s := p.routes["default/"+name]; len(s) != 1 || s[0].resolved.reason != want {
			t.Errorf("route %s: %+v, want ResolvedRefs reason %s", name, s, want)
		}
	}
	for _, r := range groupOn(p, 80).rules {
		switch r.Host {
		case "allowed.example.com":
			if len(r.Backends) != 1 || r.Backends[0].Port != 30080 || r.FixedStatus != 0 {
				t.Errorf("allowed rule %+v", r)
			}
		case "denied.example.com":
			if len(r.Backends) != 0 || r.FixedStatus != 500 {
				t.Errorf("denied rule %+v", r)
			}
		}
	}
}
