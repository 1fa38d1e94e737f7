package lb

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Health-check defaults for fields the API leaves 0 (the same choices as kube-proxy's
// health check node port users: a few seconds to notice, two results to flip).
const (
	DefaultInterval           = 5 * time.Second
	DefaultTimeout            = 2 * time.Second
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 2
	DefaultWeight             = 10
	DefaultAffinityTimeout    = 10800 * time.Second
)

// backend is one target of a listener, parsed.
type backend struct {
	key    string // ip:port, also the health-state key
	addr   netip.AddrPort
	weight int
	// hp is the health check of the L7 group the backend came from (nil: the
	// listener's).
	hp *healthParams
}

// listenerConfig is the parsed, immutable form of a ListenerSpec. A listener holds it
// in an atomic pointer, so a change of backends, health check, affinity or source
// ranges swaps it without touching the listening socket or established connections.
type listenerConfig struct {
	spec            iaasclient.ListenerSpec
	backends        []backend
	ranges          []netip.Prefix
	affinity        bool
	affinityTimeout time.Duration
	proxyV2         bool
	health          healthParams
	l7              *l7Config // HTTP and HTTPS listeners (l7.go)
}

type healthParams struct {
	enabled            bool
	http               bool
	path               string
	port               int // 0 = backend's port
	interval, timeout  time.Duration
	healthy, unhealthy int
}

func parseListener(spec iaasclient.ListenerSpec) (*listenerConfig, error) {
	if spec.Port < 1 || spec.Port > 65535 {
		return nil, fmt.Errorf("port %d out of range", spec.Port)
	}
	switch spec.Protocol {
	case iaasclient.ProtocolTCP, iaasclient.ProtocolUDP, iaasclient.ProtocolHTTP, iaasclient.ProtocolHTTPS:
	default:
		return nil, fmt.Errorf("protocol %q is not TCP, UDP, HTTP or HTTPS", spec.Protocol)
	}
	c := &listenerConfig{spec: spec}
	var err error
	if c.backends, err = parseBackends(spec.Backends, nil); err != nil {
		return nil, err
	}
	for _, r := range spec.SourceRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("source range %q: %w", r, err)
		}
		c.ranges = append(c.ranges, p.Masked())
	}
	c.affinity = spec.SessionAffinity == iaasclient.SessionAffinityClientIP
	c.affinityTimeout = DefaultAffinityTimeout
	if spec.SessionAffinityTimeoutSeconds > 0 {
		c.affinityTimeout = time.Duration(spec.SessionAffinityTimeoutSeconds) * time.Second
	}
	switch spec.ProxyProtocol {
	case iaasclient.ProxyProtocolNone:
	case iaasclient.ProxyProtocolV2:
		if spec.Protocol != iaasclient.ProtocolTCP {
			return nil, fmt.Errorf("proxy protocol is for TCP listeners only")
		}
		c.proxyV2 = true
	default:
		return nil, fmt.Errorf("proxy protocol %q is not supported (only v2)", spec.ProxyProtocol)
	}
	h := spec.HealthCheck
	c.health = healthParams{enabled: true, interval: DefaultInterval, timeout: DefaultTimeout,
		healthy: DefaultHealthyThreshold, unhealthy: DefaultUnhealthyThreshold}
	if h == nil && spec.Protocol == iaasclient.ProtocolUDP {
		// A TCP connect to a UDP port can only fail; without a check the backends of a
		// UDP listener count as healthy (as with cloud LBs that need an explicit UDP
		// check). Callers set a TCP/HTTP check on another port (healthCheckNodePort).
		c.health.enabled = false
	}
	if h != nil {
		if err := c.health.apply(h); err != nil {
			return nil, err
		}
	}
	if c.health.timeout > c.health.interval {
		c.health.timeout = c.health.interval
	}
	if spec.Protocol == iaasclient.ProtocolHTTP || spec.Protocol == iaasclient.ProtocolHTTPS {
		if err := c.parseL7(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseBackends parses one backend group; hp is the group's own health check.
func parseBackends(bs []iaasclient.Backend, hp *healthParams) ([]backend, error) {
	var out []backend
	for _, b := range bs {
		a, err := netip.ParseAddr(b.IP)
		if err != nil || b.Port < 1 || b.Port > 65535 {
			return nil, fmt.Errorf("backend %s:%d is not an address and port", b.IP, b.Port)
		}
		w := b.Weight
		if w == 0 {
			w = DefaultWeight
		}
		if w < 0 {
			return nil, fmt.Errorf("backend %s:%d: negative weight", b.IP, b.Port)
		}
		ap := netip.AddrPortFrom(a.Unmap(), uint16(b.Port))
		out = append(out, backend{key: ap.String(), addr: ap, weight: w, hp: hp})
	}
	return out, nil
}

// allowed reports whether a client may use the listener (source ranges).
func (c *listenerConfig) allowed(client netip.Addr) bool {
	if len(c.ranges) == 0 {
		return true
	}
	client = client.Unmap()
	for _, p := range c.ranges {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// apply sets the fields h gives (0 keeps p's value).
func (p *healthParams) apply(h *iaasclient.HealthCheck) error {
	switch h.Protocol {
	case iaasclient.HealthCheckTCP, "":
		p.http, p.path = false, ""
	case iaasclient.HealthCheckHTTP:
		p.http = true
		p.path = h.Path
		if p.path == "" {
			p.path = "/"
		}
	default:
		return fmt.Errorf("health check protocol %q is not TCP or HTTP", h.Protocol)
	}
	p.port = h.Port
	if h.IntervalSeconds > 0 {
		p.interval = time.Duration(h.IntervalSeconds) * time.Second
	}
	if h.TimeoutSeconds > 0 {
		p.timeout = time.Duration(h.TimeoutSeconds) * time.Second
	}
	if h.HealthyThreshold > 0 {
		p.healthy = h.HealthyThreshold
	}
	if h.UnhealthyThreshold > 0 {
		p.unhealthy = h.UnhealthyThreshold
	}
	if p.timeout > p.interval {
		p.timeout = p.interval
	}
	return nil
}
