package iaassim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// ids names one resource of each kind.
type ids struct {
	Instance, Disk, Snapshot, LB, Listener, RouteTable, Route, Task, Vpc, Cert string
}

var missing = ids{
	Instance: "ins-0123456789ab", Disk: "disk-0123456789ab", Snapshot: "snap-0123456789ab", LB: "lb-0123456789ab",
	Listener: "lsn-0123456789ab", RouteTable: "rtb-0123456789ab", Route: "route-0123456789ab", Task: "task-0123456789ab",
	Vpc: "vpc-0123456789ab", Cert: "cert-0123456789ab",
}

// requestFor is a request of action that names the resources of x.
func requestFor(action string, x ids) any {
	l := iaasclient.ListenerSpec{Protocol: "TCP", Port: 7000, Backends: []iaasclient.Backend{{IP: "127.0.0.11", Port: 30000}}}
	name := "n"
	switch action {
	case iaasclient.ActionDescribeInstances:
		return iaasclient.DescribeInstancesRequest{InstanceIDs: []string{x.Instance}}
	case iaasclient.ActionStartInstances, iaasclient.ActionStopInstances, iaasclient.ActionTerminateInstances:
		return iaasclient.InstancesRequest{InstanceIDs: []string{x.Instance}}
	case iaasclient.ActionDescribeVpcs:
		return iaasclient.DescribeVpcsRequest{VpcIDs: []string{x.Vpc}}
	case iaasclient.ActionDescribeRouteTables:
		return iaasclient.DescribeRouteTablesRequest{RouteTableIDs: []string{x.RouteTable}, VpcID: x.Vpc}
	case iaasclient.ActionCreateRoutes:
		return iaasclient.CreateRoutesRequest{RouteTableID: x.RouteTable, ClientToken: "tenancy", Routes: []iaasclient.RouteSpec{{DestinationCidr: "10.99.0.0/24", NextHopInstanceID: x.Instance}}}
	case iaasclient.ActionDeleteRoutes:
		return iaasclient.DeleteRoutesRequest{RouteTableID: x.RouteTable, RouteIDs: []string{x.Route}}
	case iaasclient.ActionCreateLoadBalancer:
		return iaasclient.CreateLoadBalancerRequest{Name: "t", Type: "public", VpcID: x.Vpc, ClientToken: "tenancy"}
	case iaasclient.ActionDescribeLoadBalancers:
		return iaasclient.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{x.LB}}
	case iaasclient.ActionModifyLoadBalancer:
		return iaasclient.ModifyLoadBalancerRequest{LoadBalancerID: x.LB, Name: &name}
	case iaasclient.ActionDeleteLoadBalancer:
		return iaasclient.DeleteLoadBalancerRequest{LoadBalancerID: x.LB}
	case iaasclient.ActionCreateListeners:
		return iaasclient.CreateListenersRequest{LoadBalancerID: x.LB, Listeners: []iaasclient.ListenerSpec{l}}
	case iaasclient.ActionModifyListener:
		return iaasclient.ModifyListenerRequest{LoadBalancerID: x.LB, ListenerID: x.Listener, Listener: l}
	case iaasclient.ActionDeleteListeners:
		return iaasclient.DeleteListenersRequest{LoadBalancerID: x.LB, ListenerIDs: []string{x.Listener}}
	case iaasclient.ActionCreateDisk:
		return iaasclient.CreateDiskRequest{Zone: "sim-1a", SnapshotID: x.Snapshot, ClientToken: "tenancy"}
	case iaasclient.ActionDescribeDisks:
		return iaasclient.DescribeDisksRequest{DiskIDs: []string{x.Disk}, InstanceIDs: []string{x.Instance}}
	case iaasclient.ActionDeleteDisk:
		return iaasclient.DeleteDiskRequest{DiskID: x.Disk}
	case iaasclient.ActionAttachDisk:
		return iaasclient.AttachDiskRequest{DiskID: x.Disk, InstanceID: x.Instance}
	case iaasclient.ActionDetachDisk:
		return iaasclient.DetachDiskRequest{DiskID: x.Disk, InstanceID: x.Instance}
	case iaasclient.ActionResizeDisk:
		return iaasclient.ResizeDiskRequest{DiskID: x.Disk, SizeGiB: 50}
	case iaasclient.ActionModifyDisk:
		return iaasclient.ModifyDiskRequest{DiskID: x.Disk, Name: &name}
	case iaasclient.ActionCreateSnapshot:
		return iaasclient.CreateSnapshotRequest{DiskID: x.Disk, ClientToken: "tenancy"}
	case iaasclient.ActionDescribeSnapshots:
		return iaasclient.DescribeSnapshotsRequest{SnapshotIDs: []string{x.Snapshot}, DiskIDs: []string{x.Disk}}
	case iaasclient.ActionDeleteSnapshot:
		return iaasclient.DeleteSnapshotRequest{SnapshotID: x.Snapshot}
	case iaasclient.ActionDescribeTask:
		return iaasclient.DescribeTaskRequest{TaskID: x.Task}
	case iaasclient.ActionDescribeQuotas:
		return iaasclient.DescribeQuotasRequest{}
	case iaasclient.ActionUploadCertificate:
		// Names no resource: the new certificate is the caller's. Without PEM it is
		// refused alike for everyone, which is all this matrix can compare.
		return iaasclient.UploadCertificateRequest{Name: "t", ClientToken: "tenancy"}
	case iaasclient.ActionDescribeCertificates:
		return iaasclient.DescribeCertificatesRequest{CertificateIDs: []string{x.Cert}}
	case iaasclient.ActionDeleteCertificate:
		return iaasclient.DeleteCertificateRequest{CertificateID: x.Cert}
	}
	return nil
}

