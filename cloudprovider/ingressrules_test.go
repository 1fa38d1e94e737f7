package cloudprovider

import (
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func svcBackend(name string, port any) networkingv1.IngressBackend {
	b := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name}}
	switch p := port.(type) {
	case int:
		b.Service.Port.Number = int32(p)
	case string:
		b.Service.Port.Name = p
	}
	return b
}

func ingPath(path string, pt networkingv1.PathType, b networkingv1.IngressBackend) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: path, PathType: &pt, Backend: b}
}

func ingRule(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
}

func nodePortService(name string, typ v1.ServiceType, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: v1.ServiceSpec{Type: typ, Ports: ports}}
}

// services is a backendSource of list without EndpointSlices (withSlices adds them).
func services(list ...*v1.Service) backendSource {
	return backendSource{services: func(name string) (*v1.Service, error) {
		for _, s := range list {
			if s.Name == name {
				return s, nil
			}
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "services"}, name)
	}}
}

func TestPlanIngressMapsRulesToNodePorts(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Name: "http", Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	api := nodePortService("api", v1.ServiceTypeLoadBalancer,
		v1.ServicePort{Name: "grpc", Port: 9000, NodePort: 30900, Protocol: v1.ProtocolTCP},
		v1.ServicePort{Name: "rest", Port: 8080, NodePort: 30808, Protocol: v1.ProtocolTCP})
	internal := nodePortService("internal", v1.ServiceTypeClusterIP, v1.ServicePort{Port: 80, Protocol: v1.ProtocolTCP})
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "i", Namespace: "default"}, Spec: networkingv1.IngressSpec{
		DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
		Rules: []networkingv1.IngressRule{
			ingRule("a.example.com",
				ingPath("/", networkingv1.PathTypePrefix, svcBackend("web", 80)),
				ingPath("/api", networkingv1.PathTypePrefix, svcBackend("api", "rest")),
				ingPath("/exact", networkingv1.PathTypeExact, svcBackend("api", 9000)),
				ingPath("", networkingv1.PathTypeImplementationSpecific, svcBackend("api", 9000)),
				ingPath("/api", networkingv1.PathTypePrefix, svcBackend("web", 80)), // duplicate: first wins
			),
			ingRule("*.example.com",
				ingPath("/missing", networkingv1.PathTypePrefix, svcBackend("nope", 80)),
				ingPath("/clusterip", networkingv1.PathTypePrefix, svcBackend("internal", 80)),
				ingPath("/badport", networkingv1.PathTypePrefix, svcBackend("api", "nope")),
				ingPath("/badnum", networkingv1.PathTypePrefix, svcBackend("api", 1234)),
				networkingv1.HTTPIngressPath{Path: "/res", Backend: networkingv1.IngressBackend{Resource: &v1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}}},
			),
		},
	}}
	// Not-ready and excluded nodes are out, as for the L4 load balancers.
	notReady := readyNode("n3", "10.0.0.3", "")
	notReady.Status.Conditions[0].Status = v1.ConditionFalse
	excluded := readyNode("n4", "10.0.0.4", "")
	excluded.Labels[v1.LabelNodeExcludeBalancers] = "true"
	nodes := backendNodes([]*v1.Node{readyNode("n2", "10.0.0.2", ""), readyNode("n1", "10.0.0.1", ""), notReady, excluded}, nil)

	p := planIngress(ing, services(web, api, internal), nodes)

	be := func(port int) []ic.Backend {
		return []ic.Backend{{IP: "10.0.0.1", Port: port, Weight: 10}, {IP: "10.0.0.2", Port: port, Weight: 10}}
	}
	want := []ic.L7Rule{
		{Host: "a.example.com", Path: "/", PathType: ic.PathPrefix, Backends: be(30080)},
		{Host: "a.example.com", Path: "/api", PathType: ic.PathPrefix, Backends: be(30808)},
		{Host: "a.example.com", Path: "/exact", PathType: ic.PathExact, Backends: be(30900)},
		// ImplementationSpecific is Prefix; an empty path is "/" (a duplicate of the first
		// only if the type also matched, which Prefix does).
		{Host: "*.example.com", Path: "/missing", PathType: ic.PathPrefix, Backends: []ic.Backend{}},
		{Host: "*.example.com", Path: "/clusterip", PathType: ic.PathPrefix, Backends: []ic.Backend{}},
		{Host: "*.example.com", Path: "/badport", PathType: ic.PathPrefix, Backends: []ic.Backend{}},
		{Host: "*.example.com", Path: "/badnum", PathType: ic.PathPrefix, Backends: []ic.Backend{}},
		{Host: "*.example.com", Path: "/res", PathType: ic.PathPrefix, Backends: []ic.Backend{}},
	}
	if !slices.EqualFunc(p.rules, want, sameRule) {
		t.Fatalf("rules:\n got %+v\nwant %+v", p.rules, want)
	}
	if !slices.Equal(p.fallback, be(30080)) {
		t.Fatalf("default backend %+v", p.fallback)
	}
	msgs := joinProblems(p.problems)
	for reason, substr := range map[string][]string{
		ReasonIngressServiceNotFound: {"Service default/nope not found"},
		ReasonIngressNoEndpoints:     {`rules[1].paths[1] (host "*.example.com", path "/clusterip"): Service default/internal port 80 has no ready endpoints`},
		ReasonIngressPortNotFound:    {`no port "nope"`, "no port 1234"},
		ReasonIngressUnsupported:     {"resource backends are not supported", `rules[0].paths[3] (host "a.example.com", path "")`, `rules[0].paths[4]`},
	} {
		for _, s := range substr {
			if !strings.Contains(msgs[reason], s) {
				t.Errorf("%s: %q does not say %q", reason, msgs[reason], s)
			}
		}
	}
	if len(msgs) != 4 {
		t.Errorf("reasons %v", msgs)
	}

	// Listeners: HTTP always, HTTPS only with a certificate, same rules.
	ls := ingressListeners(p, "")
	if len(ls) != 1 || ls["HTTP/80"].Port != 80 || len(ls["HTTP/80"].Rules) != len(want) {
		t.Fatalf("listeners without a certificate: %+v", ls)
	}
	ls = ingressListeners(p, "cert-1")
	if https := ls["HTTPS/443"]; https.CertificateID != "cert-1" || !slices.EqualFunc(https.Rules, want, sameRule) || ls["HTTP/80"].CertificateID != "" {
		t.Fatalf("listeners with a certificate: %+v", ls)
	}
}

