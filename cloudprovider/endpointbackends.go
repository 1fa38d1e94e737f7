package cloudprovider

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// podBackends is the direct-to-pod backend group of port of svc: pod IP : target port
// of every ready, not terminating endpoint in the Service's EndpointSlices, sorted (so
// that an unchanged set never rewrites the listener) and without duplicates (a pod
// may be in two slices while the EndpointSlice controller moves it). Pieces that cannot
// be used are skipped; when that leaves nothing, note says why.
func podBackends(svc *v1.Service, port *v1.ServicePort, eps []*discoveryv1.EndpointSlice) resolvedBackends {
	var skipped []string
	seen := map[netip.AddrPort]bool{}
	var out []ic.Backend
	for _, s := range eps {
		if s == nil || s.Labels[discoveryv1.LabelServiceName] != svc.Name || s.Namespace != svc.Namespace {
			continue // another Service's slice: a getter that is not a label selector
		}
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			skipped = append(skipped, fmt.Sprintf("EndpointSlice %s has address type %s", s.Name, s.AddressType))
			continue
		}
		target, why := slicePort(s, port)
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("EndpointSlice %s: %s", s.Name, why))
			continue
		}
		for _, e := range s.Endpoints {
			if !endpointServes(e) {
				continue
			}
			if len(e.Addresses) == 0 {
				skipped = append(skipped, fmt.Sprintf("EndpointSlice %s has an endpoint without addresses", s.Name))
				continue
			}
			// The first address is the one to use, as kube-proxy does; the others
			// are for consumers that understand them.
			a, err := netip.ParseAddr(e.Addresses[0])
			if err != nil {
				skipped = append(skipped, fmt.Sprintf("EndpointSlice %s: %q is not an IP address", s.Name, e.Addresses[0]))
				continue
			}
			ap := netip.AddrPortFrom(a.Unmap(), uint16(target))
			if seen[ap] {
				continue
			}
			seen[ap] = true
			out = append(out, ic.Backend{IP: ap.Addr().String(), Port: target, Weight: 10})
		}
	}
	slices.SortFunc(out, func(a, b ic.Backend) int {
		return cmp.Or(netip.MustParseAddr(a.IP).Compare(netip.MustParseAddr(b.IP)), cmp.Compare(a.Port, b.Port))
	})
	r := resolvedBackends{backends: out}
	name := fmt.Sprintf("Service %s/%s port %s", svc.Namespace, svc.Name, servicePortName(port))
	switch {
	case len(out) > validate.MaxBackends:
		r.backends = out[:validate.MaxBackends]
		r.note = fmt.Sprintf("%s has %d ready endpoints; the load balancer takes the first %d", name, len(out), validate.MaxBackends)
	case len(out) == 0:
		r.backends = []ic.Backend{} // the IaaS answers 503 until a pod is ready
		r.note = name + " has no ready endpoints; requests get 503 until one is ready"
		if len(skipped) > 0 {
			r.note += " (" + strings.Join(skipped, "; ") + ")"
		}
	}
	return r
}

// slicePort finds the port of slice s that carries Service port p: the one of the
// same name (the EndpointSlice controller names slice ports after Service ports), or
// the only port when p has no name. why says why none fits.
func slicePort(s *discoveryv1.EndpointSlice, p *v1.ServicePort) (int, string) {
	var match *discoveryv1.EndpointPort
	for i, sp := range s.Ports {
		if ptrOr(sp.Name, "") == p.Name {
			match = &s.Ports[i]
			break
		}
	}
	if match == nil && p.Name == "" && len(s.Ports) == 1 {
		match = &s.Ports[0]
	}
	switch {
	case match == nil:
		return 0, fmt.Sprintf("no port named %q", p.Name)
	case match.Protocol != nil && *match.Protocol != v1.ProtocolTCP:
		return 0, fmt.Sprintf("port %q is %s, not TCP", p.Name, *match.Protocol)
	case match.Port == nil || *match.Port < 1 || *match.Port > 65535:
		return 0, fmt.Sprintf("port %q has no port number", p.Name)
	}
	return int(*match.Port), ""
}

// endpointServes: ready (nil means ready, per the API) and not terminating. A
// terminating pod is drained by its own grace period; the load balancer stops sending
// it new requests at once.
func endpointServes(e discoveryv1.Endpoint) bool {
	return ptrOr(e.Conditions.Ready, true) && !ptrOr(e.Conditions.Terminating, false)
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func servicePortName(p *v1.ServicePort) string {
	if p.Name != "" {
		return fmt.Sprintf("%q", p.Name)
	}
	return fmt.Sprint(p.Port)
}
