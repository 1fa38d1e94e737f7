// Package iaassim is the simulated IaaS control plane: the HTTP API of iaasclient
// (API.md) with tenancy, rules, quotas, client tokens, async tasks, fault injection and
// metrics, on state kept in bbolt. The data plane (instances, router, load balancers,
// disks) is behind the interfaces of package dataplane.
package iaassim

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

// Options are the run-time settings that are not in the config file.
type Options struct {
	// DataDir holds the bbolt file.
	DataDir string
	// DataPlane; nil parts are Noop.
	DataPlane dataplane.DataPlane
	// TaskDelay overrides the config's taskDelay when set (>= 0).
	TaskDelay *time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Server is one simulated IaaS.
type Server struct {
	cfg   *Config
	dp    dataplane.DataPlane
	state *state
	now   func() time.Time

	tenants map[string]*tenant
	keys    map[string]accessKey
	vpcs    map[string]*vpcInfo

	taskDelay time.Duration
	nonces    *nonceCache
	faults    *faultTable
	metrics   *metrics
	sched     *scheduler

	routerMu    sync.Mutex
	routerDirty atomic.Bool
	// syncMu serializes instance syncs, so an older listing never lands after a newer.
	syncMu sync.Mutex
	// conflicts are the address conflicts last reported (addrowner.go), by message;
	// guarded by state.mu (written only by the instance sync, which holds it).
	conflicts map[string]bool
	// adminMu serializes admin instance changes (check, add, sync).
	adminMu sync.Mutex

	actionsOnce sync.Once
	actionTable map[string]actionFunc

	// tcTasks maps the RequestId of a CLB write of the Tencent front-end to its native
	// task (tcTaskRef), for DescribeTaskStatus. In memory: a restart forgets them.
	tcTasks sync.Map

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type tenant struct {
	name       string
	adminCIDRs []netip.Prefix
	quotas     QuotaConfig
}

type accessKey struct {
	tenant string
	secret string
}

type vpcInfo struct {
	tenant string
	vpc    iaasclient.Vpc
}

// New opens the store in opts.DataDir, restores the data plane from it, resumes
// unfinished tasks and starts the background loops. Close stops them.
func New(ctx context.Context, cfg *Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := openStore(opts.DataDir)
	if err != nil {
		return nil, err
	}
	stt, err := newState(st)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("loading state: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		dp:        withNoops(opts.DataPlane, cfg),
		state:     stt,
		now:       opts.Now,
		tenants:   map[string]*tenant{},
		keys:      map[string]accessKey{},
		vpcs:      map[string]*vpcInfo{},
		taskDelay: durOr(cfg.TaskDelay, 100*time.Millisecond),
		nonces:    newNonceCache(),
		faults:    newFaultTable(cfg.Faults),
		metrics:   newMetrics(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.dp.Disks = &auditDisks{Disks: s.dp.Disks, srv: s}
	if opts.TaskDelay != nil && *opts.TaskDelay >= 0 {
		s.taskDelay = *opts.TaskDelay
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.sched = newScheduler(s)
	for _, t := range cfg.Tenants {
		tn := &tenant{name: t.Name, quotas: t.Quotas}
		for _, c := range t.AdminCIDRs {
			tn.adminCIDRs = append(tn.adminCIDRs, netip.MustParsePrefix(c).Masked())
		}
		s.tenants[t.Name] = tn
		for _, k := range t.AccessKeys {
			s.keys[k.AccessKeyID] = accessKey{tenant: t.Name, secret: k.SecretKey}
		}
		for _, v := range t.Vpcs {
			s.vpcs[v.VpcID] = &vpcInfo{tenant: t.Name, vpc: iaasclient.Vpc{
				VpcID: v.VpcID, Name: v.Name, CidrBlock: v.CidrBlock, Region: cfg.Region, Tags: copyTags(v.Tags),
			}}
		}
	}
	if err := s.restore(ctx); err != nil {
		s.cancel()
		s.state.close()
		return nil, err
	}
	s.startLoops()
	return s, nil
}

// Close stops the task workers and background loops and closes the store. Unfinished
// tasks stay RUNNING in the store and resume at the next start.
func (s *Server) Close() error {
	s.cancel()
	s.sched.stop()
	s.wg.Wait()
	return s.state.close()
}

func withNoops(dp dataplane.DataPlane, cfg *Config) dataplane.DataPlane {
	if dp.Instances == nil {
		dp.Instances = noInstances{}
	}
	if dp.Router == nil {
		dp.Router = dataplane.NoopRouter{}
	}
	if dp.LoadBalancers == nil {
		dp.LoadBalancers = dataplane.NoopLoadBalancers{Pools: cfg.Pools()}
	}
	if dp.Disks == nil {
		dp.Disks = dataplane.NoopDisks{}
	}
	return dp
}

// Pools returns the configured VIP pools with defaults filled in.
func (c *Config) Pools() map[iaasclient.LoadBalancerType]netip.Prefix {
	out := map[iaasclient.LoadBalancerType]netip.Prefix{
		iaasclient.LoadBalancerPublic:   netip.MustParsePrefix("198.51.100.0/24"),
		iaasclient.LoadBalancerInternal: netip.MustParsePrefix("10.255.0.0/24"),
	}
	for t, p := range c.LoadBalancerPools {
		out[t] = netip.MustParsePrefix(p).Masked()
	}
	return out
}

// noInstances is the backend when none is configured: it has no machines.
type noInstances struct{}

func (noInstances) Name() string { return "none" }
func (noInstances) List(context.Context) ([]dataplane.DiscoveredInstance, error) {
	return nil, nil
}
func (noInstances) Start(context.Context, string) error     { return nil }
func (noInstances) Stop(context.Context, string) error      { return nil }
func (noInstances) Terminate(context.Context, string) error { return nil }

func (s *Server) startLoops() {
	interval := durOr(s.cfg.InstanceSyncInterval, 2*time.Second)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
				if err := s.syncInstances(s.ctx); err != nil {
					klog.FromContext(s.ctx).Error(err, "Listing instances failed")
				}
				if s.routerDirty.Load() {
					s.syncRouter(s.ctx)
				}
			}
		}
	}()
}

func (s *Server) log() klog.Logger { return klog.FromContext(s.ctx) }
