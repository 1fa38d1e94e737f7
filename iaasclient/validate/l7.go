package validate

import (
	"fmt"
	"strings"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// MaxL7Rules bounds the rules of one HTTP/HTTPS listener.
const MaxL7Rules = 100

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
		k := r.Host + " " + string(r.PathType) + " " + r.Path
		if j, dup := seen[k]; dup {
			return Invalid(rp, "duplicates rules[%d] (same host, path and path type)", j)
		}
		seen[k] = i
		if err := backends(rp, r.Backends); err != nil {
			return err
		}
		if err := healthCheck(rp+".healthCheck", r.HealthCheck); err != nil {
			return err
		}
	}
	return nil
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
