package lb

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// The kernel data path: listeners that need no byte of user space (no PROXY protocol)
// are nftables DNAT rules, one table owned by the Manager and rewritten whole in one
// atomic `nft -f` transaction on every change (Apply, Remove, a backend's health flip).
//
//   - New connections from allowed source ranges are DNATed to a healthy backend picked
//     by `numgen random mod <total weight>` (weights), or by `jhash ip saddr` (session
//     affinity CLIENT_IP: a client sticks to its backend as long as the healthy set is
//     unchanged; the affinity timeout is not used).
//   - A client outside the source ranges, or any client when no backend is healthy,
//     matches no rule and reaches the VIP's closed port: TCP RST, ICMP port unreachable.
//   - Replies return through the host because new flows are masqueraded to the bridge
//     address (`ct status dnat ct original ip daddr <VIPs>`), as kube-proxy does.
//   - Established flows live in conntrack, so a rewrite of the table never drops them;
//     removing a listener or a load balancer deletes its conntrack entries.
//
// Measured in test/bench/lb: this path runs at about direct speed; the Go proxy (used
// for PROXY protocol listeners, or everywhere when the kernel path is off) is on par
// with haproxy.

// kernelCapable reports whether a listener can be served by DNAT rules.
func kernelCapable(c *listenerConfig) bool { return !c.proxyV2 && c.l7 == nil }

