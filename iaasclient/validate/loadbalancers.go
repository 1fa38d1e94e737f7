package validate

import (
	"net/netip"
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// CreateLoadBalancer checks what a CreateLoadBalancer request says on its own (not the
// VPC, the quotas or the VIP).
func CreateLoadBalancer(req *iaasclient.CreateLoadBalancerRequest) *iaasclient.Error {
	if err := Name("name", req.Name, true); err != nil {
		return err
	}
	if err := LoadBalancerType("type", req.Type); err != nil {
		return err
	}
	if err := Text("subnetId", req.SubnetID, MaxNameLen); err != nil {
		return err
	}
	if err := Tags("tags", req.Tags); err != nil {
		return err
	}
	return Listeners("listeners", req.Listeners, nil)
}

// LoadBalancerType accepts public and internal.
func LoadBalancerType(field string, t iaasclient.LoadBalancerType) *iaasclient.Error {
	if t != iaasclient.LoadBalancerPublic && t != iaasclient.LoadBalancerInternal {
		return Invalid(field, "must be public or internal, got %q", Truncate(string(t)))
	}
	return nil
}

// ModifyLoadBalancer checks a ModifyLoadBalancer request on its own.
func ModifyLoadBalancer(req *iaasclient.ModifyLoadBalancerRequest) *iaasclient.Error {
	if err := NewName("name", req.Name); err != nil {
		return err
	}
	return Tags("tags", req.Tags)
}

// CreateListeners checks the part of a CreateListeners request that needs no load
// balancer; Listeners checks the specs once the load balancer is known.
func CreateListeners(req *iaasclient.CreateListenersRequest) *iaasclient.Error {
	if len(req.Listeners) == 0 {
		return Invalid("listeners", "at least one listener is required")
	}
	return nil
}

// LoadBalancerAcceptsChanges refuses changes to a load balancer being deleted.
func LoadBalancerAcceptsChanges(lb *iaasclient.LoadBalancer) *iaasclient.Error {
	if lb.State == iaasclient.LoadBalancerDeleting {
		return InUse("loadBalancerId", "load balancer %s is DELETING", lb.LoadBalancerID)
	}
	return nil
}

// AllocateVIP returns requested if it is a free address of pool, or else the lowest
// free host address of pool (network and, for IPv4, broadcast excluded; the first host
// is reserved for the gateway). inUse lists the VIPs taken.
func AllocateVIP(pool netip.Prefix, requested string, inUse []string) (string, *iaasclient.Error) {
	if !pool.IsValid() {
		return "", Invalid("type", "no VIP pool is configured for this load balancer type")
	}
	if requested != "" {
		a, err := netip.ParseAddr(requested)
		if err != nil {
			return "", Invalid("vip", "%q is not an IP address", Truncate(requested))
		}
		if !pool.Contains(a) {
			return "", Invalid("vip", "%s is outside the pool %s", a, pool)
		}
		if slices.Contains(inUse, a.String()) {
			return "", InUse("vip", "%s is in use", a)
		}
		return a.String(), nil
	}
	first := pool.Masked().Addr().Next().Next() // skip network and gateway
	for a := first; pool.Contains(a); a = a.Next() {
		if !pool.Contains(a.Next()) && a.Is4() {
			break // broadcast
		}
		if !slices.Contains(inUse, a.String()) {
			return a.String(), nil
		}
	}
	return "", iaasclient.Errorf(iaasclient.CodeLimitExceeded, "vip: the pool %s is exhausted", pool)
}
