package cloudprovider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func testGateway(name string, listeners ...gwv1.Listener) *gwv1.Gateway {
	return &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-gw-" + name), Generation: 1},
		Spec: gwv1.GatewaySpec{GatewayClassName: "iaas", Listeners: listeners}}
}

func httpListener(name string, port int32, host string) gwv1.Listener {
	l := gwv1.Listener{Name: gwv1.SectionName(name), Port: port, Protocol: gwv1.HTTPProtocolType}
	if host != "" {
		l.Hostname = ptr.To(gwv1.Hostname(host))
	}
	return l
}

func httpsListener(name string, port int32, host, secret string) gwv1.Listener {
	l := httpListener(name, port, host)
	l.Protocol = gwv1.HTTPSProtocolType
	l.TLS = &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: gwv1.ObjectName(secret)}}}
	return l
}

func backendRef(svc string, port int32) gwv1.HTTPBackendRef {
	return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(svc), Port: ptr.To(port)}}}
}

func pathRule(typ gwv1.PathMatchType, path string, refs ...gwv1.HTTPBackendRef) gwv1.HTTPRouteRule {
	return gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(typ), Value: ptr.To(path)}}}, BackendRefs: refs}
}

func testRoute(name, gw string, hosts []string, rules ...gwv1.HTTPRouteRule) *gwv1.HTTPRoute {
	r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-rt-" + name), Generation: 1},
		Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: gwv1.ObjectName(gw)}}}, Rules: rules}}
	for _, h := range hosts {
		r.Spec.Hostnames = append(r.Spec.Hostnames, gwv1.Hostname(h))
	}
	return r
}

func planFor(gw *gwv1.Gateway, svcs []*v1.Service, nodes []nodeIP, routes ...*gwv1.HTTPRoute) *gatewayPlan {
	return planWithGrants(gw, noGrants, svcs, nodes, routes...)
}

func planWithGrants(gw *gwv1.Gateway, grants refGrants, svcs []*v1.Service, nodes []nodeIP, routes ...*gwv1.HTTPRoute) *gatewayPlan {
	p := planGatewayListeners(gw, func(*gwv1.RouteNamespaces) (func(string) bool, error) { return nil, errNoSelector }, grants)
	p.attachRoutes(gw, routes, func(string) backendSource { return services(svcs...) }, nodes)
	return p
}

func listenerNamed(p *gatewayPlan, name string) *gwListener {
	for _, l := range p.listeners {
		if l.name == name {
			return l
		}
	}
	return nil
}

func groupOn(p *gatewayPlan, port int) *gwGroup {
	for _, g := range p.groups {
		if g.port == port {
			return g
		}
	}
	return nil
}

func TestPlanGatewayListeners(t *testing.T) {
	tcp := gwv1.Listener{Name: "tcp", Port: 9000, Protocol: gwv1.TCPProtocolType}
	crossNS := httpsListener("cross", 8443, "", "tls")
	crossNS.TLS.CertificateRefs[0].Namespace = ptr.To(gwv1.Namespace("other"))
	noCert := httpsListener("nocert", 9443, "", "x")
	noCert.TLS.CertificateRefs = nil
	kinds := httpListener("kinds", 8080, "")
	kinds.AllowedRoutes = &gwv1.AllowedRoutes{Kinds: []gwv1.RouteGroupKind{{Kind: "TCPRoute"}}}
	gw := testGateway("gw",
		httpListener("http", 80, ""),
		httpsListener("https", 443, "*.example.com", "tls"),
		httpsListener("https-b", 443, "b.example.org", "tls"),
		httpsListener("https-other-cert", 443, "c.example.org", "tls2"),
		httpsListener("on-80", 80, "x.example.com", "tls"),
		httpListener("dup", 80, ""),
		tcp, crossNS, noCert, kinds)
	p := planFor(gw, nil, nil)
	if !p.accepted.ok {
		t.Fatalf("gateway not accepted: %+v", p.accepted)
	}
	want := map[string]string{ // listener -> the first failing condition's reason ("" for none)
		"http": "", "https": "", "https-b": "",
		"https-other-cert": string(gwv1.ListenerReasonUnsupportedValue),
		"on-80":            string(gwv1.ListenerReasonProtocolConflict),
		"dup":              string(gwv1.ListenerReasonHostnameConflict),
		"tcp":              string(gwv1.ListenerReasonUnsupportedProtocol),
		"cross":            string(gwv1.ListenerReasonRefNotPermitted),
		"nocert":           string(gwv1.ListenerReasonInvalidCertificateRef),
		"kinds":            string(gwv1.ListenerReasonInvalidRouteKinds),
	}
	for name, reason := range want {
		l := listenerNamed(p, name)
		got := ""
		for _, c := range []cond{l.accepted, l.conflicted, l.resolved} {
			if !c.ok {
				got = c.reason
				break
			}
		}
		if got != reason {
			t.Errorf("listener %s: reason %q, want %q (%+v %+v %+v)", name, got, reason, l.accepted, l.conflicted, l.resolved)
		}
	}
	if k := listenerNamed(p, "kinds"); len(k.kinds) != 0 {
		t.Errorf("listener kinds: supported %v, want none", k.kinds)
	}
	if g := groupOn(p, 443); g == nil || len(g.listeners) != 2 || g.secret != (nsName{"default", "tls"}) || g.proto != ic.ProtocolHTTPS {
		t.Fatalf("443 group %+v", g)
	}
	if !hasProblem(p.problems, "listener tcp: protocol TCP is not supported") {
		t.Errorf("problems %+v", p.problems)
	}

	// spec.addresses: the IaaS picks the VIP.
	bad := testGateway("addr", httpListener("http", 80, ""))
	bad.Spec.Addresses = []gwv1.GatewaySpecAddress{{Value: "1.2.3.4"}}
	if p := planFor(bad, nil, nil); p.accepted.ok || p.accepted.reason != string(gwv1.GatewayReasonUnsupportedAddress) {
		t.Errorf("addresses: %+v", p.accepted)
	}
	// No valid listener at all.
	if p := planFor(testGateway("none", tcp), nil, nil); p.accepted.ok || p.accepted.reason != string(gwv1.GatewayReasonListenersNotValid) {
		t.Errorf("no listener: %+v", p.accepted)
	}
}

