package lb_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/lb"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// A restart of the simulator must not take its load balancers down: the VIPs and the
// kernel rules a previous run left keep serving until the control plane has re-applied
// what it stores, and only then is a VIP no stored load balancer holds (one deleted
// while the simulator was down) removed.
func TestLoadBalancerSurvivesRestart(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		testutil.SkipOrFail(t, "nft is not installed (apt-get install nftables)")
	}
	b := dptest.Backend(t, "lr", "172.30.14.0/24")
	bridge := b.Config().Bridge
	srv, srvIP := dptest.Instance(t, b, "srv")
	cl, _ := dptest.Instance(t, b, "client")
	dptest.HTTPServer(t, srv, ":8080", "srv")
	cfg := lb.Config{Link: bridge, DialTimeout: time.Second, Kernel: true,
		NftTable: fmt.Sprintf("kitest_%d_restart", os.Getpid()),
		Pools:    map[iaasclient.LoadBalancerType]netip.Prefix{iaasclient.LoadBalancerInternal: netip.MustParsePrefix("172.31.15.0/24")}}
	ctx := context.Background()
	start := func() *lb.Manager {
		m, err := lb.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	spec := func(id, vip string) dataplane.LoadBalancerSpec {
		return dataplane.LoadBalancerSpec{LoadBalancerID: id, VIP: vip, Listeners: []iaasclient.Listener{
			listener("l-web", iaasclient.ProtocolTCP, 80, iaasclient.Backend{IP: srvIP.String(), Port: 8080})}}
	}
	kept, gone := "172.31.15.10", "172.31.15.11"

	first := start()
	for id, vip := range map[string]string{"lb-kept": kept, "lb-gone": gone} {
		if err := first.Apply(ctx, spec(id, vip)); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Restored(ctx); err != nil {
		t.Fatal(err)
	}
	serves := func(vip string) error {
		body, err := dptest.HTTPGet(cl, "http://"+vip+"/", 3*time.Second)
		if err == nil && body != "srv" {
			err = fmt.Errorf("body %q", body)
		}
		return err
	}
	dptest.Eventually(t, 10*time.Second, "both VIPs serve", func() error {
		if err := serves(kept); err != nil {
			return err
		}
		return serves(gone)
	})
	// A crash: the process ends without tearing anything down.
	if err := first.Close(false); err != nil {
		t.Fatal(err)
	}

	second := start()
	t.Cleanup(func() {
		if err := second.Close(true); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	for _, vip := range []string{kept, gone} {
		if err := serves(vip); err != nil {
			t.Fatalf("%s after the restart, before any Apply: %v", vip, err)
		}
	}
	// The control plane re-applies only what it still stores.
	if err := second.Apply(ctx, spec("lb-kept", kept)); err != nil {
		t.Fatal(err)
	}
	if err := serves(gone); err != nil {
		t.Fatalf("a load balancer not re-applied yet stopped serving mid-restore: %v", err)
	}
	if err := second.Restored(ctx); err != nil {
		t.Fatal(err)
	}
	if err := serves(kept); err != nil {
		t.Fatalf("%s after Restored: %v", kept, err)
	}
	if onLink(t, bridge, gone) {
		t.Errorf("VIP %s of a load balancer that was not restored is still on %s", gone, bridge)
	}
	if !onLink(t, bridge, kept) {
		t.Errorf("VIP %s of a restored load balancer is not on %s", kept, bridge)
	}
	if err := serves(gone); err == nil {
		t.Errorf("%s still answers after its load balancer was dropped", gone)
	}
}

func onLink(t *testing.T, link, ip string) bool {
	t.Helper()
	l, err := netlink.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.IP.Equal(net.ParseIP(ip)) {
			return true
		}
	}
	return false
}
