package iaassim

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// The source-IP model authorises a caller by its TCP peer address, so the map from an
// address to its tenant must be a function: an address in two tenants' admin CIDRs, or
// an instance address inside another tenant's admin CIDR or on another tenant's
// instance, would let one tenant's credentials be used from the other's machine, and
// would make "who am I" ambiguous. Every place where the map can change goes through the
// rule of this file:
//
//   - config load (Config.Validate): overlapping admin CIDRs of two tenants, or a static
//     instance address in another tenant's claim, are refused naming both;
//   - POST /admin/v1/instances (staticEntry): refused with ResourceInUse naming both;
//   - instances a backend discovers (docker, netns, static state file) and address
//     changes of known instances (syncInstances): a machine exists whether we like it or
//     not, so the sync records it, logs the conflict naming both tenants and counts it in
//     iaas_sim_address_conflicts, and ownerOf answers "nobody" for that address until the
//     conflict is gone (fail closed: neither tenant is authorised from it).
//
// ownerOf is the function every request goes through (authentication and both metadata
// endpoints), so even a conflict that slipped past a check can never authorise two
// tenants.

// addressClaim is a set of addresses one tenant is authorised from.
type addressClaim struct {
	tenant string
	// field names the claim: a config path ("tenants[1].adminCidrs[0]"), a request
	// field ("privateIps[0]") or an instance ("instance ins-… (node-1)").
	field string
	// instance: the claim is an instance's private IP (two instances of one tenant may
	// not share an address either: the metadata endpoint must know which one calls).
	instance bool
	prefix   netip.Prefix
}

func (c addressClaim) String() string {
	what := c.prefix.String()
	if c.prefix.IsSingleIP() {
		what = c.prefix.Addr().String()
	}
	return fmt.Sprintf("%s of tenant %q (%s)", what, c.tenant, c.field)
}

// AddressConflictError says that two claims cover one address.
type AddressConflictError struct {
	New, Existing addressClaim
}

func (e *AddressConflictError) Error() string {
	return fmt.Sprintf("%s overlaps %s: a source address must belong to one tenant and at most one instance", e.New, e.Existing)
}

// Tenants are the two tenants of the conflict (one name twice for two instances of one
// tenant).
func (e *AddressConflictError) Tenants() (string, string) { return e.New.tenant, e.Existing.tenant }

func conflicts(a, b addressClaim) bool {
	return a.prefix.Overlaps(b.prefix) && (a.tenant != b.tenant || (a.instance && b.instance))
}

// firstConflict returns the first claim of add that conflicts with a claim in have.
func firstConflict(have, add []addressClaim) *AddressConflictError {
	for _, n := range add {
		for _, h := range have {
			if conflicts(n, h) {
				return &AddressConflictError{New: n, Existing: h}
			}
		}
	}
	return nil
}

// checkClaims checks a whole set (the config) claim by claim against those before it.
func checkClaims(all []addressClaim) *AddressConflictError {
	for i := range all {
		if c := firstConflict(all[:i], all[i:i+1]); c != nil {
			return c
		}
	}
	return nil
}

func hostPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen())
}

// configClaims are the addresses a (validated) config authorises: every tenant's admin
// CIDRs and every static instance's private IPs, named by their config paths.
func configClaims(c *Config) []addressClaim {
	var out []addressClaim
	for i, t := range c.Tenants {
		for j, s := range t.AdminCIDRs {
			if p, err := netip.ParsePrefix(s); err == nil {
				out = append(out, addressClaim{tenant: t.Name, field: fmt.Sprintf("tenants[%d].adminCidrs[%d]", i, j), prefix: p.Masked()})
			}
		}
	}
	for i, s := range c.StaticInstances {
		for j, ip := range s.PrivateIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				out = append(out, addressClaim{tenant: s.Tenant, field: fmt.Sprintf("staticInstances[%d].privateIps[%d]", i, j), instance: true, prefix: hostPrefix(a)})
			}
		}
	}
	return out
}

func adminClaims(tn *tenant) []addressClaim {
	out := make([]addressClaim, 0, len(tn.adminCIDRs))
	for _, p := range tn.adminCIDRs {
		out = append(out, addressClaim{tenant: tn.name, field: "adminCidrs " + p.String(), prefix: p})
	}
	return out
}

func instanceClaims(in *instanceRec) []addressClaim {
	out := make([]addressClaim, 0, len(in.PrivateIPs))
	for _, ip := range in.PrivateIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, addressClaim{tenant: in.Tenant, field: fmt.Sprintf("instance %s (%s)", in.InstanceID, in.Name), instance: true, prefix: hostPrefix(a)})
		}
	}
	return out
}

