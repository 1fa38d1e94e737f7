// Package netns is the "netns" instance backend of the simulated IaaS: every instance is
// a named network namespace (/run/netns/<name>) joined to one Linux bridge by a veth
// pair. The bridge holds the first host address of the subnet, which is each instance's
// default gateway: the host is the VPC router.
//
// Power state lives in the kernel, not in a file, so it survives a simulator restart:
// an instance is RUNNING when its host-side veth is up and STOPPED when it is down.
// Stop fences the instance by taking that link down: from then on no packet enters or
// leaves the namespace (the instance side loses carrier). Processes that run in the
// namespace are left alone (the simulator did not start them and only kills what it
// starts); they are cut off, which is what fencing needs for failover.
package netns

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/hostfw"
)

// BackendName is the InstanceBackend name of this backend.
const BackendName = "netns"

// netnsDir is where `ip netns` and vishvananda/netns keep named namespaces.
const netnsDir = "/run/netns"

// Config says which bridge and subnet the instances use.
type Config struct {
	// Bridge is the Linux bridge that joins the instances (at most 15 bytes).
	Bridge string
	// Subnet is the instances' subnet; the bridge takes its first host address.
	Subnet netip.Prefix
	// Prefix: the backend manages (lists, stops, deletes) only namespaces whose names
	// start with it, so it never touches namespaces of anything else on the host.
	Prefix string
	// Zone, InstanceType and MaxDisks are reported for every instance.
	Zone         string
	InstanceType string
	MaxDisks     int
}

// Backend implements dataplane.InstanceBackend with network namespaces.
type Backend struct {
	cfg Config
	mu  sync.Mutex // serializes address allocation and create/delete
}

var _ dataplane.InstanceBackend = (*Backend)(nil)

// New checks cfg and ensures the bridge exists, is up and holds the gateway address.
func New(cfg Config) (*Backend, error) {
	if cfg.Bridge == "" || len(cfg.Bridge) > 15 {
		return nil, fmt.Errorf("netns: bridge name %q must have 1 to 15 bytes", cfg.Bridge)
	}
	if !cfg.Subnet.IsValid() || !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("netns: subnet %v must be an IPv4 prefix of /30 or larger", cfg.Subnet)
	}
	if cfg.Prefix == "" {
		return nil, errors.New("netns: a namespace name prefix is required")
	}
	cfg.Subnet = cfg.Subnet.Masked()
	if cfg.InstanceType == "" {
		cfg.InstanceType = "NETNS.SMALL"
	}
	if cfg.MaxDisks == 0 {
		cfg.MaxDisks = 16
	}
	b := &Backend{cfg: cfg}
	if err := b.ensureBridge(); err != nil {
		return nil, err
	}
	return b, nil
}

// Gateway is the bridge's address, every instance's default gateway.
func (b *Backend) Gateway() netip.Addr { return b.cfg.Subnet.Addr().Next() }

// Config returns the effective configuration.
func (b *Backend) Config() Config { return b.cfg }

func (b *Backend) Name() string { return BackendName }

func (b *Backend) ensureBridge() error {
	link, err := netlink.LinkByName(b.cfg.Bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("netns: look up bridge %s: %w", b.cfg.Bridge, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.cfg.Bridge}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("netns: create bridge %s: %w", b.cfg.Bridge, err)
		}
		if link, err = netlink.LinkByName(b.cfg.Bridge); err != nil {
			return fmt.Errorf("netns: bridge %s: %w", b.cfg.Bridge, err)
		}
		klog.InfoS("Created bridge", "bridge", b.cfg.Bridge)
	}
	gw := &netlink.Addr{IPNet: &net.IPNet{IP: b.Gateway().AsSlice(), Mask: net.CIDRMask(b.cfg.Subnet.Bits(), 32)}}
	if err := netlink.AddrReplace(link, gw); err != nil {
		return fmt.Errorf("netns: gateway address on %s: %w", b.cfg.Bridge, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("netns: bridge %s up: %w", b.cfg.Bridge, err)
	}
	// With br_netfilter and bridge-nf-call-iptables=1, even frames between two instances
	// of the bridge traverse the iptables FORWARD chain, whose policy dockerd sets to
	// DROP. Kept until DeleteBridge.
	if _, err := hostfw.Accept(b.cfg.Bridge); err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	return nil
}

