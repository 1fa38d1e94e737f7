package cloudprovider

import (
	"sort"
	"strconv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Taints that take a node out of every load balancer.
const (
	taintToBeDeleted = "ToBeDeletedByClusterAutoscaler"
	taintShutdown    = "node.cloudprovider.kubernetes.io/shutdown"
)

// backendNodes picks the nodes whose NodePorts receive the Service's traffic, sorted by
// IP so that the desired listener is stable. Not-ready nodes are left out while at least
// one ready node remains: an LB with no backends serves nothing, and with
// externalTrafficPolicy=Cluster a not-ready node's kube-proxy often still forwards.
func backendNodes(nodes []*v1.Node, selector labels.Selector) []nodeIP {
	var ready, notReady []nodeIP
	for _, n := range nodes {
		if n == nil || !n.DeletionTimestamp.IsZero() || excluded(n) || tainted(n) {
			continue
		}
		if selector != nil && !selector.Matches(labels.Set(n.Labels)) {
			continue
		}
		ip := internalIP(n)
		if ip == "" {
			continue
		}
		if isReady(n) {
			ready = append(ready, nodeIP{n.Name, ip})
		} else {
			notReady = append(notReady, nodeIP{n.Name, ip})
		}
	}
	out := ready
	if len(out) == 0 {
		out = notReady
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ip < out[j].ip })
	return out
}

type nodeIP struct{ name, ip string }

func excluded(n *v1.Node) bool {
	v, ok := n.Labels[v1.LabelNodeExcludeBalancers]
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b // an unparsable value excludes, as the service controller does
}

func tainted(n *v1.Node) bool {
	for _, t := range n.Spec.Taints {
		switch t.Key {
		case taintToBeDeleted, taintShutdown, v1.TaintNodeOutOfService:
			return true
		}
	}
	return false
}

func isReady(n *v1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func internalIP(n *v1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == v1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}
