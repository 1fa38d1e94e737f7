package cloudprovider

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// AnnotationPrefix starts every Service annotation of this provider. It is short and
// provider-owned like OCCM's loadbalancer.openstack.org/, rather than squatting on
// service.beta.kubernetes.io/, which belongs to Kubernetes.
const AnnotationPrefix = "loadbalancer.kube-iaas.io/"

// Service annotations. Each is documented in Annotations below and in README's table;
// TestReadmeDocumentsEveryAnnotation keeps the two in step.
const (
	AnnotationType                 = AnnotationPrefix + "type"
	AnnotationLoadBalancerID       = AnnotationPrefix + "load-balancer-id"
	AnnotationExistingID           = AnnotationPrefix + "existing-load-balancer-id"
	AnnotationNodeSelector         = AnnotationPrefix + "node-selector"
	AnnotationProxyProtocol        = AnnotationPrefix + "proxy-protocol"
	AnnotationHCInterval           = AnnotationPrefix + "health-check-interval"
	AnnotationHCTimeout            = AnnotationPrefix + "health-check-timeout"
	AnnotationHCHealthyThreshold   = AnnotationPrefix + "health-check-healthy-threshold"
	AnnotationHCUnhealthyThreshold = AnnotationPrefix + "health-check-unhealthy-threshold"
	// AnnotationSourceRanges is Kubernetes' own, honoured when
	// spec.loadBalancerSourceRanges is empty.
	AnnotationSourceRanges = v1.AnnotationLoadBalancerSourceRangesKey
)

// AnnotationDoc documents one annotation.
type AnnotationDoc struct {
	Key, Values, Default, Meaning string
}

// Annotations documents every Service annotation the provider reads or writes.
var Annotations = []AnnotationDoc{
	{AnnotationType, "`public` \\| `internal`", "cloud config `loadBalancer.defaultType` (public)", "VIP from the public or the internal pool. Fixed at creation: a later change gives a Warning Event and is not applied."},
	{AnnotationExistingID, "`lb-…`", "unset", "Serve the Service on this existing load balancer instead of creating one. The CCM manages only the listeners it creates on it (named after the Service UID) and never deletes the load balancer."},
	{AnnotationLoadBalancerID, "`lb-…`", "written by the CCM", "Id of the load balancer serving the Service. Output only: the CCM sets it."},
	{AnnotationNodeSelector, "label selector, e.g. `pool=edge,zone in (a,b)`", "all nodes", "Only nodes matching the selector are backends."},
	{AnnotationProxyProtocol, "`v2` \\| `none`", "`none`", "Prepend a PROXY protocol v2 header on TCP listeners; the Service status then has `ipMode: Proxy` so kube-proxy does not short-circuit in-cluster traffic to the VIP."},
	{AnnotationHCInterval, "seconds, 1-300", "5", "Interval of the backend health check."},
	{AnnotationHCTimeout, "seconds, 1-60, below the interval", "2", "Timeout of one health check."},
	{AnnotationHCHealthyThreshold, "1-10", "2", "Consecutive successes that mark a backend healthy."},
	{AnnotationHCUnhealthyThreshold, "1-10", "3", "Consecutive failures that mark a backend unhealthy."},
	{AnnotationSourceRanges, "comma-separated CIDRs", "all clients", "Kubernetes' own; used when `spec.loadBalancerSourceRanges` is empty."},
}

// Health check defaults, always sent explicitly so the IaaS's defaults can never make
// the observed listener differ from the desired one on every sync.
const (
	defaultHCInterval  = 5
	defaultHCTimeout   = 2
	defaultHCHealthy   = 2
	defaultHCUnhealthy = 3
	// kubeProxyHealthPort is kube-proxy's /healthz: UDP NodePorts cannot be probed by
	// a TCP connect, so UDP listeners of Cluster-policy Services check the node's proxy.
	kubeProxyHealthPort = 10256
)

// lbOptions is a Service's load balancer configuration, validated.
type lbOptions struct {
	lbType        ic.LoadBalancerType
	existingID    string
	nodeSelector  labels.Selector // nil: every node
	proxyProtocol ic.ProxyProtocol
	hc            ic.HealthCheck // thresholds and timings only
	sourceRanges  []string
	vip           string
	// unknown lists annotations with our prefix that mean nothing (typos).
	unknown []string
}

