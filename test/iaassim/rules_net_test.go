package iaassim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func routes(next string, cidrs ...string) []iaasclient.RouteSpec {
	var out []iaasclient.RouteSpec
	for _, c := range cidrs {
		out = append(out, iaasclient.RouteSpec{DestinationCidr: c, NextHopInstanceID: next})
	}
	return out
}

func tableRoutes(t *testing.T, e *env) []iaasclient.Route {
	r := must[iaasclient.DescribeRouteTablesResponse](t, e.alpha(), iaasclient.ActionDescribeRouteTables, iaasclient.DescribeRouteTablesRequest{RouteTableIDs: []string{"rtb-alpha"}})
	if len(r.RouteTables) != 1 {
		t.Fatalf("tables: %+v", r)
	}
	return r.RouteTables[0].Routes
}

func TestRouteRules(t *testing.T) {
	e := newEnv(t, 0)
	c := e.alpha()
	a1, a4 := instanceID(t, c, "127.0.0.11"), instanceID(t, c, "127.0.0.14")
	create := func(specs []iaasclient.RouteSpec) (*iaasclient.CreateRoutesResponse, error) {
		return call[iaasclient.CreateRoutesResponse](t, c, iaasclient.ActionCreateRoutes, iaasclient.CreateRoutesRequest{RouteTableID: "rtb-alpha", Routes: specs})
	}
	r, err := create(routes(a1, "10.244.0.0/24", "10.244.1.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Routes) != 2 || r.Routes[0].NextHopIP != "127.0.0.11" || !strings.HasPrefix(r.Routes[0].RouteID, "route-") {
		t.Fatalf("created: %+v", r.Routes)
	}
	for _, tc := range []struct {
		name  string
		specs []iaasclient.RouteSpec
		code  iaasclient.Code
		field string
	}{
		{"invalid", routes(a1, "10.250.0.0/24", "10.250.1.0/24", "bogus"), iaasclient.CodeInvalidParameter, "routes[2].destinationCidr"},
		{"host bits", routes(a1, "10.250.0.5/24"), iaasclient.CodeInvalidParameter, "routes[0].destinationCidr"},
		{"bad prefix length", routes(a1, "10.250.0.0/33"), iaasclient.CodeInvalidParameter, "routes[0].destinationCidr"},
		{"equal to existing", routes(a1, "10.250.0.0/24", "10.244.1.0/24"), iaasclient.CodeResourceInUse, "routes[1].destinationCidr"},
		{"inside existing", routes(a1, "10.244.0.128/25"), iaasclient.CodeResourceInUse, "routes[0].destinationCidr"},
		{"covers existing", routes(a1, "10.244.0.0/16"), iaasclient.CodeResourceInUse, "routes[0].destinationCidr"},
		{"overlap in batch", routes(a1, "10.250.0.0/24", "10.250.0.0/23"), iaasclient.CodeResourceInUse, "routes[1].destinationCidr"},
		{"other VPC", routes(a4, "10.250.0.0/24"), iaasclient.CodeInvalidParameter, "routes[0].nextHopInstanceId"},
		{"missing next hop", routes("ins-000000000000", "10.250.0.0/24"), iaasclient.CodeResourceNotFound, "routes[0].nextHopInstanceId"},
		{"empty next hop", routes("", "10.250.0.0/24"), iaasclient.CodeInvalidParameter, "routes[0].nextHopInstanceId"},
		{"none", nil, iaasclient.CodeInvalidParameter, "routes"},
		{"over limit", routes(a1, "10.250.0.0/24", "10.250.1.0/24", "10.250.2.0/24", "10.250.3.0/24"), iaasclient.CodeLimitExceeded, "routes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := create(tc.specs)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Errorf("error does not name %s: %v", tc.field, err)
			}
			if n := len(tableRoutes(t, e)); n != 2 {
				t.Errorf("a failed batch changed the table: %d routes", n)
			}
		})
	}
	_, err = call[iaasclient.CreateRoutesResponse](t, c, iaasclient.ActionCreateRoutes, iaasclient.CreateRoutesRequest{RouteTableID: "rtb-nope", Routes: routes(a1, "10.250.0.0/24")})
	wantCode(t, err, iaasclient.CodeResourceNotFound)
	if _, err := create(routes(a1, "10.250.0.0/24", "10.250.1.0/24", "10.250.2.0/24")); err != nil {
		t.Fatalf("up to the limit: %v", err)
	}
	_, err = create(routes(a1, "10.251.0.0/24"))
	wantCode(t, err, iaasclient.CodeLimitExceeded)

	// Delete: missing ids are ignored.
	must[iaasclient.DeleteRoutesResponse](t, c, iaasclient.ActionDeleteRoutes, iaasclient.DeleteRoutesRequest{RouteTableID: "rtb-alpha", RouteIDs: []string{r.Routes[0].RouteID, "route-000000000000"}})
	must[iaasclient.DeleteRoutesResponse](t, c, iaasclient.ActionDeleteRoutes, iaasclient.DeleteRoutesRequest{RouteTableID: "rtb-alpha", RouteIDs: []string{r.Routes[0].RouteID}})
	if n := len(tableRoutes(t, e)); n != 4 {
		t.Fatalf("after delete: %d routes", n)
	}
	// Routes survive a restart.
	e.restart()
	if n := len(tableRoutes(t, e)); n != 4 {
		t.Fatalf("after restart: %d routes", n)
	}
}

