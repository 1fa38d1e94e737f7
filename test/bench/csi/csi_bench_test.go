// Package csi_test measures the latency a pod waits for its volume and the latency of
// giving it back: CreateVolume + ControllerPublish + NodeStage + NodePublish, and the
// reverse, over 50 volumes, through the real driver binary and the real iaas-sim, on
// loop devices with real mkfs and mounts when run as root (else with the driver's fake
// mounter). The same run is repeated with 100 ms of latency injected into every API
// call through the simulator's admin endpoint, and the table gives both and their
// ratio: how many round trips each operation makes shows up as the ratio. Run:
//
//	go test -run '^$' -bench . -benchtime 1x ./test/bench/csi/
//
// KUBE_IAAS_BENCH_VOLUMES (default 50) is the number of volumes per round.
package csi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kube-iaas/kube-iaas/test/iaassim"
	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
)

var steps = []string{"CreateVolume", "ControllerPublish", "NodeStage", "NodePublish", "setup total",
	"NodeUnpublish", "NodeUnstage", "ControllerUnpublish", "DeleteVolume", "teardown total"}

type round struct {
	d        map[string][]time.Duration
	apiCalls map[string]int64
}

func BenchmarkVolumeLifecycle(b *testing.B) {
	n := 50
	if v, err := strconv.Atoi(os.Getenv("KUBE_IAAS_BENCH_VOLUMES")); err == nil && v > 0 {
		n = v
	}
	real := os.Geteuid() == 0
	for _, tool := range []string{"losetup", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			real = false
		}
	}
	opts := harness.Options{FakeMounter: !real}
	if real {
		opts.SimArgs = harness.LoopDisks
	}
	env := harness.Start(b, opts)
	conn, err := grpc.NewClient("unix://"+env.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()

	b.ResetTimer()
	base := runRound(b, env, conn, n, "base")
	setFault(b, env, `{"latency":"100ms"}`)
	slow := runRound(b, env, conn, n, "slow")
	setFault(b, env, "")
	b.StopTimer()

	mode := "fake mounter (not root)"
	if real {
		mode = "loop devices, mkfs.ext4, real mounts"
	}
	fmt.Printf("\nCSI volume lifecycle, %d volumes per round, %s, iaas-sim task delay 10ms\n", n, mode)
	fmt.Printf("%-20s %10s %10s %12s %12s %9s %9s\n", "step", "p50", "p99", "p50 +100ms", "p99 +100ms", "p50 x", "p99 x")
	for _, s := range steps {
		p50, p99 := pct(base.d[s], 50), pct(base.d[s], 99)
		s50, s99 := pct(slow.d[s], 50), pct(slow.d[s], 99)
		fmt.Printf("%-20s %10s %10s %12s %12s %9.1f %9.1f\n", s, round3(p50), round3(p99), round3(s50), round3(s99),
			float64(s50)/float64(p50), float64(s99)/float64(p99))
	}
	fmt.Printf("\nIaaS API calls per volume (setup + teardown):")
	var actions []string
	for a := range base.apiCalls {
		actions = append(actions, a)
	}
	slices.Sort(actions)
	total := 0.0
	for _, a := range actions {
		per := float64(base.apiCalls[a]) / float64(n)
		total += per
		fmt.Printf(" %s %.1f,", a, per)
	}
	fmt.Printf(" total %.1f\n", total)
	b.ReportMetric(float64(pct(base.d["setup total"], 50).Milliseconds()), "setup-p50-ms")
	b.ReportMetric(float64(pct(slow.d["setup total"], 50).Milliseconds()), "setup-p50-ms-slowapi")
	b.ReportMetric(total, "api-calls/volume")
}

func runRound(b *testing.B, env *harness.Env, conn *grpc.ClientConn, n int, name string) round {
	ctx := context.Background()
	cc, nc := csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	ni, err := nc.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{}, grpc.WaitForReady(true))
	if err != nil {
		b.Fatal(err)
	}
	vc := &csi.VolumeCapability{
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	}
	resetCounters(b, env)
	r := round{d: map[string][]time.Duration{}}
	timed := func(step string, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatalf("%s %s: %v", name, step, err)
		}
		r.d[step] = append(r.d[step], time.Since(start))
	}
	for i := range n {
		dir := filepath.Join(env.Dir, "bench", name, strconv.Itoa(i))
		staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "target")
		var id string
		var pubCtx map[string]string
		setup := time.Now()
		timed("CreateVolume", func() error {
			v, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: fmt.Sprintf("bench-%s-%d", name, i),
				VolumeCapabilities: []*csi.VolumeCapability{vc}, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}})
			id = v.GetVolume().GetVolumeId()
			return err
		})
		timed("ControllerPublish", func() error {
			p, err := cc.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: ni.GetNodeId(), VolumeCapability: vc})
			pubCtx = p.GetPublishContext()
			return err
		})
		timed("NodeStage", func() error {
			_, err := nc.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: vc, PublishContext: pubCtx})
			return err
		})
		timed("NodePublish", func() error {
			_, err := nc.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging, TargetPath: target, VolumeCapability: vc})
			return err
		})
		r.d["setup total"] = append(r.d["setup total"], time.Since(setup))
		teardown := time.Now()
		timed("NodeUnpublish", func() error {
			_, err := nc.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
			return err
		})
		timed("NodeUnstage", func() error {
			_, err := nc.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
			return err
		})
		timed("ControllerUnpublish", func() error {
			_, err := cc.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: ni.GetNodeId()})
			return err
		})
		timed("DeleteVolume", func() error {
			_, err := cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
			return err
		})
		r.d["teardown total"] = append(r.d["teardown total"], time.Since(teardown))
	}
	r.apiCalls = counters(b, env)
	return r
}

func admin(b *testing.B, env *harness.Env, method, path, body string) []byte {
	var in any
	if body != "" {
		in = body
	}
	var out []byte
	if err := env.Sim.AdminClient(b).Do(context.Background(), method, path, in, &out); err != nil {
		b.Fatal(err)
	}
	return out
}

// setFault sets spec on every action ("" removes every fault).
func setFault(b *testing.B, env *harness.Env, spec string) {
	if spec == "" {
		admin(b, env, http.MethodDelete, "/admin/v1/faults", "")
		return
	}
	admin(b, env, http.MethodPut, "/admin/v1/faults/*", spec)
}

func resetCounters(b *testing.B, env *harness.Env) {
	admin(b, env, http.MethodDelete, "/admin/v1/counters", "")
}

func counters(b *testing.B, env *harness.Env) map[string]int64 {
	var c iaassim.Counters
	if err := json.Unmarshal(admin(b, env, http.MethodGet, "/admin/v1/counters", ""), &c); err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for a, ac := range c.Actions {
		if ac.Requests > 0 {
			out[a] = ac.Requests
		}
	}
	return out
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func round3(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
