package cloudprovider

import (
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwlisters "sigs.k8s.io/gateway-api/pkg/client/listers/apis/v1"
)

// refGrants says whether an object of kind fromKind (group gateway.networking.k8s.io)
// in namespace fromNS may refer to the core object toKind toNS/toName. A reference
// within one namespace needs no grant; across namespaces a ReferenceGrant in toNS must
// name both sides (the Gateway API's rule: the owner of the target allows it).
type refGrants func(fromKind gwv1.Kind, fromNS string, toKind gwv1.Kind, toNS, toName string) bool

// noGrants permits only references within a namespace (no ReferenceGrant API served).
func noGrants(_ gwv1.Kind, fromNS string, _ gwv1.Kind, toNS, _ string) bool { return fromNS == toNS }

// grantsFrom checks references against the ReferenceGrants of a lister.
func grantsFrom(l gwlisters.ReferenceGrantLister) refGrants {
	return func(fromKind gwv1.Kind, fromNS string, toKind gwv1.Kind, toNS, toName string) bool {
		if fromNS == toNS {
			return true
		}
		list, err := l.ReferenceGrants(toNS).List(labels.Everything())
		if err != nil {
			return false
		}
		for _, g := range list {
			if grantAllows(g, fromKind, fromNS, toKind, toName) {
				return true
			}
		}
		return false
	}
}

func grantAllows(g *gwv1.ReferenceGrant, fromKind gwv1.Kind, fromNS string, toKind gwv1.Kind, toName string) bool {
	from := false
	for _, f := range g.Spec.From {
		from = from || (f.Group == gatewayGroup && f.Kind == fromKind && string(f.Namespace) == fromNS)
	}
	if !from {
		return false
	}
	for _, t := range g.Spec.To {
		if t.Group == "" && t.Kind == toKind && (t.Name == nil || *t.Name == "" || string(*t.Name) == toName) {
			return true
		}
	}
	return false
}
