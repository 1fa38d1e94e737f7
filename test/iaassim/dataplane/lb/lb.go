// Package lb is the load-balancer data plane of the simulated IaaS: a user-space layer-4
// proxy. Each load balancer's VIP is a /32 address on the instances' bridge (taken from
// the pool of its type); each listener is a TCP or UDP socket bound to VIP:port that
// forwards to the listener's backends by weight, skipping backends that the active
// health checks found unhealthy, honouring source ranges, session affinity CLIENT_IP and
// PROXY protocol v2.
//
// Why a Go proxy and not nftables DNAT: health-aware selection, affinity, source ranges
// and PROXY protocol are each a few lines here, and TCPConn-to-TCPConn copies use
// splice(2). See test/bench/lb for the measured cost against direct and haproxy.
package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/hostfw"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/router"
)

// Config of the load-balancer data plane.
type Config struct {
	// Link is the interface that holds the VIPs (the instances' bridge).
	Link string
	// Pools are the VIP subnets per load-balancer type. Each gets an unreachable route,
	// so a packet for a VIP that is not (or no longer) served is dropped on this host.
	Pools map[iaasclient.LoadBalancerType]netip.Prefix
	// DialTimeout bounds a connection attempt to one backend (default 3s).
	DialTimeout time.Duration
	// UDPIdleTimeout ends a UDP session without traffic (default 60s).
	UDPIdleTimeout time.Duration
	// Kernel serves listeners without PROXY protocol by nftables DNAT (see nft.go)
	// instead of the Go proxy; it needs the nft command (Debian package nftables).
	Kernel bool
	// NftTable is the nftables table (family ip) the Manager owns; default
	// "kube_iaas_lb". Two Managers on one host need two tables.
	NftTable string
}

// Manager implements dataplane.LoadBalancers.
type Manager struct {
	cfg    Config
	mu     sync.Mutex
	lbs    map[string]*loadBalancer
	syncCh chan struct{}
	closed bool
	// restoring holds back nftables rewrites from New until Restored: the table is
	// rewritten whole from m.lbs, so a rewrite after the first re-applied load balancer
	// would drop the rules of every one not re-applied yet.
	restoring bool

	flushMu sync.Mutex
	flushes []udpFlush // kernel UDP flows to end after the next rule rewrite

	releaseFW func() error // undoes hostfw.Accept of the link
}

type loadBalancer struct {
	vip       netip.Addr
	listeners map[string]*listener
}

var _ dataplane.LoadBalancers = (*Manager)(nil)

