package fake

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// VIP pools of the fake: documentation ranges for public, the top of the default VPC
// for internal load balancers.
var (
	PublicVIPPool   = netip.MustParsePrefix("198.51.100.0/24")
	InternalVIPPool = netip.MustParsePrefix("10.0.255.0/24")
)

func poolOf(t ic.LoadBalancerType) netip.Prefix {
	if t == ic.LoadBalancerInternal {
		return InternalVIPPool
	}
	return PublicVIPPool
}

// LoadBalancer returns a copy of a stored load balancer.
func (c *Cloud) LoadBalancer(id string) (ic.LoadBalancer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lb, ok := c.lbs[id]
	if !ok {
		return ic.LoadBalancer{}, false
	}
	return clone(*lb), true
}

// SetBackendHealth sets the health reported for every backend ip:port of every
// listener, as the active health checks would.
func (c *Cloud) SetBackendHealth(ip string, port int, healthy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, lb := range c.lbs {
		for i := range lb.Listeners {
			for j, s := range lb.Listeners[i].BackendStatus {
				if s.IP == ip && s.Port == port {
					lb.Listeners[i].BackendStatus[j].Healthy = healthy
				}
			}
		}
	}
}

func (c *Cloud) allocVIP(t ic.LoadBalancerType, want string) (string, error) {
	pool := poolOf(t)
	if want != "" {
		a, err := netip.ParseAddr(want)
		if err != nil || !pool.Contains(a) {
			return "", c.failf(ic.CodeInvalidParameter, "vip: %q is not in the %s pool %s", want, t, pool)
		}
		if c.vipsUsed[a.String()] {
			return "", c.failf(ic.CodeResourceInUse, "vip: %s is used by another load balancer", a)
		}
		return a.String(), nil
	}
	// As the simulator does: network and gateway (the first host) are skipped, and so
	// is the broadcast address.
	for a := pool.Masked().Addr().Next().Next(); pool.Contains(a) && pool.Contains(a.Next()); a = a.Next() {
		if !c.vipsUsed[a.String()] {
			return a.String(), nil
		}
	}
	return "", c.failf(ic.CodeLimitExceeded, "vip: the %s pool %s is exhausted", t, pool)
}

