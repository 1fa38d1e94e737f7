package iaassim_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Benchmarks of API throughput over loopback HTTP, signing and tenancy checks included.
// go test -run '^$' -bench . -cpu 1 ./test/iaassim/ gives requests/s on one core.

const benchConfig = `
zones: [sim-1a]
tenants:
  - name: alpha
    accessKeys: [{accessKeyId: AKALPHA, secretKey: alpha-secret-1}]
    adminCidrs: [127.0.1.0/24]
    quotas: {disks: 10000000, diskGiB: 100000000}
    vpcs: [{vpcId: vpc-alpha, name: main, cidrBlock: 127.0.0.0/8}]
staticInstances:
  - {name: a1, tenant: alpha, zone: sim-1a, privateIps: [127.0.0.11]}
`

func runBench(b *testing.B, action string, req func(i int64) any) {
	e := &env{t: b, dir: b.TempDir(), yaml: benchConfig}
	e.start()
	defer e.stop()
	c := e.client(alphaCreds, ipAdmin)
	for range 20 {
		_ = c.Call(context.Background(), "CreateDisk", iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: 1}, nil)
	}
	var n atomic.Int64
	b.SetParallelism(8) // 8 concurrent clients per GOMAXPROCS
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Call(context.Background(), action, req(n.Add(1)), nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkDescribeDisks(b *testing.B) {
	runBench(b, "DescribeDisks", func(int64) any { return iaasclient.DescribeDisksRequest{Page: iaasclient.Page{Limit: 10}} })
}

func BenchmarkCreateDisk(b *testing.B) {
	runBench(b, "CreateDisk", func(i int64) any {
		return iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: 1, ClientToken: fmt.Sprint("bench-", i)}
	})
}
