package cloudprovider

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// epSlice is an EndpointSlice of Service svc with ports (name -> port, "" unnamed) and
// endpoints.
func epSlice(name, svc string, ports map[string]int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps,
	}
	for n, p := range ports {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(n), Port: ptr.To(p), Protocol: ptr.To(v1.ProtocolTCP)})
	}
	return s
}

// ep is an endpoint at ip; ready and terminating nil leave the condition unset.
func ep(ip string, ready, terminating *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
}

// withSlices adds EndpointSlices to a backendSource made by services; the getter
// returns them all, whatever the Service, as a careless lister would.
func withSlices(src backendSource, list ...*discoveryv1.EndpointSlice) backendSource {
	src.slices = func(string) ([]*discoveryv1.EndpointSlice, error) { return list, nil }
	return src
}

func addrs(bs []ic.Backend) []string {
	var out []string
	for _, b := range bs {
		out = append(out, fmt.Sprintf("%s:%d", b.IP, b.Port))
	}
	return out
}

func TestClusterIPBackendsArePodIPsAtTargetPort(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	web := nodePortService("web", v1.ServiceTypeClusterIP,
		v1.ServicePort{Name: "http", Port: 80, Protocol: v1.ProtocolTCP},
		v1.ServicePort{Name: "admin", Port: 9000, Protocol: v1.ProtocolTCP})
	headless := nodePortService("headless", v1.ServiceTypeClusterIP, v1.ServicePort{Port: 80})
	headless.Spec.ClusterIP = v1.ClusterIPNone
	np := nodePortService("np", v1.ServiceTypeNodePort, v1.ServicePort{Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	lbNoNP := nodePortService("lbnonp", v1.ServiceTypeLoadBalancer, v1.ServicePort{Port: 80, Protocol: v1.ProtocolTCP})
	ext := nodePortService("ext", v1.ServiceTypeExternalName, v1.ServicePort{Port: 80})
	udp := nodePortService("udp", v1.ServiceTypeClusterIP, v1.ServicePort{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP})
	empty := nodePortService("empty", v1.ServiceTypeClusterIP, v1.ServicePort{Name: "http", Port: 80, Protocol: v1.ProtocolTCP})
	svcs := services(web, headless, np, lbNoNP, ext, udp, empty)

	src := withSlices(svcs,
		epSlice("web-a", "web", map[string]int32{"http": 8080, "admin": 9090},
			ep("10.244.1.5", yes, nil),
			ep("10.244.2.7", nil, nil), // nil Ready counts as ready
			ep("10.244.1.6", no, nil),  // not ready
			ep("10.244.1.8", yes, yes), // terminating
			discoveryv1.Endpoint{},     // no addresses: skipped
		),
		// The same pod in a second slice while it moves: once.
		epSlice("web-b", "web", map[string]int32{"http": 8080, "admin": 9090}, ep("10.244.2.7", yes, nil), ep("10.244.0.3", yes, nil)),
		// Another Service's slice never leaks in.
		epSlice("other", "other", map[string]int32{"http": 8080}, ep("10.244.9.9", yes, nil)),
		// Unnamed Service port: the slice's only port.
		epSlice("headless-a", "headless", map[string]int32{"": 8443}, ep("10.244.3.1", yes, nil)),
		epSlice("lbnonp-a", "lbnonp", map[string]int32{"": 8000}, ep("10.244.4.1", yes, nil)),
		// Slices whose port does not fit: no ready endpoints, and the note says why.
		epSlice("empty-a", "empty", map[string]int32{"metrics": 9100}, ep("10.244.5.1", yes, nil)),
	)
	nodes := []nodeIP{{"n1", "10.0.0.1"}}
	for _, tc := range []struct {
		svc      string
		port     networkingv1.ServiceBackendPort
		want     []string
		fault    backendFaultKind
		faultMsg string
		note     string
	}{
		{svc: "web", port: networkingv1.ServiceBackendPort{Number: 80}, want: []string{"10.244.0.3:8080", "10.244.1.5:8080", "10.244.2.7:8080"}},
		{svc: "web", port: networkingv1.ServiceBackendPort{Name: "admin"}, want: []string{"10.244.0.3:9090", "10.244.1.5:9090", "10.244.2.7:9090"}},
		{svc: "headless", port: networkingv1.ServiceBackendPort{Number: 80}, want: []string{"10.244.3.1:8443"}},
		{svc: "lbnonp", port: networkingv1.ServiceBackendPort{Number: 80}, want: []string{"10.244.4.1:8000"}},
		{svc: "np", port: networkingv1.ServiceBackendPort{Number: 80}, want: []string{"10.0.0.1:30080"}},
		{svc: "empty", port: networkingv1.ServiceBackendPort{Name: "http"}, want: []string{}, note: `Service default/empty port "http" has no ready endpoints; requests get 503 until one is ready (EndpointSlice empty-a: no port named "http")`},
		{svc: "ext", port: networkingv1.ServiceBackendPort{Number: 80}, fault: faultUnsupportedType, faultMsg: "is of type ExternalName"},
		{svc: "udp", port: networkingv1.ServiceBackendPort{Name: "dns"}, fault: faultPortNotFound, faultMsg: "is UDP, not TCP"},
		{svc: "web", port: networkingv1.ServiceBackendPort{Number: 81}, fault: faultPortNotFound, faultMsg: "has no port 81"},
		{svc: "nope", port: networkingv1.ServiceBackendPort{Number: 80}, fault: faultServiceNotFound, faultMsg: "not found"},
	} {
		r, f := resolveBackends("default", tc.svc, tc.port, src, nodes)
		name := tc.svc + " " + backendPortName(tc.port)
		if tc.faultMsg != "" {
			if f == nil || f.kind != tc.fault || !strings.Contains(f.msg, tc.faultMsg) {
				t.Errorf("%s: fault %+v, want kind %d saying %q", name, f, tc.fault, tc.faultMsg)
			}
			continue
		}
		if f != nil {
			t.Errorf("%s: fault %+v", name, f)
			continue
		}
		if got := addrs(r.backends); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("%s: backends %v, want %v", name, got, tc.want)
		}
		if r.backends == nil {
			t.Errorf("%s: nil backends (the IaaS must get an empty group, not none)", name)
		}
		if r.note != tc.note {
			t.Errorf("%s: note %q, want %q", name, r.note, tc.note)
		}
	}
}

func TestPodBackendsSkipUnusableSlices(t *testing.T) {
	svc := nodePortService("web", v1.ServiceTypeClusterIP, v1.ServicePort{Name: "http", Port: 80, Protocol: v1.ProtocolTCP})
	udp := epSlice("udp", "web", nil, ep("10.244.1.1", nil, nil))
	udp.Ports = []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(v1.ProtocolUDP)}}
	noNum := epSlice("nonum", "web", nil, ep("10.244.1.2", nil, nil))
	noNum.Ports = []discoveryv1.EndpointPort{{Name: ptr.To("http")}}
	fqdn := epSlice("fqdn", "web", map[string]int32{"http": 8080}, ep("pod.example.com", nil, nil))
	fqdn.AddressType = discoveryv1.AddressTypeFQDN
	junk := epSlice("junk", "web", map[string]int32{"http": 8080}, ep("not-an-ip", nil, nil))
	bare := epSlice("bare", "web", map[string]int32{"http": 8080}, discoveryv1.Endpoint{})

	r := podBackends(svc, &svc.Spec.Ports[0], []*discoveryv1.EndpointSlice{udp, noNum, fqdn, junk, bare, nil})
	if len(r.backends) != 0 || r.backends == nil {
		t.Fatalf("backends %+v", r.backends)
	}
	for _, want := range []string{`EndpointSlice udp: port "http" is UDP, not TCP`, `EndpointSlice nonum: port "http" has no port number`,
		"EndpointSlice fqdn has address type FQDN", `EndpointSlice junk: "not-an-ip" is not an IP address`, "EndpointSlice bare has an endpoint without addresses"} {
		if !strings.Contains(r.note, want) {
			t.Errorf("note %q does not say %q", r.note, want)
		}
	}
}
