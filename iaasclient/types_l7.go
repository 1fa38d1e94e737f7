package iaasclient

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
// host) and Path to Backends. Among matching rules the most specific wins: an exact
// host before a wildcard before any host, then an exact path before the longest prefix.
type L7Rule struct {
	Host     string    `json:"host,omitempty"`
	Path     string    `json:"path"`
	PathType PathType  `json:"pathType"`
	Backends []Backend `json:"backends"`
	// HealthCheck of this group; nil uses the listener's (a TCP connect by default).
	// A group with its own check keeps its own health state for its backends, so a
	// backend may be out of one group and in another (BackendStatus then lists it once
	// per such group).
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
}