var idPattern = regexp.MustCompile(`\b(ins|disk|snap|lb|lsn|rtb|route|task|vpc|cert)-[0-9a-z]+\b`)

// normalized is what an answer reveals, with request ids dropped and resource ids
// replaced by their kind, so answers about different ids compare equal.
func normalized(t *testing.T, r *simproc.Response) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer is not JSON: %s", r.Body)
	}
	delete(m, "requestId")
	if e, ok := m["error"].(map[string]any); ok {
		delete(e, "requestId")
	}
	b, _ := json.Marshal(m)
	return http.StatusText(r.Status) + " " + idPattern.ReplaceAllString(string(b), "$1-ID")
}

// setupTenancy creates one resource of each kind for alpha and returns their ids, and
// beta's own resources.
func setupTenancy(t *testing.T, e *env) (alpha, beta ids) {
	c := e.alpha()
	alpha.Instance = instanceID(t, c, "127.0.0.11")
	alpha.Vpc, alpha.RouteTable = "vpc-alpha", "rtb-alpha"
	alpha.Disk = createDisk(t, c, "sim-1a", 5)
	at := must[iaasclient.TaskResponse](t, c, "AttachDisk", iaasclient.AttachDiskRequest{DiskID: alpha.Disk, InstanceID: alpha.Instance})
	waitOK(t, c, at.TaskID)
	sn := must[iaasclient.CreateSnapshotResponse](t, c, "CreateSnapshot", iaasclient.CreateSnapshotRequest{DiskID: alpha.Disk})
	waitOK(t, c, sn.TaskID)
	alpha.Snapshot, alpha.Task = sn.SnapshotID, sn.TaskID
	lb := must[iaasclient.CreateLoadBalancerResponse](t, c, "CreateLoadBalancer", iaasclient.CreateLoadBalancerRequest{Name: "a", Type: "public", VpcID: "vpc-alpha", Listeners: lbListeners("TCP/80")})
	waitOK(t, c, lb.TaskID)
	alpha.LB = lb.LoadBalancerID
	alpha.Listener = describeLB(t, c, e, lb.LoadBalancerID).Listeners[0].ListenerID
	rt := must[iaasclient.CreateRoutesResponse](t, c, "CreateRoutes", iaasclient.CreateRoutesRequest{RouteTableID: "rtb-alpha", Routes: routes(alpha.Instance, "10.244.0.0/24")})
	alpha.Route = rt.Routes[0].RouteID
	certPEM, keyPEM := testutil.SelfSigned(t, "a.example.com").PEM(t)
	cert := must[iaasclient.UploadCertificateResponse](t, c, "UploadCertificate", iaasclient.UploadCertificateRequest{Name: "a", CertificatePEM: string(certPEM), PrivateKeyPEM: string(keyPEM)})
	alpha.Cert = cert.CertificateID

	b := e.beta()
	beta.Instance = instanceID(t, b, "127.0.0.21")
	beta.Vpc, beta.RouteTable = "vpc-beta", "rtb-beta"
	beta.Disk = createDisk(t, b, "sim-1a", 5)
	return alpha, beta
}

// alphaView is everything alpha can see, to prove refused requests changed nothing.
func alphaView(t *testing.T, e *env) string {
	c := e.client(alphaCreds, ipAdmin)
	var parts []string
	for _, a := range []string{"DescribeInstances", "DescribeRouteTables", "DescribeLoadBalancers", "DescribeDisks", "DescribeSnapshots", "DescribeQuotas", "DescribeCertificates"} {
		r, err := c.Do(context.Background(), a, struct{}{})
		if err != nil || r.Status != 200 {
			t.Fatalf("%s: %v %v", a, err, r)
		}
		parts = append(parts, normalized(t, r))
	}
	return strings.Join(parts, "\n")
}

