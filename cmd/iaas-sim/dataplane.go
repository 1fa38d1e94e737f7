package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/test/iaassim"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/disks"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/docker"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/lb"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/netns"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/router"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/static"
)

// dataPlaneFlags are the flags that choose and configure the data plane. Every part
// defaults to its no-op form (no root needed); the real ones need root.
type dataPlaneFlags struct {
	instanceBackend string

	netnsBridge, netnsSubnet, netnsPrefix, netnsZone string
	netnsInstances                                   string

	dockerSocket, dockerLabel, dockerZone string
	dockerStopTimeout                     time.Duration

	router       string
	routerBridge string
	routerCIDRs  string

	lb         string
	lbLink     string
	lbNftTable string

	disks       string
	disksDir    string
	disksDevDir string
}

func registerDataPlaneFlags(fs *flag.FlagSet) *dataPlaneFlags {
	f := &dataPlaneFlags{}
	fs.StringVar(&f.instanceBackend, "instance-backend", "static",
		"Where instances come from: static (the config's staticInstances plus the admin API), netns (network namespaces on --netns-bridge; needs root), docker (containers with --docker-label, e.g. kind nodes) or none.")
	fs.StringVar(&f.dockerSocket, "docker-socket", "/var/run/docker.sock", "docker backend: the Docker Engine API socket.")
	fs.StringVar(&f.dockerLabel, "docker-label", docker.KindClusterLabel+"=kind", "docker backend: containers with this label (key=value or key) are the instances; the default selects the nodes of the kind cluster \"kind\".")
	fs.StringVar(&f.dockerZone, "docker-zone", "", "docker backend: zone of the instances (default: the config's first zone).")
	fs.DurationVar(&f.dockerStopTimeout, "docker-stop-timeout", 10*time.Second, "docker backend: StopInstances is `docker stop` with this grace period before SIGKILL (whole seconds; a kind node ignores SIGTERM, so this is how long a stop takes there).")
	fs.StringVar(&f.netnsBridge, "netns-bridge", "iaasbr0", "netns backend: the bridge that joins the instance namespaces (created when missing).")
	fs.StringVar(&f.netnsSubnet, "netns-subnet", "172.30.0.0/24", "netns backend: the instances' subnet; the bridge takes its first address (the VPC router).")
	fs.StringVar(&f.netnsPrefix, "netns-prefix", "iaas-", "netns backend: only namespaces whose names start with this are instances.")
	fs.StringVar(&f.netnsZone, "netns-zone", "", "netns backend: zone of the instances (default: the config's first zone).")
	fs.StringVar(&f.netnsInstances, "netns-instances", "", "netns backend: comma-separated names of instances to create at start-up when missing (the prefix is added when a name lacks it), for demos and hosts without another way to make them.")
	fs.StringVar(&f.router, "router", "noop",
		"VPC router: noop, or host (routes of every route table go into the host's routing table, proto 149; needs root and --router-cidrs).")
	fs.StringVar(&f.routerBridge, "router-bridge", "", "host router: the link the next hops are on (default --netns-bridge).")
	fs.StringVar(&f.routerCIDRs, "router-cidrs", "",
		"host router: comma-separated cluster/VPC CIDRs that routes may fall into; each gets an unreachable route so unrouted pod traffic never leaves the host. Exact CIDRs only, never a whole private range.")
	fs.StringVar(&f.lb, "lb", "noop",
		"Load balancers: noop (VIPs allocated, no traffic), proxy (Go layer-4 proxy), or kernel (nftables DNAT, Go proxy for PROXY-protocol listeners; needs nft). proxy and kernel need root.")
	fs.StringVar(&f.lbLink, "lb-link", "", "proxy/kernel load balancers: the link that holds the VIPs (default --netns-bridge).")
	fs.StringVar(&f.lbNftTable, "lb-nft-table", "kube_iaas_lb", "kernel load balancers: the nftables table (family ip) the simulator owns.")
	fs.StringVar(&f.disks, "disks", "noop", "Disks: noop (records only) or loop (sparse files, loop devices as /dev/disk/by-id/iaas-<disk-id>; needs root).")
	fs.StringVar(&f.disksDir, "disks-dir", "", "loop disks: the directory whose disks/ and snapshots/ hold the files (default --data-dir).")
	fs.StringVar(&f.disksDevDir, "disks-dev-dir", "/dev", "loop disks: the device directory in which by-id links are made.")
	return f
}

