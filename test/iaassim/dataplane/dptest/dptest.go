// Package dptest holds helpers for the data-plane tests: unique names, a bridge with
// netns instances, unreachable routes for the CIDRs a test uses, all removed in
// t.Cleanup even when the test fails.
//
// Address plan (shared with the other tests of the repository): instance bridges in
// 172.30.0.0/16, VIP pools in 172.31.0.0/16, pod CIDRs in 10.244.0.0/16; every test picks
// its own /24s so that tests may run in parallel.
package dptest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/netns"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/router"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// Prefix is the name prefix of everything this test process creates.
func Prefix() string { return fmt.Sprintf("kitest-%d-", os.Getpid()) }

// BridgeName is a unique bridge name of at most 15 bytes.
func BridgeName(tag string) string {
	n := fmt.Sprintf("kb%d%s", os.Getpid()%10000000, tag)
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// Backend creates a netns backend on a fresh bridge with subnet; tag tells the
// test's namespaces and bridge apart from those of other tests in the same process.
func Backend(t testing.TB, tag string, subnet string) *netns.Backend {
	t.Helper()
	testutil.RequireRoot(t)
	sweepStale()
	prefix := Prefix() + tag + "-"
	b, err := netns.New(netns.Config{Bridge: BridgeName(tag), Subnet: netip.MustParsePrefix(subnet), Prefix: prefix, Zone: "zone-a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		insts, _ := b.List(context.Background())
		for _, i := range insts {
			if err := b.Delete(i.Key); err != nil {
				t.Errorf("cleanup %s: %v", i.Key, err)
			}
		}
		if err := b.DeleteBridge(); err != nil {
			t.Errorf("cleanup bridge: %v", err)
		}
	})
	return b
}

// Instance creates a running instance called <prefix><name> on b.
func Instance(t testing.TB, b *netns.Backend, name string) (key string, ip netip.Addr) {
	t.Helper()
	inst, err := b.Create(b.Config().Prefix+name, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	return inst.Key, netip.MustParseAddr(inst.PrivateIPs[0])
}

// Unreachable installs unreachable routes for cidrs until the test ends, so that test
// traffic to an address without a route is dropped on this host (never sent out of the
// host's default route).
func Unreachable(t testing.TB, cidrs ...string) {
	t.Helper()
	var ps []netip.Prefix
	for _, c := range cidrs {
		ps = append(ps, netip.MustParsePrefix(c))
	}
	if err := router.EnsureUnreachable(router.DefaultProtocol, ps...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := router.RemoveUnreachable(router.DefaultProtocol, ps...); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// AddrOnLo adds addr/32 to lo inside ns: a "pod" address of the instance (this kernel
// has no dummy driver; for routing the effect is the same).
func AddrOnLo(t testing.TB, ns, addr string) {
	t.Helper()
	err := netns.Do(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		a, err := netlink.ParseAddr(addr + "/32")
		if err != nil {
			return err
		}
		return netlink.AddrAdd(lo, a)
	})
	if err != nil {
		t.Fatalf("pod address %s in %s: %v", addr, ns, err)
	}
}
