package csi

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

const testZone = fake.DefaultZone

// testEnv is a controller over the in-memory IaaS with one running instance ("node")
// and a second one ("other") in the same zone.
type testEnv struct {
	cloud *fake.Cloud
	cs    *ControllerServer
	node  string
	other string
}

func newTestEnv(t *testing.T, opts ...fake.Option) *testEnv {
	t.Helper()
	c := fake.New(opts...)
	n := c.AddInstance(iaasclient.Instance{Name: "node", PrivateIPs: []string{"10.0.0.10"}})
	o := c.AddInstance(iaasclient.Instance{Name: "other", PrivateIPs: []string{"10.0.0.11"}})
	c.SetIdentity(n.InstanceID)
	cs := NewControllerServer(NewCloud(c), "")
	cs.detachBackoff = time.Millisecond
	return &testEnv{cloud: c, cs: cs, node: n.InstanceID, other: o.InstanceID}
}

func mountCap(mode csi.VolumeCapability_AccessMode_Mode, fs string) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fs}},
	}
}

func blockCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
	}
}

var rwo = mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "")

func createReq(name string, gibs int64, params map[string]string) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: gibs * gib},
		VolumeCapabilities: []*csi.VolumeCapability{rwo},
		Parameters:         params,
	}
}

func (e *testEnv) mustCreate(t *testing.T, name string, gibs int64) *csi.Volume {
	t.Helper()
	resp, err := e.cs.CreateVolume(context.Background(), createReq(name, gibs, nil))
	if err != nil {
		t.Fatalf("CreateVolume(%s): %v", name, err)
	}
	return resp.GetVolume()
}

func (e *testEnv) mustPublish(t *testing.T, volID, node string) {
	t.Helper()
	if _, err := e.cs.ControllerPublishVolume(context.Background(), &csi.ControllerPublishVolumeRequest{
		VolumeId: volID, NodeId: node, VolumeCapability: rwo,
	}); err != nil {
		t.Fatalf("ControllerPublishVolume(%s, %s): %v", volID, node, err)
	}
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v, want %v (err: %v)", got, want, err)
	}
}
