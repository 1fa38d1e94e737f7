package iaassim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Config is the simulator's configuration file (YAML or JSON). Every field is optional
// except tenants; see cmd/iaas-sim/example-config.yaml.
type Config struct {
	// Region of every VPC and instance. Default "sim-1".
	Region string `json:"region,omitempty"`
	// Zones of the region. Disks may be created in these, in the zone of any instance,
	// and in the default zone (the first of Zones, else "<region>a"), which is also the
	// zone of instances whose backend reports none.
	Zones []string `json:"zones,omitempty"`
	// RouteLimit is the default routes per table. Default 50.
	RouteLimit int `json:"routeLimit,omitempty"`
	// TaskDelay is how long an async task waits before its worker runs it. Default 100ms.
	TaskDelay *Duration `json:"taskDelay,omitempty"`
	// InstanceSyncInterval is how often the instance backend is listed. Default 2s.
	InstanceSyncInterval *Duration `json:"instanceSyncInterval,omitempty"`
	// TimeoutFaultDelay is how long an "accept then time out" fault holds the response
	// (unless the client goes away first). Default 60s.
	TimeoutFaultDelay *Duration `json:"timeoutFaultDelay,omitempty"`
	// LoadBalancerPools are the VIP pools per load balancer type (public, internal),
	// used by the noop/static data plane. Defaults 198.51.100.0/24 and 10.255.0.0/24.
	LoadBalancerPools map[iaasclient.LoadBalancerType]string `json:"loadBalancerPools,omitempty"`
	Tenants           []TenantConfig                         `json:"tenants"`
	// StaticInstances are the instances of the static backend.
	StaticInstances []StaticInstanceConfig `json:"staticInstances,omitempty"`
	// InstanceTenancy assigns instances of a non-static backend (docker, netns) to a
	// tenant and VPC. Without rules, a config with exactly one tenant gets every
	// instance in its first VPC; otherwise unassigned instances are invisible.
	InstanceTenancy []InstanceTenancyRule `json:"instanceTenancy,omitempty"`
	// Faults per action ("*" applies to every action without its own entry).
	Faults map[string]FaultSpec `json:"faults,omitempty"`
}

// TenantConfig is one tenant.
type TenantConfig struct {
	Name       string                   `json:"name"`
	AccessKeys []iaasclient.Credentials `json:"accessKeys"`
	// AdminCIDRs are source networks allowed besides the tenant's instances.
	AdminCIDRs []string    `json:"adminCidrs,omitempty"`
	Quotas     QuotaConfig `json:"quotas,omitempty"`
	Vpcs       []VpcConfig `json:"vpcs"`
}

// QuotaConfig are per-tenant limits; 0 means the default.
type QuotaConfig struct {
	Disks                    int `json:"disks,omitempty"`
	DiskGiB                  int `json:"diskGiB,omitempty"`
	Snapshots                int `json:"snapshots,omitempty"`
	LoadBalancers            int `json:"loadBalancers,omitempty"`
	ListenersPerLoadBalancer int `json:"listenersPerLoadBalancer,omitempty"`
}

// Default quotas.
var DefaultQuotas = QuotaConfig{Disks: 500, DiskGiB: 100000, Snapshots: 500, LoadBalancers: 100, ListenersPerLoadBalancer: 50}

// VpcConfig is one VPC of a tenant.
type VpcConfig struct {
	// VpcID defaults to vpc-<hash of tenant and name>.
	VpcID       string             `json:"vpcId,omitempty"`
	Name        string             `json:"name"`
	CidrBlock   string             `json:"cidrBlock"`
	Tags        map[string]string  `json:"tags,omitempty"`
	RouteTables []RouteTableConfig `json:"routeTables,omitempty"`
}