func lbListeners(specs ...string) []iaasclient.ListenerSpec {
	var out []iaasclient.ListenerSpec
	for _, s := range specs {
		proto, port, _ := strings.Cut(s, "/")
		p := 0
		for _, ch := range port {
			p = p*10 + int(ch-'0')
		}
		out = append(out, iaasclient.ListenerSpec{Protocol: iaasclient.Protocol(proto), Port: p,
			Backends: []iaasclient.Backend{{IP: "127.0.0.11", Port: 30080}}})
	}
	return out
}

func describeLB(t *testing.T, c interface{}, e *env, id string) iaasclient.LoadBalancer {
	t.Helper()
	r := must[iaasclient.DescribeLoadBalancersResponse](t, e.alpha(), iaasclient.ActionDescribeLoadBalancers, iaasclient.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{id}})
	if len(r.LoadBalancers) != 1 {
		t.Fatalf("lb %s: %+v", id, r)
	}
	return r.LoadBalancers[0]
}

func TestLoadBalancerRules(t *testing.T) {
	e := newEnv(t, 100*time.Millisecond)
	c := e.alpha()
	_, err := call[iaasclient.CreateLoadBalancerResponse](t, c, iaasclient.ActionCreateLoadBalancer, iaasclient.CreateLoadBalancerRequest{
		Name: "x", Type: iaasclient.LoadBalancerPublic, VpcID: "vpc-alpha", Listeners: lbListeners("TCP/80", "TCP/80")})
	wantCode(t, err, iaasclient.CodeResourceInUse)
	_, err = call[iaasclient.CreateLoadBalancerResponse](t, c, iaasclient.ActionCreateLoadBalancer, iaasclient.CreateLoadBalancerRequest{
		Name: "x", Type: "weird", VpcID: "vpc-alpha"})
	wantCode(t, err, iaasclient.CodeInvalidParameter)
	bad := lbListeners("TCP/80")
	bad[0].Backends[0].IP = "not-an-ip"
	_, err = call[iaasclient.CreateLoadBalancerResponse](t, c, iaasclient.ActionCreateLoadBalancer, iaasclient.CreateLoadBalancerRequest{
		Name: "x", Type: iaasclient.LoadBalancerPublic, VpcID: "vpc-alpha", Listeners: bad})
	wantCode(t, err, iaasclient.CodeInvalidParameter)
	if !strings.Contains(err.Error(), "listeners[0].backends[0].ip") {
		t.Errorf("error does not name the field: %v", err)
	}

	cr := must[iaasclient.CreateLoadBalancerResponse](t, c, iaasclient.ActionCreateLoadBalancer, iaasclient.CreateLoadBalancerRequest{
		Name: "web", Type: iaasclient.LoadBalancerPublic, VpcID: "vpc-alpha", Listeners: lbListeners("TCP/80", "UDP/80")})
	lb := describeLB(t, c, e, cr.LoadBalancerID)
	if lb.State != iaasclient.LoadBalancerCreating || lb.VIP == "" || len(lb.Listeners) != 2 {
		t.Fatalf("right after create: %+v", lb)
	}
	waitOK(t, c, cr.TaskID)
	if lb := describeLB(t, c, e, cr.LoadBalancerID); lb.State != iaasclient.LoadBalancerActive {
		t.Fatalf("after the task: %s", lb.State)
	}
	_, err = call[iaasclient.CreateListenersResponse](t, c, iaasclient.ActionCreateListeners, iaasclient.CreateListenersRequest{LoadBalancerID: cr.LoadBalancerID, Listeners: lbListeners("TCP/80")})
	wantCode(t, err, iaasclient.CodeResourceInUse)
	_, err = call[iaasclient.CreateListenersResponse](t, c, iaasclient.ActionCreateListeners, iaasclient.CreateListenersRequest{LoadBalancerID: cr.LoadBalancerID, Listeners: lbListeners("TCP/81", "TCP/82")})
	wantCode(t, err, iaasclient.CodeLimitExceeded) // 3 per load balancer

	// Tasks on one load balancer run in order; UPDATING until the last ends.
	cl := must[iaasclient.CreateListenersResponse](t, c, iaasclient.ActionCreateListeners, iaasclient.CreateListenersRequest{LoadBalancerID: cr.LoadBalancerID, Listeners: lbListeners("TCP/443")})
	spec := lbListeners("TCP/8443")[0]
	ml := must[iaasclient.TaskResponse](t, c, iaasclient.ActionModifyListener, iaasclient.ModifyListenerRequest{LoadBalancerID: cr.LoadBalancerID, ListenerID: cl.ListenerIDs[0], Listener: spec})
	if lb := describeLB(t, c, e, cr.LoadBalancerID); lb.State != iaasclient.LoadBalancerUpdating {
		t.Fatalf("with tasks queued: %s", lb.State)
	}
	spec.Port = 80
	_, err = call[iaasclient.TaskResponse](t, c, iaasclient.ActionModifyListener, iaasclient.ModifyListenerRequest{LoadBalancerID: cr.LoadBalancerID, ListenerID: cl.ListenerIDs[0], Listener: spec})
	wantCode(t, err, iaasclient.CodeResourceInUse)
	_, err = call[iaasclient.TaskResponse](t, c, iaasclient.ActionModifyListener, iaasclient.ModifyListenerRequest{LoadBalancerID: cr.LoadBalancerID, ListenerID: "lsn-000000000000", Listener: spec})
	wantCode(t, err, iaasclient.CodeResourceNotFound)
	t1, t2 := waitTask(t, c, cl.TaskID), waitTask(t, c, ml.TaskID)
	if t1.State != iaasclient.TaskSucceeded || t2.State != iaasclient.TaskSucceeded || t2.FinishedAt.Before(*t1.FinishedAt) {
		t.Fatalf("tasks: %+v %+v", t1, t2)
	}
	lb = describeLB(t, c, e, cr.LoadBalancerID)
	if lb.State != iaasclient.LoadBalancerActive || len(lb.Listeners) != 3 || lb.Listeners[2].Port != 8443 {
		t.Fatalf("after the tasks: %+v", lb)
	}
	dl := must[iaasclient.TaskResponse](t, c, iaasclient.ActionDeleteListeners, iaasclient.DeleteListenersRequest{LoadBalancerID: cr.LoadBalancerID, ListenerIDs: []string{cl.ListenerIDs[0], "lsn-000000000000"}})
	waitOK(t, c, dl.TaskID)

	name := "web2"
	must[iaasclient.ModifyLoadBalancerResponse](t, c, iaasclient.ActionModifyLoadBalancer, iaasclient.ModifyLoadBalancerRequest{LoadBalancerID: cr.LoadBalancerID, Name: &name, Tags: map[string]string{"svc": "a"}})
	r := must[iaasclient.DescribeLoadBalancersResponse](t, c, iaasclient.ActionDescribeLoadBalancers, iaasclient.DescribeLoadBalancersRequest{Tags: map[string]string{"svc": "a"}})
	if r.TotalCount != 1 || r.LoadBalancers[0].Name != "web2" || len(r.LoadBalancers[0].Listeners) != 2 {
		t.Fatalf("after modify: %+v", r)
	}

	// Quota of 3 load balancers; VIPs differ.
	vips := map[string]bool{lb.VIP: true}
	for range 2 {
		x := must[iaasclient.CreateLoadBalancerResponse](t, c, iaasclient.ActionCreateLoadBalancer, iaasclient.CreateLoadBalancerRequest{Name: "q", Type: iaasclient.LoadBalancerInternal, VpcID: "vpc-alpha"})
		v := describeLB(t, c, e, x.LoadBalancerID).VIP
		if vips[v] {
			t.Fatalf("VIP %s handed out twice", v)
		}
		vips[v] = true
	}
	_, err = call[iaasclient.CreateLoadBalancerResponse](t, c, iaasclient.ActionCreateLoadBalancer, iaasclient.CreateLoadBalancerRequest{Name: "q", Type: iaasclient.LoadBalancerInternal, VpcID: "vpc-alpha"})
	wantCode(t, err, iaasclient.CodeLimitExceeded)

	del := must[iaasclient.TaskResponse](t, c, iaasclient.ActionDeleteLoadBalancer, iaasclient.DeleteLoadBalancerRequest{LoadBalancerID: cr.LoadBalancerID})
	if lb := describeLB(t, c, e, cr.LoadBalancerID); lb.State != iaasclient.LoadBalancerDeleting {
		t.Fatalf("right after delete: %s", lb.State)
	}
	_, err = call[iaasclient.CreateListenersResponse](t, c, iaasclient.ActionCreateListeners, iaasclient.CreateListenersRequest{LoadBalancerID: cr.LoadBalancerID, Listeners: lbListeners("TCP/9")})
	wantCode(t, err, iaasclient.CodeResourceInUse)
	waitOK(t, c, del.TaskID)
	r = must[iaasclient.DescribeLoadBalancersResponse](t, c, iaasclient.ActionDescribeLoadBalancers, iaasclient.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{cr.LoadBalancerID}})
	if r.TotalCount != 0 {
		t.Fatalf("deleted load balancer still listed: %+v", r)
	}
	_, err = call[iaasclient.TaskResponse](t, c, iaasclient.ActionDeleteLoadBalancer, iaasclient.DeleteLoadBalancerRequest{LoadBalancerID: cr.LoadBalancerID})
	wantCode(t, err, iaasclient.CodeResourceNotFound)
}

