package iaassim_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/tencentcloud"
)

// CLB through the tencentcloud backend and the simulator's Tencent front-end: the
// load balancer, a listener with targets (CVM instances by private IP), a change of
// targets and health check, tags through the tag service, deletes; each write waited
// for with DescribeTaskStatus.
func TestTencentCloudLoadBalancers(t *testing.T) {
	e := newEnv(t, 20*time.Millisecond)
	c := tcClient(t, e, func(cfg *tencentcloud.Config) { cfg.AccountID = "100000000001" })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wait := func(task string) {
		t.Helper()
		if _, err := c.WaitTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	hc := &iaasclient.HealthCheck{Protocol: iaasclient.HealthCheckTCP, IntervalSeconds: 5, TimeoutSeconds: 2, HealthyThreshold: 2, UnhealthyThreshold: 3}
	spec := iaasclient.ListenerSpec{Name: "k8s-1234-tcp-80", Protocol: iaasclient.ProtocolTCP, Port: 80, HealthCheck: hc,
		SessionAffinity: iaasclient.SessionAffinityNone, Backends: []iaasclient.Backend{{IP: "127.0.0.11", Port: 30080, Weight: 10}}}
	created, err := c.CreateLoadBalancer(ctx, &iaasclient.CreateLoadBalancerRequest{
		Name: "svc", Type: iaasclient.LoadBalancerPublic, Tags: map[string]string{"kube-iaas.io/cluster": "c1", "kube-iaas.io/service-uid": "u1"},
		Listeners: []iaasclient.ListenerSpec{spec}, ClientToken: "lb-token-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	wait(created.TaskID)
	list, err := c.DescribeLoadBalancers(ctx, &iaasclient.DescribeLoadBalancersRequest{Tags: map[string]string{"kube-iaas.io/cluster": "c1"}})
	if err != nil || len(list.LoadBalancers) != 1 {
		t.Fatalf("by tag: %+v, %v", list, err)
	}
	lb := list.LoadBalancers[0]
	if lb.LoadBalancerID != created.LoadBalancerID || lb.VIP == "" || lb.Type != iaasclient.LoadBalancerPublic || lb.State != iaasclient.LoadBalancerActive ||
		lb.VpcID != "vpc-alpha" || lb.Tags["kube-iaas.io/service-uid"] != "u1" || len(lb.Listeners) != 1 {
		t.Fatalf("load balancer read back: %+v", lb)
	}
	l := lb.Listeners[0]
	if !reflect.DeepEqual(l.ListenerSpec, spec) {
		t.Fatalf("listener read back\n got  %+v\n want %+v", l.ListenerSpec, spec)
	}

	// Targets: a1 goes, a2 comes; UDP-style HTTP health check; session persistence.
	spec2 := spec
	spec2.Backends = []iaasclient.Backend{{IP: "127.0.0.12", Port: 30080, Weight: 10}, {IP: "127.0.0.13", Port: 30080, Weight: 10}}
	spec2.HealthCheck = &iaasclient.HealthCheck{Protocol: iaasclient.HealthCheckHTTP, Port: 10256, Path: "/healthz", IntervalSeconds: 5, TimeoutSeconds: 2, HealthyThreshold: 2, UnhealthyThreshold: 3}
	spec2.SessionAffinity, spec2.SessionAffinityTimeoutSeconds = iaasclient.SessionAffinityClientIP, 600
	task, err := c.ModifyListener(ctx, &iaasclient.ModifyListenerRequest{LoadBalancerID: lb.LoadBalancerID, ListenerID: l.ListenerID, Listener: spec2})
	if err != nil {
		t.Fatal(err)
	}
	wait(task.TaskID)
	list, err = c.DescribeLoadBalancers(ctx, &iaasclient.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{lb.LoadBalancerID}})
	if err != nil || len(list.LoadBalancers) != 1 || len(list.LoadBalancers[0].Listeners) != 1 {
		t.Fatalf("after ModifyListener: %+v, %v", list, err)
	}
	got := list.LoadBalancers[0].Listeners[0].ListenerSpec
	if len(got.Backends) == 2 && got.Backends[0].IP > got.Backends[1].IP {
		got.Backends[0], got.Backends[1] = got.Backends[1], got.Backends[0]
	}
	if !reflect.DeepEqual(got, spec2) {
		t.Fatalf("listener after ModifyListener\n got  %+v\n want %+v", got, spec2)
	}
	// A second listener (UDP), then its removal.
	udp := iaasclient.ListenerSpec{Name: "k8s-1234-udp-53", Protocol: iaasclient.ProtocolUDP, Port: 53, SessionAffinity: iaasclient.SessionAffinityNone,
		Backends: []iaasclient.Backend{{IP: "127.0.0.11", Port: 30053, Weight: 10}}}
	cl, err := c.CreateListeners(ctx, &iaasclient.CreateListenersRequest{LoadBalancerID: lb.LoadBalancerID, Listeners: []iaasclient.ListenerSpec{udp}})
	if err != nil || len(cl.ListenerIDs) != 1 {
		t.Fatalf("CreateListeners: %+v, %v", cl, err)
	}
	wait(cl.TaskID)
	if _, err := c.CreateListeners(ctx, &iaasclient.CreateListenersRequest{LoadBalancerID: lb.LoadBalancerID, Listeners: []iaasclient.ListenerSpec{udp}}); !errors.Is(err, iaasclient.ErrInUse) {
		t.Fatalf("a second UDP/53: %v, want ResourceInUse", err)
	}
	bad := udp
	bad.Port, bad.SourceRanges = 54, []string{"10.0.0.0/8"}
	if _, err := c.CreateListeners(ctx, &iaasclient.CreateListenersRequest{LoadBalancerID: lb.LoadBalancerID, Listeners: []iaasclient.ListenerSpec{bad}}); !errors.Is(err, iaasclient.ErrInvalidParameter) {
		t.Fatalf("source ranges: %v, want InvalidParameter", err)
	}
	dl, err := c.DeleteListeners(ctx, &iaasclient.DeleteListenersRequest{LoadBalancerID: lb.LoadBalancerID, ListenerIDs: []string{cl.ListenerIDs[0], "lbl-nosuch"}})
	if err != nil {
		t.Fatal(err)
	}
	wait(dl.TaskID)

	// Tags after creation (tag service), the name (ModifyLoadBalancerAttributes).
	name := "svc-renamed"
	if _, err := c.ModifyLoadBalancer(ctx, &iaasclient.ModifyLoadBalancerRequest{LoadBalancerID: lb.LoadBalancerID, Name: &name,
		Tags: map[string]string{"kube-iaas.io/cluster": "c1", "owner": "me"}}); err != nil {
		t.Fatal(err)
	}
	list, err = c.DescribeLoadBalancers(ctx, &iaasclient.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{lb.LoadBalancerID}})
	if err != nil || len(list.LoadBalancers) != 1 || list.LoadBalancers[0].Name != name || len(list.LoadBalancers[0].Listeners) != 1 ||
		!reflect.DeepEqual(list.LoadBalancers[0].Tags, map[string]string{"kube-iaas.io/cluster": "c1", "owner": "me"}) {
		t.Fatalf("after ModifyLoadBalancer: %+v, %v", list, err)
	}
	// A backend that is no instance's IP is refused before anything is written.
	stray := spec2
	stray.Backends = []iaasclient.Backend{{IP: "192.0.2.9", Port: 1, Weight: 10}}
	if _, err := c.ModifyListener(ctx, &iaasclient.ModifyListenerRequest{LoadBalancerID: lb.LoadBalancerID, ListenerID: l.ListenerID, Listener: stray}); !errors.Is(err, iaasclient.ErrInvalidParameter) {
		t.Fatalf("stray backend: %v, want InvalidParameter", err)
	}

	del, err := c.DeleteLoadBalancer(ctx, &iaasclient.DeleteLoadBalancerRequest{LoadBalancerID: lb.LoadBalancerID})
	if err != nil {
		t.Fatal(err)
	}
	wait(del.TaskID)
	if _, err := c.DeleteLoadBalancer(ctx, &iaasclient.DeleteLoadBalancerRequest{LoadBalancerID: lb.LoadBalancerID}); !errors.Is(err, iaasclient.ErrNotFound) {
		t.Fatalf("delete a deleted LB: %v, want NotFound", err)
	}
	if list, err := c.DescribeLoadBalancers(ctx, &iaasclient.DescribeLoadBalancersRequest{Tags: map[string]string{"kube-iaas.io/cluster": "c1"}}); err != nil || len(list.LoadBalancers) != 0 {
		t.Fatalf("after delete: %+v, %v", list, err)
	}
}
