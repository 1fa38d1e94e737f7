// Package simtest runs the real iaas-sim binary with the real data plane (netns
// instances, host router, kernel load balancers, loop disks) and proves that the data
// plane comes back from the store after kill -9.
package simtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/router"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// This test's share of the address plan.
const (
	subnet      = "172.30.8.0/24"
	poolIntern  = "172.31.8.0/24"
	poolPublic  = "172.31.7.0/24"
	clusterCIDR = "10.244.32.0/20"
)

func config(prefix string) string {
	return fmt.Sprintf(`
region: sim-1
zones: [sim-1a]
loadBalancerPools: {internal: %s, public: %s}
tenants:
  - name: t1
    accessKeys: [{accessKeyId: AKT1, secretKey: t1-secret}]
    adminCidrs: [127.0.0.1/32]
    vpcs:
      - vpcId: vpc-t1
        name: main
        cidrBlock: %s
        routeTables: [{routeTableId: rtb-t1, name: default}]
instanceTenancy:
  - {namePrefix: %q, tenant: t1, vpcId: vpc-t1}
`, poolIntern, poolPublic, subnet, prefix)
}

func startSim(t *testing.T, lbMode, bridge, prefix, dataDir, table string) *simproc.Process {
	return simproc.Start(t, simproc.Options{ConfigYAML: []byte(config(prefix)), DataDir: dataDir, Args: []string{
		"--task-delay=0", "--instance-sync-interval=200ms",
		"--instance-backend=netns", "--netns-bridge=" + bridge, "--netns-subnet=" + subnet, "--netns-prefix=" + prefix,
		"--router=host", "--router-cidrs=" + clusterCIDR,
		"--lb=" + lbMode, "--lb-nft-table=" + table,
		"--disks=loop",
	}})
}

