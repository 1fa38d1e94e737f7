package csi

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

func TestControllerModifyVolume(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	req := createReq("v", 1, map[string]string{"tags": "team=a"})
	req.MutableParameters = map[string]string{"tags": "tier=silver"}
	r, err := e.cs.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id := r.GetVolume().GetVolumeId()
	if d, _ := e.cloud.Disk(id); d.Tags["tier"] != "silver" {
		t.Fatalf("create did not apply the mutable tags: %v", d.Tags)
	}
	for _, tc := range []struct {
		name string
		req  *csi.ControllerModifyVolumeRequest
		code codes.Code
	}{
		{"no id", &csi.ControllerModifyVolumeRequest{MutableParameters: map[string]string{"tags": "a=b"}}, codes.InvalidArgument},
		{"missing volume", &csi.ControllerModifyVolumeRequest{VolumeId: "non-existing-volume-id", MutableParameters: map[string]string{"tags": "a=b"}}, codes.NotFound},
		{"immutable type", &csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{"type": "CLOUD_BASIC"}}, codes.InvalidArgument},
		{"reserved tag", &csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{"tags": tagVolumeName + "=x"}}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.cs.ControllerModifyVolume(ctx, tc.req)
			wantCode(t, err, tc.code)
		})
	}
	if _, err := e.cs.ControllerModifyVolume(ctx, &csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{"tags": "tier=gold"}}); err != nil {
		t.Fatal(err)
	}
	d, _ := e.cloud.Disk(id)
	if d.Tags["tier"] != "gold" || d.Tags["team"] != "a" || d.Tags[tagVolumeName] != "v" {
		t.Errorf("tags after modify: %v", d.Tags)
	}
	// The name tag survived, so CreateVolume is still idempotent.
	again, err := e.cs.CreateVolume(ctx, createReq("v", 1, map[string]string{"tags": "team=a"}))
	if err != nil || again.GetVolume().GetVolumeId() != id {
		t.Errorf("create after modify: %v %v", again, err)
	}
	_, err = e.cs.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "w", VolumeCapabilities: []*csi.VolumeCapability{rwo}, MutableParameters: map[string]string{"XXX_FakeKey": "v"}})
	wantCode(t, err, codes.InvalidArgument)
}