// New checks cfg and installs the pools' unreachable routes.
func New(cfg Config) (*Manager, error) {
	if cfg.Link == "" {
		return nil, errors.New("lb: the VIP link is required")
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.UDPIdleTimeout == 0 {
		cfg.UDPIdleTimeout = 60 * time.Second
	}
	var pools []netip.Prefix
	for t, p := range cfg.Pools {
		if !p.IsValid() || !p.Addr().Is4() {
			return nil, fmt.Errorf("lb: pool %s: %v is not an IPv4 prefix", t, p)
		}
		pools = append(pools, p.Masked())
	}
	if err := router.EnsureUnreachable(router.DefaultProtocol, pools...); err != nil {
		return nil, err
	}
	// DNATed flows (kernel path) and clients on the bridge are forwarded by the host: a
	// FORWARD policy of DROP (left by dockerd) must not eat them.
	release, err := hostfw.Accept(cfg.Link)
	if err != nil {
		return nil, fmt.Errorf("lb: %w", err)
	}
	// What a previous run left (VIPs on the link, the nftables table) keeps serving
	// while the control plane restarts, as a cloud's load balancers outlive a restart of
	// its API; Restored drops what no re-applied load balancer owns.
	m := &Manager{cfg: cfg, lbs: map[string]*loadBalancer{}, syncCh: make(chan struct{}, 1), releaseFW: release, restoring: true}
	if cfg.Kernel {
		if cfg.NftTable == "" {
			m.cfg.NftTable = "kube_iaas_lb"
		}
		if _, err := exec.LookPath("nft"); err != nil {
			release()
			return nil, fmt.Errorf("lb: the kernel data path needs nft (Debian package nftables): %w", err)
		}
		// DNATed flows are forwarded by the host, in and out of the same bridge.
		if err := router.EnsureForwarding(cfg.Link); err != nil {
			release()
			return nil, err
		}
		go m.runSyncer()
	}
	return m, nil
}

func (m *Manager) AllocateVIP(t iaasclient.LoadBalancerType, requested string, inUse []string) (string, error) {
	return dataplane.AllocateFromPool(m.cfg.Pools[t], requested, inUse)
}

func (m *Manager) inPool(a netip.Addr) bool {
	for _, p := range m.cfg.Pools {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func vipAddr(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}
}

// Restored ends start-up: the control plane has re-applied every load balancer it
// still has, so pool addresses on the link that none of them holds (a load balancer
// deleted while the simulator was down) are removed, and the kernel rules are rewritten
// for exactly the applied ones.
func (m *Manager) Restored(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("lb: the load balancer data plane is closed")
	}
	m.restoring = false
	m.pruneVIPsLocked()
	return m.syncNftLocked()
}

// pruneVIPsLocked removes pool addresses on the link that no load balancer holds.
func (m *Manager) pruneVIPsLocked() {
	held := map[netip.Addr]bool{}
	for _, lb := range m.lbs {
		held[lb.vip] = true
	}
	link, err := netlink.LinkByName(m.cfg.Link)
	if err != nil {
		return
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if ones, _ := a.Mask.Size(); !ok || ones != 32 || !m.inPool(ip) || held[ip] {
			continue
		}
		if err := netlink.AddrDel(link, &a); err == nil {
			klog.InfoS("Removed a VIP no load balancer holds", "vip", ip, "link", m.cfg.Link)
		}
	}
}

func (m *Manager) addVIP(a netip.Addr) error {
	link, err := netlink.LinkByName(m.cfg.Link)
	if err != nil {
		return fmt.Errorf("lb: VIP link %s: %w", m.cfg.Link, err)
	}
	if err := netlink.AddrReplace(link, vipAddr(a)); err != nil {
		return fmt.Errorf("lb: add VIP %s: %w", a, err)
	}
	return nil
}

func (m *Manager) delVIP(a netip.Addr) error {
	link, err := netlink.LinkByName(m.cfg.Link)
	if err != nil {
		return nil // no link, no address
	}
	if err := netlink.AddrDel(link, vipAddr(a)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("lb: remove VIP %s: %w", a, err)
	}
	return nil
}

// Apply makes the load balancer serve exactly spec. Listeners whose protocol and port
// are unchanged keep their socket and connections; only their configuration is swapped.
func (m *Manager) Apply(ctx context.Context, spec dataplane.LoadBalancerSpec) error {
	vip, err := netip.ParseAddr(spec.VIP)
	if err != nil || !vip.Is4() {
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "vip: %q is not an IPv4 address", spec.VIP)
	}
	if !m.inPool(vip) {
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "vip: %s is in no VIP pool", vip)
	}
	cfgs := map[string]*listenerConfig{}
	seen := map[string]string{}
	for _, ls := range spec.Listeners {
		c, err := parseListener(ls.ListenerSpec)
		if err == nil {
			err = c.setCert(spec.Certificates)
		}
		if err != nil {
			return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "listener %s: %v", ls.ListenerID, err)
		}
		pp := validate.ListenerKey(&ls.ListenerSpec)
		if other, dup := seen[pp]; dup {
			return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "listeners %s and %s both use %s", other, ls.ListenerID, pp)
		}
		seen[pp] = ls.ListenerID
		cfgs[ls.ListenerID] = c
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("lb: the load balancer data plane is closed")
	}
	lb := m.lbs[spec.LoadBalancerID]
	if lb != nil && lb.vip != vip {
		m.removeLocked(spec.LoadBalancerID)
		lb = nil
	}
	if lb == nil {
		lb = &loadBalancer{vip: vip, listeners: map[string]*listener{}}
		m.lbs[spec.LoadBalancerID] = lb
	}
	if err := m.addVIP(vip); err != nil {
		return err
	}
	// Stop removed listeners and those whose socket must change, first, so that a
	// listener that moved to another id keeps its port free to bind.
	var stopped []*listener
	for id, l := range lb.listeners {
		c, keep := cfgs[id]
		if keep && c.spec.Protocol == l.proto && c.spec.Port == l.port && m.kernelFor(c) == l.kernel {
			continue
		}
		l.stop()
		delete(lb.listeners, id)
		stopped = append(stopped, l)
		klog.InfoS("Stopped listener", "loadBalancer", spec.LoadBalancerID, "listener", id, "protocol", l.proto, "port", l.port)
	}
	var errs []error
	var gone []udpFlush
	for id, c := range cfgs {
		if l := lb.listeners[id]; l != nil {
			if l.kernel && l.proto == iaasclient.ProtocolUDP {
				gone = append(gone, removedBackends(vip, l.port, l.cfg.Load(), c)...)
			}
			l.update(c)
			continue
		}
		l := newListener(spec.LoadBalancerID, id, c)
		l.onChange = m.onHealthChange(vip, l)
		var err error
		switch {
		case m.kernelFor(c):
			l.kernel = true
			l.startKernel()
		case c.l7 != nil:
			err = l.startHTTP(vip, m.cfg.DialTimeout)
		case c.spec.Protocol == iaasclient.ProtocolTCP:
			err = l.startTCP(vip, m.cfg.DialTimeout)
		default:
			err = l.startUDP(vip, m.cfg.UDPIdleTimeout)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("lb: listener %s %s %s:%d: %w", id, c.spec.Protocol, vip, c.spec.Port, err))
			continue
		}
		lb.listeners[id] = l
		klog.InfoS("Started listener", "loadBalancer", spec.LoadBalancerID, "listener", id, "vip", vip,
			"protocol", c.spec.Protocol, "port", c.spec.Port, "backends", len(c.backends), "kernel", l.kernel)
	}
	// Rules first, then the flows of stopped kernel listeners: a flow deleted while its
	// rule still exists would be picked up again by the next packet.
	if err := m.syncNftLocked(); err != nil {
		errs = append(errs, err)
	}
	for _, l := range stopped {
		if l.kernel {
			flushConntrack(vip, l.proto, l.port)
		}
	}
	for _, f := range gone {
		f.do()
	}
	return errors.Join(errs...)
}

