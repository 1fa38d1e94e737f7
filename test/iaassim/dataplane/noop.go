package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// NoopRouter accepts every route and programs nothing.
type NoopRouter struct{}

func (NoopRouter) Sync(context.Context, []RouteEntry) error { return nil }

// NoopDisks keeps no data; disks exist only as records of the control plane.
type NoopDisks struct{}

func (NoopDisks) Create(context.Context, string, int64, string, string) error { return nil }
func (NoopDisks) Delete(context.Context, string) error                        { return nil }
func (NoopDisks) Resize(context.Context, string, int64) error                 { return nil }
func (NoopDisks) Attach(context.Context, string, InstanceRef) error           { return nil }
func (NoopDisks) Detach(context.Context, string, InstanceRef) error           { return nil }
func (NoopDisks) CreateSnapshot(context.Context, string, string) error        { return nil }
func (NoopDisks) DeleteSnapshot(context.Context, string) error                { return nil }

// NoopLoadBalancers hands out VIPs from address pools and serves no traffic.
type NoopLoadBalancers struct {
	Pools map[iaasclient.LoadBalancerType]netip.Prefix
}

func (n NoopLoadBalancers) AllocateVIP(t iaasclient.LoadBalancerType, requested string, inUse []string) (string, error) {
	return AllocateFromPool(n.Pools[t], requested, inUse)
}
func (NoopLoadBalancers) Apply(context.Context, LoadBalancerSpec) error { return nil }
func (NoopLoadBalancers) Remove(context.Context, string) error          { return nil }
func (NoopLoadBalancers) BackendStatus(string) map[string][]iaasclient.BackendStatus {
	return nil
}

// AllocateFromPool returns requested if it is a free address of pool, or else the lowest
// free host address of pool (network and broadcast excluded, the first host reserved for
// the gateway).
func AllocateFromPool(pool netip.Prefix, requested string, inUse []string) (string, error) {
	if !pool.IsValid() {
		return "", iaasclient.Errorf(iaasclient.CodeInvalidParameter, "type: no VIP pool is configured for this load balancer type")
	}
	if requested != "" {
		a, err := netip.ParseAddr(requested)
		if err != nil {
			return "", iaasclient.Errorf(iaasclient.CodeInvalidParameter, "vip: %q is not an IP address", requested)
		}
		if !pool.Contains(a) {
			return "", iaasclient.Errorf(iaasclient.CodeInvalidParameter, "vip: %s is outside the pool %s", a, pool)
		}
		if slices.Contains(inUse, a.String()) {
			return "", iaasclient.Errorf(iaasclient.CodeResourceInUse, "vip: %s is in use", a)
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
	return "", iaasclient.Errorf(iaasclient.CodeLimitExceeded, "vip: the pool %s is exhausted", fmt.Sprint(pool))
}