func TestTenancyMatrix(t *testing.T) {
	e := newEnv(t, 0)
	alpha, beta := setupTenancy(t, e)
	before := alphaView(t, e)
	alphaIDs := []string{alpha.Instance, alpha.Disk, alpha.Snapshot, alpha.LB, alpha.Listener, alpha.Route, alpha.Task, alpha.Vpc, alpha.RouteTable, alpha.Cert}

	spoofed := e.client(alphaCreds, ipUnknown)
	spoofed.Header = http.Header{
		"X-Forwarded-For": {"127.0.0.11"}, "X-Real-Ip": {"127.0.0.11"}, "Forwarded": {"for=127.0.0.11"},
		"True-Client-Ip": {"127.0.0.11"}, "X-Client-Ip": {"127.0.0.11"},
	}
	// Issue 15: a machine of beta's that the backend discovers inside alpha's admin CIDR
	// makes that address nobody's (an address maps to at most one tenant).
	ipConflict := addConflictingMachine(t, e)
	// Issue 15: the query string is signed, so one added after signing is refused.
	withQuery := e.client(alphaCreds, ipAdmin)
	withQuery.AfterSign = func(r *http.Request) { r.URL.RawQuery = "instanceIds=" + alpha.Instance }
	// Issue 15: one nonce rule, 16-128 of A-Za-z0-9-_, even when the signature is right.
	shortNonce := e.client(alphaCreds, ipAdmin)
	shortNonce.Nonce = strings.Repeat("a", 15)
	badNonce := e.client(alphaCreds, ipAdmin)
	badNonce.Nonce = "0123456789abcdef."
	refused := []struct {
		name string
		c    *simproc.RawClient
	}{
		{"alpha's credentials from beta's instance", e.client(alphaCreds, ipB1)},
		{"alpha's credentials from an unknown address", e.client(alphaCreds, ipUnknown)},
		{"beta's credentials from alpha's instance", e.client(betaCreds, ipA1)},
		{"beta's credentials from alpha's admin CIDR", e.client(betaCreds, ipAdmin)},
		{"alpha's credentials with spoofed forwarding headers", spoofed},
		{"alpha's credentials from its admin CIDR where beta's machine was discovered", e.client(alphaCreds, ipConflict)},
		{"beta's credentials from its machine inside alpha's admin CIDR", e.client(betaCreds, ipConflict)},
		{"alpha's credentials with a query string added after signing", withQuery},
		{"alpha's credentials with a 15-character nonce", shortNonce},
		{"alpha's credentials with a nonce outside A-Za-z0-9-_", badNonce},
	}
	for _, action := range iaasclient.Actions {
		t.Run(action, func(t *testing.T) {
			for _, rc := range refused {
				real, err := rc.c.Do(context.Background(), action, requestFor(action, alpha))
				if err != nil {
					t.Fatal(err)
				}
				if real.Status != http.StatusForbidden || real.Err().Code != iaasclient.CodeUnauthorizedOperation {
					t.Fatalf("%s: got %d %s", rc.name, real.Status, real.Body)
				}
				fake, err := rc.c.Do(context.Background(), action, requestFor(action, missing))
				if err != nil {
					t.Fatal(err)
				}
				if a, b := normalized(t, real), normalized(t, fake); a != b {
					t.Fatalf("%s: the refusal differs for existing and missing ids:\n%s\n%s", rc.name, a, b)
				}
			}
			// Beta, properly authenticated, naming alpha's resources: exactly like
			// naming resources that do not exist.
			b := e.beta()
			real, err := b.Do(context.Background(), action, requestFor(action, alpha))
			if err != nil {
				t.Fatal(err)
			}
			fake, err := b.Do(context.Background(), action, requestFor(action, missing))
			if err != nil {
				t.Fatal(err)
			}
			if x, y := normalized(t, real), normalized(t, fake); x != y {
				t.Fatalf("beta naming alpha's resources differs from naming missing ones:\n%s\n%s", x, y)
			}
			if real.Status == http.StatusOK && action != iaasclient.ActionDescribeQuotas && !strings.HasPrefix(action, "Describe") {
				t.Fatalf("beta's %s on alpha's resources succeeded: %s", action, real.Body)
			}
			if real.Status == http.StatusOK { // errors echo the id the caller gave; results must not
				for _, id := range alphaIDs {
					if strings.Contains(string(real.Body), id) {
						t.Fatalf("the answer to beta reveals alpha's %s: %s", id, real.Body)
					}
				}
			}
		})
	}
	// Beta's own resources combined with alpha's: like combined with missing ones.
	for _, action := range []string{"CreateRoutes", "AttachDisk", "DetachDisk", "DescribeDisks", "DescribeInstances"} {
		mixed, mixedMissing := beta, beta
		mixed.Instance, mixedMissing.Instance = alpha.Instance, missing.Instance
		b := e.beta()
		real, err1 := b.Do(context.Background(), action, requestFor(action, mixed))
		fake, err2 := b.Do(context.Background(), action, requestFor(action, mixedMissing))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if x, y := normalized(t, real), normalized(t, fake); x != y {
			t.Errorf("%s: beta's resource with alpha's instance differs from with a missing one:\n%s\n%s", action, x, y)
		}
	}
	// Beta's own view never shows alpha's resources.
	bc := e.beta()
	for _, a := range []string{"DescribeInstances", "DescribeVpcs", "DescribeRouteTables", "DescribeLoadBalancers", "DescribeDisks", "DescribeSnapshots"} {
		r, _ := bc.Do(context.Background(), a, struct{}{})
		for _, id := range alphaIDs {
			if strings.Contains(string(r.Body), id) {
				t.Errorf("%s shows beta alpha's %s", a, id)
			}
		}
	}
	if !strings.Contains(string(must2(t, bc, "DescribeDisks")), beta.Disk) {
		t.Error("beta does not see its own disk")
	}
	if after := alphaView(t, e); after != before {
		t.Fatalf("refused requests changed alpha's resources:\nbefore %s\nafter  %s", before, after)
	}
}

