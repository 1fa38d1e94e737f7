// Package dataplane is the boundary between the simulated IaaS's control plane (API,
// store, tasks) and the machinery that makes resources real: instance backends, the VPC
// router, load balancers and disks. The control plane calls these interfaces from its
// task workers and, at start-up, once with the whole stored state so that a restarted
// simulator restores routes, VIPs, listeners and attachments.
//
// Every method is idempotent: calling it twice with the same arguments leaves the same
// state and returns nil. Implementations: Noop (control plane only) and the real ones in
// the subpackages.
package dataplane

import (
	"context"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// DiscoveredInstance is an instance as its backend sees it.
type DiscoveredInstance struct {
	// Key is the backend's stable identity of the machine (container id, netns name,
	// static entry name). The control plane maps it to an instance id once and keeps it.
	Key          string
	Name         string
	PrivateIPs   []string
	Zone         string
	InstanceType string
	MaxDisks     int
	State        iaasclient.InstanceState
}

// InstanceBackend supplies instances and acts on them.
type InstanceBackend interface {
	// Name is "static", "docker" or "netns".
	Name() string
	// List returns the machines the backend manages now, with their current state
	// (for docker: a container that died outside the simulator is STOPPED).
	List(ctx context.Context) ([]DiscoveredInstance, error)
	Start(ctx context.Context, key string) error
	// Stop powers the machine off; once it returns the machine runs nothing (fenced).
	Stop(ctx context.Context, key string) error
	Terminate(ctx context.Context, key string) error
}

// InstanceRef names an instance for the data plane.
type InstanceRef struct {
	InstanceID string
	// Backend is the InstanceBackend.Name() that supplies the instance; it tells the
	// disk data plane where the device node must appear (host /dev, a container's /dev).
	Backend    string
	Key        string
	PrivateIPs []string
}

// RouteEntry is one route of the VPC router.
type RouteEntry struct {
	DestinationCidr string
	NextHopIP       string
}

// Router programs the VPC router.
type Router interface {
	// Sync makes the router hold exactly these routes (of every route table).
	Sync(ctx context.Context, routes []RouteEntry) error
}

// LoadBalancerSpec is what the data plane needs of one load balancer.
type LoadBalancerSpec struct {
	LoadBalancerID string
	VIP            string
	Listeners      []iaasclient.Listener
	// Certificates holds the PEM material of each certificate id an HTTPS listener
	// names.
	Certificates map[string]Certificate
}

// Certificate is a TLS certificate chain and its private key, PEM-encoded.
type Certificate struct {
	CertPEM, KeyPEM []byte
}

// LoadBalancers serves VIPs and listeners.
type LoadBalancers interface {
	// AllocateVIP picks a free address of the pool of lbType ("" requested = any),
	// or returns InvalidParameter/LimitExceeded *iaasclient.Error.
	AllocateVIP(lbType iaasclient.LoadBalancerType, requested string, inUse []string) (string, error)
	// Apply makes the load balancer serve exactly spec (adds the VIP, starts, changes or
	// stops listeners). Unchanged listeners keep their connections.
	Apply(ctx context.Context, spec LoadBalancerSpec) error
	// Remove stops every listener and releases the VIP.
	Remove(ctx context.Context, loadBalancerID string) error
	// Restored is called once at start-up after every stored load balancer was
	// applied. Until then what a previous run left keeps serving; then whatever no
	// applied load balancer owns is removed.
	Restored(ctx context.Context) error
	// BackendStatus returns health per listener id.
	BackendStatus(loadBalancerID string) map[string][]iaasclient.BackendStatus
}

// Disks makes disks real block devices.
type Disks interface {
	// Create makes an empty disk, or a copy of snapshot/source disk when one is named.
	Create(ctx context.Context, diskID string, sizeBytes int64, fromSnapshotID, fromDiskID string) error
	Delete(ctx context.Context, diskID string) error
	// Resize grows the disk, and the attached device with it.
	Resize(ctx context.Context, diskID string, sizeBytes int64) error
	// Attach makes the disk appear in the instance as /dev/disk/by-id/iaas-<diskID>.
	Attach(ctx context.Context, diskID string, inst InstanceRef) error
	// Detach removes the device from the instance.
	Detach(ctx context.Context, diskID string, inst InstanceRef) error
	CreateSnapshot(ctx context.Context, diskID, snapshotID string) error
	DeleteSnapshot(ctx context.Context, snapshotID string) error
	// PowerOff releases what the kernel of the instance the disk is attached to had
	// built on the disk, as power-off does on a real machine; the disk stays attached.
	// Called for each disk of an instance that stopped or is being terminated.
	PowerOff(ctx context.Context, diskID string) error
}

// DataPlane bundles the parts; any part may be a Noop.
type DataPlane struct {
	Instances     InstanceBackend
	Router        Router
	LoadBalancers LoadBalancers
	Disks         Disks
}
