package cloudprovider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/api"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// Event reasons on Services.
const (
	ReasonInvalidSettings    = "InvalidLoadBalancerSettings"
	ReasonUnknownAnnotation  = "UnknownLoadBalancerAnnotation"
	ReasonImmutableSetting   = "LoadBalancerSettingImmutable"
	ReasonExistingLBNotFound = "ExistingLoadBalancerNotFound"
	ReasonTooManyBackends    = "TooManyLoadBalancerBackends"
)

// pendingRequeue is how soon a Service whose LB task outlived taskTimeout is retried,
// instead of the service controller's exponential backoff.
const pendingRequeue = 10 * time.Second

type loadBalancers struct {
	store       lbStore
	clusterID   string
	vpcID       string
	subnetID    string
	defaultType ic.LoadBalancerType
	events      *eventer
	// annotate writes the LB id back on the Service ("" removes it); nil in tests that
	// do not care.
	annotate func(ctx context.Context, svc *v1.Service, key, value string) error

	locks sync.Map // Service UID -> *sync.Mutex

	seenMu sync.Mutex
	seen   map[types.UID]bool // Services the service controller handed over

	// updates coalesces backend updates per Service (nil: every update writes at
	// once); see lbcoalesce.go.
	updates *coalescer[backendUpdate]
	order   writeOrder
}

var _ cloudprovider.LoadBalancer = (*loadBalancers)(nil)