func must2(t *testing.T, c *simproc.RawClient, action string) []byte {
	r, err := c.Do(context.Background(), action, struct{}{})
	if err != nil || r.Status != 200 {
		t.Fatalf("%s: %v %+v", action, err, r)
	}
	return r.Body
}

func TestMetadataTenancy(t *testing.T) {
	e := newEnv(t, 0)
	get := func(src string, hdr http.Header) *simproc.Response {
		c := e.client(iaasclient.Credentials{}, mustAddr(src))
		c.Header = hdr
		r, err := c.Get(context.Background(), iaasclient.MetadataIdentityPath)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := get("127.0.0.11", nil)
	var id iaasclient.Identity
	if err := json.Unmarshal(r.Body, &id); err != nil || r.Status != 200 || id.Name != "a1" || id.Zone != "sim-1a" || id.Region != "sim-1" || id.PrivateIP != "127.0.0.11" || id.MaxDisks != 2 || id.VpcID != "vpc-alpha" {
		t.Fatalf("a1's identity: %d %s", r.Status, r.Body)
	}
	r = get("127.0.0.21", http.Header{"X-Forwarded-For": {"127.0.0.11"}})
	if err := json.Unmarshal(r.Body, &id); err != nil || id.Name != "b1" {
		t.Fatalf("b1 with a spoofed header got: %s", r.Body)
	}
	for _, src := range []string{"127.0.0.99", "127.0.1.7"} {
		r = get(src, http.Header{"X-Forwarded-For": {"127.0.0.11"}, "X-Real-Ip": {"127.0.0.11"}, "Forwarded": {"for=127.0.0.11"}})
		if r.Status != http.StatusNotFound || r.Err().Code != iaasclient.CodeResourceNotFound || strings.Contains(string(r.Body), `"a1"`) || strings.Contains(string(r.Body), "ins-") {
			t.Fatalf("from %s: %d %s", src, r.Status, r.Body)
		}
	}
	// Terminated instances have no identity.
	c := e.alpha()
	a3 := instanceID(t, c, "127.0.0.13")
	tr := must[iaasclient.TaskResponse](t, c, "TerminateInstances", iaasclient.InstancesRequest{InstanceIDs: []string{a3}})
	waitOK(t, c, tr.TaskID)
	if r := get("127.0.0.13", nil); r.Status != http.StatusNotFound {
		t.Fatalf("terminated instance: %d %s", r.Status, r.Body)
	}
}

// addConflictingMachine makes the static backend report a machine of beta's at an
// address in alpha's admin CIDR, as a discovering backend (docker, netns) would, without
// the admin API's check, and syncs. It returns the address.
func addConflictingMachine(t *testing.T, e *env) netip.Addr {
	t.Helper()
	ip := "127.0.1.8"
	if err := e.backend.Add(iaassim.StaticEntry(iaassim.StaticInstanceConfig{Key: "b-intruder", Name: "b-intruder", Tenant: "beta", VpcID: "vpc-beta", PrivateIPs: []string{ip}})); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, e.admin.URL+"/admin/v1/instances/b-intruder/state", strings.NewReader(`{"state":"RUNNING"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("syncing the machine: %d", resp.StatusCode)
	}
	if metric(t, e.admin.URL, "iaas_sim_address_conflicts") != "1" {
		t.Fatal("the conflict is not counted")
	}
	return mustAddr(ip)
}
