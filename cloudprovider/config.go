package cloudprovider

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Config is the cloud config file (--cloud-config), YAML or JSON.
//
//	provider: sim                           # sim (our IaaS API, default) | tencentcloud
//	endpoint: https://iaas.example:8443     # IaaS API base URL (required for sim; for
//	                                        # tencentcloud it overrides the official domains)
//	region: region-1                        # region of the cluster (required)
//	vpcId: vpc-123                          # VPC of the nodes (required)
//	routeTableId: rtb-123                   # route table for pod CIDR routes (required for routes)
//	clusterId: prod-1                       # tags every owned route and load balancer (required)
//	credentialsFile: /etc/kube-iaas/creds   # tenant access key file (required for sim; for
//	                                        # tencentcloud: SecretId/SecretKey, or env
//	                                        # TENCENTCLOUD_SECRET_ID/_KEY when absent)
//	tencentcloud:
//	  accountId: "100012345678"             # UIN, for tag changes after creation (optional)
//	  metadataURL: http://metadata.tencentyun.com  # CVM metadata service (default)
//	tls:
//	  caFile: /etc/kube-iaas/ca.crt         # CA of the API's certificate (default: system roots)
//	  certFile: /etc/kube-iaas/client.crt   # client certificate (mutual TLS), with keyFile
//	  keyFile: /etc/kube-iaas/client.key
//	  serverName: iaas.example              # overrides the name checked in the certificate
//	localAddr: 10.0.0.5                     # source IP of API connections (default: kernel's choice)
//	loadBalancer:
//	  defaultType: public                   # public | internal, when a Service says nothing
//	  subnetId: subnet-1                    # subnet for internal VIPs (optional)
//	  backendUpdateDelay: 1s                # node changes within this are one write per LB (0s: write each at once; max 5s)
//	fencedFailover:
//	  enabled: true                         # default true
//	  period: 5s                            # how often instance states are checked
//	  releasePods: true                     # default true: force-delete the terminating pods of fenced nodes
//	orphanSweeper:
//	  enabled: true                         # default true: delete LBs, disks and snapshots of this cluster whose Service, PV or VolumeSnapshotContent is gone
//	  gracePeriod: 10m                      # how long an object must stay orphaned before it is deleted
//	  period: 1m                            # how often the sweeper looks
//	cacheTTL: 5s                            # how long an IaaS Describe answer is reused
type Config struct {
	Provider        string       `json:"provider,omitempty"`
	Endpoint        string       `json:"endpoint"`
	Region          string       `json:"region"`
	VpcID           string       `json:"vpcId"`
	RouteTableID    string       `json:"routeTableId"`
	ClusterID       string       `json:"clusterId"`
	CredentialsFile string       `json:"credentialsFile"`
	TLS             ic.TLSConfig `json:"tls"`
	// LocalAddr matters because the IaaS authorizes by source address as well as by
	// key: on a host with several addresses the CCM must speak from the tenant's one.
	LocalAddr      string               `json:"localAddr,omitempty"`
	LoadBalancer   LoadBalancerConfig   `json:"loadBalancer"`
	FencedFailover FencedFailoverConfig `json:"fencedFailover"`
	OrphanSweeper  OrphanSweeperConfig  `json:"orphanSweeper"`
	CacheTTL       Duration             `json:"cacheTTL"`
	TencentCloud   TencentCloudConfig   `json:"tencentcloud"`
}

// Backends of the IaaS API (cloud config field provider).
const (
	ProviderSim          = "sim"
	ProviderTencentCloud = "tencentcloud"
)

// TencentCloudConfig holds the fields only the tencentcloud backend reads.
type TencentCloudConfig struct {
	AccountID   string `json:"accountId,omitempty"`
	MetadataURL string `json:"metadataURL,omitempty"`
}

// OrphanSweeperConfig configures the deletion of load balancers whose Service is gone,
// and of disks and snapshots whose PV or VolumeSnapshotContent is gone.
type OrphanSweeperConfig struct {
	// Enabled is a pointer so that an absent field means the default (on).
	Enabled     *bool    `json:"enabled,omitempty"`
	GracePeriod Duration `json:"gracePeriod,omitempty"`
	Period      Duration `json:"period,omitempty"`
}

