package faults

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

const (
	hotLoopWorkers = 4
	hotLoopWindow  = 10 * time.Second
	// maxFaultyCallsPerSecond bounds the driver's IaaS calls while every call fails and
	// hotLoopWorkers callers resend each failed RPC at once. Each failed IaaS call is
	// retried by the client with full-jitter backoff (8 attempts in about 5.6 s) and an
	// RPC ends at its first call that gives up, so 4 such callers cause about 7 calls/s
	// here. The same callers against a healthy simulator cause 300-370 calls/s: a driver
	// that retried or polled without backoff would come close to that, far past this
	// bound.
	maxFaultyCallsPerSecond = 40
	// maxIdleCalls: once the callers are gone the driver has nothing to do, and under
	// 100 % errors nothing of its own may keep calling the IaaS.
	maxIdleCalls = 0
)

// With the simulator failing every call, the CSI controller does not hot-loop: its
// IaaS call rate under a caller that resends every failed RPC at once stays bounded
// (and far below the healthy rate), and it makes no calls of its own when idle.
func TestControllerNoHotLoopUnderTotalFailure(t *testing.T) {
	testutil.Heavy(t)
	env := harness.Start(t, harness.Options{FakeMounter: true})
	// Registered after Start, so it runs before the harness's cleanup deletes the disks.
	t.Cleanup(func() { env.SetFaults(t, nil) })
	conn, err := grpc.NewClient("unix://"+env.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	healthy := harness.DriveController(t, env, conn, "healthy", hotLoopWorkers, hotLoopWindow)
	env.SetFaults(t, map[string]any{"errorRate": 1.0})
	faulty := harness.DriveController(t, env, conn, "faulty", hotLoopWorkers, hotLoopWindow)
	env.ResetAPICalls(t)
	time.Sleep(3 * time.Second)
	idle := env.APICalls(t)

	t.Logf("healthy: %v", healthy)
	t.Logf("100%% errors: %v", faulty)
	t.Logf("IaaS calls/s under 100%% errors vs healthy: %.1f / %.1f = %.2f; idle under errors: %v",
		faulty.PerSecond(), healthy.PerSecond(), faulty.PerSecond()/max(healthy.PerSecond(), 0.1), idle)
	if healthy.RPCs == 0 || healthy.Failed != 0 {
		t.Fatalf("healthy phase: %v; want RPCs and no failure", healthy)
	}
	if faulty.RPCs == 0 || faulty.Failed != faulty.RPCs {
		t.Fatalf("faulty phase: %v; want every RPC to fail", faulty)
	}
	if r := faulty.PerSecond(); r > maxFaultyCallsPerSecond {
		t.Errorf("%.1f IaaS calls/s under 100%% errors from %d callers, want at most %d (hot loop)", r, hotLoopWorkers, maxFaultyCallsPerSecond)
	}
	var n int64
	for _, c := range idle {
		n += c
	}
	if n > maxIdleCalls {
		t.Errorf("the idle driver made %d IaaS calls in 3s under 100%% errors: %v", n, idle)
	}
}
