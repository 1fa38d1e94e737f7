package cloudprovider

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// backendFaultKind says why a Service port cannot be an L7 backend; the Ingress and the
// Gateway controllers map it to their own Event reasons and status conditions.
type backendFaultKind int

const (
	faultServiceNotFound backendFaultKind = iota
	faultUnsupportedType
	faultPortNotFound
)

// backendFault is one reason a Service port cannot be reached, with a message that
// names the Service and the port.
type backendFault struct {
	kind backendFaultKind
	msg  string
}

// serviceGetter reads a Service of one namespace (a lister in the controllers).
type serviceGetter func(name string) (*v1.Service, error)

// sliceGetter lists the EndpointSlices of a Service of one namespace, by Service name.
type sliceGetter func(service string) ([]*discoveryv1.EndpointSlice, error)

// backendSource is what the L7 backends of one namespace are resolved from.
type backendSource struct {
	services serviceGetter
	slices   sliceGetter // nil: no EndpointSlices (every direct-to-pod group is empty)
}

// resolvedBackends is the backend group of one Service port. note, when set, says why
// a group that resolved is nevertheless empty or cut short; it is a warning, not a
// refusal: the rule stays and answers 503 until endpoints are ready.
type resolvedBackends struct {
	backends []ic.Backend
	note     string
}

// resolveBackends finds the backend group behind port ref of Service ns/name. Services
// with a NodePort are reached through it on the nodes (the two-layer path, as for the
// L4 load balancers). Services without one (ClusterIP, headless, LoadBalancer with
// allocateLoadBalancerNodePorts false) are reached directly at their ready pods: the pod
// network is flat (every node's pod CIDR is a VPC route), so the IaaS load balancer
// can dial pod IPs, as AWS's target-type ip or TKE's direct access to pods do.
func resolveBackends(ns, name string, ref networkingv1.ServiceBackendPort, src backendSource, nodes []nodeIP) (resolvedBackends, *backendFault) {
	bad := func(k backendFaultKind, format string, args ...any) (resolvedBackends, *backendFault) {
		return resolvedBackends{}, &backendFault{k, fmt.Sprintf(format, args...)}
	}
	svc, err := src.services(name)
	if apierrors.IsNotFound(err) || (err == nil && svc == nil) {
		return bad(faultServiceNotFound, "Service %s/%s not found", ns, name)
	}
	if err != nil {
		return bad(faultServiceNotFound, "Service %s/%s: %v", ns, name, err)
	}
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return bad(faultUnsupportedType, "Service %s/%s is of type ExternalName; the IaaS load balancer reaches only Services with endpoints in the cluster (ClusterIP, NodePort, LoadBalancer)",
			svc.Namespace, svc.Name)
	}
	port := servicePort(svc, ref)
	if port == nil {
		return bad(faultPortNotFound, "Service %s/%s has no port %s", svc.Namespace, svc.Name, backendPortName(ref))
	}
	if port.Protocol != v1.ProtocolTCP && port.Protocol != "" {
		return bad(faultPortNotFound, "port %s of Service %s/%s is %s, not TCP", backendPortName(ref), svc.Namespace, svc.Name, port.Protocol)
	}
	if port.NodePort != 0 {
		return resolvedBackends{backends: nodePortBackends(port.NodePort, nodes)}, nil
	}
	var slices []*discoveryv1.EndpointSlice
	if src.slices != nil {
		if slices, err = src.slices(svc.Name); err != nil {
			return bad(faultServiceNotFound, "EndpointSlices of Service %s/%s: %v", svc.Namespace, svc.Name, err)
		}
	}
	return podBackends(svc, port, slices), nil
}

// nodePortBackends is the backend group of one NodePort: every eligible node, equal weight.
func nodePortBackends(nodePort int32, nodes []nodeIP) []ic.Backend {
	out := make([]ic.Backend, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, ic.Backend{IP: n.ip, Port: int(nodePort), Weight: 10})
	}
	return out
}
