package csi

import (
	"context"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// NodeIdentity is what the node service reports about its machine.
type NodeIdentity struct {
	NodeID string
	Zone   string
	// MaxVolumes is the instance's MaxDisks as the IaaS reports it. The IaaS counts only
	// the network disks it attaches (the root disk is not one of them), so no slot is
	// held back for the root disk; 0 means unknown (no limit reported to Kubernetes).
	MaxVolumes int64
}

// NodeServer is the CSI node service.
type NodeServer struct {
	csi.UnimplementedNodeServer

	mounter  Mounter
	devices  DeviceFinder
	whoami   func(ctx context.Context) (*NodeIdentity, error)
	inflight *inFlight

	// deviceWait bounds the wait for a device when the RPC has no deadline.
	deviceWait time.Duration
	// probeBackend checks that the IaaS answers (nil = not checked).
	probeBackend func(ctx context.Context) error
}

// WithBackendProbe sets the check NodeGetStorageHealth runs.
func (ns *NodeServer) WithBackendProbe(probe func(ctx context.Context) error) *NodeServer {
	ns.probeBackend = probe
	return ns
}

var _ csi.NodeServer = (*NodeServer)(nil)

// NewNodeServer serves the node RPCs. whoami is called until it succeeds once.
func NewNodeServer(mounter Mounter, devices DeviceFinder, whoami func(ctx context.Context) (*NodeIdentity, error)) *NodeServer {
	return &NodeServer{
		mounter: mounter, devices: devices, whoami: cacheIdentity(whoami),
		inflight: newInFlight(), deviceWait: 2 * time.Minute,
	}
}

// cacheIdentity remembers the first successful answer: an instance's id and zone never
// change, and the metadata endpoint may be briefly unreachable at boot.
func cacheIdentity(f func(ctx context.Context) (*NodeIdentity, error)) func(ctx context.Context) (*NodeIdentity, error) {
	var mu sync.Mutex
	var got *NodeIdentity
	return func(ctx context.Context) (*NodeIdentity, error) {
		mu.Lock()
		defer mu.Unlock()
		if got != nil {
			return got, nil
		}
		id, err := f(ctx)
		if err != nil {
			return nil, err
		}
		klog.InfoS("Node identity", "nodeID", id.NodeID, "zone", id.Zone, "maxVolumes", id.MaxVolumes)
		got = id
		return got, nil
	}
}

func (ns *NodeServer) NodeGetInfo(ctx context.Context, _ *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	id, err := ns.whoami(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "learning this node's identity: %v", err)
	}
	resp := &csi.NodeGetInfoResponse{NodeId: id.NodeID, MaxVolumesPerNode: id.MaxVolumes}
	if id.Zone != "" {
		resp.AccessibleTopology = &csi.Topology{Segments: map[string]string{TopologyKey: id.Zone}}
	}
	return resp, nil
}

var nodeCapabilities = []csi.NodeServiceCapability_RPC_Type{
	csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
	csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
	csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
	csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
	csi.NodeServiceCapability_RPC_GET_STORAGE_HEALTH,
}

func (ns *NodeServer) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	resp := &csi.NodeGetCapabilitiesResponse{}
	for _, c := range nodeCapabilities {
		resp.Capabilities = append(resp.Capabilities, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: c}},
		})
	}
	return resp, nil
}

// deviceCtx bounds a device wait by the RPC's deadline, or by deviceWait without one.
func (ns *NodeServer) deviceCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, ns.deviceWait)
}
