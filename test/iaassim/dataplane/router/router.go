// Package router programs the VPC router of the simulated IaaS: the host's own routing
// table. Each route of the VPC route tables becomes `<destination> via <next hop> dev
// <bridge> proto <Protocol>`.
//
// Ownership: the router only ever changes routes that carry its protocol id AND whose
// destination lies inside one of its configured CIDRs, so it never touches the host's
// other routes nor those of another router instance (tests run several side by side).
//
// Safety: before any traffic, New installs an `unreachable` route for each configured
// CIDR exactly as configured (never a whole private range: the machine's DNS resolver
// lives in 10/8). A packet for a pod CIDR that has no route yet is then dropped here
// instead of following the host's default route out of eth0. Routes outside the
// configured CIDRs are refused for the same reason.
package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/hostfw"
)

// DefaultProtocol is the route protocol id of the simulator's routes (`proto 149` in
// `ip route`). 149 is unassigned in /etc/iproute2/rt_protos and by routing daemons.
const DefaultProtocol netlink.RouteProtocol = 149

// Config of a Router.
type Config struct {
	// Bridge is the link on which next hops are reachable.
	Bridge string
	// CIDRs are the exact VPC/cluster CIDRs routes may fall into; each gets an
	// unreachable route.
	CIDRs []netip.Prefix
	// Protocol marks the routes this router owns; 0 means DefaultProtocol.
	Protocol netlink.RouteProtocol
}

// Router implements dataplane.Router on the host's main routing table.
type Router struct {
	cfg       Config
	mu        sync.Mutex
	releaseFW func() error // undoes hostfw.Accept of the bridge
}

var _ dataplane.Router = (*Router)(nil)

// New turns the host into a router for the bridge (ip_forward on, ICMP redirects off,
// loose reverse-path filtering on the bridge) and installs the unreachable routes.
func New(cfg Config) (*Router, error) {
	if cfg.Bridge == "" {
		return nil, errors.New("router: a bridge is required")
	}
	if len(cfg.CIDRs) == 0 {
		return nil, errors.New("router: at least one VPC/cluster CIDR is required")
	}
	if cfg.Protocol == 0 {
		cfg.Protocol = DefaultProtocol
	}
	for i, c := range cfg.CIDRs {
		if !c.IsValid() || !c.Addr().Is4() {
			return nil, fmt.Errorf("router: %v is not an IPv4 CIDR", c)
		}
		cfg.CIDRs[i] = c.Masked()
	}
	if err := EnsureUnreachable(cfg.Protocol, cfg.CIDRs...); err != nil {
		return nil, err
	}
	if err := EnsureForwarding(cfg.Bridge); err != nil {
		return nil, err
	}
	// Routed pod traffic enters and leaves by the bridge: a FORWARD policy of DROP (left
	// by dockerd) must not eat it.
	release, err := hostfw.Accept(cfg.Bridge)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &Router{cfg: cfg, releaseFW: release}, nil
}

// EnsureForwarding makes the host route between the instances on bridge: ip_forward
// on; ICMP redirects off, because the host forwards out of the interface a packet came
// in by, and would otherwise tell the sender to talk to the next hop (or, for DNATed
// load-balancer traffic, to the backend) directly, which breaks the flat pod network;
// send_redirects is the OR of "all" and the device, so both go off. Loose rp_filter lets
// forwarded pod traffic in whose source (another node's pod address) has no route back
// via the bridge yet.
func EnsureForwarding(bridge string) error {
	set := map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                         "1",
		"/proc/sys/net/ipv4/conf/all/send_redirects":            "0",
		"/proc/sys/net/ipv4/conf/" + bridge + "/send_redirects": "0",
		"/proc/sys/net/ipv4/conf/" + bridge + "/rp_filter":      "2",
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := os.WriteFile(k, []byte(set[k]), 0o644); err != nil {
			return fmt.Errorf("router: sysctl %s: %w", k, err)
		}
	}
	return nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// EnsureUnreachable installs `unreachable <cidr> proto <proto>` for each cidr.
func EnsureUnreachable(proto netlink.RouteProtocol, cidrs ...netip.Prefix) error {
	for _, c := range cidrs {
		r := &netlink.Route{Dst: ipnet(c.Masked()), Type: unix.RTN_UNREACHABLE, Protocol: proto}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("router: unreachable %s: %w", c, err)
		}
	}
	klog.V(2).InfoS("Installed unreachable routes", "cidrs", cidrs)
	return nil
}

