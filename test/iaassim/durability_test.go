package iaassim_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
)

const durabilityConfig = `
region: sim-1
zones: [sim-1a]
tenants:
  - name: alpha
    accessKeys: [{accessKeyId: AKALPHA, secretKey: alpha-secret-1}]
    adminCidrs: [127.0.1.0/24]
    quotas: {disks: 100000, diskGiB: 100000000, loadBalancers: 100000}
    vpcs:
      - vpcId: vpc-alpha
        name: main
        cidrBlock: 127.0.0.0/8
        routeTables: [{routeTableId: rtb-alpha, name: default, routeLimit: 100000}]
staticInstances:
  - {name: a1, tenant: alpha, zone: sim-1a, privateIps: [127.0.0.11]}
`

// acked is what the simulator acknowledged (answered 200) before it was killed.
type acked struct {
	mu     sync.Mutex
	disks  map[string]iaasclient.CreateDiskRequest // disk id -> request
	routes map[string]string                       // route id -> destination
	lbs    map[string]string                       // lb id -> token
	tasks  []string
}

// TestDurabilityKill9 creates resources from several goroutines, SIGKILLs iaas-sim in
// the middle of the burst, restarts it on the same data dir and checks that every
// acknowledged write is there (twice over).
func TestDurabilityKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the iaas-sim binary")
	}
	dataDir := t.TempDir()
	ack := &acked{disks: map[string]iaasclient.CreateDiskRequest{}, routes: map[string]string{}, lbs: map[string]string{}}
	var seq atomic.Int64
	for round := range 2 {
		p := simproc.Start(t, simproc.Options{ConfigYAML: []byte(durabilityConfig), DataDir: dataDir, Args: []string{"--task-delay=20ms"}})
		c := simproc.NewRawClient(p.APIURL, alphaCreds, ipAdmin)
		if round > 0 {
			verifyAcked(t, c, ack)
		}
		a1 := instanceID(t, c, "127.0.0.11")
		var wg sync.WaitGroup
		var n atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					i := seq.Add(1)
					switch w % 3 {
					case 0:
						req := iaasclient.CreateDiskRequest{Name: fmt.Sprint("d", i), Zone: "sim-1a", SizeGiB: 1, ClientToken: fmt.Sprint("disk-tok-", i)}
						var r iaasclient.CreateDiskResponse
						if c.Call(ctx, "CreateDisk", req, &r) == nil {
							ack.mu.Lock()
							ack.disks[r.DiskID], ack.tasks = req, append(ack.tasks, r.TaskID)
							ack.mu.Unlock()
							n.Add(1)
						}
					case 1:
						dst := fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256)
						req := iaasclient.CreateRoutesRequest{RouteTableID: "rtb-alpha", Routes: routes(a1, dst), ClientToken: fmt.Sprint("rt-tok-", i)}
						var r iaasclient.CreateRoutesResponse
						if c.Call(ctx, "CreateRoutes", req, &r) == nil {
							ack.mu.Lock()
							ack.routes[r.Routes[0].RouteID] = dst
							ack.mu.Unlock()
							n.Add(1)
						}
					case 2:
						tok := fmt.Sprint("lb-tok-", i)
						req := iaasclient.CreateLoadBalancerRequest{Name: tok, Type: "internal", VpcID: "vpc-alpha", ClientToken: tok, Listeners: lbListeners("TCP/80")}
						var r iaasclient.CreateLoadBalancerResponse
						if c.Call(ctx, "CreateLoadBalancer", req, &r) == nil {
							ack.mu.Lock()
							ack.lbs[r.LoadBalancerID], ack.tasks = tok, append(ack.tasks, r.TaskID)
							ack.mu.Unlock()
							n.Add(1)
						}
					}
				}
			}()
		}
		// Kill once the burst is well under way.
		deadline := time.Now().Add(30 * time.Second)
		for n.Load() < 150 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		p.Kill()
		cancel()
		wg.Wait()
		t.Logf("round %d: %d writes acknowledged before kill -9", round, n.Load())
		if n.Load() == 0 {
			t.Fatal("no write was acknowledged")
		}
	}
	p := simproc.Start(t, simproc.Options{ConfigYAML: []byte(durabilityConfig), DataDir: dataDir, Args: []string{"--task-delay=0"}})
	c := simproc.NewRawClient(p.APIURL, alphaCreds, ipAdmin)
	verifyAcked(t, c, ack)
	// Tasks that were RUNNING at the kill resume and finish.
	for _, id := range ack.tasks {
		waitOK(t, c, id)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("SIGTERM exit: %v", err)
	}
}

func verifyAcked(t *testing.T, c *simproc.RawClient, ack *acked) {
	t.Helper()
	ack.mu.Lock()
	defer ack.mu.Unlock()
	disks := map[string]bool{}
	for off := 0; ; off += 1000 {
		r := must[iaasclient.DescribeDisksResponse](t, c, "DescribeDisks", iaasclient.DescribeDisksRequest{Page: iaasclient.Page{Offset: off, Limit: 1000}})
		for _, d := range r.Disks {
			disks[d.DiskID] = true
		}
		if off+1000 >= r.TotalCount {
			break
		}
	}
	for id, req := range ack.disks {
		if !disks[id] {
			t.Errorf("acknowledged disk %s is lost", id)
			continue
		}
		// The token is durable too: a retry answers the same disk.
		if r := must[iaasclient.CreateDiskResponse](t, c, "CreateDisk", req); r.DiskID != id {
			t.Errorf("token %s now answers %s, not %s", req.ClientToken, r.DiskID, id)
		}
	}
	rt := must[iaasclient.DescribeRouteTablesResponse](t, c, "DescribeRouteTables", iaasclient.DescribeRouteTablesRequest{RouteTableIDs: []string{"rtb-alpha"}})
	have := map[string]string{}
	for _, r := range rt.RouteTables[0].Routes {
		have[r.RouteID] = r.DestinationCidr
	}
	for id, dst := range ack.routes {
		if have[id] != dst {
			t.Errorf("acknowledged route %s (%s) is lost", id, dst)
		}
	}
	lbs := map[string]bool{}
	for off := 0; ; off += 1000 {
		r := must[iaasclient.DescribeLoadBalancersResponse](t, c, "DescribeLoadBalancers", iaasclient.DescribeLoadBalancersRequest{Page: iaasclient.Page{Offset: off, Limit: 1000}})
		for _, lb := range r.LoadBalancers {
			lbs[lb.LoadBalancerID] = true
		}
		if off+1000 >= r.TotalCount {
			break
		}
	}
	for id := range ack.lbs {
		if !lbs[id] {
			t.Errorf("acknowledged load balancer %s is lost", id)
		}
	}
	for _, id := range ack.tasks {
		if _, err := call[iaasclient.DescribeTaskResponse](t, c, "DescribeTask", iaasclient.DescribeTaskRequest{TaskID: id}); err != nil {
			t.Errorf("acknowledged task %s: %v", id, err)
		}
	}
	t.Logf("verified %d disks, %d routes, %d load balancers, %d tasks", len(ack.disks), len(ack.routes), len(ack.lbs), len(ack.tasks))
}
