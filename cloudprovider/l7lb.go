package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// l7Owner is the Ingress or Gateway an L7 load balancer belongs to.
type l7Owner struct {
	kind    string // "Ingress" or "Gateway"
	abbrev  string // in the LB name: "ing" or "gw"
	uidTag  string // the tag that holds the owner's UID
	nameTag string // the tag that holds namespace.name
	obj     metav1.Object
}

// l7LBType reads the type annotation Services use (public | internal) on an Ingress or
// Gateway; an invalid value is reported with reason and the default is used.
func l7LBType(annotations map[string]string, def ic.LoadBalancerType, reason string) (ic.LoadBalancerType, []problem) {
	if def == "" {
		def = ic.LoadBalancerPublic
	}
	v, ok := annotations[AnnotationType]
	if !ok {
		return def, nil
	}
	switch t := ic.LoadBalancerType(v); t {
	case ic.LoadBalancerPublic, ic.LoadBalancerInternal:
		return t, nil
	}
	return def, []problem{{reason, fmt.Sprintf("%s=%q: must be public or internal; using %s", AnnotationType, v, def)}}
}

// createL7 creates owner's load balancer with the listeners desired, tagged with the
// cluster and the owner.
func (l *loadBalancers) createL7(ctx context.Context, owner l7Owner, t ic.LoadBalancerType, desired map[string]ic.ListenerSpec) (*ic.LoadBalancer, error) {
	o := owner.obj
	uid := string(o.GetUID())
	req := &ic.CreateLoadBalancerRequest{
		Name:      truncName(fmt.Sprintf("%s-%s-%s-%s", l.clusterID, owner.abbrev, o.GetNamespace(), o.GetName())),
		Type:      t,
		VpcID:     l.vpcID,
		Listeners: planListeners(&ic.LoadBalancer{}, desired, "", false).create,
		Tags: map[string]string{
			TagCluster:    l.clusterID,
			owner.uidTag:  uid,
			owner.nameTag: o.GetNamespace() + "." + o.GetName(),
		},
	}
	if t == ic.LoadBalancerInternal {
		req.SubnetID = l.subnetID
	}
	// Derived from the owner's UID and the request: a CCM killed after sending it gets
	// the same LB back rather than a second one.
	req.ClientToken = clientToken(uid, req, "")
	lb, err := l.store.create(ctx, req)
	if errors.Is(err, ic.ErrNotFound) || errors.Is(err, ic.ErrIdempotentParameterMismatch) {
		req.ClientToken = clientToken(uid, req, time.Now().String())
		lb, err = l.store.create(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	klog.InfoS("Created "+owner.kind+" load balancer", strings.ToLower(owner.kind), klog.KObj(o),
		"loadBalancer", lb.LoadBalancerID, "vip", lb.VIP, "type", lb.Type)
	return lb, nil
}

// runWorkers works queue with sync on workers goroutines until ctx ends: an error
// requeues the key with backoff, a positive duration requeues it after that time.
func runWorkers(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], workers int,
	sync func(context.Context, string) (time.Duration, error)) {
	next := func(ctx context.Context) bool {
		key, quit := queue.Get()
		if quit {
			return false
		}
		defer queue.Done(key)
		after, err := sync(ctx, key)
		switch {
		case err != nil:
			klog.FromContext(ctx).Error(err, "Sync failed", "key", key)
			queue.AddRateLimited(key)
		case after > 0:
			queue.Forget(key)
			queue.AddAfter(key, after)
		default:
			queue.Forget(key)
		}
		return true
	}
	for range workers {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for next(ctx) {
			}
		}, time.Second)
	}
	<-ctx.Done()
}
