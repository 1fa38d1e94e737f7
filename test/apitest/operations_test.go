package apitest

import (
	"testing"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// TestEveryOperation calls every API action and the metadata endpoint at least once,
// checking the answers that matter to the CCM and the CSI driver.
func TestEveryOperation(t *testing.T) {
	s := startSim(t, "--task-delay=20ms")
	rec := newOpRecorder()
	c := s.client(func(cfg *ic.Config) { cfg.Observer = rec })
	ctx := t.Context()
	ids := instanceIDs(t, c)

	t.Run("Identity", func(t *testing.T) {
		node := s.client(func(cfg *ic.Config) { cfg.LocalAddr = "127.0.0.11"; cfg.Observer = rec })
		id := must[*ic.Identity](t, "Identity")(node.Identity(ctx))
		if id.InstanceID != ids["node-1"] || id.Zone != zoneA || id.Region != "sim-1" || id.PrivateIP != "127.0.0.11" {
			t.Fatalf("identity %+v", id)
		}
		// The caller's own address (an admin CIDR, no instance) has no identity.
		_, err := c.Identity(ctx)
		wantCode(t, "Identity from a non-instance", err, ic.CodeResourceNotFound)
	})

	t.Run("Instances", func(t *testing.T) {
		r := must[*ic.DescribeInstancesResponse](t, "DescribeInstances")(c.DescribeInstances(ctx, &ic.DescribeInstancesRequest{PrivateIPs: []string{"127.0.0.12"}}))
		if r.TotalCount != 1 || r.Instances[0].InstanceID != ids["node-2"] || r.Instances[0].State != ic.InstanceRunning {
			t.Fatalf("by private IP: %+v", r)
		}
		run(t, c, "StopInstances")(c.StopInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{ids["node-2"]}}))
		r = must[*ic.DescribeInstancesResponse](t, "DescribeInstances")(c.DescribeInstances(ctx, &ic.DescribeInstancesRequest{InstanceIDs: []string{ids["node-2"]}}))
		if r.Instances[0].State != ic.InstanceStopped {
			t.Fatalf("after stop: %s", r.Instances[0].State)
		}
		run(t, c, "StartInstances")(c.StartInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{ids["node-2"]}}))
		r = must[*ic.DescribeInstancesResponse](t, "DescribeInstances")(c.DescribeInstances(ctx, &ic.DescribeInstancesRequest{InstanceIDs: []string{ids["node-2"]}}))
		if r.Instances[0].State != ic.InstanceRunning {
			t.Fatalf("after start: %s", r.Instances[0].State)
		}
	})

	t.Run("Routes", func(t *testing.T) {
		vpcs := must[*ic.DescribeVpcsResponse](t, "DescribeVpcs")(c.DescribeVpcs(ctx, nil))
		if vpcs.TotalCount != 1 || vpcs.Vpcs[0].VpcID != vpcID {
			t.Fatalf("vpcs %+v", vpcs)
		}
		cr := must[*ic.CreateRoutesResponse](t, "CreateRoutes")(c.CreateRoutes(ctx, &ic.CreateRoutesRequest{RouteTableID: routeTableID, Routes: []ic.RouteSpec{
			{DestinationCidr: "10.244.1.0/24", NextHopInstanceID: ids["node-1"]},
			{DestinationCidr: "10.244.2.0/24", NextHopInstanceID: ids["node-2"]},
		}}))
		if len(cr.Routes) != 2 || cr.Routes[0].NextHopIP != "127.0.0.11" {
			t.Fatalf("routes %+v", cr.Routes)
		}
		_, err := c.CreateRoutes(ctx, &ic.CreateRoutesRequest{RouteTableID: routeTableID, Routes: []ic.RouteSpec{{DestinationCidr: "10.244.0.0/16", NextHopInstanceID: ids["node-3"]}}})
		wantCode(t, "overlapping route", err, ic.CodeResourceInUse)
		tables := must[[]ic.RouteTable](t, "DescribeAllRouteTables")(ic.DescribeAllRouteTables(ctx, c, ic.DescribeRouteTablesRequest{VpcID: vpcID}))
		if len(tables) != 1 || len(tables[0].Routes) != 2 {
			t.Fatalf("tables %+v", tables)
		}
		must[*ic.DeleteRoutesResponse](t, "DeleteRoutes")(c.DeleteRoutes(ctx, &ic.DeleteRoutesRequest{RouteTableID: routeTableID, RouteIDs: []string{cr.Routes[0].RouteID, cr.Routes[1].RouteID, "route-missing"}}))
		rt := must[*ic.DescribeRouteTablesResponse](t, "DescribeRouteTables")(c.DescribeRouteTables(ctx, &ic.DescribeRouteTablesRequest{RouteTableIDs: []string{routeTableID}}))
		if len(rt.RouteTables[0].Routes) != 0 {
			t.Fatalf("routes left: %+v", rt.RouteTables[0].Routes)
		}
	})

	t.Run("LoadBalancers", func(t *testing.T) {
		backends := []ic.Backend{{IP: "127.0.0.11", Port: 30080}, {IP: "127.0.0.12", Port: 30080}}
		lr := must[*ic.CreateLoadBalancerResponse](t, "CreateLoadBalancer")(c.CreateLoadBalancer(ctx, &ic.CreateLoadBalancerRequest{
			Name: "svc-a", Type: ic.LoadBalancerInternal, VpcID: vpcID, Tags: map[string]string{"cluster": "c1"},
			Listeners: []ic.ListenerSpec{{Protocol: ic.ProtocolTCP, Port: 80, Backends: backends}},
		}))
		if task := must[*ic.Task](t, "WaitTask")(c.WaitTask(ctx, lr.TaskID)); task.State != ic.TaskSucceeded {
			t.Fatalf("task %+v", task)
		}
		name := "svc-a-renamed"
		must[*ic.ModifyLoadBalancerResponse](t, "ModifyLoadBalancer")(c.ModifyLoadBalancer(ctx, &ic.ModifyLoadBalancerRequest{LoadBalancerID: lr.LoadBalancerID, Name: &name}))
		cl := must[*ic.CreateListenersResponse](t, "CreateListeners")(c.CreateListeners(ctx, &ic.CreateListenersRequest{LoadBalancerID: lr.LoadBalancerID,
			Listeners: []ic.ListenerSpec{{Protocol: ic.ProtocolUDP, Port: 53, Backends: backends}}}))
		must[*ic.Task](t, "WaitTask")(c.WaitTask(ctx, cl.TaskID))
		_, err := c.CreateListeners(ctx, &ic.CreateListenersRequest{LoadBalancerID: lr.LoadBalancerID, Listeners: []ic.ListenerSpec{{Protocol: ic.ProtocolTCP, Port: 80}}})
		wantCode(t, "listener port conflict", err, ic.CodeResourceInUse)
		run(t, c, "ModifyListener")(c.ModifyListener(ctx, &ic.ModifyListenerRequest{LoadBalancerID: lr.LoadBalancerID, ListenerID: cl.ListenerIDs[0],
			Listener: ic.ListenerSpec{Protocol: ic.ProtocolUDP, Port: 5353, Backends: backends[:1]}}))
		lbs := must[[]ic.LoadBalancer](t, "DescribeAllLoadBalancers")(ic.DescribeAllLoadBalancers(ctx, c, ic.DescribeLoadBalancersRequest{Tags: map[string]string{"cluster": "c1"}}))
		if len(lbs) != 1 || lbs[0].Name != name || lbs[0].State != ic.LoadBalancerActive || len(lbs[0].Listeners) != 2 || lbs[0].VIP == "" {
			t.Fatalf("load balancers %+v", lbs)
		}
		run(t, c, "DeleteListeners")(c.DeleteListeners(ctx, &ic.DeleteListenersRequest{LoadBalancerID: lr.LoadBalancerID, ListenerIDs: []string{cl.ListenerIDs[0]}}))
		run(t, c, "DeleteLoadBalancer")(c.DeleteLoadBalancer(ctx, &ic.DeleteLoadBalancerRequest{LoadBalancerID: lr.LoadBalancerID}))
		r := must[*ic.DescribeLoadBalancersResponse](t, "DescribeLoadBalancers")(c.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{lr.LoadBalancerID}}))
		if r.TotalCount != 0 {
			t.Fatalf("deleted load balancer still described: %+v", r.LoadBalancers)
		}
	})

	t.Run("Certificates", func(t *testing.T) {
		certPEM, keyPEM := testutil.SelfSigned(t, "web.example.com").PEM(t)
		_, err := c.UploadCertificate(ctx, &ic.UploadCertificateRequest{Name: "bad", CertificatePEM: "junk", PrivateKeyPEM: string(keyPEM)})
		wantCode(t, "upload of junk PEM", err, ic.CodeInvalidParameter)
		up := must[*ic.UploadCertificateResponse](t, "UploadCertificate")(c.UploadCertificate(ctx, &ic.UploadCertificateRequest{
			Name: "web", CertificatePEM: string(certPEM), PrivateKeyPEM: string(keyPEM), Tags: map[string]string{"ingress": "u1"}}))
		d := must[*ic.DescribeCertificatesResponse](t, "DescribeCertificates")(c.DescribeCertificates(ctx, &ic.DescribeCertificatesRequest{Tags: map[string]string{"ingress": "u1"}}))
		if d.TotalCount != 1 || d.Certificates[0].CertificateID != up.CertificateID || d.Certificates[0].Name != "web" || d.Certificates[0].NotAfter.IsZero() {
			t.Fatalf("certificates %+v", d.Certificates)
		}
		// An HTTPS listener with host and path rules names it; an unknown id is NotFound.
		https := ic.ListenerSpec{Protocol: ic.ProtocolHTTPS, Port: 443, CertificateID: up.CertificateID, Rules: []ic.L7Rule{
			{Host: "web.example.com", Path: "/api", PathType: ic.PathPrefix, Backends: []ic.Backend{{IP: "127.0.0.11", Port: 30081}}},
		}}
		bad := https
		bad.CertificateID = "cert-0123456789ab"
		_, err = c.CreateLoadBalancer(ctx, &ic.CreateLoadBalancerRequest{Name: "ing", Type: ic.LoadBalancerInternal, VpcID: vpcID, Listeners: []ic.ListenerSpec{bad}})
		wantCode(t, "HTTPS listener with an unknown certificate", err, ic.CodeResourceNotFound)
		lr := must[*ic.CreateLoadBalancerResponse](t, "CreateLoadBalancer L7")(c.CreateLoadBalancer(ctx, &ic.CreateLoadBalancerRequest{
			Name: "ing", Type: ic.LoadBalancerInternal, VpcID: vpcID, Listeners: []ic.ListenerSpec{https,
				{Protocol: ic.ProtocolHTTP, Port: 80, Backends: []ic.Backend{{IP: "127.0.0.12", Port: 30082}}}}}))
		if task := must[*ic.Task](t, "WaitTask")(c.WaitTask(ctx, lr.TaskID)); task.State != ic.TaskSucceeded {
			t.Fatalf("task %+v", task)
		}
		lbs := must[*ic.DescribeLoadBalancersResponse](t, "DescribeLoadBalancers")(c.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{lr.LoadBalancerID}}))
		if len(lbs.LoadBalancers) != 1 || len(lbs.LoadBalancers[0].Listeners) != 2 || len(lbs.LoadBalancers[0].Listeners[0].Rules) != 1 {
			t.Fatalf("L7 load balancer %+v", lbs.LoadBalancers)
		}
		_, err = c.DeleteCertificate(ctx, &ic.DeleteCertificateRequest{CertificateID: up.CertificateID})
		wantCode(t, "delete of a certificate in use", err, ic.CodeResourceInUse)
		run(t, c, "DeleteLoadBalancer L7")(c.DeleteLoadBalancer(ctx, &ic.DeleteLoadBalancerRequest{LoadBalancerID: lr.LoadBalancerID}))
		must[*ic.DeleteCertificateResponse](t, "DeleteCertificate")(c.DeleteCertificate(ctx, &ic.DeleteCertificateRequest{CertificateID: up.CertificateID}))
		_, err = c.DeleteCertificate(ctx, &ic.DeleteCertificateRequest{CertificateID: up.CertificateID})
		wantCode(t, "delete of a deleted certificate", err, ic.CodeResourceNotFound)
	})

	t.Run("Disks", func(t *testing.T) {
		cd := must[*ic.CreateDiskResponse](t, "CreateDisk")(c.CreateDisk(ctx, &ic.CreateDiskRequest{Name: "pv-1", Zone: zoneA, SizeGiB: 10, Tags: map[string]string{"pv": "pv-1"}}))
		must[*ic.Task](t, "WaitTask CreateDisk")(c.WaitTask(ctx, cd.TaskID))
		newName := "pv-1b"
		must[*ic.ModifyDiskResponse](t, "ModifyDisk")(c.ModifyDisk(ctx, &ic.ModifyDiskRequest{DiskID: cd.DiskID, Name: &newName}))
		run(t, c, "AttachDisk")(c.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: cd.DiskID, InstanceID: ids["node-1"]}))
		// Attaching again to the same instance converges; to another is refused.
		run(t, c, "AttachDisk again")(c.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: cd.DiskID, InstanceID: ids["node-1"]}))
		_, err := c.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: cd.DiskID, InstanceID: ids["node-2"]})
		wantCode(t, "attach elsewhere", err, ic.CodeResourceInUse)
		_, err = c.DetachDisk(ctx, &ic.DetachDiskRequest{DiskID: cd.DiskID, InstanceID: ids["node-2"]})
		wantCode(t, "detach from the wrong instance", err, ic.CodeResourceInUse)
		d := must[*ic.DescribeDisksResponse](t, "DescribeDisks")(c.DescribeDisks(ctx, &ic.DescribeDisksRequest{InstanceIDs: []string{ids["node-1"]}}))
		if d.TotalCount != 1 || d.Disks[0].State != ic.DiskAttached || d.Disks[0].Name != newName || d.Disks[0].DeviceSerial != cd.DiskID {
			t.Fatalf("attached disk %+v", d.Disks)
		}
		run(t, c, "ResizeDisk")(c.ResizeDisk(ctx, &ic.ResizeDiskRequest{DiskID: cd.DiskID, SizeGiB: 20}))
		cs := must[*ic.CreateSnapshotResponse](t, "CreateSnapshot")(c.CreateSnapshot(ctx, &ic.CreateSnapshotRequest{DiskID: cd.DiskID, Name: "snap-1"}))
		must[*ic.Task](t, "WaitTask CreateSnapshot")(c.WaitTask(ctx, cs.TaskID))
		snaps := must[[]ic.Snapshot](t, "DescribeAllSnapshots")(ic.DescribeAllSnapshots(ctx, c, ic.DescribeSnapshotsRequest{DiskIDs: []string{cd.DiskID}}))
		if len(snaps) != 1 || snaps[0].State != ic.SnapshotAvailable || snaps[0].SizeGiB != 20 {
			t.Fatalf("snapshots %+v", snaps)
		}
		_, err = c.DeleteDisk(ctx, &ic.DeleteDiskRequest{DiskID: cd.DiskID})
		wantCode(t, "delete attached", err, ic.CodeResourceInUse)
		// Stop fences the machine; a detach from a stopped instance is allowed.
		run(t, c, "StopInstances")(c.StopInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{ids["node-1"]}}))
		run(t, c, "DetachDisk")(c.DetachDisk(ctx, &ic.DetachDiskRequest{DiskID: cd.DiskID, InstanceID: ids["node-1"]}))
		run(t, c, "StartInstances")(c.StartInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{ids["node-1"]}}))
		restored := must[*ic.CreateDiskResponse](t, "CreateDisk from snapshot")(c.CreateDisk(ctx, &ic.CreateDiskRequest{Name: "pv-2", Zone: zoneA, SnapshotID: snaps[0].SnapshotID}))
		must[*ic.Task](t, "WaitTask restore")(c.WaitTask(ctx, restored.TaskID))
		disks := must[[]ic.Disk](t, "DescribeAllDisks")(ic.DescribeAllDisks(ctx, c, ic.DescribeDisksRequest{Zone: zoneA}))
		if len(disks) != 2 {
			t.Fatalf("disks %+v", disks)
		}
		for _, d := range disks {
			if d.DiskID == restored.DiskID && (d.SizeGiB != 20 || d.SnapshotID != snaps[0].SnapshotID) {
				t.Fatalf("restored disk %+v", d)
			}
			must[*ic.DeleteDiskResponse](t, "DeleteDisk")(c.DeleteDisk(ctx, &ic.DeleteDiskRequest{DiskID: d.DiskID}))
		}
		must[*ic.DeleteSnapshotResponse](t, "DeleteSnapshot")(c.DeleteSnapshot(ctx, &ic.DeleteSnapshotRequest{SnapshotID: snaps[0].SnapshotID}))
		_, err = c.DeleteDisk(ctx, &ic.DeleteDiskRequest{DiskID: cd.DiskID})
		wantCode(t, "delete twice", err, ic.CodeResourceNotFound)
	})

	t.Run("TasksAndQuotas", func(t *testing.T) {
		cd := must[*ic.CreateDiskResponse](t, "CreateDisk")(c.CreateDisk(ctx, &ic.CreateDiskRequest{Name: "q", Zone: zoneA, SizeGiB: 3}))
		tr := must[*ic.DescribeTaskResponse](t, "DescribeTask")(c.DescribeTask(ctx, &ic.DescribeTaskRequest{TaskID: cd.TaskID}))
		if tr.Task.TaskID != cd.TaskID || tr.Task.ResourceID != cd.DiskID || tr.Task.Action != ic.ActionCreateDisk {
			t.Fatalf("task %+v", tr.Task)
		}
		must[*ic.Task](t, "WaitTask")(c.WaitTask(ctx, cd.TaskID))
		q := must[*ic.DescribeQuotasResponse](t, "DescribeQuotas")(c.DescribeQuotas(ctx, nil))
		found := false
		for _, x := range q.Quotas {
			if x.Resource == "disks" {
				found = x.Used == 1 && x.Limit > 0
			}
		}
		if !found {
			t.Fatalf("quotas %+v", q.Quotas)
		}
		_, err := c.DescribeTask(ctx, &ic.DescribeTaskRequest{TaskID: "task-missing"})
		wantCode(t, "unknown task", err, ic.CodeResourceNotFound)
	})

	t.Run("Terminate", func(t *testing.T) {
		run(t, c, "TerminateInstances")(c.TerminateInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{ids["node-3"]}}))
		r := must[*ic.DescribeInstancesResponse](t, "DescribeInstances")(c.DescribeInstances(ctx, &ic.DescribeInstancesRequest{InstanceIDs: []string{ids["node-3"]}}))
		if r.TotalCount == 1 && r.Instances[0].State != ic.InstanceTerminated {
			t.Fatalf("after terminate: %+v", r.Instances)
		}
	})

	for _, op := range append([]string{ic.OperationIdentity}, ic.Actions...) {
		if rec.succeeded(op) == 0 {
			t.Errorf("operation %s never succeeded (calls: %s)", op, fmtCodes(rec.codes))
		}
	}
}