// RouteTableConfig is one route table; a VPC without any gets one named "default".
type RouteTableConfig struct {
	RouteTableID string            `json:"routeTableId,omitempty"`
	Name         string            `json:"name"`
	RouteLimit   int               `json:"routeLimit,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
}

// StaticInstanceConfig is an instance of the static backend.
type StaticInstanceConfig struct {
	// Key is the backend's identity of the machine; defaults to Name.
	Key          string                   `json:"key,omitempty"`
	Name         string                   `json:"name"`
	Tenant       string                   `json:"tenant"`
	VpcID        string                   `json:"vpcId,omitempty"` // default: the tenant's first VPC
	Zone         string                   `json:"zone,omitempty"`
	InstanceType string                   `json:"instanceType,omitempty"`
	PrivateIPs   []string                 `json:"privateIps"`
	PublicIP     string                   `json:"publicIp,omitempty"`
	MaxDisks     int                      `json:"maxDisks,omitempty"`
	State        iaasclient.InstanceState `json:"state,omitempty"`
	Tags         map[string]string        `json:"tags,omitempty"`
}

// InstanceTenancyRule assigns the instances of a non-static backend whose name starts
// with NamePrefix ("" matches all) to a tenant and VPC. The first matching rule wins.
type InstanceTenancyRule struct {
	NamePrefix string `json:"namePrefix,omitempty"`
	Tenant     string `json:"tenant"`
	VpcID      string `json:"vpcId,omitempty"`
}

// FaultSpec is the fault injection of one action. Rates are probabilities 0..1.
type FaultSpec struct {
	// ErrorRate answers InternalError (500) without performing the action.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// ThrottleRate answers RequestLimitExceeded (429) with Retry-After.
	ThrottleRate float64 `json:"throttleRate,omitempty"`
	// RetryAfterSeconds is the Retry-After of throttled answers (default 1).
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// Latency is added before the action runs.
	Latency *Duration `json:"latency,omitempty"`
	// TimeoutRate performs the action, then holds the response until the client gives
	// up (or TimeoutFaultDelay passes) and drops the connection.
	TimeoutRate float64 `json:"timeoutRate,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("150ms") in JSON/YAML.
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a duration string such as \"100ms\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"100ms\"", s)
	}
	if v < 0 {
		return fmt.Errorf("must not be negative")
	}
	d.Duration = v
	return nil
}

func durOr(d *Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// LoadConfig reads and validates a YAML or JSON config file.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(raw)
}

// ParseConfig parses and validates a YAML or JSON config.
func ParseConfig(raw []byte) (*Config, error) {
	// Strict: a key given twice (YAML or JSON) is refused, as in API bodies.
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, fmt.Errorf("config: not YAML or JSON: %w", err)
	}
	var c Config
	if e := DecodeStrict(js, &c); e != nil {
		return nil, fmt.Errorf("config: %s", e.Message)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func derivedID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:12]
}

