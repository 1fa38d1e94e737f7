package validate

import (
	"fmt"
	"strings"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// MaxL7Rules bounds the rules of one HTTP/HTTPS listener.
const MaxL7Rules = 100

// MaxHeaderMatches bounds the header matches of one rule (the Gateway API's own bound).
const MaxHeaderMatches = 16

// l7Listener checks what is specific to HTTP and HTTPS listeners.
func l7Listener(path string, l *iaasclient.ListenerSpec) *iaasclient.Error {
	switch {
	case l.Protocol == iaasclient.ProtocolHTTPS && l.CertificateID == "":
		return Invalid(path+".certificateId", "is required for an HTTPS listener")
	case l.Protocol == iaasclient.ProtocolHTTP && l.CertificateID != "":
		return Invalid(path+".certificateId", "only for HTTPS listeners")
	}
	if l.CertificateID != "" {
		if err := Text(path+".certificateId", l.CertificateID, 64); err != nil {
			return err
		}
	}
	if l.ProxyProtocol != iaasclient.ProxyProtocolNone {
		return Invalid(path+".proxyProtocol", "not for HTTP listeners (they set X-Forwarded-For)")
	}
	if l.SessionAffinity == iaasclient.SessionAffinityClientIP {
		return Invalid(path+".sessionAffinity", "CLIENT_IP is not supported on HTTP listeners")
	}
	if len(l.Rules) > MaxL7Rules {
		return Invalid(path+".rules", "at most %d rules", MaxL7Rules)
	}
	seen := map[string]int{}
	for i, r := range l.Rules {
		rp := fmt.Sprintf("%s.rules[%d]", path, i)
		if err := L7Host(rp+".host", r.Host); err != nil {
			return err
		}
		if r.WildcardSpansLabels && !strings.HasPrefix(r.Host, "*.") {
			return Invalid(rp+".wildcardSpansLabels", "only for a \"*.\" host, not %q", Truncate(r.Host))
		}
		if !strings.HasPrefix(r.Path, "/") {
			return Invalid(rp+".path", "must start with /, got %q", Truncate(r.Path))
		}
		if err := Text(rp+".path", r.Path, 1024); err != nil {
			return err
		}
		switch r.PathType {
		case iaasclient.PathPrefix, iaasclient.PathExact:
		default:
			return Invalid(rp+".pathType", "must be Prefix or Exact, got %q", Truncate(string(r.PathType)))
		}
		if err := headerMatches(rp+".headers", r.Headers); err != nil {
			return err
		}
		k := r.MatchKey()
		if j, dup := seen[k]; dup {
			return Invalid(rp, "duplicates rules[%d] (same host, path, path type and headers)", j)
		}
		seen[k] = i
		if err := redirect(rp, &r); err != nil {
			return err
		}
		if err := HeaderEdits(rp+".requestHeaders", r.RequestHeaders); err != nil {
			return err
		}
		if r.FixedStatus != 0 {
			switch {
			case r.FixedStatus < 200 || r.FixedStatus > 599:
				return Invalid(rp+".fixedStatus", "must be an HTTP status 200-599, got %d", r.FixedStatus)
			case len(r.Backends) > 0:
				return Invalid(rp+".backends", "must be empty with fixedStatus (the rule forwards nothing)")
			case r.HealthCheck != nil:
				return Invalid(rp+".healthCheck", "must be empty with fixedStatus (the rule forwards nothing)")
			}
		}
		if err := backends(rp, r.Backends); err != nil {
			return err
		}
		if err := healthCheck(rp+".healthCheck", r.HealthCheck); err != nil {
			return err
		}
	}
	return nil
}

// headerMatches checks a rule's header matches: at most MaxHeaderMatches, each name an
// HTTP token (RFC 9110) named once, each value text without control characters.
func headerMatches(field string, hs []iaasclient.HeaderMatch) *iaasclient.Error {
	if len(hs) > MaxHeaderMatches {
		return Invalid(field, "at most %d header matches", MaxHeaderMatches)
	}
	names := map[string]int{}
	for i, h := range hs {
		hp := fmt.Sprintf("%s[%d]", field, i)
		if h.Name == "" || len(h.Name) > 256 || strings.IndexFunc(h.Name, notTokenChar) >= 0 {
			return Invalid(hp+".name", "must be an HTTP header name (1-256 token characters), got %q", Truncate(h.Name))
		}
		lower := strings.ToLower(h.Name)
		if j, dup := names[lower]; dup {
			return Invalid(hp+".name", "header %q is matched twice (also %s[%d])", Truncate(h.Name), field, j)
		}
		names[lower] = i
		if err := Text(hp+".value", h.Value, 4096); err != nil {
			return err
		}
	}
	return nil
}

// redirect checks a rule's redirect: a redirect status, a known scheme, a DNS name,
// a port, and nothing that would forward the request or answer otherwise.
func redirect(rp string, r *iaasclient.L7Rule) *iaasclient.Error {
	d := r.Redirect
	if d == nil {
		return nil
	}
	switch {
	case d.StatusCode != 301 && d.StatusCode != 302 && d.StatusCode != 303 && d.StatusCode != 307 && d.StatusCode != 308:
		return Invalid(rp+".redirect.statusCode", "must be 301, 302, 303, 307 or 308, got %d", d.StatusCode)
	case d.Scheme != "" && d.Scheme != "http" && d.Scheme != "https":
		return Invalid(rp+".redirect.scheme", "must be http or https, got %q", Truncate(d.Scheme))
	case d.Port < 0 || d.Port > 65535:
		return Invalid(rp+".redirect.port", "must be 1-65535, got %d", d.Port)
	case strings.HasPrefix(d.Host, "*"):
		return Invalid(rp+".redirect.host", "must be a DNS name, got %q", Truncate(d.Host))
	case len(r.Backends) > 0:
		return Invalid(rp+".backends", "must be empty with redirect (the rule forwards nothing)")
	case r.HealthCheck != nil:
		return Invalid(rp+".healthCheck", "must be empty with redirect (the rule forwards nothing)")
	case r.FixedStatus != 0:
		return Invalid(rp+".fixedStatus", "must be empty with redirect")
	}
	return L7Host(rp+".redirect.host", d.Host)
}

// HeaderEdits checks a rule's request header edits: HTTP token names, each once per
// list, never Host, values text; at most MaxHeaderMatches per list.
func HeaderEdits(field string, e *iaasclient.HeaderEdits) *iaasclient.Error {
	if e == nil {
		return nil
	}
	for _, list := range []struct {
		name string
		hs   []iaasclient.HeaderMatch
	}{{"set", e.Set}, {"add", e.Add}} {
		if err := headerMatches(field+"."+list.name, list.hs); err != nil {
			return err
		}
		for i, h := range list.hs {
			if strings.EqualFold(h.Name, "host") {
				return Invalid(fmt.Sprintf("%s.%s[%d].name", field, list.name, i), "Host cannot be edited")
			}
		}
	}
	if len(e.Remove) > MaxHeaderMatches {
		return Invalid(field+".remove", "at most %d names", MaxHeaderMatches)
	}
	names := map[string]int{}
	for i, n := range e.Remove {
		np := fmt.Sprintf("%s.remove[%d]", field, i)
		if n == "" || len(n) > 256 || strings.IndexFunc(n, notTokenChar) >= 0 {
			return Invalid(np, "must be an HTTP header name (1-256 token characters), got %q", Truncate(n))
		}
		if strings.EqualFold(n, "host") {
			return Invalid(np, "Host cannot be edited")
		}
		if j, dup := names[strings.ToLower(n)]; dup {
			return Invalid(np, "header %q is named twice (also %s.remove[%d])", Truncate(n), field, j)
		}
		names[strings.ToLower(n)] = i
	}
	return nil
}

// notTokenChar: RFC 9110 tchar is ALPHA / DIGIT / "!#$%&'*+-.^_`|~".
func notTokenChar(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return false
	}
	return !strings.ContainsRune("!#$%&'*+-.^_`|~", c)
}

// L7Host checks a rule's host: empty, a DNS name, or "*." and a DNS name.
func L7Host(field, h string) *iaasclient.Error {
	if h == "" {
		return nil
	}
	name := strings.TrimPrefix(h, "*.")
	if len(h) > 253 || strings.Contains(name, "*") || name == "" {
		return Invalid(field, "must be a DNS name or *.<DNS name>, got %q", Truncate(h))
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return Invalid(field, "must be a DNS name or *.<DNS name>, got %q", Truncate(h))
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return Invalid(field, "must be a lower-case DNS name or *.<DNS name>, got %q", Truncate(h))
			}
		}
	}
	return nil
}
