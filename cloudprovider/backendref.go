package cloudprovider

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// backendFaultKind says why a Service port cannot be an L7 backend; the Ingress and the
// Gateway controllers map it to their own Event reasons and status conditions.
type backendFaultKind int

const (
	faultServiceNotFound backendFaultKind = iota
	faultNotNodePort
	faultPortNotFound
)

// backendFault is one reason a Service port cannot be reached, with a message that
// names the Service and the port.
type backendFault struct {
	kind backendFaultKind
	msg  string
}

// resolveNodePort finds the NodePort behind port ref of Service ns/name: the IaaS load
// balancer reaches Services through NodePorts on the nodes (the first layer of the two).
func resolveNodePort(ns, name string, ref networkingv1.ServiceBackendPort, services serviceGetter) (int32, *backendFault) {
	bad := func(k backendFaultKind, format string, args ...any) (int32, *backendFault) {
		return 0, &backendFault{k, fmt.Sprintf(format, args...)}
	}
	svc, err := services(name)
	if apierrors.IsNotFound(err) || (err == nil && svc == nil) {
		return bad(faultServiceNotFound, "Service %s/%s not found", ns, name)
	}
	if err != nil {
		return bad(faultServiceNotFound, "Service %s/%s: %v", ns, name, err)
	}
	if svc.Spec.Type != v1.ServiceTypeNodePort && svc.Spec.Type != v1.ServiceTypeLoadBalancer {
		return bad(faultNotNodePort, "Service %s/%s is of type %s; the IaaS load balancer reaches Services through NodePorts (type NodePort or LoadBalancer)",
			svc.Namespace, svc.Name, svc.Spec.Type)
	}
	port := servicePort(svc, ref)
	if port == nil {
		return bad(faultPortNotFound, "Service %s/%s has no port %s", svc.Namespace, svc.Name, backendPortName(ref))
	}
	if port.Protocol != v1.ProtocolTCP && port.Protocol != "" {
		return bad(faultPortNotFound, "port %s of Service %s/%s is %s, not TCP", backendPortName(ref), svc.Namespace, svc.Name, port.Protocol)
	}
	if port.NodePort == 0 {
		return bad(faultNotNodePort, "port %s of Service %s/%s has no NodePort (allocateLoadBalancerNodePorts is false)", backendPortName(ref), svc.Namespace, svc.Name)
	}
	return port.NodePort, nil
}

// nodePortBackends is the backend group of one NodePort: every eligible node, equal weight.
func nodePortBackends(nodePort int32, nodes []nodeIP) []ic.Backend {
	out := make([]ic.Backend, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, ic.Backend{IP: n.ip, Port: int(nodePort), Weight: 10})
	}
	return out
}
