package apitest

import (
	"errors"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// TestIdempotentCreates: the same token with the same parameters answers exactly as
// the first call and creates nothing; with other parameters it is refused.
func TestIdempotentCreates(t *testing.T) {
	s := startSim(t, "--task-delay=5ms")
	c := s.client()
	ctx := t.Context()
	ids := instanceIDs(t, c)

	t.Run("CreateDisk", func(t *testing.T) {
		req := &ic.CreateDiskRequest{Name: "pv-x", Zone: zoneA, SizeGiB: 5, ClientToken: "pvc-uid-1"}
		a := must[*ic.CreateDiskResponse](t, "first")(c.CreateDisk(ctx, req))
		b := must[*ic.CreateDiskResponse](t, "repeat")(c.CreateDisk(ctx, req))
		if a.DiskID != b.DiskID || a.TaskID != b.TaskID {
			t.Fatalf("repeat answered %s/%s, first %s/%s", b.DiskID, b.TaskID, a.DiskID, a.TaskID)
		}
		other := *req
		other.SizeGiB = 6
		_, err := c.CreateDisk(ctx, &other)
		wantCode(t, "other parameters", err, ic.CodeIdempotentParameterMismatch)
		if !errors.Is(err, ic.ErrIdempotentParameterMismatch) {
			t.Fatal("errors.Is does not see IdempotentParameterMismatch")
		}
		disks := must[[]ic.Disk](t, "DescribeAllDisks")(ic.DescribeAllDisks(ctx, c, ic.DescribeDisksRequest{Names: []string{"pv-x"}}))
		if len(disks) != 1 {
			t.Fatalf("%d disks named pv-x", len(disks))
		}
	})
	t.Run("CreateLoadBalancer", func(t *testing.T) {
		req := &ic.CreateLoadBalancerRequest{Name: "svc", Type: ic.LoadBalancerPublic, VpcID: vpcID, ClientToken: "svc-uid-1"}
		a := must[*ic.CreateLoadBalancerResponse](t, "first")(c.CreateLoadBalancer(ctx, req))
		b := must[*ic.CreateLoadBalancerResponse](t, "repeat")(c.CreateLoadBalancer(ctx, req))
		if a.LoadBalancerID != b.LoadBalancerID || a.TaskID != b.TaskID {
			t.Fatalf("repeat answered %+v, first %+v", b, a)
		}
		other := *req
		other.Type = ic.LoadBalancerInternal
		_, err := c.CreateLoadBalancer(ctx, &other)
		wantCode(t, "other parameters", err, ic.CodeIdempotentParameterMismatch)
	})
	t.Run("CreateListeners", func(t *testing.T) {
		lb := must[*ic.CreateLoadBalancerResponse](t, "CreateLoadBalancer")(c.CreateLoadBalancer(ctx,
			&ic.CreateLoadBalancerRequest{Name: "lsn", Type: ic.LoadBalancerPublic, VpcID: vpcID}))
		req := &ic.CreateListenersRequest{LoadBalancerID: lb.LoadBalancerID, ClientToken: "svc-uid-2-ports",
			Listeners: []ic.ListenerSpec{{Protocol: ic.ProtocolTCP, Port: 80}}}
		a := must[*ic.CreateListenersResponse](t, "first")(c.CreateListeners(ctx, req))
		// Without the token the port would be taken (ResourceInUse); with it, a replay.
		b := must[*ic.CreateListenersResponse](t, "repeat")(c.CreateListeners(ctx, req))
		if len(a.ListenerIDs) != 1 || len(b.ListenerIDs) != 1 || a.ListenerIDs[0] != b.ListenerIDs[0] || a.TaskID != b.TaskID {
			t.Fatalf("repeat answered %+v, first %+v", b, a)
		}
		other := *req
		other.Listeners = []ic.ListenerSpec{{Protocol: ic.ProtocolTCP, Port: 81}}
		_, err := c.CreateListeners(ctx, &other)
		wantCode(t, "other parameters", err, ic.CodeIdempotentParameterMismatch)
		got := must[*ic.DescribeLoadBalancersResponse](t, "DescribeLoadBalancers")(c.DescribeLoadBalancers(ctx,
			&ic.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{lb.LoadBalancerID}}))
		if n := len(got.LoadBalancers[0].Listeners); n != 1 {
			t.Fatalf("%d listeners after a replayed CreateListeners, want 1", n)
		}
	})
	t.Run("CreateRoutes", func(t *testing.T) {
		req := &ic.CreateRoutesRequest{RouteTableID: routeTableID, ClientToken: "node-1-cidr",
			Routes: []ic.RouteSpec{{DestinationCidr: "10.250.1.0/24", NextHopInstanceID: ids["node-1"]}}}
		a := must[*ic.CreateRoutesResponse](t, "first")(c.CreateRoutes(ctx, req))
		// Without the token this would be an overlap (ResourceInUse); with it, a replay.
		b := must[*ic.CreateRoutesResponse](t, "repeat")(c.CreateRoutes(ctx, req))
		if a.Routes[0].RouteID != b.Routes[0].RouteID {
			t.Fatalf("repeat answered %+v, first %+v", b.Routes, a.Routes)
		}
		other := *req
		other.Routes = []ic.RouteSpec{{DestinationCidr: "10.250.1.0/24", NextHopInstanceID: ids["node-2"]}}
		_, err := c.CreateRoutes(ctx, &other)
		wantCode(t, "other parameters", err, ic.CodeIdempotentParameterMismatch)
	})
	t.Run("CreateSnapshot", func(t *testing.T) {
		d := must[*ic.CreateDiskResponse](t, "CreateDisk")(c.CreateDisk(ctx, &ic.CreateDiskRequest{Name: "src", Zone: zoneA, SizeGiB: 1}))
		must[*ic.Task](t, "WaitTask")(c.WaitTask(ctx, d.TaskID))
		req := &ic.CreateSnapshotRequest{DiskID: d.DiskID, Name: "s", ClientToken: "vs-uid-1"}
		a := must[*ic.CreateSnapshotResponse](t, "first")(c.CreateSnapshot(ctx, req))
		b := must[*ic.CreateSnapshotResponse](t, "repeat")(c.CreateSnapshot(ctx, req))
		if a.SnapshotID != b.SnapshotID || a.TaskID != b.TaskID {
			t.Fatalf("repeat answered %+v, first %+v", b, a)
		}
		other := *req
		other.Name = "s2"
		_, err := c.CreateSnapshot(ctx, &other)
		wantCode(t, "other parameters", err, ic.CodeIdempotentParameterMismatch)
	})
	t.Run("TokensAreTenantScoped", func(t *testing.T) {
		// A token is unique per tenant: another tenant may use the same one freely.
		otherTenant := s.client(func(cfg *ic.Config) {
			cfg.Credentials = ic.Credentials{AccessKeyID: "AKOTHER", SecretKey: "other-secret"}
			cfg.LocalAddr = "127.0.0.21"
		})
		r, err := otherTenant.CreateDisk(ctx, &ic.CreateDiskRequest{Name: "pv-y", Zone: zoneA, SizeGiB: 9, ClientToken: "pvc-uid-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.DescribeDisks(ctx, &ic.DescribeDisksRequest{DiskIDs: []string{r.DiskID}}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTaskPolling: intermediate states are visible while a task runs, WaitTask polls
// until the end, and a failed task's error carries its code.
func TestTaskPolling(t *testing.T) {
	s := startSim(t, "--task-delay=300ms")
	c := s.client()
	ctx := t.Context()
	ids := instanceIDs(t, c)
	cd := must[*ic.CreateDiskResponse](t, "CreateDisk")(c.CreateDisk(ctx, &ic.CreateDiskRequest{Name: "p", Zone: zoneA, SizeGiB: 1}))
	d := must[*ic.DescribeDisksResponse](t, "DescribeDisks")(c.DescribeDisks(ctx, &ic.DescribeDisksRequest{DiskIDs: []string{cd.DiskID}}))
	if d.Disks[0].State != ic.DiskCreating {
		t.Fatalf("state right after CreateDisk: %s", d.Disks[0].State)
	}
	before := s.counters().Actions[ic.ActionDescribeTask]
	start := time.Now()
	task := must[*ic.Task](t, "WaitTask")(c.WaitTask(ctx, cd.TaskID))
	if task.State != ic.TaskSucceeded || task.FinishedAt == nil {
		t.Fatalf("task %+v", task)
	}
	after := s.counters().Actions[ic.ActionDescribeTask]
	polls := after.Requests
	if before != nil {
		polls -= before.Requests
	}
	if polls < 2 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("WaitTask returned after %d polls in %v", polls, time.Since(start))
	}
	t.Logf("WaitTask: %d polls over %v", polls, time.Since(start).Round(time.Millisecond))

	r := must[*ic.TaskResponse](t, "AttachDisk")(c.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: cd.DiskID, InstanceID: ids["node-1"]}))
	d = must[*ic.DescribeDisksResponse](t, "DescribeDisks")(c.DescribeDisks(ctx, &ic.DescribeDisksRequest{DiskIDs: []string{cd.DiskID}}))
	if d.Disks[0].State != ic.DiskAttaching || d.Disks[0].InstanceID != ids["node-1"] {
		t.Fatalf("during attach: %+v", d.Disks[0])
	}
	must[*ic.Task](t, "WaitTask attach")(c.WaitTask(ctx, r.TaskID))

	// A wait shorter than the task ends with the caller's deadline, promptly.
	r = must[*ic.TaskResponse](t, "DetachDisk")(c.DetachDisk(ctx, &ic.DetachDiskRequest{DiskID: cd.DiskID, InstanceID: ids["node-1"]}))
	short, cancel := contextWithTimeout(t, 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c.WaitTask(short, r.TaskID); err == nil || time.Since(start) > time.Second {
		t.Fatalf("WaitTask past its deadline: %v after %v", err, time.Since(start))
	}
	must[*ic.Task](t, "WaitTask detach")(c.WaitTask(ctx, r.TaskID))
}
