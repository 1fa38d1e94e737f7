package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// OrphansDeletedMetric counts the IaaS objects the orphan sweeper deleted, by kind.
const OrphansDeletedMetric = "iaas_orphan_sweeper_deleted_total"

var orphansDeleted = sync.OnceValue(func() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: OrphansDeletedMetric,
		Help: "IaaS objects tagged with this cluster whose Kubernetes owner was gone for the grace period, deleted by the orphan sweeper.",
	}, []string{"kind"})
	legacyregistry.Registerer().MustRegister(c)
	return c
})

// lbSweeper deletes the load balancers this cluster created for Services (and for
// Ingresses, with their certificates) that no longer exist: a Service deleted while the CCM was down with its finalizer removed by
// hand, a namespace force-deleted, a create whose Service went away before the LB id
// was written back. The service controller never sees those again, so without a
// sweeper they cost money forever (the leak users report most, see ANCHORS.md).
//
// It deletes only LBs tagged with this cluster's id and a Service UID that no Service
// has, after the LB was seen orphaned continuously for the grace period, and never an
// LB that a Service names in the existing-load-balancer annotation (it is the user's).
// Routes need no sweeper: the route controller deletes this cluster's routes whose
// Node is gone on every reconcile.
type lbSweeper struct {
	lbs *loadBalancers
	// list reads this cluster's LBs fresh from the IaaS, never from the shared
	// snapshot: deleting on a stale view is what must never happen.
	list     func(ctx context.Context) ([]ic.LoadBalancer, error)
	services corelisters.ServiceLister
	synced   func() bool // the Service informer has synced: before, every LB looks orphaned
	// ingresses, when set, puts the L7 LBs and certificates of Ingresses under the same
	// rules (owner: the Ingress UID); ingSynced as synced.
	ingresses networkinglisters.IngressLister
	ingSynced func() bool
	// gateways, when set, does the same for the L7 LBs and certificates of Gateways
	// (owner: the Gateway UID); it is nil until the Gateway controller runs.
	gateways func() *gatewayOwnerSource
	// certs lists this cluster's Ingress certificates and deletes one; nil: none swept.
	certs *ingressCerts
	grace time.Duration
	now   func() time.Time

	since map[string]time.Time // LB id -> first pass that found it orphaned
}

func newLBSweeper(lbs *loadBalancers, store *iaasLBs, services corelisters.ServiceLister, synced func() bool, grace time.Duration) *lbSweeper {
	list := func(ctx context.Context) ([]ic.LoadBalancer, error) {
		return store.describe(ctx, &ic.DescribeLoadBalancersRequest{Tags: map[string]string{TagCluster: lbs.clusterID}})
	}
	return &lbSweeper{lbs: lbs, list: list, services: services, synced: synced, grace: grace, now: time.Now, since: map[string]time.Time{}}
}

func (s *lbSweeper) run(period time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if n, err := s.sweep(ctx); err != nil {
			klog.ErrorS(err, "Orphan sweep of load balancers", "deleted", n)
		}
		cancel()
	}
}

// sweep runs one pass and returns how many LBs it deleted.
func (s *lbSweeper) sweep(ctx context.Context) (int, error) {
	if !s.synced() {
		return 0, nil
	}
	svcs, err := s.services.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	owners := map[string]bool{}
	adopted := map[string]bool{}
	for _, svc := range svcs {
		owners[string(svc.UID)] = true
		if id := existingID(svc); id != "" {
			adopted[id] = true
		}
	}
	ingOwners, err := s.ingressOwners()
	if err != nil {
		return 0, err
	}
	gwOwners, err := s.gatewayOwners()
	if err != nil {
		return 0, err
	}
	list, err := s.list(ctx)
	if err != nil {
		return 0, err
	}
	now := s.now()
	orphaned := map[string]bool{}
	deleted := 0
	var errs []error
	for _, lb := range list {
		uid := lb.Tags[TagServiceUID]
		alive := owners[uid]
		if iu := lb.Tags[TagIngressUID]; uid == "" && iu != "" && ingOwners != nil {
			uid, alive = iu, ingOwners[iu]
		}
		if gu := lb.Tags[TagGatewayUID]; uid == "" && gu != "" && gwOwners != nil {
			uid, alive = gu, gwOwners[gu]
		}
		if lb.Tags[TagCluster] != s.lbs.clusterID || uid == "" || alive || adopted[lb.LoadBalancerID] {
			continue
		}
		if lb.State == ic.LoadBalancerCreating {
			continue // a create in flight; its Service may not be in the cache yet
		}
		orphaned[lb.LoadBalancerID] = true
		first, ok := s.since[lb.LoadBalancerID]
		if !ok {
			s.since[lb.LoadBalancerID] = now
			klog.InfoS("Load balancer has no Service or Ingress; deleting it after the grace period", "loadBalancer", lb.LoadBalancerID,
				"ownerUID", uid, "service", lb.Tags[TagService], "ingress", lb.Tags[TagIngress], "gateway", lb.Tags[TagGateway], "grace", s.grace)
			first = now
		}
		if now.Sub(first) < s.grace {
			continue
		}
		if err := s.lbs.store.delete(ctx, lb.LoadBalancerID); err != nil {
			errs = append(errs, fmt.Errorf("deleting orphaned load balancer %s: %w", lb.LoadBalancerID, err))
			continue
		}
		deleted++
		delete(s.since, lb.LoadBalancerID)
		orphansDeleted().WithLabelValues("loadBalancer").Inc()
		klog.InfoS("Deleted orphaned load balancer", "loadBalancer", lb.LoadBalancerID, "vip", lb.VIP,
			"ownerUID", uid, "service", lb.Tags[TagService], "ingress", lb.Tags[TagIngress], "gateway", lb.Tags[TagGateway], "orphanedFor", now.Sub(first).Round(time.Second))
	}
	n, err := s.sweepCerts(ctx, ingOwners, gwOwners, orphaned, now)
	deleted += n
	if err != nil {
		errs = append(errs, err)
	}
	for id := range s.since {
		if !orphaned[id] { // owner came back (cache lag) or gone from the IaaS
			delete(s.since, id)
		}
	}
	if len(errs) > 0 {
		return deleted, errs[0]
	}
	return deleted, nil
}

