package cloudprovider

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// Warning Event reasons on Gateways and HTTPRoutes. The same words are in their status
// conditions; the Events are for people reading `kubectl describe`.
const (
	ReasonGatewayInvalid    = "GatewayInvalid"
	ReasonGatewayListener   = "GatewayListenerInvalid"
	ReasonGatewaySyncFailed = "GatewaySyncFailed"
	ReasonRouteUnsupported  = "HTTPRouteUnsupported"
	ReasonRouteBackend      = "HTTPRouteBackendInvalid"
	ReasonRouteNotAttached  = "HTTPRouteNotAttached"
	ReasonRouteNoEndpoints  = "HTTPRouteBackendNoEndpoints"
	// Implementation-specific ResolvedRefs reason: an ExternalName Service has no
	// endpoints the IaaS load balancer could reach.
	routeReasonUnsupportedSvc = "UnsupportedServiceType"
)

var (
	gatewayGroup  = gwv1.Group(gwv1.GroupName)
	httpRouteKind = gwv1.RouteGroupKind{Group: &gatewayGroup, Kind: "HTTPRoute"}
)

// cond is the outcome of one status condition: ok, or why not.
type cond struct {
	ok          bool
	reason, msg string
}

func okCond(reason string) cond { return cond{ok: true, reason: reason} }
func failCond(reason, format string, args ...any) cond {
	return cond{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// gwListener is one listener of the Gateway as planned: its conditions and, when it
// can be served, the IaaS listener (group) it is part of.
type gwListener struct {
	name       string
	proto      ic.Protocol
	port       int
	hostname   string
	secret     nsName // HTTPS: the Secret of certificateRefs[0]
	kinds      []gwv1.RouteGroupKind
	from       gwv1.FromNamespaces
	selector   func(ns string) bool // From=Selector
	accepted   cond
	resolved   cond
	conflicted cond // ok: no conflict
	attached   int32
}

// valid: routes may attach and the listener is served (its certificate aside).
func (l *gwListener) valid() bool { return l.accepted.ok && l.conflicted.ok }

// gwGroup is one IaaS listener: the Gateway listeners that share protocol and port
// (they differ by hostname), with the rules of the routes attached to them.
type gwGroup struct {
	proto     ic.Protocol
	port      int
	secret    nsName
	certID    string // HTTPS: the certificate the IaaS listener gets (ensureCerts)
	listeners []*gwListener
	rules     []ic.L7Rule
	seen      map[string]bool // host, type, path of rules already taken
}

func (g *gwGroup) key() string { return listenerKey(g.proto, g.port) }

// routeParent is the status this Gateway gives one parentRef of an HTTPRoute.
type routeParent struct {
	ref      gwv1.ParentReference
	accepted cond
	resolved cond
}

// nsName names a namespaced object.
type nsName struct{ ns, name string }

func (n nsName) String() string { return n.ns + "/" + n.name }

// gatewayPlan is what a Gateway and its routes ask of the load balancer, and the
// status of each.
type gatewayPlan struct {
	grants    refGrants // for certificateRefs and backendRefs to other namespaces
	accepted  cond
	listeners []*gwListener
	groups    []*gwGroup
	routes    map[string][]routeParent // HTTPRoute ns/name -> its parentRefs to this Gateway
	problems  []problem                // on the Gateway
	routeProb map[string][]problem     // HTTPRoute ns/name -> problems, for Events
}

// planGatewayListeners checks the Gateway and its listeners and groups the listeners
// by IaaS listener (protocol, port). nsMatch tests namespaces against allowedRoutes
// selectors; grants allows references to other namespaces.
func planGatewayListeners(gw *gwv1.Gateway, nsMatch func(sel *gwv1.RouteNamespaces) (func(string) bool, error), grants refGrants) *gatewayPlan {
	p := &gatewayPlan{grants: grants, routes: map[string][]routeParent{}, routeProb: map[string][]problem{}}
	p.accepted = okCond(string(gwv1.GatewayReasonAccepted))
	switch {
	case len(gw.Spec.Addresses) > 0:
		p.accepted = failCond(string(gwv1.GatewayReasonUnsupportedAddress), "spec.addresses is not supported: the IaaS assigns the VIP from its pool")
	case gw.Spec.Infrastructure != nil && gw.Spec.Infrastructure.ParametersRef != nil:
		p.accepted = failCond(string(gwv1.GatewayReasonInvalidParameters), "spec.infrastructure.parametersRef is not supported")
	case gw.Spec.TLS != nil:
		p.accepted = failCond(string(gwv1.GatewayReasonInvalidParameters), "spec.tls (client certificate validation, backend TLS) is not supported by the IaaS load balancer")
	case gw.Spec.AllowedListeners != nil && gw.Spec.AllowedListeners.Namespaces != nil &&
		gw.Spec.AllowedListeners.Namespaces.From != nil && *gw.Spec.AllowedListeners.Namespaces.From != gwv1.NamespacesFromNone:
		p.accepted = failCond(string(gwv1.GatewayReasonInvalidParameters), "spec.allowedListeners (ListenerSets) is not supported")
	}
	if !p.accepted.ok {
		p.problems = append(p.problems, problem{ReasonGatewayInvalid, p.accepted.msg})
	}
	byPort := map[int]*gwGroup{}
	for i := range gw.Spec.Listeners {
		gl := &gw.Spec.Listeners[i]
		l := planListener(gw, gl, nsMatch, grants)
		p.listeners = append(p.listeners, l)
		if !l.accepted.ok {
			continue
		}
		g := byPort[l.port]
		switch {
		case g == nil:
			g = &gwGroup{proto: l.proto, port: l.port, secret: l.secret, seen: map[string]bool{}}
			byPort[l.port] = g
			p.groups = append(p.groups, g)
		case g.proto != l.proto:
			// One VIP:port speaks one protocol.
			l.conflicted = failCond(string(gwv1.ListenerReasonProtocolConflict), "port %d is already %s (listener %s)", l.port, g.proto, g.listeners[0].name)
			continue
		case l.proto == ic.ProtocolHTTPS && l.secret != g.secret:
			l.accepted = failCond(string(gwv1.ListenerReasonUnsupportedValue),
				"the IaaS HTTPS listener on port %d holds one certificate (Secret %s of listener %s); use one certificate per port", l.port, g.secret.name, g.listeners[0].name)
			continue
		}
		if dup := hostnameTaken(g, l.hostname); dup != nil {
			l.conflicted = failCond(string(gwv1.ListenerReasonHostnameConflict), "listener %s already serves hostname %q on port %d", dup.name, l.hostname, l.port)
			continue
		}
		g.listeners = append(g.listeners, l)
	}
	for _, l := range p.listeners {
		for _, c := range []cond{l.accepted, l.resolved, l.conflicted} {
			if !c.ok && c.msg != "" {
				p.problems = append(p.problems, problem{ReasonGatewayListener, fmt.Sprintf("listener %s: %s", l.name, c.msg)})
				break
			}
		}
	}
	if p.accepted.ok && len(p.groups) == 0 {
		p.accepted = failCond(string(gwv1.GatewayReasonListenersNotValid), "no listener is valid")
	}
	if p.accepted.ok {
		// Served, but not all of it: Accepted stays True with the reason that says so.
		var invalid []string
		for _, l := range p.listeners {
			if !l.valid() {
				invalid = append(invalid, l.name)
			}
		}
		if len(invalid) > 0 {
			p.accepted = cond{ok: true, reason: string(gwv1.GatewayReasonListenersNotValid),
				msg: "listeners not valid (not served): " + strings.Join(invalid, ", ")}
		}
	}
	return p
}

func hostnameTaken(g *gwGroup, host string) *gwListener {
	for _, o := range g.listeners {
		if o.hostname == host {
			return o
		}
	}
	return nil
}

func planListener(gw *gwv1.Gateway, gl *gwv1.Listener, nsMatch func(sel *gwv1.RouteNamespaces) (func(string) bool, error), grants refGrants) *gwListener {
	l := &gwListener{name: string(gl.Name), port: int(gl.Port),
		accepted: okCond(string(gwv1.ListenerReasonAccepted)), resolved: okCond(string(gwv1.ListenerReasonResolvedRefs)),
		conflicted: okCond(string(gwv1.ListenerReasonNoConflicts))}
	if gl.Hostname != nil {
		l.hostname = string(*gl.Hostname)
	}
	switch gl.Protocol {
	case gwv1.HTTPProtocolType:
		l.proto = ic.ProtocolHTTP
	case gwv1.HTTPSProtocolType:
		l.proto = ic.ProtocolHTTPS
	default:
		l.accepted = failCond(string(gwv1.ListenerReasonUnsupportedProtocol), "protocol %s is not supported (HTTP and HTTPS are)", gl.Protocol)
		return l
	}
	if err := validate.L7Host("hostname", l.hostname); err != nil {
		l.accepted = failCond(string(gwv1.ListenerReasonUnsupportedValue), "hostname %q: %s", l.hostname, err.Message)
		return l
	}
	// Route kinds: HTTPRoute only; others are refused but do not stop the listener.
	if gl.AllowedRoutes != nil && len(gl.AllowedRoutes.Kinds) > 0 {
		var bad []string
		for _, k := range gl.AllowedRoutes.Kinds {
			if k.Kind == httpRouteKind.Kind && (k.Group == nil || *k.Group == gatewayGroup) {
				l.kinds = []gwv1.RouteGroupKind{httpRouteKind}
			} else {
				bad = append(bad, string(k.Kind))
			}
		}
		if len(bad) > 0 {
			l.resolved = failCond(string(gwv1.ListenerReasonInvalidRouteKinds), "route kinds %s are not supported (HTTPRoute is)", strings.Join(bad, ", "))
		}
	} else {
		l.kinds = []gwv1.RouteGroupKind{httpRouteKind}
	}
	l.from = gwv1.NamespacesFromSame
	var sel *gwv1.RouteNamespaces
	if gl.AllowedRoutes != nil && gl.AllowedRoutes.Namespaces != nil {
		sel = gl.AllowedRoutes.Namespaces
		if sel.From != nil {
			l.from = *sel.From
		}
	}
	if l.from == gwv1.NamespacesFromSelector {
		match, err := nsMatch(sel)
		if err != nil {
			l.accepted = failCond(string(gwv1.ListenerReasonUnsupportedValue), "allowedRoutes.namespaces.selector: %v", err)
			return l
		}
		l.selector = match
	}
	if l.proto != ic.ProtocolHTTPS {
		return l
	}
	tls := gl.TLS
	switch {
	case tls != nil && tls.Mode != nil && *tls.Mode != gwv1.TLSModeTerminate:
		l.accepted = failCond(string(gwv1.ListenerReasonUnsupportedValue), "tls.mode %s is not supported (Terminate is)", *tls.Mode)
		return l
	case tls != nil && len(tls.Options) > 0:
		l.accepted = failCond(string(gwv1.ListenerReasonUnsupportedValue), "tls.options are not supported")
		return l
	case tls != nil && len(tls.CertificateRefs) > 1:
		l.accepted = failCond(string(gwv1.ListenerReasonUnsupportedValue), "%d certificateRefs: the IaaS listener holds one certificate", len(tls.CertificateRefs))
		return l
	case tls == nil || len(tls.CertificateRefs) == 0:
		l.resolved = failCond(string(gwv1.ListenerReasonInvalidCertificateRef), "HTTPS needs tls.certificateRefs (a Secret of type kubernetes.io/tls)")
		return l
	}
	ref := tls.CertificateRefs[0]
	switch {
	case (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Secret"):
		l.resolved = failCond(string(gwv1.ListenerReasonInvalidCertificateRef), "certificateRefs[0] must be a core Secret")
	default:
		l.secret = nsName{gw.Namespace, string(ref.Name)}
		if ref.Namespace != nil {
			l.secret.ns = string(*ref.Namespace)
		}
		if !grants("Gateway", gw.Namespace, "Secret", l.secret.ns, l.secret.name) {
			l.resolved = failCond(string(gwv1.ListenerReasonRefNotPermitted),
				"certificateRefs[0]: Secret %s is in another namespace and no ReferenceGrant there allows Gateways of %s to use it", l.secret, gw.Namespace)
			l.secret = nsName{}
		}
	}
	return l
}

// routeAllowed says whether listener l takes routes from namespace ns.
func (l *gwListener) routeAllowed(gwNS, ns string) bool {
	if len(l.kinds) == 0 {
		return false
	}
	switch l.from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSelector:
		return l.selector != nil && l.selector(ns)
	case gwv1.NamespacesFromSame:
		return ns == gwNS
	}
	return false
}

// refersTo says whether parentRef r of a route in routeNS names Gateway gw.
func refersTo(r gwv1.ParentReference, routeNS string, gw *gwv1.Gateway) bool {
	if r.Group != nil && *r.Group != gatewayGroup || r.Kind != nil && *r.Kind != "Gateway" {
		return false
	}
	ns := routeNS
	if r.Namespace != nil {
		ns = string(*r.Namespace)
	}
	return ns == gw.Namespace && string(r.Name) == gw.Name
}

// intersectHosts is the set of hostnames a route serves on a listener: the route's
// hostnames that the listener's hostname admits ("" listener: all; no route
// hostnames: the listener's). "" means any host.
func intersectHosts(listener string, route []gwv1.Hostname) []string {
	if len(route) == 0 {
		return []string{listener}
	}
	var out []string
	add := func(h string) {
		for _, o := range out {
			if o == h {
				return
			}
		}
		out = append(out, h)
	}
	for _, rh := range route {
		h := string(rh)
		switch {
		case listener == "" || h == listener:
			add(h)
		case wildcardCovers(listener, h):
			add(h)
		case wildcardCovers(h, listener):
			add(listener)
		}
	}
	return out
}

// wildcardCovers: pattern "*.example.com" covers "a.example.com" and
// "*.a.example.com" (Gateway API wildcards span one or more labels).
func wildcardCovers(pattern, h string) bool {
	if !strings.HasPrefix(pattern, "*.") {
		return false
	}
	suffix := pattern[1:] // ".example.com"
	return h != pattern && strings.HasSuffix(h, suffix) && len(h) > len(suffix)
}

// unsupportedRoute lists what the IaaS load balancer cannot do that the route asks
// for. A route that asks for any of it is refused whole (Accepted=False,
// UnsupportedValue): serving it without, say, its header match would send requests
// to a backend the route does not want them at.
func unsupportedRoute(r *gwv1.HTTPRoute) []string {
	var out []string
	for i, rule := range r.Spec.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		for j, m := range rule.Matches {
			mat := fmt.Sprintf("%s.matches[%d]", at, j)
			for k, h := range m.Headers {
				if h.Type != nil && *h.Type != gwv1.HeaderMatchExact {
					out = append(out, fmt.Sprintf("%s.headers[%d]: type %s is not supported (Exact is)", mat, k, *h.Type))
				}
			}
			if len(m.QueryParams) > 0 {
				out = append(out, mat+": query parameter matches are not supported")
			}
			if m.Method != nil {
				out = append(out, mat+": method matches are not supported")
			}
			if m.Path != nil && m.Path.Type != nil && *m.Path.Type != gwv1.PathMatchPathPrefix && *m.Path.Type != gwv1.PathMatchExact {
				out = append(out, fmt.Sprintf("%s: path type %s is not supported (PathPrefix and Exact are)", mat, *m.Path.Type))
			}
		}
		for k, f := range rule.Filters {
			fp := fmt.Sprintf("%s.filters[%d]", at, k)
			switch {
			case f.Type == gwv1.HTTPRouteFilterRequestHeaderModifier && f.RequestHeaderModifier != nil:
				if err := validate.HeaderEdits(fp+".requestHeaderModifier", headerEdits(f.RequestHeaderModifier)); err != nil {
					out = append(out, err.Message)
				}
			case f.Type == gwv1.HTTPRouteFilterRequestRedirect && f.RequestRedirect != nil:
				if f.RequestRedirect.Path != nil {
					out = append(out, fp+": requestRedirect.path is not supported (scheme, hostname, port and statusCode are)")
				}
			default:
				out = append(out, fmt.Sprintf("%s: filter type %s is not supported (RequestHeaderModifier and RequestRedirect are)", fp, f.Type))
			}
		}
		for k, b := range rule.BackendRefs {
			if len(b.Filters) > 0 {
				out = append(out, fmt.Sprintf("%s.backendRefs[%d]: filters are not supported", at, k))
			}
		}
		if rule.Timeouts != nil {
			out = append(out, at+": timeouts are not supported")
		}
		if rule.Retry != nil {
			out = append(out, at+": retry is not supported")
		}
		if rule.SessionPersistence != nil {
			out = append(out, at+": sessionPersistence is not supported")
		}
	}
	return out
}

// ruleTarget is what the IaaS rule of one route rule forwards to.
type ruleTarget struct {
	backends []ic.Backend
	// forwards: some backendRef is valid and weighted above zero. Without one the
	// Gateway API asks for 500; with one whose Service has no ready endpoints yet the
	// group is empty and the IaaS answers 503.
	forwards bool
}

// routeRuleBackends resolves the backendRefs of one rule to node:NodePort or
// pod:targetPort pairs, split by weight (weightedBackends). The cond is the route's
// ResolvedRefs for this rule (the first invalid backendRef's reason, every one's message); note is a warning
// that leaves it resolved (no ready endpoints yet). Requests the Gateway API would send
// to an invalid backendRef go to the valid ones: a rule answers 500 only when none is.
func routeRuleBackends(r *gwv1.HTTPRoute, rule *gwv1.HTTPRouteRule, where string, grants refGrants, services func(ns string) backendSource, nodes []nodeIP) (ruleTarget, cond, string) {
	ok := okCond(string(gwv1.RouteReasonResolvedRefs))
	resolved := ok
	var shares []weightedGroup
	var notes []string
	for k, b := range rule.BackendRefs {
		at := where
		if len(rule.BackendRefs) > 1 {
			at = fmt.Sprintf("%s.backendRefs[%d]", where, k)
		}
		backends, c, note := backendRefBackends(r, b, at, grants, services, nodes)
		if !c.ok {
			if resolved.ok {
				resolved = c
			} else {
				resolved.msg += "; " + c.msg
			}
			continue
		}
		if note != "" {
			notes = append(notes, note)
		}
		if b.Weight == nil || *b.Weight > 0 {
			w := int32(1)
			if b.Weight != nil {
				w = *b.Weight
			}
			shares = append(shares, weightedGroup{weight: w, backends: backends})
		}
	}
	return ruleTarget{backends: weightedBackends(shares), forwards: len(shares) > 0}, resolved, strings.Join(notes, "; ")
}

// backendRefBackends resolves one backendRef.
func backendRefBackends(r *gwv1.HTTPRoute, b gwv1.HTTPBackendRef, where string, grants refGrants, services func(ns string) backendSource, nodes []nodeIP) ([]ic.Backend, cond, string) {
	ok := okCond(string(gwv1.RouteReasonResolvedRefs))
	if (b.Group != nil && *b.Group != "") || (b.Kind != nil && *b.Kind != "Service") {
		return nil, failCond(string(gwv1.RouteReasonInvalidKind), "%s: backend kind %s is not supported (a core Service is)", where, groupKind(b.Group, b.Kind)), ""
	}
	ns := r.Namespace
	if b.Namespace != nil {
		ns = string(*b.Namespace)
	}
	if !grants("HTTPRoute", r.Namespace, "Service", ns, string(b.Name)) {
		return nil, failCond(string(gwv1.RouteReasonRefNotPermitted),
			"%s: Service %s/%s is in another namespace and no ReferenceGrant there allows HTTPRoutes of %s to use it", where, ns, b.Name, r.Namespace), ""
	}
	if b.Port == nil {
		return nil, failCond(string(gwv1.RouteReasonBackendNotFound), "%s: a Service backendRef needs a port", where), ""
	}
	res, fault := resolveBackends(ns, string(b.Name), networkingv1.ServiceBackendPort{Number: *b.Port}, services(ns), nodes)
	if fault != nil {
		reason := string(gwv1.RouteReasonBackendNotFound)
		if fault.kind == faultUnsupportedType {
			reason = routeReasonUnsupportedSvc
		}
		return nil, failCond(reason, "%s: %s", where, fault.msg), ""
	}
	note := ""
	if res.note != "" {
		note = where + ": " + res.note
	}
	return res.backends, ok, note
}

func groupKind(g *gwv1.Group, k *gwv1.Kind) string {
	gs, ks := "", "Service"
	if g != nil {
		gs = string(*g)
	}
	if k != nil {
		ks = string(*k)
	}
	if gs == "" {
		return ks
	}
	return ks + "." + gs
}

// attachRoutes decides, for every route that names this Gateway, which listeners it
// attaches to and with what status, and adds the rules of the attached ones to their
// IaaS listeners. Routes go oldest first, so on a conflict (same host and path) the
// oldest route wins, as the Gateway API asks.
func (p *gatewayPlan) attachRoutes(gw *gwv1.Gateway, routes []*gwv1.HTTPRoute, services func(ns string) backendSource, nodes []nodeIP) {
	sort.SliceStable(routes, func(i, j int) bool {
		a, b := routes[i], routes[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	for _, r := range routes {
		key := r.Namespace + "/" + r.Name
		unsupported := unsupportedRoute(r)
		for _, ref := range r.Spec.ParentRefs {
			if !refersTo(ref, r.Namespace, gw) {
				continue
			}
			rp := routeParent{ref: ref}
			targets := p.listenersFor(gw, r, ref, &rp)
			if len(unsupported) > 0 && rp.accepted.ok {
				rp.accepted = failCond(string(gwv1.RouteReasonUnsupportedValue), "%s", strings.Join(unsupported, "; "))
			}
			rp.resolved = okCond(string(gwv1.RouteReasonResolvedRefs))
			var faults, notes []string
			for i := range r.Spec.Rules {
				rule := &r.Spec.Rules[i]
				_, c, note := routeRuleBackends(r, rule, fmt.Sprintf("rules[%d]", i), p.grants, services, nil)
				if !c.ok {
					if rp.resolved.ok {
						rp.resolved.ok, rp.resolved.reason = false, c.reason
					}
					faults = append(faults, c.msg)
				}
				if note != "" {
					notes = append(notes, note)
				}
			}
			if !rp.resolved.ok {
				rp.resolved.msg = strings.Join(faults, "; ")
				p.routeProb[key] = append(p.routeProb[key], problem{ReasonRouteBackend, rp.resolved.msg})
			}
			if len(notes) > 0 {
				// Resolved all the same: the Service exists and its pods may become
				// ready at any time; the message and the Event say why it answers 503.
				if rp.resolved.ok {
					rp.resolved.msg = strings.Join(notes, "; ")
				}
				p.routeProb[key] = append(p.routeProb[key], problem{ReasonRouteNoEndpoints, strings.Join(notes, "; ")})
			}
			if !rp.accepted.ok {
				reason := ReasonRouteNotAttached
				if rp.accepted.reason == string(gwv1.RouteReasonUnsupportedValue) {
					reason = ReasonRouteUnsupported
				}
				p.routeProb[key] = append(p.routeProb[key], problem{reason, fmt.Sprintf("Gateway %s/%s: %s", gw.Namespace, gw.Name, rp.accepted.msg)})
				targets = nil
			}
			p.routes[key] = append(p.routes[key], rp)
			for _, l := range targets {
				l.attached++
				p.addRules(r, l, services, nodes)
			}
		}
	}
}

// listenersFor picks the listeners parentRef ref of route r attaches to and sets
// rp.accepted to say so or why none.
func (p *gatewayPlan) listenersFor(gw *gwv1.Gateway, r *gwv1.HTTPRoute, ref gwv1.ParentReference, rp *routeParent) []*gwListener {
	if !p.accepted.ok {
		rp.accepted = failCond(string(gwv1.RouteReasonNoMatchingParent), "the Gateway is not accepted: %s", p.accepted.msg)
		return nil
	}
	var named, allowed, out []*gwListener
	for _, l := range p.listeners {
		if ref.SectionName != nil && string(*ref.SectionName) != l.name || ref.Port != nil && int(*ref.Port) != l.port {
			continue
		}
		named = append(named, l)
		if l.valid() && l.routeAllowed(gw.Namespace, r.Namespace) {
			allowed = append(allowed, l)
		}
	}
	for _, l := range allowed {
		if len(intersectHosts(l.hostname, r.Spec.Hostnames)) > 0 {
			out = append(out, l)
		}
	}
	switch {
	case len(named) == 0:
		rp.accepted = failCond(string(gwv1.RouteReasonNoMatchingParent), "no listener matches sectionName/port of the parentRef")
	case len(allowed) == 0:
		rp.accepted = failCond(string(gwv1.RouteReasonNotAllowedByListeners), "no valid listener allows HTTPRoutes from namespace %s", r.Namespace)
	case len(out) == 0:
		rp.accepted = failCond(string(gwv1.RouteReasonNoMatchingListenerHostname), "no listener hostname matches the route's hostnames")
	default:
		rp.accepted = okCond(string(gwv1.RouteReasonAccepted))
	}
	return out
}

// addRules adds route r's rules, on listener l, to l's IaaS listener: one L7 rule per
// hostname and path match.
func (p *gatewayPlan) addRules(r *gwv1.HTTPRoute, l *gwListener, services func(ns string) backendSource, nodes []nodeIP) {
	var g *gwGroup
	for _, c := range p.groups {
		for _, m := range c.listeners {
			if m == l {
				g = c
			}
		}
	}
	if g == nil {
		return
	}
	key := r.Namespace + "/" + r.Name
	for _, host := range intersectHosts(l.hostname, r.Spec.Hostnames) {
		if err := validate.L7Host("host", host); err != nil {
			p.routeProb[key] = append(p.routeProb[key], problem{ReasonRouteUnsupported, fmt.Sprintf("hostname %q: %s", host, err.Message)})
			continue
		}
		for i := range r.Spec.Rules {
			rule := &r.Spec.Rules[i]
			rb, _, _ := routeRuleBackends(r, rule, "", p.grants, services, nodes)
			backends, fixed := rb.backends, 0
			edits, redirect := ruleFilters(rule)
			switch {
			case redirect != nil:
				backends = []ic.Backend{} // answered by the load balancer
			case !rb.forwards:
				// The Gateway API asks for 500 where a rule has no valid backend (503
				// stays for a valid Service that has no ready endpoints yet).
				backends, fixed = []ic.Backend{}, http.StatusInternalServerError
			}
			matches := rule.Matches
			if len(matches) == 0 {
				matches = []gwv1.HTTPRouteMatch{{}}
			}
			for _, m := range matches {
				lr := ic.L7Rule{Host: host, Path: "/", PathType: ic.PathPrefix, Backends: backends, FixedStatus: fixed,
					WildcardSpansLabels: strings.HasPrefix(host, "*."), RequestHeaders: edits, Redirect: redirect}
				if m.Path != nil {
					if m.Path.Value != nil {
						lr.Path = *m.Path.Value
					}
					if m.Path.Type != nil && *m.Path.Type == gwv1.PathMatchExact {
						lr.PathType = ic.PathExact
					}
				}
				lr.Headers = headerMatches(m.Headers)
				k := lr.MatchKey()
				if g.seen[k] {
					continue // an older route (or rule) has it
				}
				if len(g.rules) == validate.MaxL7Rules {
					p.routeProb[key] = append(p.routeProb[key], problem{ReasonRouteUnsupported,
						fmt.Sprintf("listener %s: more than %d rules (host, path and headers) on port %d; the rest are left out", l.name, validate.MaxL7Rules, g.port)})
					return
				}
				g.seen[k] = true
				g.rules = append(g.rules, lr)
			}
		}
	}
}

// headerMatches maps a match's header matches (Exact; unsupportedRoute refused the
// others) to the IaaS rule's; of two with the same name the first counts, as the
// Gateway API asks.
func headerMatches(hs []gwv1.HTTPHeaderMatch) []ic.HeaderMatch {
	var out []ic.HeaderMatch
	seen := map[string]bool{}
	for _, h := range hs {
		name := strings.ToLower(string(h.Name))
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, ic.HeaderMatch{Name: string(h.Name), Value: h.Value})
	}
	return out
}

// gatewayListeners is the IaaS listener set of a Gateway's LB: one per group that has
// a certificate when HTTPS (certs: group key -> certificate id). Unmatched requests
// get 404.
func gatewayListeners(p *gatewayPlan, certs map[string]string) map[string]ic.ListenerSpec {
	out := map[string]ic.ListenerSpec{}
	for _, g := range p.groups {
		spec := ic.ListenerSpec{
			Name:     fmt.Sprintf("k8s-gw-%s-%d", strings.ToLower(string(g.proto)), g.port),
			Protocol: g.proto, Port: g.port, Backends: []ic.Backend{}, Rules: g.rules,
			SessionAffinity: ic.SessionAffinityNone,
		}
		if spec.Rules == nil {
			spec.Rules = []ic.L7Rule{}
		}
		if g.proto == ic.ProtocolHTTPS {
			if spec.CertificateID = certs[g.key()]; spec.CertificateID == "" {
				continue
			}
		}
		out[g.key()] = spec
	}
	return out
}
