package router_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/router"
)

const clusterCIDR = "10.244.16.0/20" // this test's own cluster CIDR

// Two instances with pod CIDRs reach each other's pod addresses (pod source to pod
// destination) only while the routes exist.
func TestRouterPodToPod(t *testing.T) {
	b := dptest.Backend(t, "rt", "172.30.2.0/24")
	r, err := router.New(router.Config{Bridge: b.Config().Bridge, CIDRs: []netip.Prefix{netip.MustParsePrefix(clusterCIDR)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Teardown(); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	a, aip := dptest.Instance(t, b, "a")
	c, cip := dptest.Instance(t, b, "c")
	aPod, cPod := "10.244.17.1", "10.244.18.1" // "pod" addresses in each pod CIDR
	dptest.AddrOnLo(t, a, aPod)
	dptest.AddrOnLo(t, c, cPod)
	l := dptest.Listen(t, c, "tcp", cPod+":9000")
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte("pong"))
			conn.Close()
		}
	}()
	reach := func() error {
		conn, err := dptest.Dial(a, "tcp", aPod, cPod+":9000", 500*time.Millisecond)
		if err != nil {
			return err
		}
		defer conn.Close()
		buf := make([]byte, 4)
		conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := conn.Read(buf); err != nil || string(buf) != "pong" {
			return errors.New("no pong")
		}
		return nil
	}
	if err := reach(); err == nil {
		t.Fatal("pod-to-pod works before any route exists")
	}
	routes := []dataplane.RouteEntry{
		{DestinationCidr: "10.244.17.0/24", NextHopIP: aip.String()},
		{DestinationCidr: "10.244.18.0/24", NextHopIP: cip.String()},
	}
	ctx := context.Background()
	if err := r.Sync(ctx, routes); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, routes); err != nil { // idempotent
		t.Fatal(err)
	}
	dptest.Eventually(t, 5*time.Second, "pod a -> pod c", reach)

	// A route outside the cluster CIDR (say, a default route) is refused, the rest kept.
	bad := append(routes, dataplane.RouteEntry{DestinationCidr: "0.0.0.0/0", NextHopIP: aip.String()})
	if err := r.Sync(ctx, bad); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("default route accepted: %v", err)
	}
	if err := reach(); err != nil {
		t.Fatalf("valid routes lost after a refused one: %v", err)
	}

	// Removing c's route cuts a -> c's pods (the reply would still come back, the
	// request cannot get there).
	if err := r.Sync(ctx, routes[:1]); err != nil {
		t.Fatal(err)
	}
	if err := reach(); err == nil {
		t.Fatal("pod-to-pod works after the route was deleted")
	}
	rs, _ := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: router.DefaultProtocol}, netlink.RT_FILTER_PROTOCOL)
	var got []string
	for _, rt := range rs {
		got = append(got, rt.Dst.String())
	}
	if !strings.Contains(strings.Join(got, ","), "10.244.17.0/24") || strings.Contains(strings.Join(got, ","), "10.244.18.0/24") {
		t.Fatalf("routes after partial delete: %v", got)
	}
	// Back again, then every route deleted, while a second router (another CIDR, the
	// same protocol id) keeps its route: each router touches only its own scope.
	other, err := router.New(router.Config{Bridge: b.Config().Bridge, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.48.0/20")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Teardown() })
	if err := other.Sync(ctx, []dataplane.RouteEntry{{DestinationCidr: "10.244.49.0/24", NextHopIP: aip.String()}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, routes); err != nil {
		t.Fatal(err)
	}
	dptest.Eventually(t, 5*time.Second, "pod a -> pod c again", reach)
	if err := r.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := reach(); err == nil {
		t.Fatal("pod-to-pod works after every route was deleted")
	}
	rs, _ = netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: router.DefaultProtocol}, netlink.RT_FILTER_PROTOCOL)
	kept := false
	for _, rt := range rs {
		kept = kept || (rt.Dst != nil && rt.Dst.String() == "10.244.49.0/24")
	}
	if !kept {
		t.Fatal("a router removed another router's route")
	}
}
