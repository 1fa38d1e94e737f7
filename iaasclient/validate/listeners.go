package validate

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Listener checks one listener spec on its own; path is like "listeners[1]".
func Listener(path string, l *iaasclient.ListenerSpec) *iaasclient.Error {
	if err := Name(path+".name", l.Name, false); err != nil {
		return err
	}
	switch l.Protocol {
	case iaasclient.ProtocolTCP, iaasclient.ProtocolUDP:
		if len(l.Rules) > 0 || l.CertificateID != "" {
			return Invalid(path+".rules", "rules and certificateId are for HTTP and HTTPS listeners")
		}
	case iaasclient.ProtocolHTTP, iaasclient.ProtocolHTTPS:
		if err := l7Listener(path, l); err != nil {
			return err
		}
	default:
		return Invalid(path+".protocol", "must be TCP, UDP, HTTP or HTTPS, got %q", Truncate(string(l.Protocol)))
	}
	if l.Port < 1 || l.Port > 65535 {
		return Invalid(path+".port", "must be 1-65535, got %d", l.Port)
	}
	if err := backends(path, l.Backends); err != nil {
		return err
	}
	if err := healthCheck(path+".healthCheck", l.HealthCheck); err != nil {
		return err
	}
	switch l.SessionAffinity {
	case "", iaasclient.SessionAffinityNone, iaasclient.SessionAffinityClientIP:
	default:
		return Invalid(path+".sessionAffinity", "must be NONE or CLIENT_IP, got %q", Truncate(string(l.SessionAffinity)))
	}
	if l.SessionAffinityTimeoutSeconds < 0 || l.SessionAffinityTimeoutSeconds > 86400 {
		return Invalid(path+".sessionAffinityTimeoutSeconds", "must be 0-86400, got %d", l.SessionAffinityTimeoutSeconds)
	}
	if len(l.SourceRanges) > MaxSourceRanges {
		return Invalid(path+".sourceRanges", "at most %d ranges", MaxSourceRanges)
	}
	for i, r := range l.SourceRanges {
		if _, err := LooseCIDR(fmt.Sprintf("%s.sourceRanges[%d]", path, i), r); err != nil {
			return err
		}
	}
	switch l.ProxyProtocol {
	case iaasclient.ProxyProtocolNone:
	case iaasclient.ProxyProtocolV2:
		if l.Protocol != iaasclient.ProtocolTCP {
			return Invalid(path+".proxyProtocol", "only for TCP listeners")
		}
	default:
		return Invalid(path+".proxyProtocol", "must be empty or v2, got %q", Truncate(string(l.ProxyProtocol)))
	}
	return nil
}

func healthCheck(hp string, hc *iaasclient.HealthCheck) *iaasclient.Error {
	if hc == nil {
		return nil
	}
	switch hc.Protocol {
	case iaasclient.HealthCheckTCP:
		if hc.Path != "" {
			return Invalid(hp+".path", "only for HTTP health checks")
		}
	case iaasclient.HealthCheckHTTP:
		if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
			return Invalid(hp+".path", "must start with /")
		}
		if err := Text(hp+".path", hc.Path, MaxHealthPathLen); err != nil {
			return err
		}
	default:
		return Invalid(hp+".protocol", "must be TCP or HTTP, got %q", Truncate(string(hc.Protocol)))
	}
	if hc.Port < 0 || hc.Port > 65535 {
		return Invalid(hp+".port", "must be 0-65535, got %d", hc.Port)
	}
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{{"intervalSeconds", hc.IntervalSeconds, 300}, {"timeoutSeconds", hc.TimeoutSeconds, 300}, {"healthyThreshold", hc.HealthyThreshold, 10}, {"unhealthyThreshold", hc.UnhealthyThreshold, 10}} {
		if f.v < 0 || f.v > f.max {
			return Invalid(hp+"."+f.name, "must be 0-%d, got %d", f.max, f.v)
		}
	}
	return nil
}

// ListenerKey is what must be unique among the listeners of one load balancer.
// HTTP and HTTPS listeners are TCP sockets too, so they share TCP's ports.
func ListenerKey(l *iaasclient.ListenerSpec) string {
	return fmt.Sprintf("%s/%d", SocketProtocol(l.Protocol), l.Port)
}

// SocketProtocol is the transport a listener's socket uses.
func SocketProtocol(p iaasclient.Protocol) iaasclient.Protocol {
	if p == iaasclient.ProtocolHTTP || p == iaasclient.ProtocolHTTPS {
		return iaasclient.ProtocolTCP
	}
	return p
}

// Listeners checks new listener specs (at field[i]) on their own, against each other
// and against the listeners the load balancer keeps: a protocol and port used twice is
// ResourceInUse.
func Listeners(field string, specs []iaasclient.ListenerSpec, kept []iaasclient.Listener) *iaasclient.Error {
	used := usedKeys(kept, "")
	for i := range specs {
		p := fmt.Sprintf("%s[%d]", field, i)
		if err := Listener(p, &specs[i]); err != nil {
			return err
		}
		k := ListenerKey(&specs[i])
		if other, dup := used[k]; dup {
			return InUse(p, "%s is already used by %s", k, other)
		}
		used[k] = p
	}
	return nil
}

// ListenerUpdate checks the spec that replaces listener id (ModifyListener, field
// "listener") against the other listeners of its load balancer.
func ListenerUpdate(field string, spec *iaasclient.ListenerSpec, listeners []iaasclient.Listener, id string) *iaasclient.Error {
	if err := Listener(field, spec); err != nil {
		return err
	}
	k := ListenerKey(spec)
	if other, dup := usedKeys(listeners, id)[k]; dup {
		return InUse(field, "%s is already used by %s", k, other)
	}
	return nil
}

func usedKeys(listeners []iaasclient.Listener, skip string) map[string]string {
	used := map[string]string{}
	for _, l := range listeners {
		if l.ListenerID != skip {
			used[ListenerKey(&l.ListenerSpec)] = "listener " + l.ListenerID
		}
	}
	return used
}

// backends checks one backend group at path+".backends".
func backends(path string, bs []iaasclient.Backend) *iaasclient.Error {
	if len(bs) > MaxBackends {
		return Invalid(path+".backends", "at most %d backends", MaxBackends)
	}
	seen := map[string]int{}
	for i, b := range bs {
		bp := fmt.Sprintf("%s.backends[%d]", path, i)
		a, err := IP(bp+".ip", b.IP)
		if err != nil {
			return err
		}
		if b.Port < 1 || b.Port > 65535 {
			return Invalid(bp+".port", "must be 1-65535, got %d", b.Port)
		}
		if b.Weight < 0 || b.Weight > 100 {
			return Invalid(bp+".weight", "must be 0-100, got %d", b.Weight)
		}
		k := netip.AddrPortFrom(a, uint16(b.Port)).String()
		if j, dup := seen[k]; dup {
			return Invalid(bp, "duplicates backends[%d] (%s)", j, k)
		}
		seen[k] = i
	}
	return nil
}