func validateListener(field string, l ic.ListenerSpec) error {
	if l.Protocol != ic.ProtocolTCP && l.Protocol != ic.ProtocolUDP {
		return ic.Errorf(ic.CodeInvalidParameter, "%s.protocol: %q is not TCP or UDP", field, l.Protocol)
	}
	if l.Port < 1 || l.Port > 65535 {
		return ic.Errorf(ic.CodeInvalidParameter, "%s.port: %d is not between 1 and 65535", field, l.Port)
	}
	seen := map[string]int{}
	for i, b := range l.Backends {
		k := fmt.Sprintf("%s:%d", b.IP, b.Port)
		if j, dup := seen[k]; dup {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.backends[%d]: duplicates backends[%d] (%s)", field, i, j, k)
		}
		seen[k] = i
		if !validIP(b.IP) {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.backends[%d].ip: %q is not an IP address", field, i, b.IP)
		}
		if b.Port < 1 || b.Port > 65535 {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.backends[%d].port: %d is not between 1 and 65535", field, i, b.Port)
		}
		if b.Weight < 0 || b.Weight > 100 {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.backends[%d].weight: %d is not between 0 and 100", field, i, b.Weight)
		}
	}
	if hc := l.HealthCheck; hc != nil {
		if hc.Protocol != ic.HealthCheckTCP && hc.Protocol != ic.HealthCheckHTTP {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.healthCheck.protocol: %q is not TCP or HTTP", field, hc.Protocol)
		}
		if hc.Port < 0 || hc.Port > 65535 {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.healthCheck.port: %d is not between 0 and 65535", field, hc.Port)
		}
		if hc.Path != "" && hc.Protocol != ic.HealthCheckHTTP {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.healthCheck.path: only HTTP checks take a path", field)
		}
		if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.healthCheck.path: must start with /", field)
		}
		for _, f := range []struct {
			name   string
			v, max int
		}{{"intervalSeconds", hc.IntervalSeconds, 300}, {"timeoutSeconds", hc.TimeoutSeconds, 300}, {"healthyThreshold", hc.HealthyThreshold, 10}, {"unhealthyThreshold", hc.UnhealthyThreshold, 10}} {
			if f.v < 0 || f.v > f.max {
				return ic.Errorf(ic.CodeInvalidParameter, "%s.healthCheck.%s: must be 0-%d, got %d", field, f.name, f.max, f.v)
			}
		}
	}
	switch l.SessionAffinity {
	case "", ic.SessionAffinityNone, ic.SessionAffinityClientIP:
	default:
		return ic.Errorf(ic.CodeInvalidParameter, "%s.sessionAffinity: %q is not NONE or CLIENT_IP", field, l.SessionAffinity)
	}
	if l.SessionAffinityTimeoutSeconds < 0 || l.SessionAffinityTimeoutSeconds > 86400 {
		return ic.Errorf(ic.CodeInvalidParameter, "%s.sessionAffinityTimeoutSeconds: %d is not between 0 and 86400", field, l.SessionAffinityTimeoutSeconds)
	}
	for i, r := range l.SourceRanges {
		if _, err := netip.ParsePrefix(r); err != nil {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.sourceRanges[%d]: %q is not a CIDR block", field, i, r)
		}
	}
	switch l.ProxyProtocol {
	case ic.ProxyProtocolNone:
	case ic.ProxyProtocolV2:
		if l.Protocol != ic.ProtocolTCP {
			return ic.Errorf(ic.CodeInvalidParameter, "%s.proxyProtocol: only TCP listeners take a proxy protocol", field)
		}
	default:
		return ic.Errorf(ic.CodeInvalidParameter, "%s.proxyProtocol: %q is not \"\" or v2", field, l.ProxyProtocol)
	}
	return nil
}

// checkListeners validates specs against each other and against the listeners of lb
// that are not in skip; a protocol+port used twice is ResourceInUse.
func (c *Cloud) checkListeners(field string, specs []ic.ListenerSpec, existing []ic.Listener, skip string) error {
	type key struct {
		p    ic.Protocol
		port int
	}
	used := map[key]string{}
	for _, l := range existing {
		if l.ListenerID != skip {
			used[key{l.Protocol, l.Port}] = "listener " + l.ListenerID
		}
	}
	for i, s := range specs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if field == "listener" {
			f = field
		}
		if err := validateListener(f, s); err != nil {
			return c.fail(err.(*ic.Error))
		}
		k := key{s.Protocol, s.Port}
		if by, ok := used[k]; ok {
			return c.failf(ic.CodeResourceInUse, "%s: %s/%d is already used by %s", f, s.Protocol, s.Port, by)
		}
		used[k] = f
	}
	return nil
}

func (c *Cloud) newListener(s ic.ListenerSpec) ic.Listener {
	l := ic.Listener{ListenerID: c.newID("lsn"), ListenerSpec: clone(s)}
	l.BackendStatus = backendStatus(l.Backends, nil)
	return l
}

// backendStatus keeps the known health of backends that stay; new ones start healthy
// so that tests need not simulate health checks.
func backendStatus(bs []ic.Backend, old []ic.BackendStatus) []ic.BackendStatus {
	out := make([]ic.BackendStatus, 0, len(bs))
	for _, b := range bs {
		st := ic.BackendStatus{IP: b.IP, Port: b.Port, Healthy: true}
		for _, o := range old {
			if o.IP == b.IP && o.Port == b.Port {
				st.Healthy = o.Healthy
			}
		}
		out = append(out, st)
	}
	return out
}

