package iaasclient

import (
	"sort"
	"strconv"
	"strings"
)

// Layer-7 listeners: an HTTP or HTTPS listener routes each request by host and path to
// one backend group (node:NodePort set) of its rules, or to the listener's own Backends
// (the default group) when no rule matches; with neither it answers 404.
const (
	ProtocolHTTP  Protocol = "HTTP"
	ProtocolHTTPS Protocol = "HTTPS"
)

// PathType says how an L7 rule's path matches (the Ingress semantics).
type PathType string

const (
	// PathPrefix matches the path and everything below it, element-wise: "/a" matches
	// "/a" and "/a/b" but not "/ab". "/" matches every path.
	PathPrefix PathType = "Prefix"
	// PathExact matches the path only.
	PathExact PathType = "Exact"
)

// L7Rule sends requests for Host (exact, or "*.example.com" for one label; "" for any
// host), Path and Headers to Backends. Among matching rules the most specific wins: an
// exact host before a wildcard before any host, then an exact path before the longest
// prefix, then more header matches before fewer; rules equal in all that keep the
// order they were given in.
type L7Rule struct {
	Host string `json:"host,omitempty"`
	// WildcardSpansLabels makes a "*." host match one or more labels (the Gateway API's
	// hostnames: *.example.com matches a.b.example.com) instead of exactly one (Ingress's).
	WildcardSpansLabels bool     `json:"wildcardSpansLabels,omitempty"`
	Path                string   `json:"path"`
	PathType            PathType `json:"pathType"`
	// Headers must all match (none: any request).
	Headers  []HeaderMatch `json:"headers,omitempty"`
	Backends []Backend     `json:"backends"`
	// FixedStatus, when set (200-599), answers the rule's requests with that status and
	// forwards nothing; Backends and HealthCheck must then be empty. A rule whose
	// backend is misconfigured says so with 500 instead of the 503 of a group with no
	// healthy backend.
	FixedStatus int `json:"fixedStatus,omitempty"`
	// Redirect, when set, answers the rule's requests with a redirect and forwards
	// nothing (Backends, HealthCheck and FixedStatus must then be empty).
	Redirect *Redirect `json:"redirect,omitempty"`
	// RequestHeaders edits each request before it goes to a backend.
	RequestHeaders *HeaderEdits `json:"requestHeaders,omitempty"`
	// HealthCheck of this group; nil uses the listener's (a TCP connect by default).
	// A group with its own check keeps its own health state for its backends, so a
	// backend may be out of one group and in another (BackendStatus then lists it once
	// per such group).
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
}

// HeaderMatch matches a request whose header Name (case-insensitive) has Value exactly
// (case-sensitive): one of its values, or all its values joined by ",". Name "Host"
// matches the request's host as the client sent it.
type HeaderMatch struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Redirect answers with StatusCode (301, 302, 303, 307 or 308) and a Location that is
// the request's URL with the given parts replaced: Scheme ("http" or "https"), Host (a
// DNS name) and Port. Without Port the port is the scheme's well-known one when Scheme
// is given, else the listener's; a well-known port is left out of the Location.
type Redirect struct {
	Scheme     string `json:"scheme,omitempty"`
	Host       string `json:"host,omitempty"`
	Port       int    `json:"port,omitempty"`
	StatusCode int    `json:"statusCode"`
}

// HeaderEdits change request headers, in this order: Remove (names), Set (replace
// every value of the header), Add (append a value). Names are case-insensitive; Host
// cannot be edited.
type HeaderEdits struct {
	Set    []HeaderMatch `json:"set,omitempty"`
	Add    []HeaderMatch `json:"add,omitempty"`
	Remove []string      `json:"remove,omitempty"`
}

// MatchKey is what makes two rules the same match (host, path type, path and header
// set; header names case-insensitive, order irrelevant): a listener holds at most one
// rule per key.
func (r L7Rule) MatchKey() string {
	hs := make([]string, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = strconv.Quote(strings.ToLower(h.Name)) + "=" + strconv.Quote(h.Value)
	}
	sort.Strings(hs)
	host := r.Host
	if r.WildcardSpansLabels {
		host = "*" + host // "**.example.com": never equal to the one-label pattern
	}
	return host + " " + string(r.PathType) + " " + r.Path + " " + strings.Join(hs, " ")
}