func TestClientTokens(t *testing.T) {
	e := newEnv(t, 0)
	c := e.alpha()
	a1 := instanceID(t, c, "127.0.0.11")
	req := iaasclient.CreateDiskRequest{Name: "pv-1", Zone: "sim-1a", SizeGiB: 3, ClientToken: "tok-1"}
	first := must[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, req)
	again := must[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, req)
	if first.DiskID != again.DiskID || first.TaskID != again.TaskID || first.RequestID == again.RequestID {
		t.Fatalf("replay differs: %+v vs %+v", first, again)
	}
	req.SizeGiB = 4
	_, err := call[iaasclient.CreateDiskResponse](t, c, iaasclient.ActionCreateDisk, req)
	wantCode(t, err, iaasclient.CodeIdempotentParameterMismatch)
	// Tokens are per tenant and per action.
	b := must[iaasclient.CreateDiskResponse](t, e.beta(), iaasclient.ActionCreateDisk, iaasclient.CreateDiskRequest{Name: "pv-1", Zone: "sim-1a", SizeGiB: 4, ClientToken: "tok-1"})
	if b.DiskID == first.DiskID {
		t.Fatal("another tenant's token replayed")
	}
	waitOK(t, c, first.TaskID)
	sn := must[iaasclient.CreateSnapshotResponse](t, c, iaasclient.ActionCreateSnapshot, iaasclient.CreateSnapshotRequest{DiskID: first.DiskID, ClientToken: "tok-1"})
	if sn.SnapshotID == "" {
		t.Fatal("no snapshot")
	}
	if r := must[iaasclient.DescribeDisksResponse](t, c, iaasclient.ActionDescribeDisks, iaasclient.DescribeDisksRequest{}); r.TotalCount != 1 {
		t.Fatalf("replays created disks: %d", r.TotalCount)
	}

	// CreateRoutes replays the same routes instead of answering "overlaps".
	rr := iaasclient.CreateRoutesRequest{RouteTableID: "rtb-alpha", Routes: routes(a1, "10.244.7.0/24"), ClientToken: "rt-1"}
	r1 := must[iaasclient.CreateRoutesResponse](t, c, iaasclient.ActionCreateRoutes, rr)
	e.restart() // tokens are durable
	c = e.alpha()
	r2 := must[iaasclient.CreateRoutesResponse](t, c, iaasclient.ActionCreateRoutes, rr)
	if r1.Routes[0].RouteID != r2.Routes[0].RouteID {
		t.Fatalf("route replay: %+v vs %+v", r1.Routes, r2.Routes)
	}
	lbReq := iaasclient.CreateLoadBalancerRequest{Name: "svc", Type: iaasclient.LoadBalancerPublic, VpcID: "vpc-alpha", ClientToken: "lb-1", Listeners: lbListeners("TCP/80")}
	l1 := must[iaasclient.CreateLoadBalancerResponse](t, c, iaasclient.ActionCreateLoadBalancer, lbReq)
	l2 := must[iaasclient.CreateLoadBalancerResponse](t, c, iaasclient.ActionCreateLoadBalancer, lbReq)
	if l1.LoadBalancerID != l2.LoadBalancerID || l1.TaskID != l2.TaskID {
		t.Fatalf("lb replay: %+v vs %+v", l1, l2)
	}
	lbReq.Listeners[0].Port = 81
	_, err = call[iaasclient.CreateLoadBalancerResponse](t, c, iaasclient.ActionCreateLoadBalancer, lbReq)
	wantCode(t, err, iaasclient.CodeIdempotentParameterMismatch)
}
