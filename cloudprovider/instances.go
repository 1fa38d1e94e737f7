package cloudprovider

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// missRefresh is how old a cached view may be when a node is not found in it: a new
// instance is looked for once more, but a flood of nodes whose instances are gone
// costs at most one Describe per missRefresh.
const missRefresh = time.Second

type instances struct {
	store  instanceStore
	region string
	vpc    string
	events *eventer
}

// ReasonInstanceNotFound is the Warning on a Node for which the IaaS knows no instance:
// on a misconfigured account (other region, other VPC) every node gets it, which is
// how an operator learns why nodes stay uninitialized.
const ReasonInstanceNotFound = "InstanceNotFound"

var _ cloudprovider.InstancesV2 = (*instances)(nil)

// InstanceExists is false only when the IaaS says the instance is gone or terminated;
// the node lifecycle controller then deletes the Node.
func (i *instances) InstanceExists(ctx context.Context, node *v1.Node) (bool, error) {
	in, err := i.find(ctx, node)
	if err == cloudprovider.InstanceNotFound {
		klog.V(2).InfoS("Instance of node is gone", "node", klog.KObj(node), "providerID", node.Spec.ProviderID)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return in.State != ic.InstanceTerminated, nil
}

// InstanceShutdown is true when the instance is STOPPED: the IaaS guarantees a stopped
// instance runs nothing (it is fenced).
func (i *instances) InstanceShutdown(ctx context.Context, node *v1.Node) (bool, error) {
	in, err := i.find(ctx, node)
	if err != nil {
		return false, err
	}
	return in.State == ic.InstanceStopped, nil
}

func (i *instances) InstanceMetadata(ctx context.Context, node *v1.Node) (*cloudprovider.InstanceMetadata, error) {
	in, err := i.find(ctx, node)
	if err == nil && in.State == ic.InstanceTerminated {
		err = cloudprovider.InstanceNotFound
	}
	if err == cloudprovider.InstanceNotFound && node != nil {
		i.events.warnOnce(node.Name, node, ReasonInstanceNotFound,
			"No instance in VPC %s of region %s matches this node (providerID %q, its InternalIPs, or its name as instance name or private IP)", i.vpc, i.region, node.Spec.ProviderID)
	}
	if err != nil {
		return nil, err
	}
	i.events.clear(node.Name, ReasonInstanceNotFound)
	region := in.Region
	if region == "" {
		region = i.region
	}
	return &cloudprovider.InstanceMetadata{
		ProviderID:    ProviderID(in.Zone, in.InstanceID),
		InstanceType:  in.InstanceType,
		NodeAddresses: nodeAddresses(in, node.Name),
		Zone:          in.Zone,
		Region:        region,
	}, nil
}

// nodeAddresses lists the primary private IP first: with several NICs, consumers that
// take "the first InternalIP" must get the one the VPC routes to.
func nodeAddresses(in *ic.Instance, nodeName string) []v1.NodeAddress {
	var out []v1.NodeAddress
	for _, ip := range in.PrivateIPs {
		out = append(out, v1.NodeAddress{Type: v1.NodeInternalIP, Address: ip})
	}
	if in.PublicIP != "" {
		out = append(out, v1.NodeAddress{Type: v1.NodeExternalIP, Address: in.PublicIP})
	}
	host := in.Name
	if host == "" {
		host = nodeName
	}
	return append(out, v1.NodeAddress{Type: v1.NodeHostName, Address: host})
}

// find locates a node's instance: by providerID when it is set, else by the node's
// InternalIPs, else by name (instance name, or a private IP used as node name).
//
// A miss is checked against a newer view before it counts, because "not found" makes
// the node lifecycle controller delete the Node. A node with a providerID was matched
// to its instance before, so a view at most missRefresh old is enough. A node without
// one may be registering for an instance created a moment ago: only a view fetched
// after the question was asked may say it does not exist.
func (i *instances) find(ctx context.Context, node *v1.Node) (*ic.Instance, error) {
	if node == nil {
		return nil, fmt.Errorf("instance: nil node")
	}
	asked := time.Now()
	var id string
	if node.Spec.ProviderID != "" {
		var err error
		if id, err = ParseProviderID(node.Spec.ProviderID); err != nil {
			return nil, err
		}
	}
	idx, err := i.store.instances(ctx, time.Hour) // capped at the TTL
	if err != nil {
		return nil, translate(opInstance, err)
	}
	in, err := lookup(idx, node, id)
	if err != cloudprovider.InstanceNotFound {
		return in, err
	}
	if id != "" {
		idx, err = i.store.instances(ctx, missRefresh)
	} else {
		idx, err = i.store.instancesSince(ctx, asked)
	}
	if err != nil {
		return nil, translate(opInstance, err)
	}
	return lookup(idx, node, id)
}

func lookup(idx *instanceIndex, node *v1.Node, id string) (*ic.Instance, error) {
	if id != "" {
		if in, ok := idx.byID[id]; ok {
			return in, nil
		}
		return nil, cloudprovider.InstanceNotFound
	}
	for _, a := range node.Status.Addresses {
		if a.Type == v1.NodeInternalIP {
			if in, ok := idx.byIP[a.Address]; ok {
				return in, nil
			}
		}
	}
	if in, ok := idx.byIP[node.Name]; ok {
		return in, nil
	}
	var live []*ic.Instance
	for _, in := range idx.byName[node.Name] {
		if in.State != ic.InstanceTerminated {
			live = append(live, in)
		}
	}
	switch len(live) {
	case 0:
		return nil, cloudprovider.InstanceNotFound
	case 1:
		return live[0], nil
	}
	// Guessing would initialize the node with another machine's identity.
	return nil, fmt.Errorf("instance: %d instances are named %q; set the node's providerID", len(live), node.Name)
}