// parseOptions reads and validates every setting of a Service at once, so a Service
// with a bad value is refused before anything is changed and the Event lists every
// problem, not only the first.
func parseOptions(svc *v1.Service, defaultType ic.LoadBalancerType) (*lbOptions, error) {
	a := svc.Annotations
	o := &lbOptions{
		lbType: defaultType,
		hc: ic.HealthCheck{IntervalSeconds: defaultHCInterval, TimeoutSeconds: defaultHCTimeout,
			HealthyThreshold: defaultHCHealthy, UnhealthyThreshold: defaultHCUnhealthy},
	}
	var problems []string
	bad := func(key, val, want string) {
		problems = append(problems, fmt.Sprintf("%s=%q: %s", key, val, want))
	}
	if v, ok := a[AnnotationType]; ok {
		switch t := ic.LoadBalancerType(strings.ToLower(strings.TrimSpace(v))); t {
		case ic.LoadBalancerPublic, ic.LoadBalancerInternal:
			o.lbType = t
		default:
			bad(AnnotationType, v, "want public or internal")
		}
	}
	if v, ok := a[AnnotationExistingID]; ok {
		if v = strings.TrimSpace(v); !strings.HasPrefix(v, "lb-") || len(v) == 3 {
			bad(AnnotationExistingID, v, "want a load balancer id lb-…")
		}
		o.existingID = strings.TrimSpace(v)
	}
	if v, ok := a[AnnotationNodeSelector]; ok {
		sel, err := labels.Parse(v)
		if err != nil {
			bad(AnnotationNodeSelector, v, err.Error())
		}
		o.nodeSelector = sel
	}
	if v, ok := a[AnnotationProxyProtocol]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "v2":
			o.proxyProtocol = ic.ProxyProtocolV2
		case "none", "", "false":
		default:
			bad(AnnotationProxyProtocol, v, "want v2 or none")
		}
	}
	intIn := func(key string, lo, hi int, dst *int) {
		v, ok := a[key]
		if !ok {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			bad(key, v, fmt.Sprintf("want an integer from %d to %d", lo, hi))
			return
		}
		*dst = n
	}
	intIn(AnnotationHCInterval, 1, 300, &o.hc.IntervalSeconds)
	intIn(AnnotationHCTimeout, 1, 60, &o.hc.TimeoutSeconds)
	intIn(AnnotationHCHealthyThreshold, 1, 10, &o.hc.HealthyThreshold)
	intIn(AnnotationHCUnhealthyThreshold, 1, 10, &o.hc.UnhealthyThreshold)
	if o.hc.TimeoutSeconds >= o.hc.IntervalSeconds {
		problems = append(problems, fmt.Sprintf("%s (%ds) must be below %s (%ds)",
			AnnotationHCTimeout, o.hc.TimeoutSeconds, AnnotationHCInterval, o.hc.IntervalSeconds))
	}

	ranges := svc.Spec.LoadBalancerSourceRanges
	key := "spec.loadBalancerSourceRanges"
	if len(ranges) == 0 && a[AnnotationSourceRanges] != "" {
		ranges, key = strings.Split(a[AnnotationSourceRanges], ","), AnnotationSourceRanges
	}
	for _, r := range ranges {
		p, err := netip.ParsePrefix(strings.TrimSpace(r))
		if err != nil {
			bad(key, r, "want a CIDR")
			continue
		}
		o.sourceRanges = append(o.sourceRanges, p.Masked().String())
	}
	sort.Strings(o.sourceRanges)
	if len(o.sourceRanges) == 1 && (o.sourceRanges[0] == "0.0.0.0/0" || o.sourceRanges[0] == "::/0") {
		o.sourceRanges = nil
	}

	if ip := svc.Spec.LoadBalancerIP; ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			bad("spec.loadBalancerIP", ip, "want an IP address")
		}
		o.vip = ip
	}
	for _, p := range svc.Spec.Ports {
		if p.Protocol != v1.ProtocolTCP && p.Protocol != v1.ProtocolUDP {
			bad(fmt.Sprintf("spec.ports[%s].protocol", portName(p)), string(p.Protocol), "the IaaS load balancer supports TCP and UDP")
		}
		if p.NodePort == 0 {
			bad(fmt.Sprintf("spec.ports[%s].nodePort", portName(p)), "0", "backends are NodePorts: allocateLoadBalancerNodePorts must not be false")
		}
	}

	known := map[string]bool{}
	for _, d := range Annotations {
		known[d.Key] = true
	}
	for k := range a {
		if strings.HasPrefix(k, AnnotationPrefix) && !known[k] {
			o.unknown = append(o.unknown, k)
		}
	}
	sort.Strings(o.unknown)
	if len(problems) > 0 {
		return nil, fmt.Errorf("invalid load balancer settings: %s", strings.Join(problems, "; "))
	}
	return o, nil
}

func portName(p v1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Port))
}