func TestPlanIngressBrokenDefaultBackendAnswers503(t *testing.T) {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "i", Namespace: "default"}, Spec: networkingv1.IngressSpec{
		DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "gone", Port: networkingv1.ServiceBackendPort{Number: 80}}},
	}}
	p := planIngress(ing, services(), []nodeIP{{"n1", "10.0.0.1"}})
	// An empty default group is 503; nil (no default backend at all) is 404.
	if p.fallback == nil || len(p.fallback) != 0 || len(p.problems) != 1 {
		t.Fatalf("%+v", p)
	}
	if p := planIngress(&networkingv1.Ingress{}, services(), nil); p.fallback != nil {
		t.Fatalf("no default backend: %+v", p.fallback)
	}
}

func TestIngressSameListenerSeesRuleChanges(t *testing.T) {
	a := ic.ListenerSpec{Protocol: ic.ProtocolHTTP, Port: 80, Rules: []ic.L7Rule{{Host: "a", Path: "/", PathType: ic.PathPrefix,
		Backends: []ic.Backend{{IP: "10.0.0.2", Port: 1}, {IP: "10.0.0.1", Port: 1}}}}}
	b := a
	b.Rules = []ic.L7Rule{{Host: "a", Path: "/", PathType: ic.PathPrefix, Backends: []ic.Backend{{IP: "10.0.0.1", Port: 1, Weight: 10}, {IP: "10.0.0.2", Port: 1, Weight: 10}}}}
	if !sameListener(a, b) {
		t.Fatal("order and default weights must not count as a change")
	}
	b.Rules[0].Path = "/x"
	if sameListener(a, b) {
		t.Fatal("a path change must count")
	}
	c := a
	c.CertificateID = "cert-2"
	if sameListener(a, c) {
		t.Fatal("a certificate change must count")
	}
}
