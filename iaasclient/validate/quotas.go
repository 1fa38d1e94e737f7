package validate

import "github.com/kube-iaas/kube-iaas/iaasclient"

// TenantQuota refuses one more object of a kind the tenant has count of; field and
// noun name the kind ("disks", "disks"; "loadBalancers", "load balancers").
func TenantQuota(field, noun string, count, limit int) *iaasclient.Error {
	if count+1 > limit {
		return iaasclient.Errorf(iaasclient.CodeLimitExceeded, "%s: the tenant's quota of %d %s is used up", field, limit, noun)
	}
	return nil
}

// NewLoadBalancerListeners refuses a new load balancer with more listeners than the
// per-load-balancer quota.
func NewLoadBalancerListeners(n, limit int) *iaasclient.Error {
	if n > limit {
		return iaasclient.Errorf(iaasclient.CodeLimitExceeded, "listeners: %d listeners exceed the quota of %d per load balancer", n, limit)
	}
	return nil
}

// MoreListeners refuses adding listeners to a load balancer that has have of them
// beyond the per-load-balancer quota.
func MoreListeners(have, adding, limit int) *iaasclient.Error {
	if have+adding > limit {
		return iaasclient.Errorf(iaasclient.CodeLimitExceeded, "listeners: the load balancer has %d listeners and the quota is %d", have, limit)
	}
	return nil
}

// DiskGiBQuota refuses adding GiB to the used GiB of the tenant's disks beyond limit;
// growing says whether a resize asks for them (the message says which).
func DiskGiBQuota(used, adding, limit int, growing bool) *iaasclient.Error {
	if used+adding <= limit {
		return nil
	}
	if growing {
		return iaasclient.Errorf(iaasclient.CodeLimitExceeded, "sizeGiB: growing by %d GiB would exceed the tenant's quota of %d GiB (%d used)", adding, limit, used)
	}
	return iaasclient.Errorf(iaasclient.CodeLimitExceeded, "sizeGiB: %d GiB more would exceed the tenant's quota of %d GiB (%d used)", adding, limit, used)
}