// tenantNames is the sorted tenant names, so that messages do not depend on map order.
func (s *Server) tenantNames() []string {
	names := make([]string, 0, len(s.tenants))
	for n := range s.tenants {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// liveClaimsLocked are the addresses authorised now: every tenant's admin CIDRs, then
// the private IPs of every instance that is not TERMINATED (in instance id order),
// except the instances for which skip is true. Caller holds s.state.mu.
func (s *Server) liveClaimsLocked(skip func(*instanceRec) bool) []addressClaim {
	var out []addressClaim
	for _, n := range s.tenantNames() {
		out = append(out, adminClaims(s.tenants[n])...)
	}
	for _, in := range sortedValues(s.state.instances, func(in *instanceRec) bool {
		return in.State != iaasclient.InstanceTerminated && (skip == nil || !skip(in))
	}) {
		out = append(out, instanceClaims(in)...)
	}
	return out
}

// addressOwner is what an address maps to.
type addressOwner struct {
	// tenant is "" when no tenant, or more than one, claims the address.
	tenant string
	// instance is the one live instance with the address, nil if none or several.
	instance *instanceRec
	// conflict is set when two claims cover the address (then tenant and instance are
	// empty: nobody is authorised from it).
	conflict *AddressConflictError
}

// ownerOf maps a peer address to its tenant and instance: the one function behind the
// source-IP check and the metadata endpoints.
func (s *Server) ownerOf(a netip.Addr) addressOwner {
	a = a.Unmap().WithZone("")
	want := a.String()
	var claims []addressClaim
	for _, n := range s.tenantNames() {
		tn := s.tenants[n]
		for _, p := range tn.adminCIDRs {
			if p.Contains(a) {
				claims = append(claims, addressClaim{tenant: tn.name, field: "adminCidrs " + p.String(), prefix: p})
			}
		}
	}
	var insts []*instanceRec
	s.state.mu.RLock()
	for _, in := range s.state.instances {
		if in.State != iaasclient.InstanceTerminated && slices.Contains(in.PrivateIPs, want) {
			insts = append(insts, in)
		}
	}
	s.state.mu.RUnlock()
	slices.SortFunc(insts, func(x, y *instanceRec) int { return strings.Compare(x.InstanceID, y.InstanceID) })
	for _, in := range insts {
		claims = append(claims, addressClaim{tenant: in.Tenant, field: fmt.Sprintf("instance %s (%s)", in.InstanceID, in.Name), instance: true, prefix: hostPrefix(a)})
	}
	if c := checkClaims(claims); c != nil {
		return addressOwner{conflict: c}
	}
	var o addressOwner
	if len(claims) > 0 {
		o.tenant = claims[0].tenant
	}
	if len(insts) == 1 {
		o.instance = insts[0]
	}
	return o
}

// canonicalIPs rewrites addresses in canonical form (IPv4-mapped unmapped, no zone), so
// that an address compares equal to the peer address of a request; unparsable ones are
// dropped (they can authorise nothing) and reported.
func canonicalIPs(ips []string) (out []string, bad []string) {
	out = make([]string, 0, len(ips))
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			bad = append(bad, ip)
			continue
		}
		if c := a.Unmap().WithZone("").String(); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, bad
}

// addressConflictsLocked lists every conflict among the live claims, one per pair, in
// a stable order. Caller holds s.state.mu.
func (s *Server) addressConflictsLocked() []*AddressConflictError {
	// Admin CIDRs come first in liveClaimsLocked; instance claims are single addresses,
	// so they are compared with the CIDRs and with each other by address (not pairwise:
	// a sync of thousands of instances stays linear).
	var out []*AddressConflictError
	var cidrs []addressClaim
	byAddr := map[netip.Prefix][]addressClaim{}
	for _, c := range s.liveClaimsLocked(nil) {
		for _, h := range cidrs {
			if conflicts(c, h) {
				out = append(out, &AddressConflictError{New: c, Existing: h})
			}
		}
		if !c.instance {
			cidrs = append(cidrs, c)
			continue
		}
		for _, h := range byAddr[c.prefix] {
			if conflicts(c, h) {
				out = append(out, &AddressConflictError{New: c, Existing: h})
			}
		}
		byAddr[c.prefix] = append(byAddr[c.prefix], c)
	}
	return out
}

// reportAddressConflictsLocked logs conflicts that appeared or went away since the last
// call and sets the gauge. Caller holds s.state.mu for writing.
func (s *Server) reportAddressConflictsLocked() {
	now := map[string]*AddressConflictError{}
	for _, c := range s.addressConflictsLocked() {
		now[c.Error()] = c
	}
	for k, c := range now {
		if !s.conflicts[k] {
			a, b := c.Tenants()
			s.log().Error(c, "An address is claimed twice; requests from it are refused for every tenant until one claim goes",
				"tenant", a, "otherTenant", b, "claim", c.New.field, "otherClaim", c.Existing.field)
		}
	}
	for k := range s.conflicts {
		if now[k] == nil {
			s.log().Info("Address conflict resolved", "conflict", k)
		}
	}
	s.conflicts = map[string]bool{}
	for k := range now {
		s.conflicts[k] = true
	}
	s.metrics.addressConflicts.Set(float64(len(now)))
}
