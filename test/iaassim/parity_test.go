package iaassim_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

// TestFakeAgreesWithSimulator: the in-memory fake and the simulator refuse the same
// requests with the same code and message, because both run the contract's rules
// (package iaasclient/validate). The fake is set up to hold what the requests name.
func TestFakeAgreesWithSimulator(t *testing.T) {
	e := newEnv(t, 0)
	sim, err := iaasclient.New(iaasclient.Config{Endpoint: e.api.URL, Credentials: alphaCreds, LocalAddr: ipA1.String(), MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	a1, a4 := instanceID(t, e.alpha(), "127.0.0.11"), instanceID(t, e.alpha(), "127.0.0.14")
	fk := fake.New(fake.WithZones("sim-1a", "sim-1b"))
	fk.AddVpc(iaasclient.Vpc{VpcID: "vpc-alpha"})
	fk.AddVpc(iaasclient.Vpc{VpcID: "vpc-alpha2"})
	fk.AddRouteTable(iaasclient.RouteTable{RouteTableID: "rtb-alpha", VpcID: "vpc-alpha", RouteLimit: 5})
	fk.AddInstance(iaasclient.Instance{InstanceID: a1, VpcID: "vpc-alpha", Zone: "sim-1a", PrivateIPs: []string{"127.0.0.11"}, MaxDisks: 2})
	fk.AddInstance(iaasclient.Instance{InstanceID: a4, VpcID: "vpc-alpha2", Zone: "sim-1a", PrivateIPs: []string{"127.0.0.14"}})

	route := func(cidr, next string) iaasclient.RouteSpec {
		return iaasclient.RouteSpec{DestinationCidr: cidr, NextHopInstanceID: next}
	}
	createRoutes := func(specs ...iaasclient.RouteSpec) func(iaasclient.API) error {
		return func(api iaasclient.API) error {
			_, err := api.CreateRoutes(t.Context(), &iaasclient.CreateRoutesRequest{RouteTableID: "rtb-alpha", Routes: specs})
			return err
		}
	}
	listener := func(mod func(*iaasclient.ListenerSpec)) iaasclient.ListenerSpec {
		l := iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolTCP, Port: 80, Backends: []iaasclient.Backend{{IP: "127.0.0.11", Port: 30080}}}
		mod(&l)
		return l
	}
	createLB := func(mod func(*iaasclient.CreateLoadBalancerRequest)) func(iaasclient.API) error {
		return func(api iaasclient.API) error {
			req := iaasclient.CreateLoadBalancerRequest{Name: "web", Type: iaasclient.LoadBalancerPublic, VpcID: "vpc-alpha"}
			mod(&req)
			_, err := api.CreateLoadBalancer(t.Context(), &req)
			return err
		}
	}
	withListeners := func(ls ...iaasclient.ListenerSpec) func(*iaasclient.CreateLoadBalancerRequest) {
		return func(r *iaasclient.CreateLoadBalancerRequest) { r.Listeners = ls }
	}
	createDisk := func(mod func(*iaasclient.CreateDiskRequest)) func(iaasclient.API) error {
		return func(api iaasclient.API) error {
			req := iaasclient.CreateDiskRequest{Name: "d", Zone: "sim-1a", SizeGiB: 1}
			mod(&req)
			_, err := api.CreateDisk(t.Context(), &req)
			return err
		}
	}
	for _, tc := range []struct {
		name string
		call func(iaasclient.API) error
	}{
		{"route cidr", createRoutes(route("10.250.0.0/24", a1), route("bogus", a1))},
		{"route host bits", createRoutes(route("10.250.0.5/24", a1))},
		{"route IPv4-mapped", createRoutes(route("::ffff:10.0.0.0/104", a1))},
		{"route overlap in batch", createRoutes(route("10.250.0.0/24", a1), route("10.250.0.0/23", a1))},
		{"route over limit", createRoutes(route("10.250.0.0/24", a1), route("10.250.1.0/24", a1), route("10.250.2.0/24", a1), route("10.250.3.0/24", a1), route("10.250.4.0/24", a1), route("10.250.5.0/24", a1))},
		{"route no next hop", createRoutes(route("10.250.0.0/24", ""))},
		{"route missing next hop", createRoutes(route("10.250.0.0/24", "ins-000000000000"))},
		{"route next hop in other VPC", createRoutes(route("10.250.0.0/24", a4))},
		{"route tags", createRoutes(iaasclient.RouteSpec{DestinationCidr: "10.250.0.0/24", NextHopInstanceID: a1, Tags: map[string]string{"": "x"}})},
		{"no routes", createRoutes()},
		{"route table missing", func(api iaasclient.API) error {
			_, err := api.CreateRoutes(t.Context(), &iaasclient.CreateRoutesRequest{RouteTableID: "rtb-nope", Routes: []iaasclient.RouteSpec{route("10.250.0.0/24", a1)}})
			return err
		}},
		{"delete no routes", func(api iaasclient.API) error {
			_, err := api.DeleteRoutes(t.Context(), &iaasclient.DeleteRoutesRequest{RouteTableID: "rtb-alpha"})
			return err
		}},
		{"lb name", createLB(func(r *iaasclient.CreateLoadBalancerRequest) { r.Name = "" })},
		{"lb type", createLB(func(r *iaasclient.CreateLoadBalancerRequest) { r.Type = "weird" })},
		{"lb vpc missing", createLB(func(r *iaasclient.CreateLoadBalancerRequest) { r.VpcID = "vpc-nope" })},
		{"lb vpc empty", createLB(func(r *iaasclient.CreateLoadBalancerRequest) { r.VpcID = "" })},
		{"lb vip outside pool", createLB(func(r *iaasclient.CreateLoadBalancerRequest) { r.VIP = "not-an-ip" })},
		{"listener protocol", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) { l.Protocol = "SCTP" })))},
		{"listener port", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) { l.Port = 70000 })))},
		{"listener backend ip", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) { l.Backends[0].IP = "not-an-ip" })))},
		{"listener backend weight", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) { l.Backends[0].Weight = 101 })))},
		{"listener backend twice", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) { l.Backends = append(l.Backends, l.Backends[0]) })))},
		{"listener health check path", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) {
			l.HealthCheck = &iaasclient.HealthCheck{Protocol: iaasclient.HealthCheckTCP, Path: "/healthz"}
		})))},
		{"listener health check interval", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) {
			l.HealthCheck = &iaasclient.HealthCheck{Protocol: iaasclient.HealthCheckHTTP, IntervalSeconds: 301}
		})))},
		{"listener affinity", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) { l.SessionAffinity = "COOKIE" })))},
		{"listener source range", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) { l.SourceRanges = []string{"10.0.0.0/8", "nope"} })))},
		{"listener proxy protocol on UDP", createLB(withListeners(listener(func(l *iaasclient.ListenerSpec) {
			l.Protocol, l.ProxyProtocol = iaasclient.ProtocolUDP, iaasclient.ProxyProtocolV2
		})))},
		{"listener port twice", createLB(withListeners(listener(func(*iaasclient.ListenerSpec) {}), listener(func(*iaasclient.ListenerSpec) {})))},
		{"lb client token", createLB(func(r *iaasclient.CreateLoadBalancerRequest) { r.ClientToken = strings.Repeat("t", 129) })},
		{"modify lb without id", func(api iaasclient.API) error {
			_, err := api.ModifyLoadBalancer(t.Context(), &iaasclient.ModifyLoadBalancerRequest{})
			return err
		}},
		{"create listeners without listeners", func(api iaasclient.API) error {
			_, err := api.CreateListeners(t.Context(), &iaasclient.CreateListenersRequest{LoadBalancerID: "lb-nope"})
			return err
		}},
		{"disk zone", createDisk(func(r *iaasclient.CreateDiskRequest) { r.Zone = "" })},
		{"disk unknown zone", createDisk(func(r *iaasclient.CreateDiskRequest) { r.Zone = "nope" })},
		{"disk type", createDisk(func(r *iaasclient.CreateDiskRequest) { r.Type = "FLOPPY" })},
		{"disk negative size", createDisk(func(r *iaasclient.CreateDiskRequest) { r.SizeGiB = -1 })},
		{"disk no size", createDisk(func(r *iaasclient.CreateDiskRequest) { r.SizeGiB = 0 })},
		{"disk too large", createDisk(func(r *iaasclient.CreateDiskRequest) { r.SizeGiB = 1 << 20 })},
		{"disk two sources", createDisk(func(r *iaasclient.CreateDiskRequest) { r.SnapshotID, r.SourceDiskID = "snap-1", "disk-1" })},
		{"disk missing snapshot", createDisk(func(r *iaasclient.CreateDiskRequest) { r.SnapshotID = "snap-000000000000" })},
		{"disk name", createDisk(func(r *iaasclient.CreateDiskRequest) { r.Name = "a\x00b" })},
		{"disk tags", createDisk(func(r *iaasclient.CreateDiskRequest) { r.Tags = map[string]string{"k": strings.Repeat("v", 257)} })},
		{"attach missing disk", func(api iaasclient.API) error {
			_, err := api.AttachDisk(t.Context(), &iaasclient.AttachDiskRequest{DiskID: "disk-000000000000", InstanceID: a1})
			return err
		}},
		{"describe disks limit", func(api iaasclient.API) error {
			_, err := api.DescribeDisks(t.Context(), &iaasclient.DescribeDisksRequest{Page: iaasclient.Page{Limit: iaasclient.MaxPageSize + 1}})
			return err
		}},
		{"describe instances offset", func(api iaasclient.API) error {
			_, err := api.DescribeInstances(t.Context(), &iaasclient.DescribeInstancesRequest{Page: iaasclient.Page{Offset: -1}})
			return err
		}},
		{"describe snapshots ids", func(api iaasclient.API) error {
			_, err := api.DescribeSnapshots(t.Context(), &iaasclient.DescribeSnapshotsRequest{SnapshotIDs: []string{"ok", "bad\n"}})
			return err
		}},
		{"start no instances", func(api iaasclient.API) error {
			_, err := api.StartInstances(t.Context(), &iaasclient.InstancesRequest{})
			return err
		}},
		{"stop missing instance", func(api iaasclient.API) error {
			_, err := api.StopInstances(t.Context(), &iaasclient.InstancesRequest{InstanceIDs: []string{a1, "ins-000000000000"}})
			return err
		}},
		{"describe task without id", func(api iaasclient.API) error {
			_, err := api.DescribeTask(t.Context(), &iaasclient.DescribeTaskRequest{})
			return err
		}},
		{"describe missing task", func(api iaasclient.API) error {
			_, err := api.DescribeTask(t.Context(), &iaasclient.DescribeTaskRequest{TaskID: "task-000000000000"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, got := apiError(t, "simulator", tc.call(sim)), apiError(t, "fake", tc.call(fk))
			if got.Code != want.Code || got.Message != want.Message {
				t.Errorf("fake: %s: %s\nsimulator: %s: %s", got.Code, got.Message, want.Code, want.Message)
			}
		})
	}
}

func apiError(t *testing.T, who string, err error) *iaasclient.Error {
	t.Helper()
	var e *iaasclient.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: want an API error, got %v", who, err)
	}
	return e
}