// lock serializes the ensure and update paths of one Service, which the service
// controller may run from different workers (Service sync and node sync).
func (l *loadBalancers) lock(uid types.UID) func() {
	m, _ := l.locks.LoadOrStore(uid, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// GetLoadBalancerName is readable in the IaaS console: <cluster>-<namespace>-<name>.
// Ownership is by tags, so the name need not be unique.
func (l *loadBalancers) GetLoadBalancerName(_ context.Context, _ string, svc *v1.Service) string {
	name := fmt.Sprintf("%s-%s-%s", l.clusterID, svc.Namespace, svc.Name)
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "-")
}

func (l *loadBalancers) GetLoadBalancer(ctx context.Context, _ string, svc *v1.Service) (*v1.LoadBalancerStatus, bool, error) {
	lb, _, err := l.find(ctx, svc, existingID(svc), false)
	if err != nil || lb == nil {
		return nil, false, translate(opLoadBalancer, err)
	}
	o, perr := parseOptions(svc, l.defaultType)
	if perr != nil {
		o = &lbOptions{}
	}
	return lbStatus(lb, o), true, nil
}

// existingID reads the reuse annotation without validating the rest, so that a bad
// annotation elsewhere never blocks finding (or deleting) the Service's LB.
func existingID(svc *v1.Service) string {
	return strings.TrimSpace(svc.Annotations[AnnotationExistingID])
}

// find returns the Service's LB, and whether it is an existing one it shares.
func (l *loadBalancers) find(ctx context.Context, svc *v1.Service, existing string, fresh bool) (*ic.LoadBalancer, bool, error) {
	if existing != "" {
		lb, err := l.store.byID(ctx, existing)
		if errors.Is(err, ic.ErrNotFound) {
			return nil, true, nil
		}
		return lb, true, err
	}
	lb, err := l.store.owned(ctx, string(svc.UID), fresh)
	return lb, false, err
}

func (l *loadBalancers) EnsureLoadBalancer(ctx context.Context, _ string, svc *v1.Service, nodes []*v1.Node) (*v1.LoadBalancerStatus, error) {
	seq := l.order.next()
	if l.updates != nil {
		// A backend update still queued carries an older Service: it must not undo this.
		l.updates.replace(string(svc.UID), backendUpdate{svc: svc, nodes: nodes, seq: seq})
	}
	return l.ensure(ctx, svc, nodes, true, seq)
}

// UpdateLoadBalancer is called on node changes; it changes backends (and anything else
// that drifted) but never creates an LB. With coalescing on, the write is queued.
func (l *loadBalancers) UpdateLoadBalancer(ctx context.Context, _ string, svc *v1.Service, nodes []*v1.Node) error {
	return l.updateBackends(ctx, svc, nodes)
}

// ensure writes what differs. seq orders the writes of one Service: a write whose seq
// is older than one already applied is skipped (a coalesced update that lost the race
// with a newer EnsureLoadBalancer).
func (l *loadBalancers) ensure(ctx context.Context, svc *v1.Service, nodes []*v1.Node, mayCreate bool, seq uint64) (*v1.LoadBalancerStatus, error) {
	defer l.lock(svc.UID)()
	if !mayCreate && l.order.stale(svc.UID, seq) {
		return nil, nil
	}
	l.markHandled(svc.UID, true)
	key := svc.Namespace + "/" + svc.Name
	o, err := parseOptions(svc, l.defaultType)
	if err != nil {
		l.events.warnOnce(key, svc, ReasonInvalidSettings, "%v; the load balancer is left unchanged", err)
		return nil, err
	}
	l.events.clear(key, ReasonInvalidSettings)
	if len(o.unknown) > 0 {
		l.events.warnOnce(key, svc, ReasonUnknownAnnotation, "Ignoring unknown annotations %s (see the annotations of %s)", strings.Join(o.unknown, ", "), ProviderName)
	}

	lb, shared, err := l.find(ctx, svc, o.existingID, false)
	if err != nil {
		return nil, translate(opLoadBalancer, err)
	}
	if lb == nil && o.existingID != "" {
		l.events.warnOnce(key, svc, ReasonExistingLBNotFound, "Load balancer %s named by %s does not exist", o.existingID, AnnotationExistingID)
		return nil, fmt.Errorf("load balancer: existing load balancer %s: %w", o.existingID, ic.ErrNotFound)
	}
	if lb == nil && !mayCreate {
		return nil, fmt.Errorf("load balancer of %s: not created yet", key)
	}
	eligible := backendNodes(nodes, o.nodeSelector)
	l.warnTooManyBackends(key, svc, len(eligible))
	desired := desiredListeners(svc, o, eligible)

	if lb == nil {
		// The cache may predate a create that a killed predecessor made: ask once more.
		if lb, _, err = l.find(ctx, svc, "", true); err != nil {
			return nil, translate(opLoadBalancer, err)
		}
	}
	if lb == nil {
		if lb, err = l.create(ctx, svc, o, desired); err != nil {
			return nil, l.retryable(err)
		}
	} else {
		if lb.State == ic.LoadBalancerCreating {
			// Listeners sent now would race the ones of the create still running.
			return nil, api.NewRetryError(fmt.Sprintf("load balancer %s is still being created", lb.LoadBalancerID), pendingRequeue)
		}
		l.checkImmutable(svc, lb, o, shared)
		if err := l.sync(ctx, lb, desired, listenerPrefix(svc), shared); err != nil {
			return nil, l.retryable(err)
		}
	}
	l.order.applied(svc.UID, seq)
	if l.annotate != nil && svc.Annotations[AnnotationLoadBalancerID] != lb.LoadBalancerID {
		if err := l.annotate(ctx, svc, AnnotationLoadBalancerID, lb.LoadBalancerID); err != nil {
			// The LB serves anyway; the next sync writes the annotation.
			klog.ErrorS(err, "Writing load balancer id on Service", "service", klog.KObj(svc), "loadBalancer", lb.LoadBalancerID)
		}
	}
	return lbStatus(lb, o), nil
}

func (l *loadBalancers) retryable(err error) error {
	if errors.Is(err, errLBPending) {
		return api.NewRetryError(err.Error(), pendingRequeue)
	}
	return translate(opLoadBalancer, err)
}

func (l *loadBalancers) checkImmutable(svc *v1.Service, lb *ic.LoadBalancer, o *lbOptions, shared bool) {
	key := svc.Namespace + "/" + svc.Name
	if !shared && lb.Type != o.lbType {
		l.events.warnOnce(key, svc, ReasonImmutableSetting,
			"Load balancer %s is %s; %s=%s applies only to a new load balancer (delete and recreate the Service to change it)",
			lb.LoadBalancerID, lb.Type, AnnotationType, o.lbType)
	}
	if o.vip != "" && lb.VIP != "" && o.vip != lb.VIP {
		l.events.warnOnce(key, svc, ReasonImmutableSetting,
			"Load balancer %s has VIP %s; spec.loadBalancerIP %s applies only to a new load balancer", lb.LoadBalancerID, lb.VIP, o.vip)
	}
}

func (l *loadBalancers) create(ctx context.Context, svc *v1.Service, o *lbOptions, desired map[string]ic.ListenerSpec) (*ic.LoadBalancer, error) {
	req := &ic.CreateLoadBalancerRequest{
		Name:      l.GetLoadBalancerName(ctx, "", svc),
		Type:      o.lbType,
		VpcID:     l.vpcID,
		VIP:       o.vip,
		Listeners: planListeners(&ic.LoadBalancer{}, desired, "", false).create,
		Tags: map[string]string{
			TagCluster:    l.clusterID,
			TagServiceUID: string(svc.UID),
			TagService:    svc.Namespace + "." + svc.Name,
		},
	}
	if o.lbType == ic.LoadBalancerInternal {
		req.SubnetID = l.subnetID
	}
	// The token is derived from the Service UID and the request, so a CCM killed after
	// sending it and restarted gets the same LB back rather than a second one.
	req.ClientToken = clientToken(string(svc.UID), req, "")
	lb, err := l.store.create(ctx, req)
	if errors.Is(err, ic.ErrNotFound) || errors.Is(err, ic.ErrIdempotentParameterMismatch) {
		// The token replayed an LB deleted since (the Service went ClusterIP and back
		// within the token lifetime), or a request that differed: make a new one.
		req.ClientToken = clientToken(string(svc.UID), req, time.Now().String())
		lb, err = l.store.create(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	klog.InfoS("Created load balancer", "service", klog.KObj(svc), "loadBalancer", lb.LoadBalancerID, "vip", lb.VIP, "type", lb.Type)
	return lb, nil
}

func clientToken(uid string, req *ic.CreateLoadBalancerRequest, salt string) string {
	c := *req
	c.ClientToken = ""
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(append([]byte(uid+"\x00"+salt+"\x00"), b...))
	return "k8s-" + hex.EncodeToString(sum[:16])
}

// sync applies the listener plan: deletes first (a port changing protocol frees it),
// then modifications, then creations. Nothing is sent when nothing differs.
func (l *loadBalancers) sync(ctx context.Context, lb *ic.LoadBalancer, desired map[string]ic.ListenerSpec, prefix string, shared bool) error {
	plan := planListeners(lb, desired, prefix, shared)
	if plan.empty() {
		return nil
	}
	id := lb.LoadBalancerID
	if len(plan.delete) > 0 {
		if err := l.store.deleteListeners(ctx, id, plan.delete); err != nil {
			return err
		}
	}
	for lid, spec := range plan.modify {
		if err := l.store.modifyListener(ctx, id, lid, spec); err != nil {
			return err
		}
	}
	if len(plan.create) > 0 {
		if err := l.store.createListeners(ctx, id, plan.create); err != nil {
			return err
		}
	}
	klog.InfoS("Updated load balancer", "loadBalancer", id, "created", len(plan.create), "modified", len(plan.modify), "deleted", len(plan.delete))
	return nil
}

// EnsureLoadBalancerDeleted deletes the LB the CCM created; on an existing LB it only
// removes the Service's own listeners.
func (l *loadBalancers) EnsureLoadBalancerDeleted(ctx context.Context, _ string, svc *v1.Service) error {
	defer l.lock(svc.UID)()
	l.markHandled(svc.UID, false)
	if l.updates != nil {
		l.updates.cancel(string(svc.UID))
	}
	l.order.forget(svc.UID)
	lb, shared, err := l.find(ctx, svc, existingID(svc), true)
	if err != nil {
		return translate(opLoadBalancer, err)
	}
	if lb == nil {
		return nil
	}
	if shared {
		err = l.sync(ctx, lb, nil, listenerPrefix(svc), true)
	} else {
		err = l.store.delete(ctx, lb.LoadBalancerID)
	}
	if err != nil {
		return l.retryable(err)
	}
	if l.annotate != nil && svc.Annotations[AnnotationLoadBalancerID] != "" && svc.DeletionTimestamp == nil {
		// The Service stays (its type changed): it must not point at a deleted LB.
		if err := l.annotate(ctx, svc, AnnotationLoadBalancerID, ""); err != nil {
			klog.ErrorS(err, "Removing load balancer id from Service", "service", klog.KObj(svc))
		}
	}
	klog.InfoS("Deleted load balancer", "service", klog.KObj(svc), "loadBalancer", lb.LoadBalancerID, "shared", shared)
	return nil
}

// lbStatus reports the VIP. With PROXY protocol on, ipMode Proxy stops kube-proxy from
// sending in-cluster traffic for the VIP straight to pods, which would skip the header.
func lbStatus(lb *ic.LoadBalancer, o *lbOptions) *v1.LoadBalancerStatus {
	if lb.VIP == "" {
		return &v1.LoadBalancerStatus{}
	}
	mode := v1.LoadBalancerIPModeVIP
	if o.proxyProtocol == ic.ProxyProtocolV2 {
		mode = v1.LoadBalancerIPModeProxy
	}
	return &v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{IP: lb.VIP, IPMode: &mode}}}
}

// warnTooManyBackends tells the Service's owner why its LB stops following the nodes:
// the IaaS refuses a listener with more than validate.MaxBackends backends, and the
// write is retried with backoff, so without this the only trace is the CCM's log.
func (l *loadBalancers) warnTooManyBackends(key string, svc *v1.Service, n int) {
	if n <= validate.MaxBackends {
		l.events.clear(key, ReasonTooManyBackends)
		return
	}
	l.events.warnOnce(key, svc, ReasonTooManyBackends,
		"%d nodes are backends but the IaaS takes at most %d per listener, so the load balancer cannot follow the nodes; narrow them with the %s annotation",
		n, validate.MaxBackends, AnnotationNodeSelector)
}
