package csi_test

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
)

// BenchmarkControllerCallsUnderErrors measures the controller service's IaaS calls/s
// under 100 % errors against the healthy rate in the same run, with 4 callers that
// resend every failed RPC at once (harness.DriveController). The ratio far below 1 is
// the point: failures slow the driver down (client backoff) instead of speeding it up.
// test/sanity/faults TestControllerNoHotLoopUnderTotalFailure asserts the bound.
func BenchmarkControllerCallsUnderErrors(b *testing.B) {
	env := harness.Start(b, harness.Options{FakeMounter: true})
	b.Cleanup(func() { env.SetFaults(b, nil) })
	conn, err := grpc.NewClient("unix://"+env.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for b.Loop() {
		env.SetFaults(b, nil)
		healthy := harness.DriveController(b, env, conn, "bhealthy", 4, 20*time.Second)
		env.SetFaults(b, map[string]any{"errorRate": 1.0})
		faulty := harness.DriveController(b, env, conn, "bfaulty", 4, 20*time.Second)
		b.Logf("healthy: %v", healthy)
		b.Logf("100%% errors: %v", faulty)
		b.ReportMetric(healthy.PerSecond(), "calls/s-healthy")
		b.ReportMetric(faulty.PerSecond(), "calls/s-100%errors")
		b.ReportMetric(faulty.PerSecond()/max(healthy.PerSecond(), 0.1), "ratio")
	}
}
