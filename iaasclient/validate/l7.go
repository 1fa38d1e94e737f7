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