// onHealthChange reprograms the rules (kernel listeners) and, for a kernel UDP listener
// whose backend turned unhealthy, ends that backend's flows once the rules no longer
// pick it: a UDP client that keeps its source port (a DNS resolver) would otherwise stay
// pinned to it by conntrack, as kube-proxy knows too.
func (m *Manager) onHealthChange(vip netip.Addr, l *listener) func(string, bool) {
	return func(key string, healthy bool) {
		if !l.kernel {
			return
		}
		if !healthy && l.proto == iaasclient.ProtocolUDP {
			if ap, err := netip.ParseAddrPort(key); err == nil {
				m.flushMu.Lock()
				m.flushes = append(m.flushes, udpFlush{vip: vip, port: l.port, backend: ap.Addr()})
				m.flushMu.Unlock()
			}
		}
		m.kickSync()
	}
}

func (m *Manager) kernelFor(c *listenerConfig) bool { return m.cfg.Kernel && kernelCapable(c) }

// Remove stops every listener and releases the VIP; an unknown id is already removed.
func (m *Manager) Remove(ctx context.Context, loadBalancerID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.removeLocked(loadBalancerID)
}

func (m *Manager) removeLocked(id string) error {
	lb := m.lbs[id]
	if lb == nil {
		return nil
	}
	for _, l := range lb.listeners {
		l.stop()
	}
	delete(m.lbs, id)
	err := m.syncNftLocked()
	if m.cfg.Kernel {
		flushConntrack(lb.vip, "", 0)
	}
	klog.InfoS("Removed load balancer", "loadBalancer", id, "vip", lb.vip)
	return errors.Join(err, m.delVIP(lb.vip))
}

// BackendStatus returns the health of every backend per listener id.
func (m *Manager) BackendStatus(loadBalancerID string) map[string][]iaasclient.BackendStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	lb := m.lbs[loadBalancerID]
	if lb == nil {
		return nil
	}
	out := map[string][]iaasclient.BackendStatus{}
	for id, l := range lb.listeners {
		out[id] = l.statuses()
	}
	return out
}

// Close stops the Go listeners and health checks. With teardown (tests) it also removes
// every VIP, the nftables table, the pools' unreachable routes and (when no other user of
// the link in this process needs them) the iptables accept rules; without (a simulator
// that shuts down) VIPs, kernel rules and routes stay, so kernel-served load balancers
// keep forwarding until the next start re-applies the state.
func (m *Manager) Close(teardown bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	var errs []error
	if !teardown {
		for _, lb := range m.lbs {
			for _, l := range lb.listeners {
				l.stop()
			}
		}
		m.lbs = map[string]*loadBalancer{}
		m.closed = true
		close(m.syncCh)
		return nil
	}
	for id := range m.lbs {
		errs = append(errs, m.removeLocked(id))
	}
	m.closed = true
	close(m.syncCh)
	errs = append(errs, m.deleteNftTable())
	if teardown {
		var pools []netip.Prefix
		for _, p := range m.cfg.Pools {
			pools = append(pools, p.Masked())
		}
		errs = append(errs, router.RemoveUnreachable(router.DefaultProtocol, pools...))
		errs = append(errs, m.releaseFW())
	}
	return errors.Join(errs...)
}
