package iaassim

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Limits of free-form fields.
const (
	maxNameLen        = 128
	maxDescriptionLen = 255
	maxTags           = 50
	maxTagKeyLen      = 128
	maxTagValueLen    = 256
	maxIDsPerFilter   = 1000
	maxBackends       = 1000
	maxSourceRanges   = 100
)

func errf(code iaasclient.Code, format string, args ...any) *iaasclient.Error {
	return iaasclient.Errorf(code, format, args...)
}

func notFound(field, kind, id string) *iaasclient.Error {
	return errf(iaasclient.CodeResourceNotFound, "%s: %s %q does not exist", field, kind, id)
}

func validateName(field, s string, required bool) *iaasclient.Error {
	if required && s == "" {
		return invalid(field, "is required")
	}
	return validateText(field, s, maxNameLen)
}

func validateText(field, s string, max int) *iaasclient.Error {
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if len(s) > max {
		return invalid(field, "longer than %d bytes", max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "contains a control character")
		}
	}
	return nil
}

func validateTags(field string, tags map[string]string) *iaasclient.Error {
	if len(tags) > maxTags {
		return invalid(field, "at most %d tags", maxTags)
	}
	for k, v := range tags {
		p := fmt.Sprintf("%s[%q]", field, k)
		if k == "" {
			return invalid(p, "tag key must not be empty")
		}
		if err := validateText(p, k, maxTagKeyLen); err != nil {
			return err
		}
		if err := validateText(p, v, maxTagValueLen); err != nil {
			return err
		}
	}
	return nil
}

func validateIDList(field string, ids []string) *iaasclient.Error {
	if len(ids) > maxIDsPerFilter {
		return invalid(field, "at most %d values", maxIDsPerFilter)
	}
	for i, id := range ids {
		if err := validateText(fmt.Sprintf("%s[%d]", field, i), id, maxNameLen); err != nil {
			return err
		}
	}
	return nil
}

// ParseCIDR parses a network prefix in canonical form: a valid address, a prefix length
// in range, and no host bits set (10.244.1.0/24, not 10.244.1.5/24).
func ParseCIDR(field, s string) (netip.Prefix, *iaasclient.Error) {
	if s == "" {
		return netip.Prefix{}, invalid(field, "is required")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, invalid(field, "%q is not a CIDR", truncate(s))
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, invalid(field, "%q must not carry a zone", truncate(s))
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, invalid(field, "%q: use the IPv4 form", truncate(s))
	}
	if p.Masked() != p {
		return netip.Prefix{}, invalid(field, "%q has host bits set; the network is %s", truncate(s), p.Masked())
	}
	return p, nil
}

// ParseLooseCIDR parses a CIDR and allows host bits (as Kubernetes does for
// loadBalancerSourceRanges); it returns the masked prefix.
func ParseLooseCIDR(field, s string) (netip.Prefix, *iaasclient.Error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, invalid(field, "%q is not a CIDR", truncate(s))
	}
	return p.Masked(), nil
}

func parseIP(field, s string) (netip.Addr, *iaasclient.Error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, invalid(field, "%q is not an IP address", truncate(s))
	}
	return a.Unmap(), nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Overlaps reports whether two prefixes share an address.
func Overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// ValidateRouteSpecs checks a CreateRoutes batch on its own and against the destinations
// already in the table: every destination a canonical CIDR, no two overlapping, and the
// table not over limit. It does not check next hops (that needs the instances).
func ValidateRouteSpecs(specs []iaasclient.RouteSpec, existing []string, limit int) *iaasclient.Error {
	if len(specs) == 0 {
		return invalid("routes", "at least one route is required")
	}
	prefixes := make([]netip.Prefix, len(specs))
	for i, sp := range specs {
		p := fmt.Sprintf("routes[%d]", i)
		pfx, err := ParseCIDR(p+".destinationCidr", sp.DestinationCidr)
		if err != nil {
			return err
		}
		prefixes[i] = pfx
		if sp.NextHopInstanceID == "" {
			return invalid(p+".nextHopInstanceId", "is required")
		}
		if err := validateText(p+".nextHopInstanceId", sp.NextHopInstanceID, maxNameLen); err != nil {
			return err
		}
		if err := validateText(p+".description", sp.Description, maxDescriptionLen); err != nil {
			return err
		}
		if err := validateTags(p+".tags", sp.Tags); err != nil {
			return err
		}
	}
	for i := range prefixes {
		for j := range i {
			if prefixes[i].Overlaps(prefixes[j]) {
				return errf(iaasclient.CodeResourceInUse, "routes[%d].destinationCidr: %s overlaps routes[%d].destinationCidr %s", i, prefixes[i], j, prefixes[j])
			}
		}
	}
	for _, e := range existing {
		ep, err := netip.ParsePrefix(e)
		if err != nil {
			continue
		}
		for i, p := range prefixes {
			if p.Overlaps(ep) {
				return errf(iaasclient.CodeResourceInUse, "routes[%d].destinationCidr: %s overlaps the existing route %s", i, p, ep)
			}
		}
	}
	if len(existing)+len(specs) > limit {
		return errf(iaasclient.CodeLimitExceeded, "routes: the table holds %d routes and its limit is %d; %d more do not fit", len(existing), limit, len(specs))
	}
	return nil
}

