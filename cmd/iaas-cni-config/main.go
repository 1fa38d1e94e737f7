// Command iaas-cni-config writes the CNI configuration of the node it runs on, in place
// of kind's kindnetd: a DaemonSet (hostNetwork, tolerating every taint) whose pod reads
// its Node's spec.podCIDRs through the API, waiting until the node IPAM controller set
// them, and writes /etc/cni/net.d/10-kube-iaas.conflist (ptp or bridge, host-local IPAM
// over the node's range, portmap) atomically, again whenever the pod CIDRs change. It
// adds no routes: pods on other nodes are reached through the VPC router, whose route
// table (pod CIDR -> node) the CCM keeps. See conflist for the routing and masquerade
// choices.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// version is set with -ldflags "-X main.version=...".
var version = "dev"

type options struct {
	kubeconfig, nodeName string
	confDir, confName    string
	binDir               string
	plugin, bridge       string
	mtu                  int
	portMap              bool
	clusterCIDRs         string
	resync               time.Duration
	showVersion          bool
}

func main() {
	klog.InitFlags(nil)
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: the in-cluster configuration)")
	flag.StringVar(&o.nodeName, "node-name", os.Getenv("NODE_NAME"), "name of this node (default: $NODE_NAME, from the downward API)")
	flag.StringVar(&o.confDir, "cni-conf-dir", "/etc/cni/net.d", "directory the container runtime reads CNI configurations from")
	flag.StringVar(&o.confName, "cni-conf-name", "10-kube-iaas.conflist", "file name of the configuration in --cni-conf-dir")
	flag.StringVar(&o.binDir, "cni-bin-dir", "", "the node's CNI plugin directory as mounted in this container; set, the plugins the configuration names must be there (default: not checked)")
	flag.StringVar(&o.plugin, "plugin", pluginPTP, "main plugin: ptp (a veth per pod, host routes) or bridge")
	flag.StringVar(&o.bridge, "bridge", "cni0", "bridge device (--plugin=bridge)")
	flag.IntVar(&o.mtu, "mtu", 0, "MTU of pod interfaces (0: the plugin's default)")
	flag.BoolVar(&o.portMap, "portmap", true, "chain the portmap plugin (hostPort)")
	flag.StringVar(&o.clusterCIDRs, "cluster-cidrs", "", "the cluster's pod CIDRs, comma-separated (kube-controller-manager --cluster-cidr); set, pod traffic to anything outside them is masqueraded to the node's address (ptp only); empty: no masquerade")
	flag.DurationVar(&o.resync, "resync", time.Minute, "how often the file is checked again without a change of the node (a deleted file comes back)")
	flag.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	flag.Parse()
	if o.showVersion {
		fmt.Println(version)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		klog.ErrorS(err, "iaas-cni-config failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

func run(ctx context.Context, o options) error {
	if o.nodeName == "" {
		return fmt.Errorf("no node name: set --node-name or $NODE_NAME")
	}
	cidrs, err := parsePrefixes(o.clusterCIDRs)
	if err != nil {
		return fmt.Errorf("--cluster-cidrs: %w", err)
	}
	opts := confOptions{Name: "kube-iaas", Plugin: o.plugin, Bridge: o.bridge, MTU: o.mtu, PortMap: o.portMap, ClusterCIDRs: cidrs}
	if o.plugin != pluginPTP && o.plugin != pluginBridge {
		return fmt.Errorf("--plugin %q: want %s or %s", o.plugin, pluginPTP, pluginBridge)
	}
	if len(cidrs) > 0 && o.plugin != pluginPTP {
		return fmt.Errorf("--cluster-cidrs (masquerade) needs --plugin=%s", pluginPTP)
	}
	if o.binDir != "" {
		if err := checkPlugins(o.binDir, opts); err != nil {
			return err
		}
	}
	var cfg *rest.Config
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return err
	}
	cfg.UserAgent = "iaas-cni-config/" + version
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	klog.InfoS("Starting", "version", version, "node", o.nodeName, "plugin", o.plugin,
		"clusterCIDRs", o.clusterCIDRs, "path", filepath.Join(o.confDir, o.confName))
	w := &writer{client: client, nodeName: o.nodeName, path: filepath.Join(o.confDir, o.confName), opts: opts, resync: o.resync}
	return w.run(ctx)
}

// checkPlugins fails when a plugin the configuration names is missing from dir.
func checkPlugins(dir string, o confOptions) error {
	need := []string{o.Plugin, "host-local", "loopback"}
	if o.PortMap {
		need = append(need, "portmap")
	}
	for _, p := range need {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("CNI plugin %s missing in %s: %w", p, dir, err)
		}
	}
	return nil
}