func client(t *testing.T, p *simproc.Process) *ic.Client {
	c, err := ic.New(ic.Config{Endpoint: p.APIURL, Credentials: ic.Credentials{AccessKeyID: "AKT1", SecretKey: "t1-secret"},
		AttemptTimeout: 5 * time.Second, MaxAttempts: 5, BackoffBase: 10 * time.Millisecond, BackoffCap: 100 * time.Millisecond,
		TaskPollInitial: 10 * time.Millisecond, TaskPollMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func wait(t *testing.T, c *ic.Client, taskID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitTask(ctx, taskID); err != nil {
		t.Fatalf("task %s: %v", taskID, err)
	}
}

// Routes, a load balancer (with an HTTPS layer-7 listener whose certificate the IaaS
// holds) and an attached disk made through the API survive kill -9 of
// the simulator (the kernel path keeps forwarding while it is down), and come back from
// the store after the host lost them all (as after a reboot); with the kernel load
// balancer and with the Go proxy.
func TestRestartRestoresDataPlane(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tool := range []string{"nft", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed")
		}
	}
	for _, mode := range []string{"kernel", "proxy"} {
		t.Run(mode, func(t *testing.T) { testRestart(t, mode) })
	}
}

func testRestart(t *testing.T, lbMode string) {
	ctx := context.Background()
	b := dptest.Backend(t, "sim", subnet)
	prefix := b.Config().Prefix
	table := fmt.Sprintf("kitest_%d_sim", os.Getpid())
	dataDir := filepath.Join(t.TempDir(), "data")
	var diskID string
	// What kill -9 leaves behind is removed here (the bridge, and the routes and VIPs on
	// it, go with dptest.Backend's cleanup, which runs after this one).
	t.Cleanup(func() {
		exec.Command("nft", "delete", "table", "ip", table).Run()
		var ps []netip.Prefix
		for _, c := range []string{clusterCIDR, poolIntern, poolPublic} {
			ps = append(ps, netip.MustParsePrefix(c))
		}
		router.RemoveUnreachable(router.DefaultProtocol, ps...)
		if diskID != "" {
			os.Remove("/dev/disk/by-id/iaas-" + diskID)
			if out, _ := exec.Command("losetup", "-n", "-O", "NAME", "-j", filepath.Join(dataDir, "disks", diskID+".img")).Output(); len(out) > 0 {
				exec.Command("losetup", "-d", strings.TrimSpace(string(out))).Run()
			}
		}
	})
	a, aIP := dptest.Instance(t, b, "a")
	c2, cIP := dptest.Instance(t, b, "c")
	cl, _ := dptest.Instance(t, b, "client")
	dptest.HTTPServer(t, a, ":8080", "a")
	dptest.HTTPServer(t, c2, ":8080", "c")
	dptest.AddrOnLo(t, a, "10.244.33.1")
	dptest.AddrOnLo(t, c2, "10.244.34.1")
	dptest.HTTPServer(t, c2, "10.244.34.1:9090", "pod-c")

	p := startSim(t, lbMode, b.Config().Bridge, prefix, dataDir, table)
	api := client(t, p)
	ids := map[string]string{}
	dptest.Eventually(t, 10*time.Second, "three instances listed", func() error {
		out, err := api.DescribeInstances(ctx, &ic.DescribeInstancesRequest{})
		if err != nil {
			return err
		}
		for _, in := range out.Instances {
			ids[in.Name] = in.InstanceID
		}
		if len(out.Instances) != 3 {
			return fmt.Errorf("%d instances", len(out.Instances))
		}
		return nil
	})
	if _, err := api.CreateRoutes(ctx, &ic.CreateRoutesRequest{RouteTableID: "rtb-t1", ClientToken: "r1", Routes: []ic.RouteSpec{
		{DestinationCidr: "10.244.33.0/24", NextHopInstanceID: ids[a]},
		{DestinationCidr: "10.244.34.0/24", NextHopInstanceID: ids[c2]},
	}}); err != nil {
		t.Fatal(err)
	}
	hc := &ic.HealthCheck{Protocol: ic.HealthCheckTCP, IntervalSeconds: 1, TimeoutSeconds: 1, HealthyThreshold: 1, UnhealthyThreshold: 1}
	backends := []ic.Backend{{IP: aIP.String(), Port: 8080}, {IP: cIP.String(), Port: 8080}}
	// An HTTPS listener (layer 7, always the Go proxy) with a certificate held by the
	// IaaS: host c.example.com goes to c only, other hosts to the default group a.
	tlsCert := testutil.SelfSigned(t, "c.example.com")
	certPEM, keyPEM := tlsCert.PEM(t)
	up, err := api.UploadCertificate(ctx, &ic.UploadCertificateRequest{Name: "web", CertificatePEM: string(certPEM), PrivateKeyPEM: string(keyPEM)})
	if err != nil {
		t.Fatal(err)
	}
	https := ic.ListenerSpec{Protocol: ic.ProtocolHTTPS, Port: 443, CertificateID: up.CertificateID, Backends: backends[:1], HealthCheck: hc,
		Rules: []ic.L7Rule{{Host: "c.example.com", Path: "/", PathType: ic.PathPrefix, Backends: backends[1:]}}}
	lbr, err := api.CreateLoadBalancer(ctx, &ic.CreateLoadBalancerRequest{Name: "web", Type: ic.LoadBalancerInternal, VpcID: "vpc-t1", ClientToken: "lb1",
		Listeners: []ic.ListenerSpec{
			{Protocol: ic.ProtocolTCP, Port: 80, Backends: backends, HealthCheck: hc},
			{Protocol: ic.ProtocolTCP, Port: 81, Backends: backends, HealthCheck: hc, ProxyProtocol: ic.ProxyProtocolNone, SessionAffinity: ic.SessionAffinityClientIP},
			https,
		}})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, api, lbr.TaskID)
	d, err := api.CreateDisk(ctx, &ic.CreateDiskRequest{Name: "data", Zone: "sim-1a", SizeGiB: 1, ClientToken: "d1"})
	if err != nil {
		t.Fatal(err)
	}
	diskID = d.DiskID
	wait(t, api, d.TaskID)
	at, err := api.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: diskID, InstanceID: ids[a]})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, api, at.TaskID)
	lbs, err := api.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{lbr.LoadBalancerID}})
	if err != nil || len(lbs.LoadBalancers) != 1 {
		t.Fatalf("describe LB: %v %v", lbs, err)
	}
	vip := lbs.LoadBalancers[0].VIP

	check := func(what string) {
		t.Helper()
		dptest.Eventually(t, 15*time.Second, what+": LB port 80", func() error {
			seen := map[string]bool{}
			for range 20 {
				body, err := dptest.HTTPGet(cl, "http://"+vip+"/", time.Second)
				if err != nil {
					return err
				}
				seen[body] = true
			}
			if !seen["a"] || !seen["c"] {
				return fmt.Errorf("answers %v", seen)
			}
			return nil
		})
		dptest.Eventually(t, 15*time.Second, what+": LB port 81", func() error {
			_, err := dptest.HTTPGet(cl, "http://"+vip+":81/", time.Second)
			return err
		})
		dptest.Eventually(t, 15*time.Second, what+": HTTPS listener by host", func() error {
			for host, want := range map[string]string{"c.example.com": "c", "other.example.com": "a"} {
				got, err := httpsGet(cl, vip, host, tlsCert.DER)
				if err != nil {
					return err
				}
				if got != want {
					return fmt.Errorf("Host %s: %q, want %q", host, got, want)
				}
			}
			return nil
		})
		dptest.Eventually(t, 15*time.Second, what+": pod a -> pod c", func() error {
			conn, err := dptest.Dial(a, "tcp", "10.244.33.1", "10.244.34.1:9090", time.Second)
			if err != nil {
				return err
			}
			conn.Close()
			return nil
		})
		dptest.Eventually(t, 15*time.Second, what+": disk device", func() error {
			st, err := os.Stat("/dev/disk/by-id/iaas-" + diskID)
			if err != nil {
				return err
			}
			if st.Mode()&os.ModeDevice == 0 {
				return errors.New("not a device")
			}
			return nil
		})
	}
	check("before the kill")
	t.Logf("serving: VIP %s, routes to 10.244.33.0/24 and 10.244.34.0/24, disk %s on %s", vip, diskID, ids[a])

	p.Kill()
	// The kernel path needs no process: the VIP keeps serving while the simulator is down.
	if body, err := dptest.HTTPGet(cl, "http://"+vip+"/", 2*time.Second); lbMode == "kernel" && err != nil {
		t.Fatalf("kernel LB stopped serving with the simulator down: %q %v", body, err)
	}
	// Now lose the data plane, as a reboot of the host would.
	exec.Command("nft", "delete", "table", "ip", table).Run()
	br, _ := netlink.LinkByName(b.Config().Bridge)
	vipAddr, _ := netlink.ParseAddr(vip + "/32")
	if err := netlink.AddrDel(br, vipAddr); err != nil {
		t.Fatal(err)
	}
	rs, _ := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: router.DefaultProtocol}, netlink.RT_FILTER_PROTOCOL)
	for _, r := range rs {
		if r.Dst != nil && strings.HasPrefix(r.Dst.String(), "10.244.3") {
			netlink.RouteDel(&r)
		}
	}
	os.Remove("/dev/disk/by-id/iaas-" + diskID)
	loop, _ := exec.Command("losetup", "-n", "-O", "NAME", "-j", filepath.Join(dataDir, "disks", diskID+".img")).Output()
	if len(loop) == 0 {
		t.Fatal("no loop device for the attached disk")
	}
	if out, err := exec.Command("losetup", "-d", strings.TrimSpace(string(loop))).CombinedOutput(); err != nil {
		t.Fatalf("losetup -d: %v %s", err, out)
	}
	if _, err := dptest.HTTPGet(cl, "http://"+vip+"/", time.Second); err == nil {
		t.Fatal("LB still serves after its data plane was removed")
	}

	startSim(t, lbMode, b.Config().Bridge, prefix, dataDir, table)
	check("after restart")
	t.Log("VIP, listeners, routes and the attachment are back after kill -9 and the loss of the data plane")
}

// httpsGet requests https://vip/ with host from inside ns and checks that the LB
// presented the uploaded certificate (leaf DER).
func httpsGet(ns, vip, host string, leaf []byte) (string, error) {
	tr := &http.Transport{
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return dptest.Dial(ns, network, "", addr, time.Second)
		},
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the leaf is compared below
		ForceAttemptHTTP2: true,
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+vip+"/", nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || !bytes.Equal(resp.TLS.PeerCertificates[0].Raw, leaf) {
		return "", errors.New("the LB did not present the uploaded certificate")
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}