// renderNft writes the whole table for the current load balancers.
func (m *Manager) renderNft() string {
	var rules []string
	var vips []string
	ids := make([]string, 0, len(m.lbs))
	for id := range m.lbs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		lb := m.lbs[id]
		vips = append(vips, lb.vip.String())
		lids := make([]string, 0, len(lb.listeners))
		for lid := range lb.listeners {
			lids = append(lids, lid)
		}
		sort.Strings(lids)
		for _, lid := range lids {
			l := lb.listeners[lid]
			if !l.kernel {
				continue
			}
			if r := l.nftRule(lb.vip); r != "" {
				rules = append(rules, r)
			}
		}
	}
	var b strings.Builder
	t := m.cfg.NftTable
	fmt.Fprintf(&b, "table ip %s {}\ndelete table ip %s\ntable ip %s {\n", t, t, t)
	for _, hook := range []struct{ name, hook string }{{"pre", "prerouting"}, {"out", "output"}} {
		fmt.Fprintf(&b, "  chain %s {\n    type nat hook %s priority -100; policy accept;\n", hook.name, hook.hook)
		for _, r := range rules {
			fmt.Fprintf(&b, "    %s\n", r)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("  chain post {\n    type nat hook postrouting priority 100; policy accept;\n")
	if len(vips) > 0 {
		fmt.Fprintf(&b, "    ct status dnat ct original ip daddr { %s } masquerade\n", strings.Join(vips, ", "))
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

// nftRule is the DNAT rule of one listener, "" when no backend is healthy.
func (l *listener) nftRule(vip netip.Addr) string {
	cfg := l.cfg.Load()
	type hb struct {
		key    string
		weight int
	}
	var healthy []hb
	total := 0
	for _, b := range cfg.backends {
		// The table is family ip: an IPv6 backend cannot be a DNAT target here.
		if l.health.healthy(b.key) && b.weight > 0 && b.addr.Addr().Is4() {
			healthy = append(healthy, hb{b.key, b.weight})
			total += b.weight
		}
	}
	if total == 0 {
		return ""
	}
	proto := strings.ToLower(string(cfg.spec.Protocol))
	var sb strings.Builder
	fmt.Fprintf(&sb, "ip daddr %s %s dport %d ", vip, proto, cfg.spec.Port)
	if len(cfg.ranges) > 0 {
		var rs []string
		for _, r := range cfg.ranges {
			if r.Addr().Is4() { // IPv6 ranges cannot match IPv4 clients
				rs = append(rs, r.String())
			}
		}
		if len(rs) == 0 {
			return "" // only IPv6 clients allowed: no IPv4 client may connect
		}
		fmt.Fprintf(&sb, "ip saddr { %s } ", strings.Join(rs, ", "))
	}
	if len(healthy) == 1 {
		fmt.Fprintf(&sb, "dnat ip to %s", healthy[0].key)
		return sb.String()
	}
	// Affinity hashes the client address over the weights; otherwise random by weight.
	sel := fmt.Sprintf("numgen random mod %d", total)
	if cfg.affinity {
		sel = fmt.Sprintf("jhash ip saddr mod %d seed 0x6b756265", total)
	}
	var elems []string
	lo := 0
	for _, h := range healthy {
		ap := netip.MustParseAddrPort(h.key)
		k := fmt.Sprint(lo)
		if h.weight > 1 {
			k = fmt.Sprintf("%d-%d", lo, lo+h.weight-1)
		}
		elems = append(elems, fmt.Sprintf("%s : %s . %d", k, ap.Addr(), ap.Port()))
		lo += h.weight
	}
	fmt.Fprintf(&sb, "dnat ip to %s map { %s }", sel, strings.Join(elems, ", "))
	return sb.String()
}

// syncNftLocked programs the table; m.mu is held.
func (m *Manager) syncNftLocked() error {
	if !m.cfg.Kernel || m.restoring {
		return nil
	}
	return nft(m.renderNft())
}

func nft(script string) error {
	cmd := exec.CommandContext(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lb: nft: %w: %s\n%s", err, strings.TrimSpace(out.String()), script)
	}
	return nil
}

// deleteNftTable removes the table (teardown).
func (m *Manager) deleteNftTable() error {
	if !m.cfg.Kernel {
		return nil
	}
	return nft(fmt.Sprintf("table ip %s {}\ndelete table ip %s\n", m.cfg.NftTable, m.cfg.NftTable))
}

// runSyncer reprograms the table after health changes, coalescing bursts.
func (m *Manager) runSyncer() {
	for range m.syncCh {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return
		}
		err := m.syncNftLocked()
		if err != nil {
			klog.ErrorS(err, "Reprogramming load balancer rules after a health change failed")
		}
		m.mu.Unlock()
		m.flushMu.Lock()
		fs := m.flushes
		m.flushes = nil
		m.flushMu.Unlock()
		if err == nil {
			for _, f := range fs {
				f.do()
			}
		}
	}
}

func (m *Manager) kickSync() {
	select {
	case m.syncCh <- struct{}{}:
	default:
	}
}

// udpFlush names the UDP flows of one backend behind VIP:port.
type udpFlush struct {
	vip     netip.Addr
	port    int
	backend netip.Addr
}

func (f udpFlush) do() {
	ct := &netlink.ConntrackFilter{}
	if ct.AddIP(netlink.ConntrackOrigDstIP, net.IP(f.vip.AsSlice())) != nil ||
		ct.AddIP(netlink.ConntrackReplySrcIP, net.IP(f.backend.AsSlice())) != nil ||
		ct.AddProtocol(unix.IPPROTO_UDP) != nil || ct.AddPort(netlink.ConntrackOrigDstPort, uint16(f.port)) != nil {
		return
	}
	n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, ct)
	if err != nil {
		klog.ErrorS(err, "Deleting UDP flows of a backend failed", "vip", f.vip, "port", f.port, "backend", f.backend)
		return
	}
	klog.V(2).InfoS("Moved UDP flows off a backend", "vip", f.vip, "port", f.port, "backend", f.backend, "flows", n)
}

// removedBackends lists the backends of old that next no longer has.
func removedBackends(vip netip.Addr, port int, old, next *listenerConfig) []udpFlush {
	keep := map[string]bool{}
	for _, b := range next.backends {
		keep[b.key] = true
	}
	var out []udpFlush
	for _, b := range old.backends {
		if !keep[b.key] {
			out = append(out, udpFlush{vip: vip, port: port, backend: b.addr.Addr()})
		}
	}
	return out
}

// flushConntrack ends the kernel flows of vip (and port/proto when given), so that a
// removed listener's established connections stop, as the Go proxy's do.
func flushConntrack(vip netip.Addr, proto iaasclient.Protocol, port int) {
	f := &netlink.ConntrackFilter{}
	if err := f.AddIP(netlink.ConntrackOrigDstIP, net.IP(vip.AsSlice())); err != nil {
		return
	}
	if port != 0 {
		p := uint8(unix.IPPROTO_TCP)
		if proto == iaasclient.ProtocolUDP {
			p = unix.IPPROTO_UDP
		}
		_ = f.AddProtocol(p)
		_ = f.AddPort(netlink.ConntrackOrigDstPort, uint16(port))
	}
	n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f)
	if err != nil {
		klog.ErrorS(err, "Deleting conntrack entries failed", "vip", vip, "port", port)
		return
	}
	klog.V(2).InfoS("Deleted conntrack entries", "vip", vip, "protocol", proto, "port", port, "count", n)
}
