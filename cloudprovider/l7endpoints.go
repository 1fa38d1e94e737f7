package cloudprovider

import (
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// endpointsSettle is how long an L7 object waits after an EndpointSlice change before
// its sync. A rollout changes the slices of a Service once per pod, and each sync
// rewrites the listener on the IaaS: a Gateway or Ingress queued again within this
// time is synced once (the delaying queue keeps the earliest due time), with the
// endpoints as they are then.
const endpointsSettle = time.Second

// namespaceBackends is the backendSource of namespace ns read from the controllers'
// listers: Services by name, and their EndpointSlices by the label the EndpointSlice
// controller (and anyone managing slices by hand) sets.
func namespaceBackends(services corelisters.ServiceLister, slices discoverylisters.EndpointSliceLister, ns string) backendSource {
	return backendSource{
		services: func(name string) (*v1.Service, error) { return services.Services(ns).Get(name) },
		slices: func(service string) ([]*discoveryv1.EndpointSlice, error) {
			return slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: service}))
		},
	}
}

// watchEndpointSlices calls onService with the namespace and name of the Service whose
// slices changed in a way the backends read: endpoints, ports or address type (not a
// resync, nor a change of hints or annotations).
func watchEndpointSlices(inf cache.SharedIndexInformer, onService func(ns, name string)) {
	on := func(obj any) {
		s, ok := unwrap[*discoveryv1.EndpointSlice](obj)
		if !ok {
			return
		}
		if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
			onService(s.Namespace, svc)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: on,
		UpdateFunc: func(o, n any) {
			os, ok1 := o.(*discoveryv1.EndpointSlice)
			ns, ok2 := n.(*discoveryv1.EndpointSlice)
			if !ok1 || !ok2 {
				return
			}
			if os.Labels[discoveryv1.LabelServiceName] != ns.Labels[discoveryv1.LabelServiceName] {
				on(o) // moved to another Service: the old one lost endpoints
				on(n)
				return
			}
			if os.AddressType != ns.AddressType || !apiequality.Semantic.DeepEqual(os.Ports, ns.Ports) ||
				!apiequality.Semantic.DeepEqual(os.Endpoints, ns.Endpoints) {
				on(n)
			}
		},
		DeleteFunc: on,
	})
}
