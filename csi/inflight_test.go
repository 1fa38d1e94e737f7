package csi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// blockOn makes the first call of action wait until release is closed, and reports on
// entered when it started waiting.
func blockOn(e *testEnv, action string) (entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	first := true
	e.cloud.SetHook(func(ctx context.Context, a string, _ any) error {
		if a != action || !first {
			return nil
		}
		first = false
		close(entered)
		<-release
		return nil
	})
	return entered, release
}

func TestInFlightDuplicatesAreAborted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		action string
		setup  func(t *testing.T, e *testEnv) (first, dup, other func() error)
	}{
		{"create same name", iaasclient.ActionCreateDisk, func(t *testing.T, e *testEnv) (func() error, func() error, func() error) {
			call := func(name string) func() error {
				return func() error { _, err := e.cs.CreateVolume(ctx, createReq(name, 1, nil)); return err }
			}
			return call("a"), call("a"), call("b")
		}},
		{"publish same volume and node", iaasclient.ActionAttachDisk, func(t *testing.T, e *testEnv) (func() error, func() error, func() error) {
			v1, v2 := e.mustCreate(t, "v1", 1), e.mustCreate(t, "v2", 1)
			call := func(vol, node string) func() error {
				return func() error {
					_, err := e.cs.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: node, VolumeCapability: rwo})
					return err
				}
			}
			return call(v1.GetVolumeId(), e.node), call(v1.GetVolumeId(), e.node), call(v2.GetVolumeId(), e.node)
		}},
		{"delete same volume", iaasclient.ActionDeleteDisk, func(t *testing.T, e *testEnv) (func() error, func() error, func() error) {
			v1, v2 := e.mustCreate(t, "v1", 1), e.mustCreate(t, "v2", 1)
			call := func(vol string) func() error {
				return func() error { _, err := e.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vol}); return err }
			}
			return call(v1.GetVolumeId()), call(v1.GetVolumeId()), call(v2.GetVolumeId())
		}},
		{"snapshot same name", iaasclient.ActionCreateSnapshot, func(t *testing.T, e *testEnv) (func() error, func() error, func() error) {
			v := e.mustCreate(t, "v", 1)
			call := func(name string) func() error {
				return func() error {
					_, err := e.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: v.GetVolumeId()})
					return err
				}
			}
			return call("s"), call("s"), call("t")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			first, dup, other := tc.setup(t, e)
			entered, release := blockOn(e, tc.action)
			done := make(chan error, 1)
			go func() { done <- first() }()
			<-entered
			wantCode(t, dup(), codes.Aborted)
			// A different key is not held up (the hook lets it through).
			if err := other(); err != nil {
				t.Errorf("unrelated call: %v", err)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatalf("first call: %v", err)
			}
			if err := dup(); err != nil {
				t.Errorf("the retry after the first call ended: %v", err)
			}
		})
	}
}

func TestCodeOf(t *testing.T) {
	wrap := func(c iaasclient.Code) error { return fmt.Errorf("ctx: %w", iaasclient.Errorf(c, "msg")) }
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{wrap(iaasclient.CodeResourceNotFound), codes.NotFound},
		{wrap(iaasclient.CodeResourceInUse), codes.FailedPrecondition},
		{wrap(iaasclient.CodeLimitExceeded), codes.ResourceExhausted},
		{wrap(iaasclient.CodeRequestLimitExceeded), codes.Unavailable},
		{wrap(iaasclient.CodeInvalidParameter), codes.InvalidArgument},
		{wrap(iaasclient.CodeUnauthorizedOperation), codes.PermissionDenied},
		{wrap(iaasclient.CodeIdempotentParameterMismatch), codes.AlreadyExists},
		{wrap(iaasclient.CodeInternalError), codes.Internal},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{errors.New("connection reset"), codes.Internal},
		// A message that reads like a code must not be taken for one.
		{errors.New("ResourceNotFound: but only in the text"), codes.Internal},
	} {
		if got := codeOf(tc.err); got != tc.want {
			t.Errorf("codeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if toStatus(nil, "x") != nil {
		t.Error("toStatus(nil) != nil")
	}
}
