package validate

import (
	"fmt"
	"net/netip"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// RouteSpecs checks a CreateRoutes batch on its own and against the destinations
// already in the table: every destination a canonical CIDR, no two overlapping, and the
// table not over limit. It does not look up next hops (see RouteNextHops).
func RouteSpecs(specs []iaasclient.RouteSpec, existing []string, limit int) *iaasclient.Error {
	if len(specs) == 0 {
		return Invalid("routes", "at least one route is required")
	}
	prefixes := make([]netip.Prefix, len(specs))
	for i, sp := range specs {
		p := fmt.Sprintf("routes[%d]", i)
		pfx, err := CIDR(p+".destinationCidr", sp.DestinationCidr)
		if err != nil {
			return err
		}
		prefixes[i] = pfx
		if err := Required(p+".nextHopInstanceId", sp.NextHopInstanceID); err != nil {
			return err
		}
		if err := Text(p+".nextHopInstanceId", sp.NextHopInstanceID, MaxNameLen); err != nil {
			return err
		}
		if err := Text(p+".description", sp.Description, MaxDescriptionLen); err != nil {
			return err
		}
		if err := Tags(p+".tags", sp.Tags); err != nil {
			return err
		}
	}
	for i := range prefixes {
		for j := range i {
			if prefixes[i].Overlaps(prefixes[j]) {
				return iaasclient.Errorf(iaasclient.CodeResourceInUse, "routes[%d].destinationCidr: %s overlaps routes[%d].destinationCidr %s", i, prefixes[i], j, prefixes[j])
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
				return iaasclient.Errorf(iaasclient.CodeResourceInUse, "routes[%d].destinationCidr: %s overlaps the existing route %s", i, p, ep)
			}
		}
	}
	if len(existing)+len(specs) > limit {
		return iaasclient.Errorf(iaasclient.CodeLimitExceeded, "routes: the table holds %d routes and its limit is %d; %d more do not fit", len(existing), limit, len(specs))
	}
	return nil
}

// RouteNextHops checks the next hop of every route that names one: lookup returns the
// instance with that id as the caller may see it, or nil (missing, or another
// tenant's). A next hop must exist, not be TERMINATED, be in the table's VPC and have a
// private IP. Run it before RouteSpecs: a missing instance is a clearer answer than a
// limit.
func RouteNextHops(specs []iaasclient.RouteSpec, vpcID string, lookup func(id string) *iaasclient.Instance) *iaasclient.Error {
	for i, sp := range specs {
		if sp.NextHopInstanceID == "" {
			continue
		}
		field := fmt.Sprintf("routes[%d].nextHopInstanceId", i)
		in := lookup(sp.NextHopInstanceID)
		if in == nil || in.State == iaasclient.InstanceTerminated {
			return NotFound(field, "instance", sp.NextHopInstanceID)
		}
		if in.VpcID != vpcID {
			return Invalid(field, "instance %s is in VPC %s, not in the table's VPC %s", in.InstanceID, in.VpcID, vpcID)
		}
		if len(in.PrivateIPs) == 0 {
			return Invalid(field, "instance %s has no private IP", in.InstanceID)
		}
	}
	return nil
}