// lbTask starts a task on a load balancer, which is UPDATING until its last task ends.
func (c *Cloud) lbTask(action string, lb *ic.LoadBalancer, finish, fail func()) string {
	if lb.State == ic.LoadBalancerActive || lb.State == ic.LoadBalancerError {
		lb.State = ic.LoadBalancerUpdating
	}
	id := lb.LoadBalancerID
	settle := func() {
		if l, ok := c.lbs[id]; ok && c.runningOn(id) == 0 && (l.State == ic.LoadBalancerUpdating || l.State == ic.LoadBalancerCreating) {
			l.State = ic.LoadBalancerActive
		}
	}
	return c.startTask(action, id, func() {
		if finish != nil {
			finish()
		}
		settle()
	}, func() {
		if fail != nil {
			fail()
		}
		settle()
	})
}

// runningOn counts running tasks on a resource; a task is no longer running when its
// finish or fail function runs.
func (c *Cloud) runningOn(resourceID string) int {
	n := 0
	for _, t := range c.tasks {
		if t.ResourceID == resourceID && t.State == ic.TaskRunning {
			n++
		}
	}
	return n
}

// CreateLoadBalancer implements iaasclient.LoadBalancerAPI.
func (c *Cloud) CreateLoadBalancer(ctx context.Context, req *ic.CreateLoadBalancerRequest) (*ic.CreateLoadBalancerResponse, error) {
	if err := c.enter(ctx, ic.ActionCreateLoadBalancer, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fp := *req
	fp.ClientToken = ""
	if prev, err := c.checkToken(ic.ActionCreateLoadBalancer, req.ClientToken, fp); err != nil || prev != nil {
		if err != nil {
			return nil, err
		}
		r := *prev.(*ic.CreateLoadBalancerResponse)
		return &r, nil
	}
	if req.Name == "" {
		return nil, c.failf(ic.CodeInvalidParameter, "name: required")
	}
	if req.Type != ic.LoadBalancerPublic && req.Type != ic.LoadBalancerInternal {
		return nil, c.failf(ic.CodeInvalidParameter, "type: %q is not public or internal", req.Type)
	}
	if _, ok := c.vpcs[req.VpcID]; !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "vpcId: VPC %q not found", req.VpcID)
	}
	if err := c.checkListeners("listeners", req.Listeners, nil, ""); err != nil {
		return nil, err
	}
	if len(req.Listeners) > c.quotas["listenersPerLoadBalancer"] {
		return nil, c.failf(ic.CodeLimitExceeded, "listeners: %d listeners exceed the quota of %d per load balancer", len(req.Listeners), c.quotas["listenersPerLoadBalancer"])
	}
	if len(c.lbs) >= c.quotas["loadBalancers"] {
		return nil, c.failf(ic.CodeLimitExceeded, "loadBalancers: quota of %d reached", c.quotas["loadBalancers"])
	}
	vip, err := c.allocVIP(req.Type, req.VIP)
	if err != nil {
		return nil, err
	}
	lb := &ic.LoadBalancer{
		LoadBalancerID: c.newID("lb"), Name: req.Name, Type: req.Type, VpcID: req.VpcID,
		SubnetID: req.SubnetID, VIP: vip, State: ic.LoadBalancerCreating,
		Listeners: []ic.Listener{}, Tags: clone(req.Tags), CreatedAt: c.now().UTC(),
	}
	for _, s := range req.Listeners {
		lb.Listeners = append(lb.Listeners, c.newListener(s))
	}
	c.lbs[lb.LoadBalancerID] = lb
	c.vipsUsed[vip] = true
	id := lb.LoadBalancerID
	tid := c.lbTask(ic.ActionCreateLoadBalancer, lb, nil, func() {
		if l, ok := c.lbs[id]; ok {
			l.State = ic.LoadBalancerError
		}
	})
	resp := &ic.CreateLoadBalancerResponse{ResponseMeta: c.meta(), LoadBalancerID: id, TaskID: tid}
	c.recordToken(ic.ActionCreateLoadBalancer, req.ClientToken, fp, resp)
	r := *resp
	return &r, nil
}

