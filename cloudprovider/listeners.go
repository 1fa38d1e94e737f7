package cloudprovider

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

const defaultAffinityTimeout = 10800 // seconds, Kubernetes' and the IaaS's default

// listenerPrefix names the listeners of one Service. On an LB the CCM created, every
// listener is the Service's; on an existing LB shared with others, only these are.
func listenerPrefix(svc *v1.Service) string {
	uid := strings.ReplaceAll(string(svc.UID), "-", "")
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return "k8s-" + uid + "-"
}

func listenerKey(p ic.Protocol, port int) string { return fmt.Sprintf("%s/%d", p, port) }

// desiredListeners builds one listener per Service port.
func desiredListeners(svc *v1.Service, o *lbOptions, backends []nodeIP) map[string]ic.ListenerSpec {
	out := map[string]ic.ListenerSpec{}
	local := svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal && svc.Spec.HealthCheckNodePort != 0
	for _, p := range svc.Spec.Ports {
		proto := ic.Protocol(p.Protocol)
		spec := ic.ListenerSpec{
			Name:            fmt.Sprintf("%s%s-%d", listenerPrefix(svc), strings.ToLower(string(proto)), p.Port),
			Protocol:        proto,
			Port:            int(p.Port),
			SessionAffinity: ic.SessionAffinityNone,
			SourceRanges:    o.sourceRanges,
		}
		for _, b := range backends {
			spec.Backends = append(spec.Backends, ic.Backend{IP: b.ip, Port: int(p.NodePort), Weight: 10})
		}
		hc := o.hc
		switch {
		case local:
			// Only nodes with a ready endpoint answer 200 on the health check NodePort,
			// so traffic keeps its client source IP and never crosses nodes.
			hc.Protocol, hc.Port, hc.Path = ic.HealthCheckHTTP, int(svc.Spec.HealthCheckNodePort), "/healthz"
		case proto == ic.ProtocolUDP:
			hc.Protocol, hc.Port, hc.Path = ic.HealthCheckHTTP, kubeProxyHealthPort, "/healthz"
		default:
			hc.Protocol, hc.Port = ic.HealthCheckTCP, 0 // each backend's NodePort
		}
		spec.HealthCheck = &hc
		if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
			spec.SessionAffinity = ic.SessionAffinityClientIP
			spec.SessionAffinityTimeoutSeconds = defaultAffinityTimeout
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
				spec.SessionAffinityTimeoutSeconds = int(*c.ClientIP.TimeoutSeconds)
			}
		}
		if proto == ic.ProtocolTCP {
			spec.ProxyProtocol = o.proxyProtocol
		}
		out[listenerKey(proto, spec.Port)] = spec
	}
	return out
}

// listenerPlan is what to change on an LB; its zero value changes nothing.
type listenerPlan struct {
	create []ic.ListenerSpec
	modify map[string]ic.ListenerSpec // by listener id
	delete []string
}

func (p listenerPlan) empty() bool {
	return len(p.create) == 0 && len(p.modify) == 0 && len(p.delete) == 0
}

// planListeners diffs the LB's listeners that belong to the Service (all of them when
// shared is false) against the desired ones. Listeners that are equal are not touched.
func planListeners(lb *ic.LoadBalancer, desired map[string]ic.ListenerSpec, prefix string, shared bool) listenerPlan {
	plan := listenerPlan{modify: map[string]ic.ListenerSpec{}}
	seen := map[string]bool{}
	for _, l := range lb.Listeners {
		if shared && !strings.HasPrefix(l.Name, prefix) {
			continue
		}
		k := listenerKey(l.Protocol, l.Port)
		want, ok := desired[k]
		if !ok || seen[k] {
			plan.delete = append(plan.delete, l.ListenerID)
			continue
		}
		seen[k] = true
		if !sameListener(l.ListenerSpec, want) {
			plan.modify[l.ListenerID] = want
		}
	}
	keys := make([]string, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !seen[k] {
			plan.create = append(plan.create, desired[k])
		}
	}
	return plan
}

// sameListener compares after filling in the IaaS's defaults and sorting lists, so an
// IaaS that normalizes what it stores does not cause an update on every sync.
func sameListener(a, b ic.ListenerSpec) bool {
	na, nb := normListener(a), normListener(b)
	return na.Name == nb.Name && na.Protocol == nb.Protocol && na.Port == nb.Port &&
		slices.Equal(na.Backends, nb.Backends) && slices.Equal(na.SourceRanges, nb.SourceRanges) &&
		na.SessionAffinity == nb.SessionAffinity &&
		na.SessionAffinityTimeoutSeconds == nb.SessionAffinityTimeoutSeconds &&
		na.ProxyProtocol == nb.ProxyProtocol && sameHealthCheck(na.HealthCheck, nb.HealthCheck) &&
		na.CertificateID == nb.CertificateID && slices.EqualFunc(na.Rules, nb.Rules, sameRule)
}

// sameRule compares L7 rules in order: the order is the one the controller chose, and
// the IaaS keeps it.
func sameRule(a, b ic.L7Rule) bool {
	return a.Host == b.Host && a.WildcardSpansLabels == b.WildcardSpansLabels && a.Path == b.Path && a.PathType == b.PathType &&
		slices.Equal(a.Headers, b.Headers) && a.FixedStatus == b.FixedStatus && slices.Equal(a.Backends, b.Backends) && sameHealthCheck(a.HealthCheck, b.HealthCheck)
}

func normBackends(bs []ic.Backend) []ic.Backend {
	bs = slices.Clone(bs)
	for i := range bs {
		if bs[i].Weight == 0 {
			bs[i].Weight = 10
		}
	}
	slices.SortFunc(bs, func(x, y ic.Backend) int {
		if c := strings.Compare(x.IP, y.IP); c != 0 {
			return c
		}
		return x.Port - y.Port
	})
	return bs
}

func normListener(l ic.ListenerSpec) ic.ListenerSpec {
	l.Backends = normBackends(l.Backends)
	l.Rules = slices.Clone(l.Rules)
	for i := range l.Rules {
		l.Rules[i].Backends = normBackends(l.Rules[i].Backends)
	}
	l.SourceRanges = slices.Clone(l.SourceRanges)
	sort.Strings(l.SourceRanges)
	if l.SessionAffinity == "" {
		l.SessionAffinity = ic.SessionAffinityNone
	}
	if l.SessionAffinity == ic.SessionAffinityNone {
		l.SessionAffinityTimeoutSeconds = 0
	} else if l.SessionAffinityTimeoutSeconds == 0 {
		l.SessionAffinityTimeoutSeconds = defaultAffinityTimeout
	}
	return l
}

func sameHealthCheck(a, b *ic.HealthCheck) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
