package csi

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// IdentityServer is the CSI identity service.
type IdentityServer struct {
	csi.UnimplementedIdentityServer
	version    string
	controller bool
	ready      func() bool
}

var _ csi.IdentityServer = (*IdentityServer)(nil)

// NewIdentityServer: controller says whether this process serves the controller
// service (a node-only plugin must not claim it); ready answers Probe (nil = always).
func NewIdentityServer(version string, controller bool, ready func() bool) *IdentityServer {
	return &IdentityServer{version: version, controller: controller, ready: ready}
}

func (s *IdentityServer) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: DriverName, VendorVersion: s.version}, nil
}

func (s *IdentityServer) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	service := func(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
		return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: t}}}
	}
	caps := []*csi.PluginCapability{
		service(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
		// No SNAPSHOT_ACCESSIBILITY_CONSTRAINTS: snapshots are regional in the IaaS (a
		// disk can be restored from one in any zone), so they are usable everywhere.
		// The IaaS grows attached disks and the node grows mounted filesystems.
		{Type: &csi.PluginCapability_VolumeExpansion_{VolumeExpansion: &csi.PluginCapability_VolumeExpansion{
			Type: csi.PluginCapability_VolumeExpansion_ONLINE}}},
	}
	if s.controller {
		caps = append(caps, service(csi.PluginCapability_Service_CONTROLLER_SERVICE))
	}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: caps}, nil
}

func (s *IdentityServer) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	ready := s.ready == nil || s.ready()
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(ready)}, nil
}