// ValidateListener checks one listener spec; path is like "listeners[1]".
func ValidateListener(path string, l *iaasclient.ListenerSpec) *iaasclient.Error {
	if err := validateName(path+".name", l.Name, false); err != nil {
		return err
	}
	switch l.Protocol {
	case iaasclient.ProtocolTCP, iaasclient.ProtocolUDP:
	default:
		return invalid(path+".protocol", "must be TCP or UDP, got %q", truncate(string(l.Protocol)))
	}
	if l.Port < 1 || l.Port > 65535 {
		return invalid(path+".port", "must be 1-65535, got %d", l.Port)
	}
	if len(l.Backends) > maxBackends {
		return invalid(path+".backends", "at most %d backends", maxBackends)
	}
	seen := map[string]int{}
	for i, b := range l.Backends {
		bp := fmt.Sprintf("%s.backends[%d]", path, i)
		a, err := parseIP(bp+".ip", b.IP)
		if err != nil {
			return err
		}
		if b.Port < 1 || b.Port > 65535 {
			return invalid(bp+".port", "must be 1-65535, got %d", b.Port)
		}
		if b.Weight < 0 || b.Weight > 100 {
			return invalid(bp+".weight", "must be 0-100, got %d", b.Weight)
		}
		k := netip.AddrPortFrom(a, uint16(b.Port)).String()
		if j, dup := seen[k]; dup {
			return invalid(bp, "duplicates backends[%d] (%s)", j, k)
		}
		seen[k] = i
	}
	if hc := l.HealthCheck; hc != nil {
		hp := path + ".healthCheck"
		switch hc.Protocol {
		case iaasclient.HealthCheckTCP:
			if hc.Path != "" {
				return invalid(hp+".path", "only for HTTP health checks")
			}
		case iaasclient.HealthCheckHTTP:
			if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
				return invalid(hp+".path", "must start with /")
			}
			if err := validateText(hp+".path", hc.Path, 1024); err != nil {
				return err
			}
		default:
			return invalid(hp+".protocol", "must be TCP or HTTP, got %q", truncate(string(hc.Protocol)))
		}
		if hc.Port < 0 || hc.Port > 65535 {
			return invalid(hp+".port", "must be 0-65535, got %d", hc.Port)
		}
		for _, f := range []struct {
			name string
			v    int
			max  int
		}{{"intervalSeconds", hc.IntervalSeconds, 300}, {"timeoutSeconds", hc.TimeoutSeconds, 300}, {"healthyThreshold", hc.HealthyThreshold, 10}, {"unhealthyThreshold", hc.UnhealthyThreshold, 10}} {
			if f.v < 0 || f.v > f.max {
				return invalid(hp+"."+f.name, "must be 0-%d, got %d", f.max, f.v)
			}
		}
	}
	switch l.SessionAffinity {
	case "", iaasclient.SessionAffinityNone, iaasclient.SessionAffinityClientIP:
	default:
		return invalid(path+".sessionAffinity", "must be NONE or CLIENT_IP, got %q", truncate(string(l.SessionAffinity)))
	}
	if l.SessionAffinityTimeoutSeconds < 0 || l.SessionAffinityTimeoutSeconds > 86400 {
		return invalid(path+".sessionAffinityTimeoutSeconds", "must be 0-86400, got %d", l.SessionAffinityTimeoutSeconds)
	}
	if len(l.SourceRanges) > maxSourceRanges {
		return invalid(path+".sourceRanges", "at most %d ranges", maxSourceRanges)
	}
	for i, r := range l.SourceRanges {
		if _, err := ParseLooseCIDR(fmt.Sprintf("%s.sourceRanges[%d]", path, i), r); err != nil {
			return err
		}
	}
	switch l.ProxyProtocol {
	case iaasclient.ProxyProtocolNone:
	case iaasclient.ProxyProtocolV2:
		if l.Protocol != iaasclient.ProtocolTCP {
			return invalid(path+".proxyProtocol", "only for TCP listeners")
		}
	default:
		return invalid(path+".proxyProtocol", "must be empty or v2, got %q", truncate(string(l.ProxyProtocol)))
	}
	return nil
}

// listenerKey is what must be unique per load balancer.
func listenerKey(l *iaasclient.ListenerSpec) string {
	return fmt.Sprintf("%s/%d", l.Protocol, l.Port)
}

// validatePage checks offset and limit and returns the effective bounds.
func validatePage(p iaasclient.Page) (offset, limit int, err *iaasclient.Error) {
	if p.Offset < 0 {
		return 0, 0, invalid("offset", "must not be negative")
	}
	if p.Limit < 0 || p.Limit > iaasclient.MaxPageSize {
		return 0, 0, invalid("limit", "must be 0-%d, got %d", iaasclient.MaxPageSize, p.Limit)
	}
	limit = p.Limit
	if limit == 0 {
		limit = iaasclient.DefaultPageSize
	}
	return p.Offset, limit, nil
}

// paginate returns the page of items (already sorted by id).
func paginate[T any](items []T, offset, limit int) []T {
	if offset >= len(items) {
		return []T{}
	}
	end := min(offset+limit, len(items))
	return items[offset:end]
}

func tagsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

func inList(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func inListStrict(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
