package harness

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/kube-iaas/kube-iaas/test/iaassim"
)

// CallRate is what DriveController measured: the driver's IaaS calls (answered or
// failed, as the simulator counted them) and the RPCs that caused them.
type CallRate struct {
	Window        time.Duration
	APICalls      int64
	RPCs, Failed  int64
	CallsByAction map[string]int64
	// Codes counts the failed RPCs by gRPC code.
	Codes map[string]int64
}

// PerSecond is the IaaS call rate.
func (r CallRate) PerSecond() float64 { return float64(r.APICalls) / r.Window.Seconds() }

func (r CallRate) String() string {
	return fmt.Sprintf("%.1f IaaS calls/s (%d in %s; %d RPCs, %d failed %v; calls %v)", r.PerSecond(), r.APICalls, r.Window, r.RPCs, r.Failed, r.Codes, r.CallsByAction)
}

// SetFaults sets spec (iaassim.FaultSpec keys) on every action; nil removes every fault.
func (e *Env) SetFaults(t testing.TB, spec map[string]any) {
	t.Helper()
	adm := e.Sim.AdminClient(t)
	var err error
	if spec == nil {
		err = adm.Do(context.Background(), "DELETE", "/admin/v1/faults", nil, nil)
	} else {
		err = adm.Do(context.Background(), "PUT", "/admin/v1/faults/*", spec, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// ResetAPICalls zeroes the simulator's counters.
func (e *Env) ResetAPICalls(t testing.TB) {
	t.Helper()
	if err := e.Sim.AdminClient(t).Do(context.Background(), "DELETE", "/admin/v1/counters", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// APICalls returns the requests per action since the last ResetAPICalls.
func (e *Env) APICalls(t testing.TB) map[string]int64 {
	t.Helper()
	var c iaassim.Counters
	if err := e.Sim.AdminClient(t).Do(context.Background(), "GET", "/admin/v1/counters", nil, &c); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for a, ac := range c.Actions {
		if ac.Requests > 0 {
			out[a] = ac.Requests
		}
	}
	return out
}

// rpcTimeout is external-provisioner's and external-attacher's default --timeout.
const rpcTimeout = 15 * time.Second

// DriveController keeps workers volume lifecycles going through the controller service
// for window (CreateVolume, ControllerPublish, CreateSnapshot, DeleteSnapshot,
// ControllerUnpublish, DeleteVolume), the way the sidecars drive it but without their
// backoff: a failed step is sent again at once. It is the worst caller the driver can
// have, so the IaaS call rate it causes is the driver's own doing. In-flight RPCs are
// cancelled when the window ends; counting stops after that.
func DriveController(t testing.TB, e *Env, conn *grpc.ClientConn, name string, workers int, window time.Duration) CallRate {
	t.Helper()
	cc, nc := csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	ni, err := nc.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	vc := &csi.VolumeCapability{
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	}
	e.ResetAPICalls(t)
	// The window ends by cancellation, not by a deadline: an RPC sent near its end must
	// still get the sidecars' full timeout, or the driver would rightly fail it at once
	// (no time left to retry) and this caller would spin on those instant failures.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := time.AfterFunc(window, cancel)
	defer stop.Stop()
	var rpcs, failed atomic.Int64
	var mu sync.Mutex
	codes := map[string]int64{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var volID, snapID string
			steps := []func(context.Context) error{
				func(ctx context.Context) error {
					v, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: fmt.Sprintf("%s-%d", name, w),
						VolumeCapabilities: []*csi.VolumeCapability{vc}, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}})
					volID = v.GetVolume().GetVolumeId()
					return err
				},
				func(ctx context.Context) error {
					_, err := cc.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: volID, NodeId: ni.GetNodeId(), VolumeCapability: vc})
					return err
				},
				func(ctx context.Context) error {
					s, err := cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: fmt.Sprintf("%s-snap-%d", name, w), SourceVolumeId: volID})
					snapID = s.GetSnapshot().GetSnapshotId()
					return err
				},
				func(ctx context.Context) error {
					_, err := cc.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapID})
					return err
				},
				func(ctx context.Context) error {
					_, err := cc.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: volID, NodeId: ni.GetNodeId()})
					return err
				},
				func(ctx context.Context) error {
					_, err := cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volID})
					return err
				},
			}
			for i := 0; ctx.Err() == nil; {
				rctx, rcancel := context.WithTimeout(ctx, rpcTimeout)
				err := steps[i](rctx)
				rcancel()
				if ctx.Err() != nil {
					return // cut by the window: neither a success nor the driver's failure
				}
				rpcs.Add(1)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					codes[status.Code(err).String()]++
					mu.Unlock()
					continue
				}
				i = (i + 1) % len(steps)
			}
		})
	}
	wg.Wait()
	calls := e.APICalls(t)
	r := CallRate{Window: window, RPCs: rpcs.Load(), Failed: failed.Load(), CallsByAction: calls, Codes: codes}
	for _, n := range calls {
		r.APICalls += n
	}
	return r
}
