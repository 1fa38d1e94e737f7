package fake

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func ctx(t *testing.T) context.Context { return t.Context() }

// waitOK returns a function that fails t unless the call and its task succeed:
// waitOK(t, c)(c.AttachDisk(...)).
func waitOK(t *testing.T, c *Cloud) func(*ic.TaskResponse, error) *ic.Task {
	return func(resp *ic.TaskResponse, err error) *ic.Task {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		task, err := c.WaitTask(ctx(t), resp.TaskID)
		if err != nil {
			t.Fatalf("task %s: %v", resp.TaskID, err)
		}
		return task
	}
}

func wantCode(t *testing.T, err error, want ic.Code) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if got := ic.CodeOf(err); got != want {
		t.Fatalf("error %v: code %q, want %q", err, got, want)
	}
}

func newDisk(t *testing.T, c *Cloud, zone string, size int) string {
	t.Helper()
	resp, err := c.CreateDisk(ctx(t), &ic.CreateDiskRequest{Name: "d", Zone: zone, SizeGiB: size})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitTask(ctx(t), resp.TaskID); err != nil {
		t.Fatal(err)
	}
	return resp.DiskID
}

func TestIDsHavePrefixes(t *testing.T) {
	c := New()
	in := c.AddInstance(ic.Instance{PrivateIPs: []string{"10.0.0.5"}})
	d := newDisk(t, c, DefaultZone, 10)
	s, err := c.CreateSnapshot(ctx(t), &ic.CreateSnapshotRequest{DiskID: d, Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	lb, err := c.CreateLoadBalancer(ctx(t), &ic.CreateLoadBalancerRequest{Name: "lb", Type: ic.LoadBalancerPublic, VpcID: DefaultVpcID,
		Listeners: []ic.ListenerSpec{{Protocol: ic.ProtocolTCP, Port: 80, Backends: []ic.Backend{{IP: "10.0.0.5", Port: 30080}}}}})
	if err != nil {
		t.Fatal(err)
	}
	rt := c.AddRouteTable(ic.RouteTable{})
	r, err := c.CreateRoutes(ctx(t), &ic.CreateRoutesRequest{RouteTableID: rt.RouteTableID, Routes: []ic.RouteSpec{{DestinationCidr: "10.244.0.0/24", NextHopInstanceID: in.InstanceID}}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := c.LoadBalancer(lb.LoadBalancerID)
	for _, tc := range []struct{ id, prefix string }{
		{in.InstanceID, "ins-"}, {d, "disk-"}, {s.SnapshotID, "snap-"}, {lb.LoadBalancerID, "lb-"},
		{got.Listeners[0].ListenerID, "lsn-"}, {rt.RouteTableID, "rtb-"}, {r.Routes[0].RouteID, "route-"}, {s.TaskID, "task-"},
	} {
		if len(tc.id) <= len(tc.prefix) || tc.id[:len(tc.prefix)] != tc.prefix {
			t.Errorf("id %q lacks prefix %q", tc.id, tc.prefix)
		}
	}
	if r.Routes[0].NextHopIP != "10.0.0.5" {
		t.Errorf("nextHopIp = %q", r.Routes[0].NextHopIP)
	}
}

func TestAttachDetachRules(t *testing.T) {
	type step struct {
		op       string // attach, detach, delete, stop
		instance string // a, b, z (other zone)
		want     ic.Code
	}
	cases := []struct {
		name  string
		steps []step
		state ic.DiskState
		on    string
	}{
		{"attach", []step{{"attach", "a", ""}}, ic.DiskAttached, "a"},
		{"attach twice same instance", []step{{"attach", "a", ""}, {"attach", "a", ""}}, ic.DiskAttached, "a"},
		{"attach elsewhere", []step{{"attach", "a", ""}, {"attach", "b", ic.CodeResourceInUse}}, ic.DiskAttached, "a"},
		{"attach elsewhere while a is stopped", []step{{"attach", "a", ""}, {"stop", "a", ""}, {"attach", "b", ic.CodeResourceInUse}}, ic.DiskAttached, "a"},
		{"attach other zone", []step{{"attach", "z", ic.CodeInvalidParameter}}, ic.DiskAvailable, ""},
		{"detach not attached", []step{{"detach", "a", ""}}, ic.DiskAvailable, ""},
		{"detach", []step{{"attach", "a", ""}, {"detach", "a", ""}}, ic.DiskAvailable, ""},
		{"detach twice", []step{{"attach", "a", ""}, {"detach", "a", ""}, {"detach", "a", ""}}, ic.DiskAvailable, ""},
		{"detach from other instance is never success", []step{{"attach", "a", ""}, {"detach", "b", ic.CodeResourceInUse}}, ic.DiskAttached, "a"},
		{"detach from stopped instance", []step{{"attach", "a", ""}, {"stop", "a", ""}, {"detach", "a", ""}}, ic.DiskAvailable, ""},
		{"failover", []step{{"attach", "a", ""}, {"stop", "a", ""}, {"detach", "a", ""}, {"attach", "b", ""}}, ic.DiskAttached, "b"},
		{"delete attached", []step{{"attach", "a", ""}, {"delete", "", ic.CodeResourceInUse}}, ic.DiskAttached, "a"},
		{"attach unknown instance", []step{{"attach", "nope", ic.CodeResourceNotFound}}, ic.DiskAvailable, ""},
		{"attach to terminated instance", []step{{"terminate", "a", ""}, {"attach", "a", ic.CodeResourceInUse}}, ic.DiskAvailable, ""},
		{"terminate releases disks", []step{{"attach", "a", ""}, {"terminate", "a", ""}}, ic.DiskAvailable, ""},
		{"detach from unknown instance", []step{{"detach", "nope", ic.CodeResourceNotFound}}, ic.DiskAvailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			ids := map[string]string{
				"a":    c.AddInstance(ic.Instance{Zone: "zone-a"}).InstanceID,
				"b":    c.AddInstance(ic.Instance{Zone: "zone-a"}).InstanceID,
				"z":    c.AddInstance(ic.Instance{Zone: "zone-b"}).InstanceID,
				"nope": "ins-nope",
			}
			d := newDisk(t, c, "zone-a", 10)
			for i, s := range tc.steps {
				var err error
				switch s.op {
				case "attach":
					var r *ic.TaskResponse
					if r, err = c.AttachDisk(ctx(t), &ic.AttachDiskRequest{DiskID: d, InstanceID: ids[s.instance]}); err == nil {
						_, err = c.WaitTask(ctx(t), r.TaskID)
					}
				case "detach":
					var r *ic.TaskResponse
					if r, err = c.DetachDisk(ctx(t), &ic.DetachDiskRequest{DiskID: d, InstanceID: ids[s.instance]}); err == nil {
						_, err = c.WaitTask(ctx(t), r.TaskID)
					}
				case "delete":
					_, err = c.DeleteDisk(ctx(t), &ic.DeleteDiskRequest{DiskID: d})
				case "terminate":
					waitOK(t, c)(c.TerminateInstances(ctx(t), &ic.InstancesRequest{InstanceIDs: []string{ids[s.instance]}}))
				case "stop":
					waitOK(t, c)(c.StopInstances(ctx(t), &ic.InstancesRequest{InstanceIDs: []string{ids[s.instance]}}))
				}
				t.Run(fmt.Sprintf("step%d-%s", i, s.op), func(t *testing.T) { wantCode(t, err, s.want) })
			}
			got, _ := c.Disk(d)
			if got.State != tc.state || (tc.on != "" && got.InstanceID != ids[tc.on]) || (tc.on == "" && got.InstanceID != "") {
				t.Fatalf("disk %s on %q, want %s on %q", got.State, got.InstanceID, tc.state, ids[tc.on])
			}
		})
	}
}

func TestMaxDisks(t *testing.T) {
	c := New()
	in := c.AddInstance(ic.Instance{MaxDisks: 2})
	for i := range 3 {
		d := newDisk(t, c, DefaultZone, 1)
		_, err := c.AttachDisk(ctx(t), &ic.AttachDiskRequest{DiskID: d, InstanceID: in.InstanceID})
		want := ic.Code("")
		if i == 2 {
			want = ic.CodeLimitExceeded
		}
		wantCode(t, err, want)
	}
}

func TestTaskSteps(t *testing.T) {
	c := New(WithTaskSteps(2))
	in := c.AddInstance(ic.Instance{})
	d := c.AddDisk(ic.Disk{SizeGiB: 5})
	r, err := c.AttachDisk(ctx(t), &ic.AttachDiskRequest{DiskID: d.DiskID, InstanceID: in.InstanceID})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Disk(d.DiskID); got.State != ic.DiskAttaching {
		t.Fatalf("state during the task = %s, want ATTACHING", got.State)
	}
	tr, _ := c.DescribeTask(ctx(t), &ic.DescribeTaskRequest{TaskID: r.TaskID})
	if tr.Task.State != ic.TaskRunning {
		t.Fatalf("task after one step = %s", tr.Task.State)
	}
	tr, _ = c.DescribeTask(ctx(t), &ic.DescribeTaskRequest{TaskID: r.TaskID})
	if tr.Task.State != ic.TaskSucceeded {
		t.Fatalf("task after two steps = %s", tr.Task.State)
	}
	if got, _ := c.Disk(d.DiskID); got.State != ic.DiskAttached {
		t.Fatalf("state after the task = %s", got.State)
	}
	r, err = c.DetachDisk(ctx(t), &ic.DetachDiskRequest{DiskID: d.DiskID, InstanceID: in.InstanceID})
	if err != nil {
		t.Fatal(err)
	}
	// A repeated detach while the first runs ends after it, never before.
	r2, err := c.DetachDisk(ctx(t), &ic.DetachDiskRequest{DiskID: d.DiskID, InstanceID: in.InstanceID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitTask(ctx(t), r2.TaskID); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Disk(d.DiskID); got.State != ic.DiskAvailable {
		t.Fatalf("state after the repeated detach = %s", got.State)
	}
	tr, _ = c.DescribeTask(ctx(t), &ic.DescribeTaskRequest{TaskID: r.TaskID})
	if tr.Task.State != ic.TaskSucceeded {
		t.Fatalf("first detach %s", tr.Task.State)
	}
}

func TestDetachWhileAttachingIsInUse(t *testing.T) {
	c := New(WithTaskSteps(-1))
	in := c.AddInstance(ic.Instance{})
	d := c.AddDisk(ic.Disk{SizeGiB: 5})
	if _, err := c.AttachDisk(ctx(t), &ic.AttachDiskRequest{DiskID: d.DiskID, InstanceID: in.InstanceID}); err != nil {
		t.Fatal(err)
	}
	_, err := c.DetachDisk(ctx(t), &ic.DetachDiskRequest{DiskID: d.DiskID, InstanceID: in.InstanceID})
	wantCode(t, err, ic.CodeResourceInUse)
}

func TestManualTasks(t *testing.T) {
	c := New(WithTaskSteps(-1))
	r, err := c.CreateDisk(ctx(t), &ic.CreateDiskRequest{Name: "x", Zone: DefaultZone, SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RunningTasks(); len(got) != 1 || got[0] != r.TaskID {
		t.Fatalf("running tasks %v", got)
	}
	done := make(chan error, 1)
	go func() { _, err := c.WaitTask(context.Background(), r.TaskID); done <- err }()
	c.CompleteTasks()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d, _ := c.Disk(r.DiskID); d.State != ic.DiskAvailable {
		t.Fatalf("disk %s", d.State)
	}
}

func TestFailNextTask(t *testing.T) {
	c := New()
	in := c.AddInstance(ic.Instance{})
	d := newDisk(t, c, DefaultZone, 1)
	c.FailNextTask(ic.ActionAttachDisk, ic.Errorf(ic.CodeInternalError, "backend down"))
	r, err := c.AttachDisk(ctx(t), &ic.AttachDiskRequest{DiskID: d, InstanceID: in.InstanceID})
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.WaitTask(ctx(t), r.TaskID)
	if !errors.Is(err, ic.ErrInternal) || task.State != ic.TaskFailed {
		t.Fatalf("WaitTask = %v, %v", task, err)
	}
	if got, _ := c.Disk(d); got.State != ic.DiskAvailable || got.InstanceID != "" {
		t.Fatalf("failed attach left the disk %s on %q", got.State, got.InstanceID)
	}
}

func TestClientTokens(t *testing.T) {
	c := New()
	req := &ic.CreateDiskRequest{Name: "pv-1", Zone: DefaultZone, SizeGiB: 10, ClientToken: "tok"}
	a, err := c.CreateDisk(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateDisk(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if a.DiskID != b.DiskID || a.TaskID != b.TaskID {
		t.Fatalf("replay gave %s/%s, first %s/%s", b.DiskID, b.TaskID, a.DiskID, a.TaskID)
	}
	other := *req
	other.SizeGiB = 20
	_, err = c.CreateDisk(ctx(t), &other)
	wantCode(t, err, ic.CodeIdempotentParameterMismatch)
	if !errors.Is(err, ic.ErrIdempotentParameterMismatch) {
		t.Fatal("errors.Is does not see the sentinel")
	}
	all, _ := ic.DescribeAllDisks(ctx(t), c, ic.DescribeDisksRequest{})
	if len(all) != 1 {
		t.Fatalf("%d disks, want 1", len(all))
	}
	// Without a token every call creates.
	req.ClientToken = ""
	for range 2 {
		if _, err := c.CreateDisk(ctx(t), req); err != nil {
			t.Fatal(err)
		}
	}
	if all, _ = ic.DescribeAllDisks(ctx(t), c, ic.DescribeDisksRequest{}); len(all) != 3 {
		t.Fatalf("%d disks, want 3", len(all))
	}
}

func TestRoutes(t *testing.T) {
	c := New()
	a := c.AddInstance(ic.Instance{PrivateIPs: []string{"10.0.0.1"}})
	b := c.AddInstance(ic.Instance{PrivateIPs: []string{"10.0.0.2"}})
	other := c.AddVpc(ic.Vpc{CidrBlock: "10.1.0.0/16"})
	x := c.AddInstance(ic.Instance{VpcID: other.VpcID, PrivateIPs: []string{"10.1.0.1"}})
	rt := c.AddRouteTable(ic.RouteTable{RouteLimit: 3})
	rs := func(pairs ...string) []ic.RouteSpec {
		var out []ic.RouteSpec
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, ic.RouteSpec{DestinationCidr: pairs[i], NextHopInstanceID: pairs[i+1]})
		}
		return out
	}
	cases := []struct {
		name   string
		routes []ic.RouteSpec
		want   ic.Code
		after  int
	}{
		{"create two", rs("10.244.0.0/24", a.InstanceID, "10.244.1.0/24", b.InstanceID), "", 2},
		{"same cidr", rs("10.244.0.0/24", b.InstanceID), ic.CodeResourceInUse, 2},
		{"overlapping cidr", rs("10.244.0.0/16", b.InstanceID), ic.CodeResourceInUse, 2},
		{"overlap inside the batch", rs("10.245.0.0/24", a.InstanceID, "10.245.0.128/25", b.InstanceID), ic.CodeResourceInUse, 2},
		{"bad cidr", rs("10.244.2.1/24", a.InstanceID), ic.CodeInvalidParameter, 2},
		{"not a cidr", rs("banana", a.InstanceID), ic.CodeInvalidParameter, 2},
		{"unknown next hop", rs("10.244.2.0/24", "ins-nope"), ic.CodeResourceNotFound, 2},
		{"next hop in other vpc", rs("10.244.2.0/24", x.InstanceID), ic.CodeInvalidParameter, 2},
		{"over the limit, all or nothing", rs("10.244.2.0/24", a.InstanceID, "10.244.3.0/24", b.InstanceID), ic.CodeLimitExceeded, 2},
		{"up to the limit", rs("10.244.2.0/24", a.InstanceID), "", 3},
		{"empty", nil, ic.CodeInvalidParameter, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateRoutes(ctx(t), &ic.CreateRoutesRequest{RouteTableID: rt.RouteTableID, Routes: tc.routes})
			wantCode(t, err, tc.want)
			if n := len(c.Routes(rt.RouteTableID)); n != tc.after {
				t.Fatalf("%d routes, want %d", n, tc.after)
			}
		})
	}
	routes := c.Routes(rt.RouteTableID)
	_, err := c.DeleteRoutes(ctx(t), &ic.DeleteRoutesRequest{RouteTableID: rt.RouteTableID, RouteIDs: []string{routes[0].RouteID, "route-missing"}})
	wantCode(t, err, "")
	if n := len(c.Routes(rt.RouteTableID)); n != 2 {
		t.Fatalf("%d routes after delete, want 2", n)
	}
	_, err = c.DeleteRoutes(ctx(t), &ic.DeleteRoutesRequest{RouteTableID: "rtb-missing", RouteIDs: []string{"route-x"}})
	wantCode(t, err, ic.CodeResourceNotFound)
}

func TestListeners(t *testing.T) {
	c := New()
	l := func(p ic.Protocol, port int) ic.ListenerSpec {
		return ic.ListenerSpec{Protocol: p, Port: port, Backends: []ic.Backend{{IP: "10.0.0.1", Port: 30000 + port}}}
	}
	r, err := c.CreateLoadBalancer(ctx(t), &ic.CreateLoadBalancerRequest{Name: "a", Type: ic.LoadBalancerInternal, VpcID: DefaultVpcID,
		Listeners: []ic.ListenerSpec{l(ic.ProtocolTCP, 80), l(ic.ProtocolUDP, 80)}})
	wantCode(t, err, "")
	lb, _ := c.LoadBalancer(r.LoadBalancerID)
	if lb.State != ic.LoadBalancerActive || !InternalVIPPool.Contains(mustAddr(t, lb.VIP)) {
		t.Fatalf("lb %s vip %s", lb.State, lb.VIP)
	}
	cases := []struct {
		name string
		run  func() error
		want ic.Code
	}{
		{"duplicate in create", func() error {
			_, err := c.CreateLoadBalancer(ctx(t), &ic.CreateLoadBalancerRequest{Name: "b", Type: ic.LoadBalancerPublic, VpcID: DefaultVpcID, Listeners: []ic.ListenerSpec{l(ic.ProtocolTCP, 81), l(ic.ProtocolTCP, 81)}})
			return err
		}, ic.CodeResourceInUse},
		{"conflict with existing", func() error {
			_, err := c.CreateListeners(ctx(t), &ic.CreateListenersRequest{LoadBalancerID: lb.LoadBalancerID, Listeners: []ic.ListenerSpec{l(ic.ProtocolTCP, 80)}})
			return err
		}, ic.CodeResourceInUse},
		{"new port", func() error {
			_, err := c.CreateListeners(ctx(t), &ic.CreateListenersRequest{LoadBalancerID: lb.LoadBalancerID, Listeners: []ic.ListenerSpec{l(ic.ProtocolTCP, 443)}})
			return err
		}, ""},
		{"modify onto another listener's port", func() error {
			_, err := c.ModifyListener(ctx(t), &ic.ModifyListenerRequest{LoadBalancerID: lb.LoadBalancerID, ListenerID: lb.Listeners[0].ListenerID, Listener: l(ic.ProtocolTCP, 443)})
			return err
		}, ic.CodeResourceInUse},
		{"modify keeping its own port", func() error {
			_, err := c.ModifyListener(ctx(t), &ic.ModifyListenerRequest{LoadBalancerID: lb.LoadBalancerID, ListenerID: lb.Listeners[0].ListenerID, Listener: l(ic.ProtocolTCP, 80)})
			return err
		}, ""},
		{"bad port", func() error {
			_, err := c.CreateListeners(ctx(t), &ic.CreateListenersRequest{LoadBalancerID: lb.LoadBalancerID, Listeners: []ic.ListenerSpec{l(ic.ProtocolTCP, 70000)}})
			return err
		}, ic.CodeInvalidParameter},
		{"proxy protocol on UDP", func() error {
			s := l(ic.ProtocolUDP, 53)
			s.ProxyProtocol = ic.ProxyProtocolV2
			_, err := c.CreateListeners(ctx(t), &ic.CreateListenersRequest{LoadBalancerID: lb.LoadBalancerID, Listeners: []ic.ListenerSpec{s}})
			return err
		}, ic.CodeInvalidParameter},
		{"delete missing ids", func() error {
			_, err := c.DeleteListeners(ctx(t), &ic.DeleteListenersRequest{LoadBalancerID: lb.LoadBalancerID, ListenerIDs: []string{"lsn-missing"}})
			return err
		}, ""},
		{"vip taken", func() error {
			_, err := c.CreateLoadBalancer(ctx(t), &ic.CreateLoadBalancerRequest{Name: "c", Type: ic.LoadBalancerInternal, VpcID: DefaultVpcID, VIP: lb.VIP})
			return err
		}, ic.CodeResourceInUse},
		{"unknown lb", func() error {
			_, err := c.DeleteLoadBalancer(ctx(t), &ic.DeleteLoadBalancerRequest{LoadBalancerID: "lb-missing"})
			return err
		}, ic.CodeResourceNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.run(), tc.want) })
	}
	got, _ := c.LoadBalancer(lb.LoadBalancerID)
	if len(got.Listeners) != 3 {
		t.Fatalf("%d listeners, want 3", len(got.Listeners))
	}
	waitOK(t, c)(c.DeleteLoadBalancer(ctx(t), &ic.DeleteLoadBalancerRequest{LoadBalancerID: lb.LoadBalancerID}))
	if _, ok := c.LoadBalancer(lb.LoadBalancerID); ok {
		t.Fatal("load balancer still there after delete")
	}
}

func TestLoadBalancerUpdatingWhileTaskRuns(t *testing.T) {
	c := New(WithTaskSteps(-1))
	r, err := c.CreateLoadBalancer(ctx(t), &ic.CreateLoadBalancerRequest{Name: "a", Type: ic.LoadBalancerPublic, VpcID: DefaultVpcID})
	if err != nil {
		t.Fatal(err)
	}
	if lb, _ := c.LoadBalancer(r.LoadBalancerID); lb.State != ic.LoadBalancerCreating {
		t.Fatalf("state %s", lb.State)
	}
	c.CompleteTasks()
	_, err = c.CreateListeners(ctx(t), &ic.CreateListenersRequest{LoadBalancerID: r.LoadBalancerID, Listeners: []ic.ListenerSpec{{Protocol: ic.ProtocolTCP, Port: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	if lb, _ := c.LoadBalancer(r.LoadBalancerID); lb.State != ic.LoadBalancerUpdating {
		t.Fatalf("state %s", lb.State)
	}
	c.CompleteTasks()
	if lb, _ := c.LoadBalancer(r.LoadBalancerID); lb.State != ic.LoadBalancerActive {
		t.Fatalf("state %s", lb.State)
	}
}

func TestPagination(t *testing.T) {
	c := New()
	for range 25 {
		c.AddDisk(ic.Disk{SizeGiB: 1, Tags: map[string]string{"k": "v"}})
	}
	c.AddDisk(ic.Disk{SizeGiB: 1})
	r, err := c.DescribeDisks(ctx(t), &ic.DescribeDisksRequest{Tags: map[string]string{"k": "v"}, Page: ic.Page{Offset: 20, Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Disks) != 5 || r.TotalCount != 25 {
		t.Fatalf("page: %d disks, total %d", len(r.Disks), r.TotalCount)
	}
	all, err := ic.DescribeAllDisks(ctx(t), c, ic.DescribeDisksRequest{Page: ic.Page{Limit: 4}})
	if err != nil || len(all) != 26 {
		t.Fatalf("all: %d, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].DiskID >= all[i].DiskID {
			t.Fatal("not sorted by id")
		}
	}
	_, err = c.DescribeDisks(ctx(t), &ic.DescribeDisksRequest{Page: ic.Page{Limit: ic.MaxPageSize + 1}})
	wantCode(t, err, ic.CodeInvalidParameter)
}

func TestInjectErrorsAndCounters(t *testing.T) {
	c := New()
	c.InjectError(ic.ActionDescribeInstances, ic.Errorf(ic.CodeRequestLimitExceeded, "slow down"), 2)
	for i, want := range []ic.Code{ic.CodeRequestLimitExceeded, ic.CodeRequestLimitExceeded, ""} {
		_, err := c.DescribeInstances(ctx(t), &ic.DescribeInstancesRequest{})
		t.Run(fmt.Sprint(i), func(t *testing.T) { wantCode(t, err, want) })
	}
	if n := c.Calls(ic.ActionDescribeInstances); n != 3 {
		t.Fatalf("calls = %d", n)
	}
	c.ResetCalls()
	if n := c.Calls(ic.ActionDescribeInstances); n != 0 {
		t.Fatalf("calls after reset = %d", n)
	}
	// WaitTask retries a throttled DescribeTask like the real client.
	d := c.AddDisk(ic.Disk{SizeGiB: 1})
	c.InjectError(ic.ActionDescribeTask, ic.Errorf(ic.CodeRequestLimitExceeded, "slow down"), 1)
	in := c.AddInstance(ic.Instance{})
	waitOK(t, c)(c.AttachDisk(ctx(t), &ic.AttachDiskRequest{DiskID: d.DiskID, InstanceID: in.InstanceID}))
	if n := c.Calls(ic.ActionDescribeTask); n != 2 {
		t.Fatalf("DescribeTask calls = %d, want 2", n)
	}
}

func TestCanceledContext(t *testing.T) {
	c := New()
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.DescribeDisks(cctx, &ic.DescribeDisksRequest{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestSetInstanceStateAndIdentity(t *testing.T) {
	c := New()
	in := c.AddInstance(ic.Instance{Name: "node-1", PrivateIPs: []string{"10.0.0.9"}})
	_, err := c.Identity(ctx(t))
	wantCode(t, err, ic.CodeResourceNotFound)
	c.SetIdentity(in.InstanceID)
	id, err := c.Identity(ctx(t))
	if err != nil || id.InstanceID != in.InstanceID || id.PrivateIP != "10.0.0.9" || id.Zone != DefaultZone {
		t.Fatalf("identity %+v, %v", id, err)
	}
	c.SetInstanceState(in.InstanceID, ic.InstanceStopped)
	r, _ := c.DescribeInstances(ctx(t), &ic.DescribeInstancesRequest{PrivateIPs: []string{"10.0.0.9"}})
	if len(r.Instances) != 1 || r.Instances[0].State != ic.InstanceStopped {
		t.Fatalf("instances %+v", r.Instances)
	}
	waitOK(t, c)(c.StartInstances(ctx(t), &ic.InstancesRequest{InstanceIDs: []string{in.InstanceID}}))
	if got, _ := c.Instance(in.InstanceID); got.State != ic.InstanceRunning {
		t.Fatalf("state after start %s", got.State)
	}
}

func TestDiskSizesAndResize(t *testing.T) {
	c := New(WithQuota("diskGiB", 100))
	cases := []struct {
		name string
		req  ic.CreateDiskRequest
		want ic.Code
	}{
		{"ok", ic.CreateDiskRequest{Zone: DefaultZone, SizeGiB: 10}, ""},
		{"no zone", ic.CreateDiskRequest{SizeGiB: 10}, ic.CodeInvalidParameter},
		{"negative", ic.CreateDiskRequest{Zone: DefaultZone, SizeGiB: -1}, ic.CodeInvalidParameter},
		{"zero without source", ic.CreateDiskRequest{Zone: DefaultZone}, ic.CodeInvalidParameter},
		{"bad type", ic.CreateDiskRequest{Zone: DefaultZone, SizeGiB: 1, Type: "FLOPPY"}, ic.CodeInvalidParameter},
		{"over quota", ic.CreateDiskRequest{Zone: DefaultZone, SizeGiB: 95}, ic.CodeLimitExceeded},
		{"unknown snapshot", ic.CreateDiskRequest{Zone: DefaultZone, SnapshotID: "snap-x"}, ic.CodeResourceNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateDisk(ctx(t), &tc.req)
			wantCode(t, err, tc.want)
		})
	}
	d := newDisk(t, c, DefaultZone, 10)
	_, err := c.ResizeDisk(ctx(t), &ic.ResizeDiskRequest{DiskID: d, SizeGiB: 5})
	wantCode(t, err, ic.CodeInvalidParameter)
	waitOK(t, c)(c.ResizeDisk(ctx(t), &ic.ResizeDiskRequest{DiskID: d, SizeGiB: 20}))
	waitOK(t, c)(c.ResizeDisk(ctx(t), &ic.ResizeDiskRequest{DiskID: d, SizeGiB: 20}))
	if got, _ := c.Disk(d); got.SizeGiB != 20 {
		t.Fatalf("size %d", got.SizeGiB)
	}
	s, err := c.CreateSnapshot(ctx(t), &ic.CreateSnapshotRequest{DiskID: d, Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateDisk(ctx(t), &ic.CreateDiskRequest{Zone: DefaultZone, SnapshotID: s.SnapshotID})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Disk(r.DiskID); got.SizeGiB != 20 || got.SnapshotID != s.SnapshotID {
		t.Fatalf("restored disk %+v", got)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
