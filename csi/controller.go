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

// ControllerServer is the CSI controller service.
type ControllerServer struct {
	csi.UnimplementedControllerServer

	cloud    Cloud
	inflight *inFlight
	// clusterID is tagged on every disk and snapshot created (TagCluster); "" tags none.
	clusterID string

	zoneMu      sync.Mutex
	defaultZone string // "" until known

	// detachBackoff is the first pause before retrying a detach refused as busy.
	detachBackoff time.Duration
}

var _ csi.ControllerServer = (*ControllerServer)(nil)

// NewControllerServer serves the controller RPCs against cloud. defaultZone is where
// volumes go when neither the StorageClass nor the topology names a zone; "" means the
// zone of the instance the controller runs on (from the metadata endpoint).
func NewControllerServer(cloud Cloud, defaultZone string) *ControllerServer {
	return &ControllerServer{cloud: cloud, inflight: newInFlight(), defaultZone: defaultZone, detachBackoff: time.Second}
}

var controllerCapabilities = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
	csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES,
	csi.ControllerServiceCapability_RPC_GET_VOLUME,
	csi.ControllerServiceCapability_RPC_GET_CAPACITY,
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	csi.ControllerServiceCapability_RPC_GET_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
	csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
	csi.ControllerServiceCapability_RPC_MODIFY_VOLUME,
	csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	csi.ControllerServiceCapability_RPC_GET_VOLUME_HEALTH,
	csi.ControllerServiceCapability_RPC_LIST_VOLUME_HEALTH,
}

func (cs *ControllerServer) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	resp := &csi.ControllerGetCapabilitiesResponse{}
	for _, c := range controllerCapabilities {
		resp.Capabilities = append(resp.Capabilities, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}},
		})
	}
	return resp, nil
}

// zone returns the zone for a volume that names none.
func (cs *ControllerServer) zone(ctx context.Context) (string, error) {
	cs.zoneMu.Lock()
	defer cs.zoneMu.Unlock()
	if cs.defaultZone != "" {
		return cs.defaultZone, nil
	}
	id, err := cs.cloud.Identity(ctx)
	if err != nil || id.Zone == "" {
		return "", status.Errorf(codes.InvalidArgument, "no zone: the StorageClass has no %q parameter, the request no topology, and the controller's own zone is unknown (%v)", ParamZone, err)
	}
	klog.InfoS("Default zone for volumes from the metadata endpoint", "zone", id.Zone, "instanceID", id.InstanceID)
	cs.defaultZone = id.Zone
	return cs.defaultZone, nil
}

func (cs *ControllerServer) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities: required")
	}
	if _, err := cs.cloud.GetDisk(ctx, req.GetVolumeId()); err != nil {
		return nil, toStatus(err, "volume %s", req.GetVolumeId())
	}
	for _, c := range req.GetVolumeCapabilities() {
		if why := checkCapability(c); why != "" {
			return &csi.ValidateVolumeCapabilitiesResponse{Message: why}, nil
		}
	}
	if _, err := parseVolumeParams(req.GetParameters()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
		MutableParameters:  req.GetMutableParameters(),
	}}, nil
}

// GetCapacity answers from the tenant's disk quota: what can still be created is the
// quota's remaining GiB, whatever the zone, because the IaaS's quota is per tenant.
func (cs *ControllerServer) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	p, err := parseVolumeParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	for _, c := range req.GetVolumeCapabilities() {
		if why := checkCapability(c); why != "" {
			return &csi.GetCapacityResponse{}, nil
		}
	}
	quotas, err := cs.cloud.Quotas(ctx)
	if err != nil {
		return nil, toStatus(err, "reading quotas")
	}
	limits := diskTypeLimits(p.diskType)
	resp := &csi.GetCapacityResponse{
		MaximumVolumeSize: wrapInt64(int64(limits.MaxGiB) * gib),
		MinimumVolumeSize: wrapInt64(int64(limits.MinGiB) * gib),
	}
	for _, q := range quotas {
		if q.Resource == "disks" && q.Limit > 0 && q.Used >= q.Limit {
			resp.AvailableCapacity, resp.MaximumVolumeSize = 0, wrapInt64(0)
			return resp, nil
		}
	}
	for _, q := range quotas {
		if q.Resource == "diskGiB" {
			avail := int64(max(q.Limit-q.Used, 0)) * gib
			resp.AvailableCapacity = avail
			if avail < resp.MaximumVolumeSize.GetValue() {
				resp.MaximumVolumeSize = wrapInt64(avail)
			}
		}
	}
	return resp, nil
}