// SweeperEnabled reports whether the orphan sweeper runs.
func (c *Config) SweeperEnabled() bool {
	return c.OrphanSweeper.Enabled == nil || *c.OrphanSweeper.Enabled
}

// Defaults of the orphan sweeper.
const (
	DefaultSweeperGrace  = 10 * time.Minute
	DefaultSweeperPeriod = time.Minute
)

// LoadBalancerConfig holds defaults for Services that do not say otherwise.
type LoadBalancerConfig struct {
	DefaultType ic.LoadBalancerType `json:"defaultType,omitempty"`
	SubnetID    string              `json:"subnetId,omitempty"`
	// BackendUpdateDelay is how long a node change may wait for others before the
	// backends of an LB are written: a burst of joins is one write per LB instead of
	// one per service-controller pass. A pointer: absent means the default, 0s off.
	BackendUpdateDelay *Duration `json:"backendUpdateDelay,omitempty"`
}

// DefaultBackendUpdateDelay is the default of loadBalancer.backendUpdateDelay.
const (
	DefaultBackendUpdateDelay = time.Second
	maxBackendUpdateDelay     = 5 * time.Second
)

// BackendDelay is the effective loadBalancer.backendUpdateDelay.
func (c *LoadBalancerConfig) BackendDelay() time.Duration {
	if c.BackendUpdateDelay == nil {
		return DefaultBackendUpdateDelay
	}
	return c.BackendUpdateDelay.Duration
}

// FencedFailoverConfig configures the out-of-service taint controller.
type FencedFailoverConfig struct {
	// Enabled is a pointer so that an absent field means the default (on).
	Enabled *bool    `json:"enabled,omitempty"`
	Period  Duration `json:"period,omitempty"`
	// ReleasePods lets the controller force-delete the terminating pods of a node whose
	// instance is STOPPED, instead of leaving them to pod GC, which waits until the node
	// is NotReady. A pointer for the same reason as Enabled; no effect when disabled.
	ReleasePods *bool `json:"releasePods,omitempty"`
}

// Duration reads "5s"-style strings in the config file.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		d.Duration = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// Defaults of the optional fields.
const (
	DefaultCacheTTL       = 5 * time.Second
	DefaultFailoverPeriod = 5 * time.Second
	// maxCacheTTL bounds staleness: a longer TTL would delay noticing stopped instances
	// past the node monitor grace period.
	maxCacheTTL = 60 * time.Second
)

// FailoverEnabled reports whether the fenced failover controller runs.
func (c *Config) FailoverEnabled() bool {
	return c.FencedFailover.Enabled == nil || *c.FencedFailover.Enabled
}

// FailoverReleasesPods reports whether the fenced failover controller force-deletes the
// terminating pods of fenced nodes.
func (c *Config) FailoverReleasesPods() bool {
	return c.FencedFailover.ReleasePods == nil || *c.FencedFailover.ReleasePods
}

var clusterIDRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// ReadConfig parses and validates a cloud config. A nil reader (no --cloud-config) is
// an error: the provider cannot guess the endpoint or the tenant.
func ReadConfig(r io.Reader) (*Config, error) {
	if r == nil {
		return nil, errors.New("iaas cloud provider: no cloud config given (--cloud-config): endpoint, region, vpcId, clusterId and credentialsFile are required")
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("iaas cloud provider: reading cloud config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("iaas cloud provider: parsing cloud config: %w", err)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) setDefaults() {
	if c.CacheTTL.Duration == 0 {
		c.CacheTTL.Duration = DefaultCacheTTL
	}
	if c.FencedFailover.Period.Duration == 0 {
		c.FencedFailover.Period.Duration = DefaultFailoverPeriod
	}
	if c.OrphanSweeper.GracePeriod.Duration == 0 {
		c.OrphanSweeper.GracePeriod.Duration = DefaultSweeperGrace
	}
	if c.OrphanSweeper.Period.Duration == 0 {
		c.OrphanSweeper.Period.Duration = DefaultSweeperPeriod
	}
	if c.Provider == "" {
		c.Provider = ProviderSim
	}
	if c.LoadBalancer.DefaultType == "" {
		c.LoadBalancer.DefaultType = ic.LoadBalancerPublic
	}
}

// Validate names the first offending field.
func (c *Config) Validate() error {
	bad := func(field, why string) error {
		return fmt.Errorf("iaas cloud provider: cloud config field %q %s", field, why)
	}
	switch c.Provider {
	case ProviderSim, ProviderTencentCloud:
	default:
		return bad("provider", fmt.Sprintf("must be %s or %s, got %q", ProviderSim, ProviderTencentCloud, c.Provider))
	}
	tc := c.Provider == ProviderTencentCloud
	if c.Endpoint == "" && !tc {
		return bad("endpoint", "is required")
	}
	if u, err := url.Parse(c.Endpoint); c.Endpoint != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return bad("endpoint", fmt.Sprintf("must be an http(s) URL, got %q", c.Endpoint))
	}
	if c.Region == "" {
		return bad("region", "is required")
	}
	if c.VpcID == "" {
		return bad("vpcId", "is required")
	}
	if !strings.HasPrefix(c.VpcID, "vpc-") {
		return bad("vpcId", fmt.Sprintf("must look like vpc-…, got %q", c.VpcID))
	}
	if c.RouteTableID != "" && !strings.HasPrefix(c.RouteTableID, "rtb-") {
		return bad("routeTableId", fmt.Sprintf("must look like rtb-…, got %q", c.RouteTableID))
	}
	if c.ClusterID == "" {
		return bad("clusterId", "is required (it tags every route and load balancer this cluster owns)")
	}
	if !clusterIDRe.MatchString(c.ClusterID) {
		return bad("clusterId", fmt.Sprintf("must be 1-40 lowercase letters, digits or '-', got %q", c.ClusterID))
	}
	if c.CredentialsFile == "" && !tc {
		return bad("credentialsFile", "is required")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return bad("tls.certFile", "and tls.keyFile must be set together")
	}
	if u, _ := url.Parse(c.Endpoint); u.Scheme == "http" && (c.TLS.CAFile != "" || c.TLS.CertFile != "") {
		return bad("tls", "is set but endpoint is plain http")
	}
	if c.LocalAddr != "" {
		if _, err := netip.ParseAddr(c.LocalAddr); err != nil {
			return bad("localAddr", fmt.Sprintf("must be an IP address, got %q", c.LocalAddr))
		}
	}
	switch c.LoadBalancer.DefaultType {
	case ic.LoadBalancerPublic, ic.LoadBalancerInternal:
	default:
		return bad("loadBalancer.defaultType", fmt.Sprintf("must be public or internal, got %q", c.LoadBalancer.DefaultType))
	}
	if d := c.LoadBalancer.BackendDelay(); d < 0 || d > maxBackendUpdateDelay {
		return bad("loadBalancer.backendUpdateDelay", fmt.Sprintf("must be between 0s and %v, got %v", maxBackendUpdateDelay, d))
	}
	if c.OrphanSweeper.GracePeriod.Duration < 0 {
		return bad("orphanSweeper.gracePeriod", fmt.Sprintf("must not be negative, got %v", c.OrphanSweeper.GracePeriod.Duration))
	}
	if c.OrphanSweeper.Period.Duration < time.Second {
		return bad("orphanSweeper.period", fmt.Sprintf("must be at least 1s, got %v", c.OrphanSweeper.Period.Duration))
	}
	if c.CacheTTL.Duration < 0 || c.CacheTTL.Duration > maxCacheTTL {
		return bad("cacheTTL", fmt.Sprintf("must be between 0 and %v, got %v", maxCacheTTL, c.CacheTTL.Duration))
	}
	if c.FencedFailover.Period.Duration < time.Second {
		return bad("fencedFailover.period", fmt.Sprintf("must be at least 1s, got %v", c.FencedFailover.Period.Duration))
	}
	return nil
}