// buildDataPlane makes the data plane from the flags and config. The returned cleanup
// runs at shutdown (after the control plane stopped).
func buildDataPlane(_ context.Context, f *dataPlaneFlags, cfg *iaassim.Config, dataDir string) (dataplane.DataPlane, func(), error) {
	dp := dataplane.DataPlane{
		Router:        dataplane.NoopRouter{},
		LoadBalancers: dataplane.NoopLoadBalancers{Pools: cfg.Pools()},
		Disks:         dataplane.NoopDisks{},
	}
	firstZone := ""
	if len(cfg.Zones) > 0 {
		firstZone = cfg.Zones[0]
	}
	var containerPID func(context.Context, string) (int, error)
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	switch f.instanceBackend {
	case "static":
		var entries []static.Entry
		for _, sc := range cfg.StaticInstances {
			entries = append(entries, iaassim.StaticEntry(sc))
		}
		b, err := static.New(entries, filepath.Join(dataDir, "static-instances.json"))
		if err != nil {
			return dp, nil, fmt.Errorf("static instance backend: %w", err)
		}
		dp.Instances = b
	case "netns":
		subnet, err := netip.ParsePrefix(f.netnsSubnet)
		if err != nil {
			return dp, nil, fmt.Errorf("--netns-subnet: %w", err)
		}
		b, err := netns.New(netns.Config{Bridge: f.netnsBridge, Subnet: subnet, Prefix: f.netnsPrefix, Zone: orDefault(f.netnsZone, firstZone)})
		if err != nil {
			return dp, nil, fmt.Errorf("netns instance backend: %w", err)
		}
		for _, name := range splitList(f.netnsInstances) {
			if !strings.HasPrefix(name, f.netnsPrefix) {
				name = f.netnsPrefix + name
			}
			if _, err := b.Create(name, netip.Addr{}); err != nil {
				return dp, nil, fmt.Errorf("--netns-instances: %w", err)
			}
		}
		dp.Instances = b
	case "docker":
		b := docker.New(docker.Config{Socket: f.dockerSocket, Label: f.dockerLabel, Zone: orDefault(f.dockerZone, firstZone),
			StopTimeout: f.dockerStopTimeout})
		dp.Instances = b
		containerPID = b.PID
	case "none":
	default:
		return dp, nil, fmt.Errorf("--instance-backend: unknown backend %q (static, netns, docker, none)", f.instanceBackend)
	}

	switch f.router {
	case "noop":
	case "host":
		var cidrs []netip.Prefix
		for _, s := range splitList(f.routerCIDRs) {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return dp, nil, fmt.Errorf("--router-cidrs: %w", err)
			}
			cidrs = append(cidrs, p)
		}
		r, err := router.New(router.Config{Bridge: orDefault(f.routerBridge, f.netnsBridge), CIDRs: cidrs})
		if err != nil {
			return dp, nil, fmt.Errorf("--router=host: %w", err)
		}
		dp.Router = r
	default:
		return dp, nil, fmt.Errorf("--router: unknown router %q (noop, host)", f.router)
	}

	switch f.lb {
	case "noop":
	case "proxy", "kernel":
		m, err := lb.New(lb.Config{Link: orDefault(f.lbLink, f.netnsBridge), Pools: cfg.Pools(),
			Kernel: f.lb == "kernel", NftTable: f.lbNftTable})
		if err != nil {
			return dp, nil, fmt.Errorf("--lb=%s: %w", f.lb, err)
		}
		dp.LoadBalancers = m
		// Without teardown: VIPs, kernel rules and unreachable routes stay while the
		// simulator is down, and the next start re-applies the stored state.
		cleanups = append(cleanups, func() {
			if err := m.Close(false); err != nil {
				klog.ErrorS(err, "Stopping the load balancers failed")
			}
		})
	default:
		return dp, nil, fmt.Errorf("--lb: unknown load balancer data plane %q (noop, proxy, kernel)", f.lb)
	}

	switch f.disks {
	case "noop":
	case "loop":
		d, err := disks.New(disks.Config{DataDir: orDefault(f.disksDir, dataDir), DevDir: f.disksDevDir, ContainerPID: containerPID})
		if err != nil {
			return dp, nil, fmt.Errorf("--disks=loop: %w", err)
		}
		dp.Disks = d
	default:
		return dp, nil, fmt.Errorf("--disks: unknown disk data plane %q (noop, loop)", f.disks)
	}
	return dp, cleanup, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