// gatewayOwners is the set of Gateway UIDs, or nil when Gateways are not swept (the
// Gateway controller is off, or its informer has not synced).
func (s *lbSweeper) gatewayOwners() (map[string]bool, error) {
	if s.gateways == nil {
		return nil, nil
	}
	src := s.gateways()
	if src == nil || !src.synced() {
		return nil, nil
	}
	gws, err := src.list.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, g := range gws {
		out[string(g.UID)] = true
	}
	return out, nil
}

// ingressOwners is the set of Ingress UIDs, or nil when Ingresses are not swept (no
// lister, or not synced yet: before, every Ingress LB would look orphaned).
func (s *lbSweeper) ingressOwners() (map[string]bool, error) {
	if s.ingresses == nil || s.ingSynced == nil || !s.ingSynced() {
		return nil, nil
	}
	ings, err := s.ingresses.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, ing := range ings {
		out[string(ing.UID)] = true
	}
	return out, nil
}

// sweepCerts deletes this cluster's Ingress certificates whose Ingress is gone, after
// the grace. One an LB still uses is ResourceInUse: it goes once its LB is swept.
func (s *lbSweeper) sweepCerts(ctx context.Context, owners, gwOwners map[string]bool, orphaned map[string]bool, now time.Time) (int, error) {
	if s.certs == nil || (owners == nil && gwOwners == nil) {
		return 0, nil
	}
	resp, err := s.certs.api.DescribeCertificates(ctx, &ic.DescribeCertificatesRequest{
		Tags: map[string]string{TagCluster: s.lbs.clusterID}, Page: ic.Page{Limit: ic.MaxPageSize}})
	if err != nil {
		return 0, fmt.Errorf("DescribeCertificates: %w", err)
	}
	deleted := 0
	var errs []error
	for _, ct := range resp.Certificates {
		uid, alive := ct.Tags[TagIngressUID], false
		switch gu := ct.Tags[TagGatewayUID]; {
		case uid != "" && owners != nil:
			alive = owners[uid]
		case uid == "" && gu != "" && gwOwners != nil:
			uid, alive = gu, gwOwners[gu]
		default:
			uid = "" // its kind of owner is not known here: keep it
		}
		if ct.Tags[TagCluster] != s.lbs.clusterID || uid == "" || alive {
			continue
		}
		id := ct.CertificateID
		orphaned[id] = true
		first, ok := s.since[id]
		if !ok {
			s.since[id], first = now, now
		}
		if now.Sub(first) < s.grace {
			continue
		}
		_, err := s.certs.api.DeleteCertificate(ctx, &ic.DeleteCertificateRequest{CertificateID: id})
		switch {
		case err == nil || errors.Is(err, ic.ErrNotFound):
			deleted++
			delete(s.since, id)
			orphansDeleted().WithLabelValues("certificate").Inc()
			klog.InfoS("Deleted orphaned certificate", "certificate", id, "ownerUID", uid, "ingress", ct.Tags[TagIngress], "gateway", ct.Tags[TagGateway])
		case errors.Is(err, ic.ErrInUse):
		default:
			errs = append(errs, fmt.Errorf("deleting orphaned certificate %s: %w", id, err))
		}
	}
	return deleted, errors.Join(errs...)
}

// startSweeper runs the orphan sweeper on the shared Service informer.
func (c *Cloud) startSweeper(f informers.SharedInformerFactory) {
	if !c.cfg.SweeperEnabled() {
		return
	}
	store, ok := c.lbs.store.(*iaasLBs)
	if !ok {
		return
	}
	inf := f.Core().V1().Services()
	s := newLBSweeper(c.lbs, store, inf.Lister(), inf.Informer().HasSynced, c.cfg.OrphanSweeper.GracePeriod.Duration)
	ing := f.Networking().V1().Ingresses()
	s.ingresses, s.ingSynced = ing.Lister(), ing.Informer().HasSynced
	s.certs = &ingressCerts{api: c.api, cluster: c.cfg.ClusterID}
	s.gateways = c.gatewayOwners.Load
	klog.InfoS("Orphan sweeper on", "grace", s.grace, "period", c.cfg.OrphanSweeper.Period.Duration)
	go s.run(c.cfg.OrphanSweeper.Period.Duration, c.stop)
}