// DeleteBridge removes the bridge and its iptables accept rules (tests' clean-up; the
// simulator keeps them).
func (b *Backend) DeleteBridge() error {
	fwErr := hostfw.Remove(b.cfg.Bridge)
	link, err := netlink.LinkByName(b.cfg.Bridge)
	if err != nil {
		return fwErr
	}
	return errors.Join(netlink.LinkDel(link), fwErr)
}

// hostVeth is the host-side veth name of an instance: a hash, because namespace names
// are longer than IFNAMSIZ allows. The full name is kept as the link's alias.
func hostVeth(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("kv%08x", h.Sum32())
}

func (b *Backend) managed(name string) bool { return strings.HasPrefix(name, b.cfg.Prefix) }

func (b *Backend) names() ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if b.managed(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// List returns every managed namespace with its address and power state.
func (b *Backend) List(ctx context.Context) ([]dataplane.DiscoveredInstance, error) {
	names, err := b.names()
	if err != nil {
		return nil, fmt.Errorf("netns: list: %w", err)
	}
	var out []dataplane.DiscoveredInstance
	for _, n := range names {
		inst, err := b.describe(n)
		if err != nil {
			klog.V(2).InfoS("Skipping namespace that is not a complete instance", "netns", n, "err", err)
			continue
		}
		out = append(out, inst)
	}
	return out, nil
}

func (b *Backend) describe(name string) (dataplane.DiscoveredInstance, error) {
	inst := dataplane.DiscoveredInstance{Key: name, Name: name, Zone: b.cfg.Zone,
		InstanceType: b.cfg.InstanceType, MaxDisks: b.cfg.MaxDisks, State: iaasclient.InstanceStopped}
	hl, err := netlink.LinkByName(hostVeth(name))
	if err != nil {
		return inst, fmt.Errorf("host veth: %w", err)
	}
	if hl.Attrs().Flags&net.FlagUp != 0 {
		inst.State = iaasclient.InstanceRunning
	}
	ips, err := instanceIPs(name)
	if err != nil {
		return inst, err
	}
	inst.PrivateIPs = ips
	return inst, nil
}

func instanceIPs(name string) ([]string, error) {
	ns, err := vnetns.GetFromName(name)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByName("eth0")
	if err != nil {
		return nil, err
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, a := range addrs {
		ips = append(ips, a.IP.String())
	}
	return ips, nil
}

func (b *Backend) setPower(name string, up bool) error {
	if !b.managed(name) {
		return iaasclient.Errorf(iaasclient.CodeResourceNotFound, "instance %s is not managed by the netns backend", name)
	}
	l, err := netlink.LinkByName(hostVeth(name))
	if err != nil {
		return fmt.Errorf("netns: instance %s: %w", name, err)
	}
	if up {
		return netlink.LinkSetUp(l)
	}
	return netlink.LinkSetDown(l)
}

// Start reconnects the instance.
func (b *Backend) Start(ctx context.Context, key string) error {
	if err := b.setPower(key, true); err != nil {
		return err
	}
	klog.InfoS("Started netns instance", "netns", key)
	return nil
}

// Stop fences the instance: its link is down, nothing enters or leaves it.
func (b *Backend) Stop(ctx context.Context, key string) error {
	if err := b.setPower(key, false); err != nil {
		return err
	}
	klog.InfoS("Stopped (fenced) netns instance", "netns", key)
	return nil
}

// Terminate deletes the instance; a missing one is already terminated.
func (b *Backend) Terminate(ctx context.Context, key string) error { return b.Delete(key) }

// Create makes a running instance named name with the lowest free address of the subnet
// (or ip when valid). It is idempotent: an existing complete instance is returned as is.
func (b *Backend) Create(name string, ip netip.Addr) (dataplane.DiscoveredInstance, error) {
	if !b.managed(name) {
		return dataplane.DiscoveredInstance{}, fmt.Errorf("netns: name %q lacks the prefix %q", name, b.cfg.Prefix)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if inst, err := b.describe(name); err == nil {
		return inst, nil
	}
	if !ip.IsValid() {
		var err error
		if ip, err = b.freeIP(); err != nil {
			return dataplane.DiscoveredInstance{}, err
		}
	}
	if err := b.create(name, ip); err != nil {
		_ = b.delete(name)
		return dataplane.DiscoveredInstance{}, err
	}
	klog.InfoS("Created netns instance", "netns", name, "ip", ip, "bridge", b.cfg.Bridge)
	return b.describe(name)
}

func (b *Backend) freeIP() (netip.Addr, error) {
	var used []string
	names, err := b.names()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, n := range names {
		ips, _ := instanceIPs(n)
		used = append(used, ips...)
	}
	// Other namespaces on the same bridge (other prefixes) may hold addresses too.
	if br, err := netlink.LinkByName(b.cfg.Bridge); err == nil {
		if neighs, err := netlink.NeighList(br.Attrs().Index, netlink.FAMILY_V4); err == nil {
			for _, n := range neighs {
				used = append(used, n.IP.String())
			}
		}
	}
	for a := b.Gateway().Next(); b.cfg.Subnet.Contains(a.Next()); a = a.Next() {
		if !slices.Contains(used, a.String()) {
			return a, nil
		}
	}
	return netip.Addr{}, iaasclient.Errorf(iaasclient.CodeLimitExceeded, "subnet %s has no free address", b.cfg.Subnet)
}

func (b *Backend) create(name string, ip netip.Addr) error {
	if !b.cfg.Subnet.Contains(ip) || ip == b.Gateway() {
		return fmt.Errorf("netns: %s is not a usable address of %s", ip, b.cfg.Subnet)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); errors.Is(err, os.ErrNotExist) {
		if err := newNamed(name); err != nil {
			return fmt.Errorf("netns: create namespace %s: %w", name, err)
		}
	}
	ns, err := vnetns.GetFromName(name)
	if err != nil {
		return err
	}
	defer ns.Close()
	br, err := netlink.LinkByName(b.cfg.Bridge)
	if err != nil {
		return fmt.Errorf("netns: bridge: %w", err)
	}
	hv := hostVeth(name)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: hv, MasterIndex: br.Attrs().Index},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("netns: veth %s: %w", hv, err)
	}
	hl, err := netlink.LinkByName(hv)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetAlias(hl, name); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(hl); err != nil {
		return err
	}
	return b.configureInside(ns, ip)
}

// configureInside sets up lo and eth0 inside the namespace: the address, the default
// route via the bridge, and loose reverse-path filtering (packets for the instance's pod
// CIDR arrive from other nodes' pod addresses, which are not on eth0's subnet).
func (b *Backend) configureInside(ns vnetns.NsHandle, ip netip.Addr) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return err
	}
	eth, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(b.cfg.Subnet.Bits(), 32)}}
	if err := h.AddrReplace(eth, addr); err != nil {
		return fmt.Errorf("netns: address: %w", err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return err
	}
	def := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: b.Gateway().AsSlice(),
		Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}}
	if err := h.RouteReplace(def); err != nil {
		return fmt.Errorf("netns: default route: %w", err)
	}
	return doIn(ns, func() error {
		for _, k := range []string{"all", "eth0"} {
			if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+k+"/rp_filter", []byte("2"), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delete removes the instance's veth pair and namespace; a missing one is not an error.
func (b *Backend) Delete(name string) error {
	if !b.managed(name) {
		return iaasclient.Errorf(iaasclient.CodeResourceNotFound, "instance %s is not managed by the netns backend", name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.delete(name); err != nil {
		return err
	}
	klog.InfoS("Deleted netns instance", "netns", name)
	return nil
}

func (b *Backend) delete(name string) error {
	if l, err := netlink.LinkByName(hostVeth(name)); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("netns: delete veth: %w", err)
		}
	}
	p := filepath.Join(netnsDir, name)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := vnetns.DeleteNamed(name); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("netns: delete namespace %s: %w", name, err)
	}
	_ = os.Remove(p) // after EINVAL (not a mount point) the file may remain
	return nil
}