// RemoveUnreachable removes what EnsureUnreachable installed.
func RemoveUnreachable(proto netlink.RouteProtocol, cidrs ...netip.Prefix) error {
	var errs []error
	for _, c := range cidrs {
		r := &netlink.Route{Dst: ipnet(c.Masked()), Type: unix.RTN_UNREACHABLE, Protocol: proto}
		if err := netlink.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("router: remove unreachable %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// inScope reports whether dst lies inside a configured CIDR.
func (r *Router) inScope(dst netip.Prefix) bool {
	for _, c := range r.cfg.CIDRs {
		if c.Bits() <= dst.Bits() && c.Contains(dst.Addr()) {
			return true
		}
	}
	return false
}

// owned lists the unicast routes this router programmed.
func (r *Router) owned() (map[netip.Prefix]netlink.Route, error) {
	filter := &netlink.Route{Protocol: r.cfg.Protocol, Table: unix.RT_TABLE_MAIN}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("router: list routes: %w", err)
	}
	out := map[netip.Prefix]netlink.Route{}
	for _, rt := range routes {
		if rt.Dst == nil || rt.Type != unix.RTN_UNICAST {
			continue
		}
		ones, _ := rt.Dst.Mask.Size()
		a, _ := netip.AddrFromSlice(rt.Dst.IP.To4())
		p := netip.PrefixFrom(a, ones)
		if r.inScope(p) {
			out[p] = rt
		}
	}
	return out, nil
}

// Sync makes the host hold exactly routes (of this router's scope). Routes it cannot
// program (outside the configured CIDRs, next hop off the bridge) are skipped and
// reported in the returned error; the others are still programmed.
func (r *Router) Sync(ctx context.Context, routes []dataplane.RouteEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	br, err := netlink.LinkByName(r.cfg.Bridge)
	if err != nil {
		return fmt.Errorf("router: bridge %s: %w", r.cfg.Bridge, err)
	}
	var errs []error
	want := map[netip.Prefix]netip.Addr{}
	for _, e := range routes {
		dst, err := netip.ParsePrefix(e.DestinationCidr)
		if err != nil || !dst.Addr().Is4() {
			errs = append(errs, fmt.Errorf("route %q: not an IPv4 CIDR", e.DestinationCidr))
			continue
		}
		dst = dst.Masked()
		nh, err := netip.ParseAddr(e.NextHopIP)
		if err != nil || !nh.Is4() {
			errs = append(errs, fmt.Errorf("route %s: next hop %q is not an IPv4 address", dst, e.NextHopIP))
			continue
		}
		if !r.inScope(dst) {
			errs = append(errs, fmt.Errorf("route %s: outside the router's CIDRs %v, refused", dst, r.cfg.CIDRs))
			continue
		}
		if prev, ok := want[dst]; ok && prev != nh {
			errs = append(errs, fmt.Errorf("route %s: two next hops (%s, %s), keeping %s", dst, prev, nh, prev))
			continue
		}
		want[dst] = nh
	}
	have, err := r.owned()
	if err != nil {
		return err
	}
	for dst, nh := range want {
		if cur, ok := have[dst]; ok && cur.Gw != nil && cur.Gw.Equal(nh.AsSlice()) && cur.LinkIndex == br.Attrs().Index {
			continue
		}
		rt := &netlink.Route{Dst: ipnet(dst), Gw: nh.AsSlice(), LinkIndex: br.Attrs().Index, Protocol: r.cfg.Protocol}
		if err := netlink.RouteReplace(rt); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s: %w", dst, nh, err))
			continue
		}
		klog.InfoS("Programmed route", "destination", dst, "nextHop", nh, "bridge", r.cfg.Bridge)
	}
	for dst, rt := range have {
		if _, ok := want[dst]; ok {
			continue
		}
		if err := netlink.RouteDel(&rt); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove route %s: %w", dst, err))
			continue
		}
		klog.InfoS("Removed route", "destination", dst)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	return nil
}

// Teardown removes every route of this router, the unreachable ones included, and its
// iptables accept rules once no other user of the bridge in this process needs them
// (tests' clean-up; a simulator keeps all of it so that nothing leaks while it restarts).
func (r *Router) Teardown() error {
	err := r.Sync(context.Background(), nil)
	return errors.Join(err, RemoveUnreachable(r.cfg.Protocol, r.cfg.CIDRs...), r.releaseFW())
}
