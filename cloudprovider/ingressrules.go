package cloudprovider

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// Warning Event reasons on Ingresses. A bad rule never stops the others: its path
// stays on the load balancer with no backends (it answers 503, never another
// Service's traffic), and the Event says why.
const (
	ReasonIngressServiceNotFound = "IngressBackendServiceNotFound"
	ReasonIngressUnsupportedSvc  = "IngressBackendServiceUnsupported"
	ReasonIngressNoEndpoints     = "IngressBackendNoEndpoints"
	ReasonIngressPortNotFound    = "IngressBackendPortNotFound"
	ReasonIngressTLSInvalid      = "IngressTLSSecretInvalid"
	ReasonIngressUnsupported     = "IngressRuleUnsupported"
	ReasonIngressSyncFailed      = "IngressSyncFailed"
)

// Ports of the L7 listeners of an Ingress's load balancer.
const (
	ingressHTTPPort  = 80
	ingressHTTPSPort = 443
)

// problem is one bad piece of an Ingress, reported as a Warning Event.
type problem struct{ reason, msg string }

// ingressPlan is what an Ingress asks of its load balancer, before TLS.
type ingressPlan struct {
	rules    []ic.L7Rule
	fallback []ic.Backend // spec.defaultBackend; nil: unmatched requests get 404
	problems []problem
}

// planIngress maps the rules of ing to L7 rules whose backends are the referenced
// Services' NodePorts on the eligible nodes, or their ready pods (resolveBackends).
// Rules keep the order of the spec; the IaaS picks the most specific match whatever
// the order, as Ingress requires.
func planIngress(ing *networkingv1.Ingress, services backendSource, nodes []nodeIP) ingressPlan {
	var p ingressPlan
	if b := ing.Spec.DefaultBackend; b != nil {
		p.fallback = p.backends(ing, "defaultBackend", b, services, nodes)
		if p.fallback == nil {
			p.fallback = []ic.Backend{} // a broken default answers 503, not 404
		}
	}
	seen := map[string]bool{}
	for i, r := range ing.Spec.Rules {
		if err := validate.L7Host("host", r.Host); err != nil {
			p.problems = append(p.problems, problem{ReasonIngressUnsupported, fmt.Sprintf("rules[%d]: host %q: %s", i, r.Host, err.Message)})
			continue
		}
		if r.HTTP == nil {
			continue
		}
		for j, path := range r.HTTP.Paths {
			where := fmt.Sprintf("rules[%d].paths[%d] (host %q, path %q)", i, j, r.Host, path.Path)
			rule := ic.L7Rule{Host: r.Host, Path: path.Path, PathType: ic.PathPrefix}
			if rule.Path == "" {
				rule.Path = "/"
			}
			// ImplementationSpecific is ours to define: it is Prefix, element-wise.
			if path.PathType != nil && *path.PathType == networkingv1.PathTypeExact {
				rule.PathType = ic.PathExact
			}
			k := rule.MatchKey()
			if seen[k] {
				p.problems = append(p.problems, problem{ReasonIngressUnsupported, where + ": duplicates an earlier path; the first one wins"})
				continue
			}
			if len(p.rules) == validate.MaxL7Rules {
				p.problems = append(p.problems, problem{ReasonIngressUnsupported, fmt.Sprintf("%s: more than %d paths; the rest are left out", where, validate.MaxL7Rules)})
				break
			}
			seen[k] = true
			rule.Backends = p.backends(ing, where, &path.Backend, services, nodes)
			if rule.Backends == nil {
				rule.Backends = []ic.Backend{}
			}
			p.rules = append(p.rules, rule)
		}
	}
	return p
}

// backends resolves one Ingress backend to node:NodePort or pod:targetPort pairs, or
// records why it cannot and returns nil.
func (p *ingressPlan) backends(ing *networkingv1.Ingress, where string, b *networkingv1.IngressBackend, services backendSource, nodes []nodeIP) []ic.Backend {
	bad := func(reason, format string, args ...any) []ic.Backend {
		p.problems = append(p.problems, problem{reason, where + ": " + fmt.Sprintf(format, args...)})
		return nil
	}
	if b.Service == nil {
		return bad(ReasonIngressUnsupported, "resource backends are not supported; use a Service")
	}
	r, fault := resolveBackends(ing.Namespace, b.Service.Name, b.Service.Port, services, nodes)
	if fault != nil {
		return bad(ingressFaultReasons[fault.kind], "%s", fault.msg)
	}
	if r.note != "" {
		p.problems = append(p.problems, problem{ReasonIngressNoEndpoints, where + ": " + r.note})
	}
	return r.backends
}

// ingressFaultReasons are the Event reasons of the backend faults on an Ingress.
var ingressFaultReasons = map[backendFaultKind]string{
	faultServiceNotFound: ReasonIngressServiceNotFound,
	faultUnsupportedType: ReasonIngressUnsupportedSvc,
	faultPortNotFound:    ReasonIngressPortNotFound,
}

func servicePort(svc *v1.Service, ref networkingv1.ServiceBackendPort) *v1.ServicePort {
	for i, p := range svc.Spec.Ports {
		if (ref.Name != "" && p.Name == ref.Name) || (ref.Name == "" && p.Port == ref.Number) {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}

func backendPortName(ref networkingv1.ServiceBackendPort) string {
	if ref.Name != "" {
		return fmt.Sprintf("%q", ref.Name)
	}
	return fmt.Sprint(ref.Number)
}

// ingressListeners is the listener set of an Ingress's LB: HTTP on 80 always, and
// HTTPS on 443 with the same rules when a certificate is available.
func ingressListeners(p ingressPlan, certID string) map[string]ic.ListenerSpec {
	out := map[string]ic.ListenerSpec{}
	http := ic.ListenerSpec{
		Name: "k8s-ingress-http", Protocol: ic.ProtocolHTTP, Port: ingressHTTPPort,
		Backends: p.fallback, Rules: p.rules, SessionAffinity: ic.SessionAffinityNone,
	}
	if http.Backends == nil {
		http.Backends = []ic.Backend{}
	}
	out[listenerKey(http.Protocol, http.Port)] = http
	if certID != "" {
		https := http
		https.Name, https.Protocol, https.Port, https.CertificateID = "k8s-ingress-https", ic.ProtocolHTTPS, ingressHTTPSPort, certID
		out[listenerKey(https.Protocol, https.Port)] = https
	}
	return out
}

// joinProblems folds the problems of one reason into one message, so one Event per
// reason says everything that is wrong.
func joinProblems(ps []problem) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		if out[p.reason] != "" {
			out[p.reason] += "; "
		}
		out[p.reason] += p.msg
	}
	for r, m := range out {
		if len(m) > 1000 {
			out[r] = m[:1000] + "..."
		}
		out[r] = strings.TrimSpace(out[r])
	}
	return out
}