// Validate checks the config, fills defaults and derived ids, and returns an error
// naming the first bad field.
func (c *Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, args...))
	}
	if c.Region == "" {
		c.Region = "sim-1"
	}
	if c.RouteLimit < 0 {
		return bad("routeLimit", "must not be negative")
	}
	if c.RouteLimit == 0 {
		c.RouteLimit = 50
	}
	for i, z := range c.Zones {
		if z == "" {
			return bad(fmt.Sprintf("zones[%d]", i), "must not be empty")
		}
	}
	for t, p := range c.LoadBalancerPools {
		if t != iaasclient.LoadBalancerPublic && t != iaasclient.LoadBalancerInternal {
			return bad(fmt.Sprintf("loadBalancerPools[%q]", t), "type must be public or internal")
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			return bad(fmt.Sprintf("loadBalancerPools[%q]", t), "%q is not a CIDR", p)
		}
	}
	if len(c.Tenants) == 0 {
		return bad("tenants", "at least one tenant is required")
	}
	tenants := map[string]bool{}
	keys := map[string]string{}
	vpcs := map[string]string{} // vpc id -> tenant
	rtbs := map[string]bool{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		p := fmt.Sprintf("tenants[%d]", i)
		if t.Name == "" {
			return bad(p+".name", "is required")
		}
		if tenants[t.Name] {
			return bad(p+".name", "duplicate tenant %q", t.Name)
		}
		tenants[t.Name] = true
		if len(t.AccessKeys) == 0 {
			return bad(p+".accessKeys", "at least one access key is required")
		}
		for j, k := range t.AccessKeys {
			kp := fmt.Sprintf("%s.accessKeys[%d]", p, j)
			if k.AccessKeyID == "" {
				return bad(kp+".accessKeyId", "is required")
			}
			if len(k.SecretKey) < 8 {
				return bad(kp+".secretKey", "must be at least 8 characters")
			}
			if other, dup := keys[k.AccessKeyID]; dup {
				return bad(kp+".accessKeyId", "%q is already a key of tenant %q", k.AccessKeyID, other)
			}
			keys[k.AccessKeyID] = t.Name
		}
		for j, cidr := range t.AdminCIDRs {
			if _, err := netip.ParsePrefix(cidr); err != nil {
				return bad(fmt.Sprintf("%s.adminCidrs[%d]", p, j), "%q is not a CIDR", cidr)
			}
		}
		q := &t.Quotas
		for _, f := range []struct {
			name string
			v    *int
			def  int
		}{{"disks", &q.Disks, DefaultQuotas.Disks}, {"diskGiB", &q.DiskGiB, DefaultQuotas.DiskGiB}, {"snapshots", &q.Snapshots, DefaultQuotas.Snapshots}, {"loadBalancers", &q.LoadBalancers, DefaultQuotas.LoadBalancers}, {"listenersPerLoadBalancer", &q.ListenersPerLoadBalancer, DefaultQuotas.ListenersPerLoadBalancer}} {
			if *f.v < 0 {
				return bad(p+".quotas."+f.name, "must not be negative")
			}
			if *f.v == 0 {
				*f.v = f.def
			}
		}
		if len(t.Vpcs) == 0 {
			return bad(p+".vpcs", "at least one VPC is required")
		}
		for j := range t.Vpcs {
			v := &t.Vpcs[j]
			vp := fmt.Sprintf("%s.vpcs[%d]", p, j)
			if v.Name == "" {
				return bad(vp+".name", "is required")
			}
			if v.VpcID == "" {
				v.VpcID = derivedID("vpc-", t.Name, v.Name)
			}
			if len(v.VpcID) < 5 || v.VpcID[:4] != "vpc-" {
				return bad(vp+".vpcId", "must start with vpc-")
			}
			if _, dup := vpcs[v.VpcID]; dup {
				return bad(vp+".vpcId", "duplicate VPC id %q", v.VpcID)
			}
			vpcs[v.VpcID] = t.Name
			if _, err := netip.ParsePrefix(v.CidrBlock); err != nil {
				return bad(vp+".cidrBlock", "%q is not a CIDR", v.CidrBlock)
			}
			if len(v.RouteTables) == 0 {
				v.RouteTables = []RouteTableConfig{{Name: "default"}}
			}
			for k := range v.RouteTables {
				r := &v.RouteTables[k]
				rp := fmt.Sprintf("%s.routeTables[%d]", vp, k)
				if r.Name == "" {
					return bad(rp+".name", "is required")
				}
				if r.RouteTableID == "" {
					r.RouteTableID = derivedID("rtb-", t.Name, v.VpcID, r.Name)
				}
				if len(r.RouteTableID) < 5 || r.RouteTableID[:4] != "rtb-" {
					return bad(rp+".routeTableId", "must start with rtb-")
				}
				if rtbs[r.RouteTableID] {
					return bad(rp+".routeTableId", "duplicate route table id %q", r.RouteTableID)
				}
				rtbs[r.RouteTableID] = true
				if r.RouteLimit < 0 {
					return bad(rp+".routeLimit", "must not be negative")
				}
				if r.RouteLimit == 0 {
					r.RouteLimit = c.RouteLimit
				}
			}
		}
	}
	firstVpc := func(tenant string) string {
		for _, t := range c.Tenants {
			if t.Name == tenant {
				return t.Vpcs[0].VpcID
			}
		}
		return ""
	}
	staticKeys := map[string]bool{}
	for i := range c.StaticInstances {
		s := &c.StaticInstances[i]
		p := fmt.Sprintf("staticInstances[%d]", i)
		if s.Name == "" {
			return bad(p+".name", "is required")
		}
		if s.Key == "" {
			s.Key = s.Name
		}
		if staticKeys[s.Key] {
			return bad(p+".key", "duplicate key %q", s.Key)
		}
		staticKeys[s.Key] = true
		if !tenants[s.Tenant] {
			return bad(p+".tenant", "unknown tenant %q", s.Tenant)
		}
		if s.VpcID == "" {
			s.VpcID = firstVpc(s.Tenant)
		}
		if vpcs[s.VpcID] != s.Tenant {
			return bad(p+".vpcId", "%q is not a VPC of tenant %q", s.VpcID, s.Tenant)
		}
		if len(s.PrivateIPs) == 0 {
			return bad(p+".privateIps", "at least one address is required")
		}
		for j, ip := range s.PrivateIPs {
			if _, err := netip.ParseAddr(ip); err != nil {
				return bad(fmt.Sprintf("%s.privateIps[%d]", p, j), "%q is not an IP address", ip)
			}
		}
		if s.PublicIP != "" {
			if _, err := netip.ParseAddr(s.PublicIP); err != nil {
				return bad(p+".publicIp", "%q is not an IP address", s.PublicIP)
			}
		}
		if s.MaxDisks < 0 {
			return bad(p+".maxDisks", "must not be negative")
		}
		switch s.State {
		case "", iaasclient.InstanceRunning, iaasclient.InstanceStopped, iaasclient.InstancePending:
		default:
			return bad(p+".state", "must be RUNNING, STOPPED or PENDING")
		}
	}
	// One source address, one tenant (addrowner.go): no two tenants' admin CIDRs may
	// overlap, and no static instance may sit in another tenant's CIDR or share an
	// address with another instance.
	if cf := checkClaims(configClaims(c)); cf != nil {
		return bad(cf.New.field, "%s", cf.Error())
	}
	for i := range c.InstanceTenancy {
		r := &c.InstanceTenancy[i]
		p := fmt.Sprintf("instanceTenancy[%d]", i)
		if !tenants[r.Tenant] {
			return bad(p+".tenant", "unknown tenant %q", r.Tenant)
		}
		if r.VpcID == "" {
			r.VpcID = firstVpc(r.Tenant)
		}
		if vpcs[r.VpcID] != r.Tenant {
			return bad(p+".vpcId", "%q is not a VPC of tenant %q", r.VpcID, r.Tenant)
		}
	}
	for a, f := range c.Faults {
		if err := f.validate(); err != nil {
			return bad(fmt.Sprintf("faults[%q].%s", a, err.field), "%s", err.msg)
		}
		if a != "*" && !knownAction(a) {
			return bad(fmt.Sprintf("faults[%q]", a), "unknown action")
		}
	}
	return nil
}

type fieldErr struct{ field, msg string }

func (f FaultSpec) validate() *fieldErr {
	for _, r := range []struct {
		n string
		v float64
	}{{"errorRate", f.ErrorRate}, {"throttleRate", f.ThrottleRate}, {"timeoutRate", f.TimeoutRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			return &fieldErr{r.n, "must be between 0 and 1"}
		}
	}
	if f.RetryAfterSeconds < 0 || f.RetryAfterSeconds > 3600 {
		return &fieldErr{"retryAfterSeconds", "must be 0-3600"}
	}
	if f.Latency != nil && f.Latency.Duration > 10*time.Minute {
		return &fieldErr{"latency", "at most 10m"}
	}
	return nil
}

// MetadataAction is the fault/counter label of the metadata endpoint.
const MetadataAction = "Identity"

func knownAction(a string) bool {
	if a == MetadataAction {
		return true
	}
	for _, x := range iaasclient.Actions {
		if x == a {
			return true
		}
	}
	return false
}
