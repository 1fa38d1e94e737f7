package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
)

// Plugins this program can write a configuration for. Both are in the reference CNI
// plugins (Debian's containernetworking-plugins, /usr/lib/cni, symlinked from
// /opt/cni/bin in our kind node image), with host-local for IPAM and portmap for
// hostPort.
const (
	pluginPTP    = "ptp"
	pluginBridge = "bridge"
)

// confOptions is everything but the node's pod CIDRs that shapes the configuration.
type confOptions struct {
	// Name is the CNI network name.
	Name string
	// Plugin is ptp (default) or bridge.
	Plugin string
	// Bridge is the bridge device of the bridge plugin.
	Bridge string
	// MTU of the pod interfaces; 0 leaves the plugin's default.
	MTU int
	// PortMap chains the portmap plugin (hostPort).
	PortMap bool
	// ClusterCIDRs, when set, turns on masquerading of pod traffic to destinations
	// outside them (ptp only, see conflist).
	ClusterCIDRs []netip.Prefix
}

// The CNI spec version written. The plugins of Debian bookworm (1.1.1) and containerd
// 1.6's libcni both speak 1.0.0.
const cniVersion = "1.0.0"

// conflist renders the CNI network configuration list of a node with the given pod
// CIDRs (one per IP family, from Node.spec.podCIDRs).
//
// Routing: each pod gets its node's range through host-local IPAM and a default route
// to the node; the node gets one host route per local pod (ptp) or the pod CIDR on a
// bridge. Nothing here routes other nodes' pod CIDRs: a packet for a pod on another
// node leaves by the node's default route, so it reaches that node only through the
// VPC router (the IaaS route table the CCM's route controller keeps, one route per
// node: pod CIDR -> node). That is the point of this program: no overlay, no routes of
// its own.
//
// Masquerade: pod -> pod (any node) keeps the pod's source address; the VPC routes pod
// CIDRs, so no translation is needed. Pod -> anything outside the cluster CIDRs (nodes,
// the IaaS, load balancer VIPs, the internet) is masqueraded to the node's address when
// ClusterCIDRs is set, the choice kindnetd and ip-masq-agent make: replies then come
// back even where no route leads to the pod CIDR (a NAT-less outside world, a host
// before the CCM made the routes). It is done by ptp's own ipMasq, whose "network" is
// the IPAM subnet: so with ClusterCIDRs the host-local range is the whole cluster CIDR
// of the family, narrowed to the node's pod CIDR by rangeStart/rangeEnd, and the
// gateway is the first address of the node's pod CIDR. The bridge plugin cannot do
// that (its subnet is on-link on the bridge, a cluster-wide subnet would make other
// nodes' pods look local), so bridge never masquerades.
func conflist(podCIDRs []netip.Prefix, o confOptions) ([]byte, error) {
	if len(podCIDRs) == 0 {
		return nil, fmt.Errorf("no pod CIDR")
	}
	if o.Plugin == "" {
		o.Plugin = pluginPTP
	}
	if o.Plugin != pluginPTP && o.Plugin != pluginBridge {
		return nil, fmt.Errorf("unknown plugin %q: want %s or %s", o.Plugin, pluginPTP, pluginBridge)
	}
	masq := len(o.ClusterCIDRs) > 0
	if masq && o.Plugin != pluginPTP {
		return nil, fmt.Errorf("masquerading (cluster CIDRs set) needs the %s plugin", pluginPTP)
	}
	seen := map[bool]bool{}
	var ranges [][]hostLocalRange
	var routes []route
	for _, p := range podCIDRs {
		p = p.Masked()
		v4 := p.Addr().Is4()
		if seen[v4] {
			return nil, fmt.Errorf("two pod CIDRs of one IP family: %v", podCIDRs)
		}
		seen[v4] = true
		r, err := rangeFor(p, o.ClusterCIDRs, masq)
		if err != nil {
			return nil, err
		}
		ranges = append(ranges, []hostLocalRange{r})
		if v4 {
			routes = append(routes, route{Dst: "0.0.0.0/0"})
		} else {
			routes = append(routes, route{Dst: "::/0"})
		}
	}
	main := map[string]any{
		"type": o.Plugin,
		"ipam": map[string]any{"type": "host-local", "ranges": ranges, "routes": routes},
	}
	if o.MTU > 0 {
		main["mtu"] = o.MTU
	}
	switch o.Plugin {
	case pluginPTP:
		main["ipMasq"] = masq
	case pluginBridge:
		bridge := o.Bridge
		if bridge == "" {
			bridge = "cni0"
		}
		main["bridge"] = bridge
		main["isGateway"] = true
		main["ipMasq"] = false
		main["hairpinMode"] = true
	}
	plugins := []any{main}
	if o.PortMap {
		plugins = append(plugins, map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}})
	}
	name := o.Name
	if name == "" {
		name = "kube-iaas"
	}
	b, err := json.MarshalIndent(map[string]any{"cniVersion": cniVersion, "name": name, "plugins": plugins}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

type hostLocalRange struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart"`
	RangeEnd   string `json:"rangeEnd"`
	Gateway    string `json:"gateway"`
}

type route struct {
	Dst string `json:"dst"`
}

// rangeFor is the host-local range of pod CIDR p: addresses from the second to the
// one before the last (the first is the node's gateway address, the last the IPv4
// broadcast), in subnet p, or with masq in the cluster CIDR that contains p.
func rangeFor(p netip.Prefix, cluster []netip.Prefix, masq bool) (hostLocalRange, error) {
	bits := p.Addr().BitLen()
	if bits-p.Bits() < 2 {
		return hostLocalRange{}, fmt.Errorf("pod CIDR %s is too small", p)
	}
	subnet := p
	if masq {
		i := slices.IndexFunc(cluster, func(c netip.Prefix) bool {
			c = c.Masked()
			return c.Addr().BitLen() == bits && c.Bits() <= p.Bits() && c.Contains(p.Addr())
		})
		if i < 0 {
			return hostLocalRange{}, fmt.Errorf("pod CIDR %s is in none of the cluster CIDRs %s", p, joinPrefixes(cluster))
		}
		subnet = cluster[i].Masked()
	}
	first := p.Addr()
	last := lastAddr(p)
	return hostLocalRange{
		Subnet:     subnet.String(),
		Gateway:    first.Next().String(),
		RangeStart: first.Next().Next().String(),
		RangeEnd:   last.Prev().String(),
	}, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	n := new(big.Int).SetBytes(b)
	hostBits := uint(p.Addr().BitLen() - p.Bits())
	n.Or(n, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), hostBits), big.NewInt(1)))
	out := make([]byte, len(b))
	n.FillBytes(out)
	a, _ := netip.AddrFromSlice(out)
	return a
}

// parsePrefixes parses a comma-separated list of CIDRs; empty gives none.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
