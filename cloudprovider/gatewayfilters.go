package cloudprovider

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// ruleFilters maps the filters of a rule (unsupportedRoute refused all but
// RequestHeaderModifier and RequestRedirect without a path) to the IaaS rule's
// request header edits and redirect.
func ruleFilters(rule *gwv1.HTTPRouteRule) (*ic.HeaderEdits, *ic.Redirect) {
	var edits *ic.HeaderEdits
	var redirect *ic.Redirect
	for _, f := range rule.Filters {
		switch {
		case f.Type == gwv1.HTTPRouteFilterRequestHeaderModifier && f.RequestHeaderModifier != nil:
			edits = headerEdits(f.RequestHeaderModifier)
		case f.Type == gwv1.HTTPRouteFilterRequestRedirect && f.RequestRedirect != nil:
			redirect = redirectOf(f.RequestRedirect)
		}
	}
	return edits, redirect
}

func headerEdits(m *gwv1.HTTPHeaderFilter) *ic.HeaderEdits {
	e := &ic.HeaderEdits{Remove: m.Remove}
	for _, h := range m.Set {
		e.Set = append(e.Set, ic.HeaderMatch{Name: string(h.Name), Value: h.Value})
	}
	for _, h := range m.Add {
		e.Add = append(e.Add, ic.HeaderMatch{Name: string(h.Name), Value: h.Value})
	}
	return e
}

// redirectOf: the Gateway API's default status is 302; its port rules (scheme's
// well-known port, else the listener's) are the IaaS redirect's.
func redirectOf(r *gwv1.HTTPRequestRedirectFilter) *ic.Redirect {
	out := &ic.Redirect{StatusCode: 302}
	if r.StatusCode != nil {
		out.StatusCode = *r.StatusCode
	}
	if r.Scheme != nil {
		out.Scheme = *r.Scheme
	}
	if r.Hostname != nil {
		out.Host = string(*r.Hostname)
	}
	if r.Port != nil {
		out.Port = int(*r.Port)
	}
	return out
}