// DescribeLoadBalancers implements iaasclient.LoadBalancerAPI.
func (c *Cloud) DescribeLoadBalancers(ctx context.Context, req *ic.DescribeLoadBalancersRequest) (*ic.DescribeLoadBalancersResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeLoadBalancers, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []ic.LoadBalancer
	for _, lb := range c.lbs {
		if anyOf(req.LoadBalancerIDs, lb.LoadBalancerID) && anyOf(req.Names, lb.Name) && hasTags(lb.Tags, req.Tags) {
			all = append(all, *lb)
		}
	}
	slices.SortFunc(all, func(a, b ic.LoadBalancer) int { return strings.Compare(a.LoadBalancerID, b.LoadBalancerID) })
	lo, hi, err := c.pageOf(req.Page, len(all))
	if err != nil {
		return nil, err
	}
	return &ic.DescribeLoadBalancersResponse{ResponseMeta: c.meta(), LoadBalancers: clone(all[lo:hi]), TotalCount: len(all)}, nil
}

// lookupLB finds a load balancer that accepts changes: DELETING ones are ResourceInUse.
func (c *Cloud) lookupLB(id string) (*ic.LoadBalancer, error) {
	lb, ok := c.lbs[id]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "loadBalancerId: load balancer %q not found", id)
	}
	if lb.State == ic.LoadBalancerDeleting {
		return nil, c.failf(ic.CodeResourceInUse, "loadBalancerId: load balancer %q is being deleted", id)
	}
	return lb, nil
}

// ModifyLoadBalancer implements iaasclient.LoadBalancerAPI.
func (c *Cloud) ModifyLoadBalancer(ctx context.Context, req *ic.ModifyLoadBalancerRequest) (*ic.ModifyLoadBalancerResponse, error) {
	if err := c.enter(ctx, ic.ActionModifyLoadBalancer, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	lb, err := c.lookupLB(req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	if req.Name != nil {
		if *req.Name == "" {
			return nil, c.failf(ic.CodeInvalidParameter, "name: must not be empty")
		}
		lb.Name = *req.Name
	}
	if req.Tags != nil {
		lb.Tags = clone(req.Tags)
	}
	return &ic.ModifyLoadBalancerResponse{ResponseMeta: c.meta()}, nil
}

// DeleteLoadBalancer implements iaasclient.LoadBalancerAPI. A second delete while the
// first runs converges on the same end.
func (c *Cloud) DeleteLoadBalancer(ctx context.Context, req *ic.DeleteLoadBalancerRequest) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, ic.ActionDeleteLoadBalancer, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	lb, ok := c.lbs[req.LoadBalancerID]
	if !ok {
		return nil, c.failf(ic.CodeResourceNotFound, "loadBalancerId: load balancer %q not found", req.LoadBalancerID)
	}
	if lb.State == ic.LoadBalancerDeleting {
		// Ends after the delete it repeats.
		return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: c.startTask(ic.ActionDeleteLoadBalancer, lb.LoadBalancerID, nil, nil)}, nil
	}
	prev := lb.State
	lb.State = ic.LoadBalancerDeleting
	id := lb.LoadBalancerID
	tid := c.startTask(ic.ActionDeleteLoadBalancer, id, func() {
		if l, ok := c.lbs[id]; ok {
			delete(c.vipsUsed, l.VIP)
			delete(c.lbs, id)
		}
	}, func() {
		if l, ok := c.lbs[id]; ok {
			l.State = prev
		}
	})
	return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: tid}, nil
}