func hasProblem(ps []problem, substr string) bool {
	return slices.ContainsFunc(ps, func(p problem) bool { return strings.Contains(p.msg, substr) })
}

func TestPlanGatewayRoutesMapsToNodePorts(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	api := nodePortService("api", v1.ServiceTypeLoadBalancer, v1.ServicePort{Port: 8080, NodePort: 30808, Protocol: v1.ProtocolTCP})
	ci := nodePortService("ci", v1.ServiceTypeClusterIP, v1.ServicePort{Port: 80, Protocol: v1.ProtocolTCP})
	nodes := []nodeIP{{"n1", "10.0.0.1"}, {"n2", "10.0.0.2"}}
	gw := testGateway("gw", httpListener("http", 80, ""), httpsListener("https", 443, "*.example.com", "tls"))

	shop := testRoute("shop", "gw", []string{"shop.example.com"},
		pathRule(gwv1.PathMatchPathPrefix, "/api", backendRef("api", 8080)),
		pathRule(gwv1.PathMatchExact, "/", backendRef("web", 80)))
	shop.CreationTimestamp = metav1.NewTime(time.Unix(100, 0))
	// Newer, same host and path: the older route wins the rule.
	late := testRoute("late", "gw", []string{"shop.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/api", backendRef("web", 80)))
	late.CreationTimestamp = metav1.NewTime(time.Unix(200, 0))
	// Exact header matches go to the IaaS rule; of two with one name (any case) the first counts.
	header := testRoute("header", "gw", []string{"hdr.example.org"}, pathRule(gwv1.PathMatchPathPrefix, "/h", backendRef("web", 80)))
	header.Spec.Rules[0].Matches[0].Headers = []gwv1.HTTPHeaderMatch{{Name: "x-env", Value: "canary"}, {Name: "X-Env", Value: "prod"}, {Name: "x-team", Value: "a"}}
	hdrRegex := testRoute("hdregex", "gw", nil, pathRule(gwv1.PathMatchPathPrefix, "/hr", backendRef("web", 80)))
	hdrRegex.Spec.Rules[0].Matches[0].Headers = []gwv1.HTTPHeaderMatch{{Type: ptr.To(gwv1.HeaderMatchRegularExpression), Name: "x-env", Value: "can.*"}}
	filter := testRoute("filter", "gw", nil, pathRule(gwv1.PathMatchPathPrefix, "/f", backendRef("web", 80)))
	filter.Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{Hostname: ptr.To(gwv1.PreciseHostname("x.example.com"))}}}
	// Split 3:1 between web and api, and nothing to a missing Service of weight 0 or an
	// invalid one (whose requests go to the valid ones).
	web3, api1, gone0, bad := backendRef("web", 80), backendRef("api", 8080), backendRef("gone", 80), backendRef("bad", 80)
	web3.Weight, api1.Weight, gone0.Weight = ptr.To[int32](3), ptr.To[int32](1), ptr.To[int32](0)
	bad.Kind = ptr.To(gwv1.Kind("Bucket"))
	split := testRoute("split", "gw", nil, pathRule(gwv1.PathMatchPathPrefix, "/s", web3, api1, gone0, bad))
	regex := testRoute("regex", "gw", nil, pathRule(gwv1.PathMatchRegularExpression, "/r.*", backendRef("web", 80)))
	kind := testRoute("kind", "gw", []string{"kind.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	kind.Spec.Rules[0].BackendRefs[0].Kind = ptr.To(gwv1.Kind("Bucket"))
	missing := testRoute("missing", "gw", []string{"missing.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("nope", 80)))
	notNP := testRoute("notnp", "gw", []string{"ci.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("ci", 80)))
	crossNS := testRoute("cross", "gw", []string{"cross.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	crossNS.Spec.Rules[0].BackendRefs[0].Namespace = ptr.To(gwv1.Namespace("other"))
	section := testRoute("section", "gw", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	section.Spec.ParentRefs[0].SectionName = ptr.To(gwv1.SectionName("nope"))
	otherNS := testRoute("otherns", "gw", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	otherNS.Namespace = "team"
	otherNS.Spec.ParentRefs[0].Namespace = ptr.To(gwv1.Namespace("default"))
	host := testRoute("host", "gw", []string{"a.example.org"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	host.Spec.ParentRefs[0].SectionName = ptr.To(gwv1.SectionName("https"))
	notOurs := testRoute("elsewhere", "other-gw", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))

	p := planFor(gw, []*v1.Service{web, api, ci}, nodes, late, shop, header, hdrRegex, filter, split, regex, kind, missing, notNP, crossNS, section, otherNS, host, notOurs)

	status := func(name string) routeParent {
		t.Helper()
		ps := p.routes["default/"+name]
		if name == "otherns" {
			ps = p.routes["team/"+name]
		}
		if len(ps) != 1 {
			t.Fatalf("route %s: %d parent statuses", name, len(ps))
		}
		return ps[0]
	}
	for name, want := range map[string][2]string{ // accepted reason, resolvedRefs reason
		"shop":    {"Accepted", "ResolvedRefs"},
		"late":    {"Accepted", "ResolvedRefs"},
		"header":  {"Accepted", "ResolvedRefs"},
		"hdregex": {"UnsupportedValue", "ResolvedRefs"},
		"filter":  {"UnsupportedValue", "ResolvedRefs"},
		"split":   {"Accepted", "BackendNotFound"},
		"regex":   {"UnsupportedValue", "ResolvedRefs"},
		"kind":    {"Accepted", "InvalidKind"},
		"missing": {"Accepted", "BackendNotFound"},
		"notnp":   {"Accepted", "ResolvedRefs"}, // no endpoints yet: resolved, answers 503
		"cross":   {"Accepted", "RefNotPermitted"},
		"section": {"NoMatchingParent", "ResolvedRefs"},
		"otherns": {"NotAllowedByListeners", "ResolvedRefs"},
		"host":    {"NoMatchingListenerHostname", "ResolvedRefs"},
	} {
		s := status(name)
		if s.accepted.reason != want[0] || s.resolved.reason != want[1] || s.accepted.ok != (want[0] == "Accepted") || s.resolved.ok != (want[1] == "ResolvedRefs") {
			t.Errorf("route %s: accepted %+v resolved %+v, want %v", name, s.accepted, s.resolved, want)
		}
	}
	if _, ok := p.routes["default/elsewhere"]; ok {
		t.Error("a route of another Gateway got a status from this one")
	}
	for _, want := range []string{"rules[0].matches[0].headers[0]: type RegularExpression is not supported (Exact is)", "rules[0].filters[0]: filter type URLRewrite is not supported", "rules[0].backendRefs[3]: backend kind Bucket is not supported",
		"path type RegularExpression is not supported", "backend kind Bucket is not supported", "Service default/nope not found", "Service default/ci port 80 has no ready endpoints",
		"no ReferenceGrant there allows HTTPRoutes of default", "no listener hostname matches"} {
		found := false
		for _, probs := range p.routeProb {
			found = found || hasProblem(probs, want)
		}
		if !found {
			t.Errorf("no route problem says %q: %+v", want, p.routeProb)
		}
	}

	// HTTP on 80 (no hostname): shop's and the broken routes' rules; HTTPS on 443 only
	// the hosts under *.example.com. Refused routes add nothing.
	hosts := func(g *gwGroup) map[string][]string {
		out := map[string][]string{}
		for _, r := range g.rules {
			var bs []string
			for _, b := range r.Backends {
				bs = append(bs, fmt.Sprintf("%s:%d", b.IP, b.Port))
			}
			out[r.Host+" "+string(r.PathType)+" "+r.Path] = bs
		}
		return out
	}
	want80 := map[string][]string{
		"shop.example.com Prefix /api":  {"10.0.0.1:30808", "10.0.0.2:30808"},
		"shop.example.com Exact /":      {"10.0.0.1:30080", "10.0.0.2:30080"},
		"kind.example.com Prefix /":     nil, // 503, never another Service
		"missing.example.com Prefix /":  nil,
		"ci.example.com Prefix /":       nil,
		"cross.example.com Prefix /":    nil,
		"a.example.org Prefix /":        nil, // host's parentRef names https only
		"shop.example.com Prefix /api2": nil,
		"hdr.example.org Prefix /h":     {"10.0.0.1:30080", "10.0.0.2:30080"},
		" Prefix /s":                    {"10.0.0.1:30080", "10.0.0.2:30080", "10.0.0.1:30808", "10.0.0.2:30808"},
	}
	delete(want80, "a.example.org Prefix /")
	delete(want80, "shop.example.com Prefix /api2")
	got80 := hosts(groupOn(p, 80))
	if len(got80) != len(want80) {
		t.Errorf("port 80 rules %v, want %v", got80, want80)
	}
	for k, v := range want80 {
		g, ok := got80[k]
		if !ok || !slices.Equal(g, v) {
			t.Errorf("port 80 rule %s: %v (present %v), want %v", k, g, ok, v)
		}
	}
	got443 := hosts(groupOn(p, 443))
	if _, ok := got443["shop.example.com Prefix /api"]; !ok || len(got443) != 7 {
		t.Errorf("port 443 rules %v", got443)
	}
	if l := listenerNamed(p, "http"); l.attached != 8 {
		t.Errorf("http listener attached %d routes, want 8 (shop, late, header, split, kind, missing, notnp, cross)", l.attached)
	}
	for _, r := range groupOn(p, 80).rules {
		if r.Path != "/s" {
			continue
		}
		var ws []int
		for _, b := range r.Backends {
			ws = append(ws, b.Weight)
		}
		// web: 3/2 per node, api: 1/2 per node, scaled to 100.
		if want := []int{100, 100, 33, 33}; !slices.Equal(ws, want) || r.FixedStatus != 0 {
			t.Errorf("split rule weights %v fixedStatus %d, want %v and 0", ws, r.FixedStatus, want)
		}
	}
	// A rule with an invalid backend answers 500; a valid Service without ready
	// endpoints keeps its empty group (the IaaS answers 503).
	fixed := map[string]int{"kind.example.com": 500, "missing.example.com": 500, "cross.example.com": 500, "ci.example.com": 0, "shop.example.com": 0, "hdr.example.org": 0}
	for _, r := range groupOn(p, 80).rules {
		if r.FixedStatus != fixed[r.Host] {
			t.Errorf("rule %s %s: fixedStatus %d, want %d", r.Host, r.Path, r.FixedStatus, fixed[r.Host])
		}
	}
	for _, r := range groupOn(p, 80).rules {
		want := []ic.HeaderMatch(nil)
		if r.Host == "hdr.example.org" {
			want = []ic.HeaderMatch{{Name: "x-env", Value: "canary"}, {Name: "x-team", Value: "a"}}
		}
		if !slices.Equal(r.Headers, want) {
			t.Errorf("rule %s %s: headers %+v, want %+v", r.Host, r.Path, r.Headers, want)
		}
	}
}

func TestIntersectHosts(t *testing.T) {
	for _, c := range []struct {
		listener string
		route    []gwv1.Hostname
		want     []string
	}{
		{"", nil, []string{""}},
		{"a.example.com", nil, []string{"a.example.com"}},
		{"", []gwv1.Hostname{"a.example.com", "b.example.com"}, []string{"a.example.com", "b.example.com"}},
		{"*.example.com", []gwv1.Hostname{"a.example.com", "a.b.example.com", "example.com", "a.example.org"}, []string{"a.example.com", "a.b.example.com"}},
		{"a.example.com", []gwv1.Hostname{"*.example.com"}, []string{"a.example.com"}},
		{"*.example.com", []gwv1.Hostname{"*.example.com", "*.a.example.com"}, []string{"*.example.com", "*.a.example.com"}},
		{"a.example.com", []gwv1.Hostname{"b.example.com"}, nil},
	} {
		if got := intersectHosts(c.listener, c.route); !slices.Equal(got, c.want) {
			t.Errorf("intersectHosts(%q, %v) = %v, want %v", c.listener, c.route, got, c.want)
		}
	}
}

type gwEnv struct {
	*env
	gw  *gwfake.Clientset
	ctl *GatewayController
	ctx context.Context
}

func newGwEnv(t *testing.T, core []runtime.Object, gws ...runtime.Object) *gwEnv {
	t.Helper()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, o := range core {
		if err := e.kube.Tracker().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	// Created through the typed client: the fake's tracker files an object given to
	// NewSimpleClientset under the first version its scheme lists (v1beta1 aliases the
	// v1 types), where the v1 client does not see it.
	gc := gwfake.NewSimpleClientset()
	for _, o := range gws {
		var err error
		switch o := o.(type) {
		case *gwv1.GatewayClass:
			_, err = gc.GatewayV1().GatewayClasses().Create(ctx, o, metav1.CreateOptions{})
		case *gwv1.Gateway:
			_, err = gc.GatewayV1().Gateways(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *gwv1.HTTPRoute:
			_, err = gc.GatewayV1().HTTPRoutes(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			err = fmt.Errorf("unexpected %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f := informers.NewSharedInformerFactory(e.kube, 0)
	ctl := e.cloud.NewGatewayController(e.kube, gc, f, true)
	f.Start(ctx.Done())
	ctl.start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	for _, s := range ctl.synced {
		eventually(t, "gateway caches", func() error {
			if !s() {
				return fmt.Errorf("not synced")
			}
			return nil
		})
	}
	return &gwEnv{env: e, gw: gc, ctl: ctl, ctx: ctx}
}

func (e *gwEnv) sync(t *testing.T, name string) {
	t.Helper()
	if after, err := e.ctl.sync(e.ctx, "default/"+name); err != nil || after != 0 {
		t.Fatalf("sync %s: after %v, %v", name, after, err)
	}
}

func (e *gwEnv) lb(t *testing.T, uid types.UID) *ic.LoadBalancer {
	t.Helper()
	resp, err := e.fake.DescribeLoadBalancers(e.ctx, &ic.DescribeLoadBalancersRequest{Tags: map[string]string{TagGatewayUID: string(uid)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.LoadBalancers) > 1 {
		t.Fatalf("%d LBs for one Gateway", len(resp.LoadBalancers))
	}
	if len(resp.LoadBalancers) == 0 {
		return nil
	}
	return &resp.LoadBalancers[0]
}

// cachedGW waits until the controller's lister sees the Gateway satisfy f.
func (e *gwEnv) cachedGW(t *testing.T, name string, f func(*gwv1.Gateway) bool) {
	t.Helper()
	eventually(t, "gateway cache", func() error {
		g, err := e.ctl.gateways.Gateways("default").Get(name)
		if err != nil {
			return err
		}
		if !f(g) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

func condOf(conds []metav1.Condition, typ string) string {
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		return "missing"
	}
	return string(c.Status) + "/" + c.Reason
}

func TestGatewayLifecycle(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	api := nodePortService("api", v1.ServiceTypeNodePort, v1.ServicePort{Port: 8080, NodePort: 30808, Protocol: v1.ProtocolTCP})
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "iaas", Generation: 1}, Spec: gwv1.GatewayClassSpec{ControllerName: GatewayControllerName}}
	gw := testGateway("shop", httpListener("http", 80, ""), httpsListener("https", 443, "", "shop-tls"))
	route := testRoute("shop", "shop", []string{"a.example.com"},
		pathRule(gwv1.PathMatchPathPrefix, "/api", backendRef("api", 8080)),
		pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	bad := testRoute("bad", "shop", []string{"b.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	bad.Spec.Rules[0].Matches[0].Method = ptr.To(gwv1.HTTPMethodPost)
	e := newGwEnv(t, []runtime.Object{web, api, tlsSecret(t, "shop-tls", "a.example.com"), readyNode("n1", "10.0.0.1", ""), readyNode("n2", "10.0.0.2", "")},
		class, gw, route, bad)

	if err := e.ctl.syncClass(e.ctx, "iaas"); err != nil {
		t.Fatal(err)
	}
	gc, _ := e.gw.GatewayV1().GatewayClasses().Get(e.ctx, "iaas", metav1.GetOptions{})
	if got := condOf(gc.Status.Conditions, "Accepted"); got != "True/Accepted" {
		t.Fatalf("class Accepted %s", got)
	}

	e.sync(t, "shop")
	lb := e.lb(t, gw.UID)
	if lb == nil {
		t.Fatal("no LB")
	}
	if lb.Tags[TagCluster] != "test" || lb.Tags[TagGateway] != "default.shop" || lb.Tags[TagIngressUID] != "" || lb.Tags[TagServiceUID] != "" {
		t.Fatalf("tags %v", lb.Tags)
	}
	http, https := listener(lb, ic.ProtocolHTTP), listener(lb, ic.ProtocolHTTPS)
	if http == nil || https == nil || http.Port != 80 || https.Port != 443 || len(http.Rules) != 2 {
		t.Fatalf("listeners %+v", lb.Listeners)
	}
	if got := ruleBackends(https, "a.example.com"); !slices.Equal(got, []string{"10.0.0.1:30808", "10.0.0.2:30808"}) {
		t.Fatalf("a.example.com /api backends %v", got)
	}
	certs, _ := e.fake.DescribeCertificates(e.ctx, &ic.DescribeCertificatesRequest{})
	if len(certs.Certificates) != 1 || https.CertificateID != certs.Certificates[0].CertificateID || certs.Certificates[0].Tags[TagGatewayUID] != string(gw.UID) {
		t.Fatalf("certificates %+v, listener uses %s", certs.Certificates, https.CertificateID)
	}
	cur, _ := e.gw.GatewayV1().Gateways("default").Get(e.ctx, "shop", metav1.GetOptions{})
	if !slices.Contains(cur.Finalizers, GatewayFinalizer) {
		t.Fatalf("finalizers %v", cur.Finalizers)
	}
	if len(cur.Status.Addresses) != 1 || cur.Status.Addresses[0].Value != lb.VIP {
		t.Fatalf("addresses %+v, VIP %s", cur.Status.Addresses, lb.VIP)
	}
	if a, p := condOf(cur.Status.Conditions, "Accepted"), condOf(cur.Status.Conditions, "Programmed"); a != "True/Accepted" || p != "True/Programmed" {
		t.Fatalf("gateway Accepted %s Programmed %s", a, p)
	}
	if len(cur.Status.Listeners) != 2 || cur.Status.Listeners[0].AttachedRoutes != 1 || condOf(cur.Status.Listeners[1].Conditions, "Programmed") != "True/Programmed" {
		t.Fatalf("listener status %+v", cur.Status.Listeners)
	}
	rt, _ := e.gw.GatewayV1().HTTPRoutes("default").Get(e.ctx, "shop", metav1.GetOptions{})
	if len(rt.Status.Parents) != 1 || rt.Status.Parents[0].ControllerName != GatewayControllerName ||
		condOf(rt.Status.Parents[0].Conditions, "Accepted") != "True/Accepted" || condOf(rt.Status.Parents[0].Conditions, "ResolvedRefs") != "True/ResolvedRefs" {
		t.Fatalf("route status %+v", rt.Status)
	}
	br, _ := e.gw.GatewayV1().HTTPRoutes("default").Get(e.ctx, "bad", metav1.GetOptions{})
	if len(br.Status.Parents) != 1 || condOf(br.Status.Parents[0].Conditions, "Accepted") != "False/UnsupportedValue" {
		t.Fatalf("bad route status %+v", br.Status)
	}
	if evs := e.events(); !hasEvent(evs, "Warning HTTPRouteUnsupported") || !hasEvent(evs, "method matches are not supported") {
		t.Fatalf("events %v", evs)
	}
	if ruleBackends(http, "b.example.com") != nil {
		t.Fatal("the refused route's host is on the LB")
	}

	// Steady: no IaaS writes.
	e.cachedGW(t, "shop", func(g *gwv1.Gateway) bool { return len(g.Status.Addresses) == 1 })
	eventually(t, "route cache", func() error {
		r, err := e.ctl.routes.HTTPRoutes("default").Get("shop")
		if err != nil || len(r.Status.Parents) != 1 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	e.fake.ResetCalls()
	e.sync(t, "shop")
	if w := writes(e.fake.AllCalls()); w != 0 {
		t.Fatalf("%d writes on a steady sync: %v", w, e.fake.AllCalls())
	}

	// The route moves / to api: the rule follows.
	route, _ = e.gw.GatewayV1().HTTPRoutes("default").Get(e.ctx, "shop", metav1.GetOptions{})
	route.Spec.Rules = route.Spec.Rules[1:]
	route.Spec.Rules[0].BackendRefs = []gwv1.HTTPBackendRef{backendRef("api", 8080)}
	if _, err := e.gw.GatewayV1().HTTPRoutes("default").Update(e.ctx, route, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rule follows the route", func() error {
		if _, err := e.ctl.sync(e.ctx, "default/shop"); err != nil {
			return err
		}
		l := listener(e.lb(t, gw.UID), ic.ProtocolHTTP)
		if len(l.Rules) != 1 || !slices.Equal(ruleBackends(l, "a.example.com"), []string{"10.0.0.1:30808", "10.0.0.2:30808"}) {
			return fmt.Errorf("rules %+v", l.Rules)
		}
		return nil
	})

	// Delete: LB and certificate go, the route loses this Gateway's status, the finalizer goes.
	cur, _ = e.gw.GatewayV1().Gateways("default").Get(e.ctx, "shop", metav1.GetOptions{})
	now := metav1.Now()
	cur.DeletionTimestamp = &now
	if _, err := e.gw.GatewayV1().Gateways("default").Update(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.cachedGW(t, "shop", func(g *gwv1.Gateway) bool { return g.DeletionTimestamp != nil })
	e.sync(t, "shop")
	if lb := e.lb(t, gw.UID); lb != nil {
		t.Fatalf("LB left: %+v", lb)
	}
	if c, _ := e.fake.DescribeCertificates(e.ctx, &ic.DescribeCertificatesRequest{}); len(c.Certificates) != 0 {
		t.Fatalf("certificates left: %+v", c.Certificates)
	}
	cur, _ = e.gw.GatewayV1().Gateways("default").Get(e.ctx, "shop", metav1.GetOptions{})
	if slices.Contains(cur.Finalizers, GatewayFinalizer) {
		t.Fatalf("finalizer kept: %v", cur.Finalizers)
	}
	rt, _ = e.gw.GatewayV1().HTTPRoutes("default").Get(e.ctx, "shop", metav1.GetOptions{})
	if len(rt.Status.Parents) != 0 {
		t.Fatalf("route status kept: %+v", rt.Status.Parents)
	}
	if err := e.ctl.cleanup(e.ctx, cur); err != nil { // again: success
		t.Fatal(err)
	}
}

func TestGatewayOfOtherClassIsLeftAlone(t *testing.T) {
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: gwv1.GatewayClassSpec{ControllerName: "example.com/gateway"}}
	gw := testGateway("x", httpListener("http", 80, ""))
	gw.Spec.GatewayClassName = "other"
	e := newGwEnv(t, nil, class, gw)
	e.sync(t, "x")
	if err := e.ctl.syncClass(e.ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if lb := e.lb(t, gw.UID); lb != nil {
		t.Fatal("LB for another class")
	}
	cur, _ := e.gw.GatewayV1().Gateways("default").Get(e.ctx, "x", metav1.GetOptions{})
	gc, _ := e.gw.GatewayV1().GatewayClasses().Get(e.ctx, "other", metav1.GetOptions{})
	if len(cur.Finalizers) != 0 || len(cur.Status.Conditions) != 0 || len(gc.Status.Conditions) != 0 {
		t.Fatalf("touched: %+v %+v", cur, gc.Status)
	}
}

func TestGatewayBadSecretAndIaaSFailure(t *testing.T) {
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "iaas"}, Spec: gwv1.GatewayClassSpec{ControllerName: GatewayControllerName}}
	gw := testGateway("tls", httpListener("http", 80, ""), httpsListener("https", 443, "", "missing"))
	e := newGwEnv(t, []runtime.Object{readyNode("n1", "10.0.0.1", "")}, class, gw)
	e.sync(t, "tls")
	lb := e.lb(t, gw.UID)
	if lb == nil || listener(lb, ic.ProtocolHTTPS) != nil || listener(lb, ic.ProtocolHTTP) == nil {
		t.Fatalf("want HTTP only until the Secret exists: %+v", lb)
	}
	cur, _ := e.gw.GatewayV1().Gateways("default").Get(e.ctx, "tls", metav1.GetOptions{})
	if got := condOf(cur.Status.Listeners[1].Conditions, "ResolvedRefs"); got != "False/InvalidCertificateRef" {
		t.Fatalf("https ResolvedRefs %s", got)
	}
	if got := condOf(cur.Status.Listeners[1].Conditions, "Programmed"); got != "False/Invalid" {
		t.Fatalf("https Programmed %s", got)
	}
	if evs := e.events(); !hasEvent(evs, "Warning GatewayListenerInvalid Secret default/missing: not found") {
		t.Fatalf("events %v", evs)
	}

	// An IaaS failure is an error (retried) and a Warning.
	e.fake.InjectError(ic.ActionDescribeCertificates, ic.Errorf(ic.CodeInternalError, "certificate store down"), 1)
	if _, err := e.kube.CoreV1().Secrets("default").Create(e.ctx, tlsSecret(t, "missing", "x"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "secret cache", func() error {
		_, err := e.ctl.certs.secret("default", "missing")
		return err
	})
	if _, err := e.ctl.sync(e.ctx, "default/tls"); err == nil {
		t.Fatal("no error on an IaaS failure")
	}
	if evs := e.events(); !hasEvent(evs, "Warning GatewaySyncFailed") {
		t.Fatalf("events %v", evs)
	}
	e.sync(t, "tls")
	if lb := e.lb(t, gw.UID); listener(lb, ic.ProtocolHTTPS) == nil {
		t.Fatal("no HTTPS once the Secret exists")
	}
}

func TestSweeperDeletesOrphanedGatewayLBs(t *testing.T) {
	live := testGateway("live", httpListener("http", 80, ""))
	e := newGwEnv(t, nil, live)
	kept := plantLB(t, e.env, "kept", map[string]string{TagCluster: "test", TagGatewayUID: string(live.UID)})
	orphan := plantLB(t, e.env, "orphan", map[string]string{TagCluster: "test", TagGatewayUID: "gone"})
	s := newLBSweeper(e.cloud.lbs, e.cloud.lbs.store.(*iaasLBs), e.ctl.services, func() bool { return true }, time.Minute)
	s.certs = &ingressCerts{api: e.fake, cluster: "test"}
	now := time.Now()
	s.now = func() time.Time { return now }
	// Without the Gateway controller, Gateway LBs are not the sweeper's to judge.
	for range 2 {
		if n, err := s.sweep(e.ctx); n != 0 || err != nil {
			t.Fatal(n, err)
		}
		now = now.Add(2 * time.Minute)
	}
	s.gateways = e.cloud.gatewayOwners.Load
	if n, err := s.sweep(e.ctx); n != 0 || err != nil { // grace starts now
		t.Fatal(n, err)
	}
	now = now.Add(2 * time.Minute)
	if n, err := s.sweep(e.ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if _, ok := e.fake.LoadBalancer(orphan); ok {
		t.Fatal("orphan LB kept")
	}
	if _, ok := e.fake.LoadBalancer(kept); !ok {
		t.Fatal("live Gateway's LB deleted")
	}
}

// A Gateway hostname "*.example.com" matches any number of labels (a.b.example.com
// too), unlike an Ingress wildcard: every "*." rule the plan makes spans labels, and
// no other rule does.
func TestPlanGatewayWildcardHostsSpanLabels(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	gw := testGateway("gw", httpListener("http", 80, "*.example.com"))
	inherit := testRoute("inherit", "gw", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	own := testRoute("own", "gw", []string{"a.example.com", "*.b.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/own", backendRef("web", 80)))
	p := planFor(gw, []*v1.Service{web}, []nodeIP{{"n1", "10.0.0.1"}}, inherit, own)
	want := map[string]bool{"*.example.com": true, "a.example.com": false, "*.b.example.com": true}
	got := map[string]bool{}
	for _, r := range groupOn(p, 80).rules {
		got[r.Host] = r.WildcardSpansLabels
	}
	if !maps.Equal(got, want) {
		t.Errorf("rule hosts and spanning %v, want %v", got, want)
	}
}

// RequestHeaderModifier and RequestRedirect filters become the IaaS rule's header
// edits and redirect (302 by default, no backends); a redirect that rewrites the path
// and header edits the IaaS refuses (Host) make the route unsupported.
func TestPlanGatewayFilters(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	gw := testGateway("gw", httpListener("http", 80, ""))
	edit := testRoute("edit", "gw", []string{"edit.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	edit.Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
		Set: []gwv1.HTTPHeader{{Name: "X-Set", Value: "s"}}, Add: []gwv1.HTTPHeader{{Name: "X-Add", Value: "a"}}, Remove: []string{"X-Drop"}}}}
	moved := testRoute("moved", "gw", []string{"moved.example.com"}, gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect,
		RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Hostname: ptr.To(gwv1.PreciseHostname("example.org"))}}}})
	perm := testRoute("perm", "gw", []string{"perm.example.com"}, gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect,
		RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Scheme: ptr.To("https"), Port: ptr.To(gwv1.PortNumber(8443)), StatusCode: ptr.To(301)}}}})
	pathRedirect := testRoute("pathredirect", "gw", []string{"p.example.com"}, gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect,
		RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Path: &gwv1.HTTPPathModifier{Type: gwv1.FullPathHTTPPathModifier, ReplaceFullPath: ptr.To("/x")}}}}})
	hostEdit := testRoute("hostedit", "gw", []string{"h.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backendRef("web", 80)))
	hostEdit.Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
		Set: []gwv1.HTTPHeader{{Name: "Host", Value: "other"}}}}}
	p := planFor(gw, []*v1.Service{web}, []nodeIP{{"n1", "10.0.0.1"}}, edit, moved, perm, pathRedirect, hostEdit)

	rules := map[string]ic.L7Rule{}
	for _, r := range groupOn(p, 80).rules {
		rules[r.Host] = r
	}
	if len(rules) != 3 {
		t.Fatalf("rules %+v, want edit, moved and perm only", rules)
	}
	e := rules["edit.example.com"]
	if want := (&ic.HeaderEdits{Set: []ic.HeaderMatch{{Name: "X-Set", Value: "s"}}, Add: []ic.HeaderMatch{{Name: "X-Add", Value: "a"}}, Remove: []string{"X-Drop"}}); e.RequestHeaders == nil ||
		!slices.Equal(e.RequestHeaders.Set, want.Set) || !slices.Equal(e.RequestHeaders.Add, want.Add) || !slices.Equal(e.RequestHeaders.Remove, want.Remove) || len(e.Backends) != 1 || e.Redirect != nil {
		t.Errorf("edit rule %+v (edits %+v)", e, e.RequestHeaders)
	}
	for host, want := range map[string]ic.Redirect{"moved.example.com": {Host: "example.org", StatusCode: 302}, "perm.example.com": {Scheme: "https", Port: 8443, StatusCode: 301}} {
		r := rules[host]
		if r.Redirect == nil || *r.Redirect != want || len(r.Backends) != 0 || r.FixedStatus != 0 {
			t.Errorf("%s rule %+v (redirect %+v), want redirect %+v", host, r, r.Redirect, want)
		}
	}
	for name, want := range map[string]string{"pathredirect": "requestRedirect.path is not supported", "hostedit": "Host cannot be edited"} {
		if s := p.routes["default/"+name]; len(s) != 1 || s[0].accepted.reason != string(gwv1.RouteReasonUnsupportedValue) || !strings.Contains(s[0].accepted.msg, want) {
			t.Errorf("route %s: %+v, want UnsupportedValue saying %q", name, s, want)
		}
	}
}
