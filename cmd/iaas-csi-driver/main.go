// Command iaas-csi-driver is the CSI driver for the IaaS's network disks: one binary,
// the controller service (--mode=controller, in a Deployment), the node service
// (--mode=node, in a DaemonSet, registering itself with kubelet), or both (--mode=all,
// for tests and single-machine setups).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/kube-iaas/kube-iaas/csi"
	"github.com/kube-iaas/kube-iaas/iaasclient"
	iaasmetrics "github.com/kube-iaas/kube-iaas/iaasclient/metrics"
)

// version is set with -ldflags "-X main.version=...".
var version = "dev"

type options struct {
	mode, endpoint                       string
	cloudConfig, iaasEndpoint, credsFile string
	sourceIP                             string
	nodeID, zone, defaultZone            string
	clusterID                            string
	httpEndpoint                         string
	kubeletRegistrationPath, regDir      string
	fakeMounter                          bool
	fakeDeviceDir                        string
	showVersion                          bool
}

func main() {
	klog.InitFlags(nil)
	var o options
	flag.StringVar(&o.mode, "mode", csi.ModeAll, "services to run: controller, node or all")
	flag.StringVar(&o.endpoint, "endpoint", "unix:///csi/csi.sock", "CSI socket (unix:///path)")
	flag.StringVar(&o.cloudConfig, "cloud-config", "", "cloud config file (the CCM's: endpoint, credentialsFile, tls; other fields are ignored)")
	flag.StringVar(&o.iaasEndpoint, "iaas-endpoint", "", "IaaS API base URL (overrides the cloud config)")
	flag.StringVar(&o.credsFile, "credentials-file", "", "tenant access key file {accessKeyId, secretKey} (overrides the cloud config)")
	flag.StringVar(&o.sourceIP, "iaas-source-ip", "", "local address for IaaS connections; the IaaS identifies the caller by it (default: the kernel's choice)")
	flag.StringVar(&o.nodeID, "node-id", "", "instance id of this node (default: from the IaaS metadata endpoint)")
	flag.StringVar(&o.zone, "zone", "", "zone of this node (default: from the IaaS metadata endpoint)")
	flag.StringVar(&o.defaultZone, "default-zone", "", "zone of volumes that name none (default: the controller's own zone)")
	flag.StringVar(&o.clusterID, "cluster-id", "", "tag for the disks and snapshots the controller creates, so the CCM's orphan sweeper knows them as this cluster's (default: clusterId of the cloud config)")
	flag.StringVar(&o.httpEndpoint, "http-endpoint", "", "address for /healthz and /metrics, e.g. :9808 (empty: off)")
	flag.StringVar(&o.kubeletRegistrationPath, "kubelet-registration-path", "", "CSI socket path as kubelet sees it; set, the node plugin registers itself with kubelet")
	flag.StringVar(&o.regDir, "plugin-registration-dir", csi.DefaultRegistrationDir, "kubelet's plugin registration directory")
	flag.BoolVar(&o.fakeMounter, "fake-mounter", false, "TESTING ONLY: keep mounts in memory and take a disk the IaaS reports attached as present (for machines without root)")
	flag.StringVar(&o.fakeDeviceDir, "fake-device-dir", filepath.Join(os.TempDir(), "iaas-csi-fake-devices"), "TESTING ONLY: where --fake-mounter makes its stand-in device files")
	flag.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	flag.Usage = usage
	flag.Parse()
	if o.showVersion {
		fmt.Println(version)
		return
	}
	if err := run(o); err != nil {
		klog.ErrorS(err, "iaas-csi-driver failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

// usage leaves out the --fake-* flags: they exist for tests on machines without root
// and must not look like a deployment option.
func usage() {
	out := flag.CommandLine.Output()
	fmt.Fprintf(out, "Usage: %s [flags]\n\nFlags:\n", os.Args[0])
	flag.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "fake-") {
			return
		}
		fmt.Fprintf(out, "  -%s\n    \t%s", f.Name, f.Usage)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(out, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(out)
	})
}

// cloudFile is the part of the CCM's cloud config the driver reads. Parsing is not
// strict, so one file serves both binaries.
type cloudFile struct {
	Provider     string `json:"provider"`
	Region       string `json:"region"`
	VpcID        string `json:"vpcId"`
	TencentCloud struct {
		AccountID   string `json:"accountId"`
		MetadataURL string `json:"metadataURL"`
		// MaxDisksPerNode overrides CBS's 20 data disks per CVM.
		MaxDisksPerNode int `json:"maxDisksPerNode"`
	} `json:"tencentcloud"`
	ClusterID       string `json:"clusterId"`
	Endpoint        string `json:"endpoint"`
	CredentialsFile string `json:"credentialsFile"`
	TLS             struct {
		CAFile     string `json:"caFile"`
		CertFile   string `json:"certFile"`
		KeyFile    string `json:"keyFile"`
		ServerName string `json:"serverName"`
	} `json:"tls"`
}

func readCloudFile(path string) (cloudFile, error) {
	var cf cloudFile
	if path == "" {
		return cf, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cf, fmt.Errorf("--cloud-config: %w", err)
	}
	if err := yaml.Unmarshal(b, &cf); err != nil {
		return cf, fmt.Errorf("--cloud-config %s: %w", path, err)
	}
	return cf, nil
}

func clientConfig(o options) (iaasclient.Config, error) {
	cf, err := readCloudFile(o.cloudConfig)
	if err != nil {
		return iaasclient.Config{}, err
	}
	cfg := iaasclient.Config{
		Endpoint:  cf.Endpoint,
		LocalAddr: o.sourceIP,
		UserAgent: "iaas-csi-driver/" + version,
		TLS: iaasclient.TLSConfig{
			CAFile: cf.TLS.CAFile, CertFile: cf.TLS.CertFile, KeyFile: cf.TLS.KeyFile, ServerName: cf.TLS.ServerName,
		},
	}
	if o.iaasEndpoint != "" {
		cfg.Endpoint = o.iaasEndpoint
	}
	if cfg.Endpoint == "" {
		return cfg, fmt.Errorf("no IaaS endpoint: set --iaas-endpoint or endpoint in --cloud-config")
	}
	creds := cf.CredentialsFile
	if o.credsFile != "" {
		creds = o.credsFile
	}
	switch {
	case creds != "":
		c, err := iaasclient.LoadCredentialsFile(creds)
		if err != nil {
			return cfg, err
		}
		cfg.Credentials = c
	case o.mode != csi.ModeNode || o.fakeMounter:
		// The node service only asks the unsigned metadata endpoint; everything else
		// signs its requests.
		return cfg, fmt.Errorf("no credentials: set --credentials-file or credentialsFile in --cloud-config")
	}
	return cfg, nil
}

func run(o options) error {
	cf, err := readCloudFile(o.cloudConfig)
	if err != nil {
		return err
	}
	if cf.Provider == "tencentcloud" {
		// CBS snapshots carry no tags (a cluster tag would fail CreateSnapshot), and the
		// CCM sweeps no disk on this backend: nothing to mark.
		o.clusterID = ""
		return runTencentCloud(o, cf)
	}
	if o.clusterID == "" {
		o.clusterID = cf.ClusterID
	}
	cfg, err := clientConfig(o)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	obs, err := iaasmetrics.New(reg)
	if err != nil {
		return err
	}
	cfg.Observer = obs
	client, err := iaasclient.New(cfg)
	if err != nil {
		return fmt.Errorf("IaaS client: %w", err)
	}
	defer client.Close()
	return serve(o, csi.NewCloud(client), reg)
}

// serve runs the driver on cloud, whichever backend it speaks to.
func serve(o options, cloud csi.Cloud, reg *prometheus.Registry) error {
	dc := csi.Config{
		Mode: o.mode, Endpoint: o.endpoint, Version: version, Cloud: cloud,
		NodeID: o.nodeID, Zone: o.zone, DefaultZone: o.defaultZone, ClusterID: o.clusterID,
		HTTPEndpoint:            o.httpEndpoint,
		KubeletRegistrationPath: o.kubeletRegistrationPath,
		RegistrationDir:         o.regDir,
		Gatherer:                reg,
	}
	if o.fakeMounter {
		klog.InfoS("TESTING ONLY: fake mounter; nothing is formatted or mounted", "deviceDir", o.fakeDeviceDir)
		dc.Mounter = csi.NewFakeMounter()
		who := csi.NodeIdentityFunc(cloud, o.nodeID, o.zone)
		dc.Devices = csi.IaaSFinder{Cloud: cloud, Dir: o.fakeDeviceDir, NodeID: func(ctx context.Context) (string, error) {
			id, err := who(ctx)
			if err != nil {
				return "", err
			}
			return id.NodeID, nil
		}}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return csi.Run(ctx, dc)
}
