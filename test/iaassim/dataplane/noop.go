package dataplane

import (
	"context"
	"net/netip"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
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
func (NoopDisks) PowerOff(context.Context, string) error                      { return nil }

// NoopLoadBalancers hands out VIPs from address pools and serves no traffic.
type NoopLoadBalancers struct {
	Pools map[iaasclient.LoadBalancerType]netip.Prefix
}

func (n NoopLoadBalancers) AllocateVIP(t iaasclient.LoadBalancerType, requested string, inUse []string) (string, error) {
	return AllocateFromPool(n.Pools[t], requested, inUse)
}
func (NoopLoadBalancers) Apply(context.Context, LoadBalancerSpec) error { return nil }
func (NoopLoadBalancers) Remove(context.Context, string) error          { return nil }
func (NoopLoadBalancers) Restored(context.Context) error                { return nil }
func (NoopLoadBalancers) BackendStatus(string) map[string][]iaasclient.BackendStatus {
	return nil
}

// AllocateFromPool returns requested if it is a free address of pool, or else the lowest
// free host address of pool (network and broadcast excluded, the first host reserved for
// the gateway). The rule is the contract's: validate.AllocateVIP, which the in-memory
// fake uses too.
func AllocateFromPool(pool netip.Prefix, requested string, inUse []string) (string, error) {
	vip, err := validate.AllocateVIP(pool, requested, inUse)
	if err != nil {
		return "", err
	}
	return vip, nil
}
