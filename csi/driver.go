package csi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-lib-utils/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Modes of the one driver binary.
const (
	ModeController = "controller"
	ModeNode       = "node"
	ModeAll        = "all"
)

// Config wires a driver process.
type Config struct {
	Mode     string
	Endpoint string // unix socket of the CSI services
	Version  string
	Cloud    Cloud

	// NodeID and Zone override what the metadata endpoint says (node mode).
	NodeID, Zone string
	// DefaultZone is the zone of volumes that name none ("" = the controller's own).
	DefaultZone string
	// ClusterID is tagged on the disks and snapshots the controller creates (TagCluster),
	// so that the CCM's orphan sweeper can tell this cluster's from others'.
	ClusterID string
	Mounter   Mounter      // node mode; nil = the real mounter
	Devices   DeviceFinder // node mode; nil = /dev/disk/by-id

	// HTTPEndpoint serves /healthz and /metrics ("" = off).
	HTTPEndpoint string
	// KubeletRegistrationPath is the CSI socket as kubelet sees it; set, the node plugin
	// registers itself with kubelet through RegistrationDir.
	KubeletRegistrationPath string
	RegistrationDir         string
	// Gatherer adds metrics (the IaaS client's) to /metrics.
	Gatherer prometheus.Gatherer
}

func (c *Config) controller() bool { return c.Mode == ModeController || c.Mode == ModeAll }
func (c *Config) node() bool       { return c.Mode == ModeNode || c.Mode == ModeAll }

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if !cfg.controller() && !cfg.node() {
		return fmt.Errorf("mode %q: want %s, %s or %s", cfg.Mode, ModeController, ModeNode, ModeAll)
	}
	if cfg.Cloud == nil {
		return errors.New("no IaaS client")
	}
	socket, err := ParseEndpoint(cfg.Endpoint)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	mm := metrics.NewCSIMetricsManagerForPlugin(DriverName)
	if cfg.Gatherer != nil {
		mm = mm.WithAdditionalRegistry(cfg.Gatherer)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(interceptor(mm)))
	csi.RegisterIdentityServer(srv, NewIdentityServer(cfg.Version, cfg.controller(), nil))
	if cfg.controller() {
		cs := NewControllerServer(cfg.Cloud, cfg.DefaultZone)
		cs.clusterID = cfg.ClusterID
		csi.RegisterControllerServer(srv, cs)
	}
	if cfg.node() {
		csi.RegisterNodeServer(srv, newNode(&cfg))
	}

	l, err := listenUnix(socket)
	if err != nil {
		return err
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(l) }()
	klog.InfoS("Serving CSI", "driver", DriverName, "version", cfg.Version, "mode", cfg.Mode, "endpoint", socket)

	var reg *RegistrationServer
	if cfg.node() && cfg.KubeletRegistrationPath != "" {
		dir := cfg.RegistrationDir
		if dir == "" {
			dir = DefaultRegistrationDir
		}
		reg = NewRegistrationServer(cfg.KubeletRegistrationPath)
		regSock := RegistrationSocket(dir)
		go func() { errc <- reg.Serve(ctx, regSock) }()
		// Without the socket kubelet's watcher unregisters the plugin on shutdown.
		defer os.Remove(regSock)
	}

	var httpSrv *http.Server
	if cfg.HTTPEndpoint != "" {
		hh, err := newHealthHandler(socket, reg)
		if err != nil {
			return err
		}
		defer hh.Close()
		mux := http.NewServeMux()
		mux.Handle("/healthz", hh)
		mm.RegisterToServer(mux, "/metrics")
		hl, err := net.Listen("tcp", cfg.HTTPEndpoint)
		if err != nil {
			return fmt.Errorf("http endpoint: %w", err)
		}
		httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- httpSrv.Serve(hl) }()
		klog.InfoS("Serving /healthz and /metrics", "address", hl.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		klog.ErrorS(err, "A server stopped")
	}
	if httpSrv != nil {
		_ = httpSrv.Close()
	}
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		srv.Stop()
	}
	_ = os.Remove(socket)
	return err
}

func newNode(cfg *Config) *NodeServer {
	m := cfg.Mounter
	if m == nil {
		m = NewMounter()
	}
	d := cfg.Devices
	if d == nil {
		d = ByIDFinder{}
	}
	ns := NewNodeServer(m, d, NodeIdentityFunc(cfg.Cloud, cfg.NodeID, cfg.Zone))
	return ns.WithBackendProbe(func(ctx context.Context) error {
		_, err := cfg.Cloud.Identity(ctx)
		return err
	})
}

// NodeIdentityFunc learns the node from the metadata endpoint; nodeID and zone, when
// set, override it (and stand in for it when it does not answer).
func NodeIdentityFunc(cloud Cloud, nodeID, zone string) func(ctx context.Context) (*NodeIdentity, error) {
	return func(ctx context.Context) (*NodeIdentity, error) {
		id, err := cloud.Identity(ctx)
		if err != nil {
			if nodeID == "" {
				return nil, err
			}
			klog.ErrorS(err, "The metadata endpoint did not answer; using --node-id alone (no attach limit)", "nodeID", nodeID)
			id = &iaasclient.Identity{}
		}
		n := &NodeIdentity{NodeID: id.InstanceID, Zone: id.Zone, MaxVolumes: int64(id.MaxDisks)}
		if nodeID != "" {
			n.NodeID = nodeID
		}
		if zone != "" {
			n.Zone = zone
		}
		if n.NodeID == "" {
			return nil, errors.New("the metadata endpoint named no instance")
		}
		return n, nil
	}
}