// CreateListeners implements iaasclient.LoadBalancerAPI. The listeners are visible at
// once; the load balancer is UPDATING until the task ends.
func (c *Cloud) CreateListeners(ctx context.Context, req *ic.CreateListenersRequest) (*ic.CreateListenersResponse, error) {
	if err := c.enter(ctx, ic.ActionCreateListeners, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fp := *req
	fp.ClientToken = ""
	if prev, err := c.checkToken(ic.ActionCreateListeners, req.ClientToken, fp); err != nil || prev != nil {
		if err != nil {
			return nil, err
		}
		r := *prev.(*ic.CreateListenersResponse)
		return &r, nil
	}
	lb, err := c.lookupLB(req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	if len(req.Listeners) == 0 {
		return nil, c.failf(ic.CodeInvalidParameter, "listeners: at least one is required")
	}
	if err := c.checkListeners("listeners", req.Listeners, lb.Listeners, ""); err != nil {
		return nil, err
	}
	if q := c.quotas["listenersPerLoadBalancer"]; len(lb.Listeners)+len(req.Listeners) > q {
		return nil, c.failf(ic.CodeLimitExceeded, "listeners: load balancer %q has %d listeners, the quota is %d", lb.LoadBalancerID, len(lb.Listeners), q)
	}
	ids := make([]string, 0, len(req.Listeners))
	for _, s := range req.Listeners {
		l := c.newListener(s)
		lb.Listeners = append(lb.Listeners, l)
		ids = append(ids, l.ListenerID)
	}
	lbID := lb.LoadBalancerID
	tid := c.lbTask(ic.ActionCreateListeners, lb, nil, func() {
		if l, ok := c.lbs[lbID]; ok {
			l.Listeners = slices.DeleteFunc(l.Listeners, func(x ic.Listener) bool { return slices.Contains(ids, x.ListenerID) })
		}
	})
	resp := &ic.CreateListenersResponse{ResponseMeta: c.meta(), ListenerIDs: ids, TaskID: tid}
	c.recordToken(ic.ActionCreateListeners, req.ClientToken, fp, resp)
	return resp, nil
}

// ModifyListener implements iaasclient.LoadBalancerAPI.
func (c *Cloud) ModifyListener(ctx context.Context, req *ic.ModifyListenerRequest) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, ic.ActionModifyListener, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	lb, err := c.lookupLB(req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(lb.Listeners, func(l ic.Listener) bool { return l.ListenerID == req.ListenerID })
	if i < 0 {
		return nil, c.failf(ic.CodeResourceNotFound, "listenerId: listener %q not found", req.ListenerID)
	}
	if err := c.checkListeners("listener", []ic.ListenerSpec{req.Listener}, lb.Listeners, req.ListenerID); err != nil {
		return nil, err
	}
	old := lb.Listeners[i]
	l := ic.Listener{ListenerID: old.ListenerID, ListenerSpec: clone(req.Listener)}
	l.BackendStatus = backendStatus(l.Backends, old.BackendStatus)
	lb.Listeners[i] = l
	lbID := lb.LoadBalancerID
	tid := c.lbTask(ic.ActionModifyListener, lb, nil, func() {
		if lb, ok := c.lbs[lbID]; ok {
			for j := range lb.Listeners {
				if lb.Listeners[j].ListenerID == old.ListenerID {
					lb.Listeners[j] = old
				}
			}
		}
	})
	return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: tid}, nil
}

// DeleteListeners implements iaasclient.LoadBalancerAPI; missing ids are ignored.
func (c *Cloud) DeleteListeners(ctx context.Context, req *ic.DeleteListenersRequest) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, ic.ActionDeleteListeners, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	lb, err := c.lookupLB(req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	if len(req.ListenerIDs) == 0 {
		return nil, c.failf(ic.CodeInvalidParameter, "listenerIds: at least one is required")
	}
	var removed []ic.Listener
	lb.Listeners = slices.DeleteFunc(lb.Listeners, func(l ic.Listener) bool {
		if slices.Contains(req.ListenerIDs, l.ListenerID) {
			removed = append(removed, l)
			return true
		}
		return false
	})
	lbID := lb.LoadBalancerID
	tid := c.lbTask(ic.ActionDeleteListeners, lb, nil, func() {
		if l, ok := c.lbs[lbID]; ok {
			l.Listeners = append(l.Listeners, removed...)
		}
	})
	return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: tid}, nil
}
