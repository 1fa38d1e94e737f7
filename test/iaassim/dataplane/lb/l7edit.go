package lb

import (
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// redirectURL is the Location of a redirect rule: the request's URL on this listener
// with the rule's scheme, host and port. Without a port the scheme's well-known one
// when the rule sets a scheme, else the listener's; a well-known port is left out.
func redirectURL(d *iaasclient.Redirect, r *http.Request, proto iaasclient.Protocol, listenerPort int) string {
	scheme := "http"
	if proto == iaasclient.ProtocolHTTPS {
		scheme = "https"
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	port := listenerPort
	if d.Scheme != "" {
		scheme = d.Scheme
		port = wellKnownPort(scheme)
	}
	if d.Host != "" {
		host = d.Host
	}
	if d.Port != 0 {
		port = d.Port
	}
	if port != wellKnownPort(scheme) {
		host = net.JoinHostPort(host, strconv.Itoa(port))
	}
	u := url.URL{Scheme: scheme, Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	return u.String()
}

func wellKnownPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// editHeaders applies a rule's request header edits: remove, then set, then add.
func editHeaders(h http.Header, e *iaasclient.HeaderEdits) {
	if e == nil {
		return
	}
	for _, n := range e.Remove {
		h.Del(n)
	}
	for _, s := range e.Set {
		h.Set(s.Name, s.Value)
	}
	for _, a := range e.Add {
		h.Add(a.Name, a.Value)
	}
}
