package fake

import (
	"context"
	"net/netip"
	"slices"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
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
	used := make([]string, 0, len(c.vipsUsed))
	for v := range c.vipsUsed {
		used = append(used, v)
	}
	vip, err := validate.AllocateVIP(poolOf(t), want, used)
	return vip, c.check(err)
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
	if err := validate.CreateLoadBalancer(req); err != nil {
		return nil, c.fail(err)
	}
	fp := *req
	fp.ClientToken = ""
	if r, done, err := replay[ic.CreateLoadBalancerResponse](c, ic.ActionCreateLoadBalancer, req.ClientToken, fp); done {
		return r, err
	}
	if err := validate.Required("vpcId", req.VpcID); err != nil {
		return nil, c.fail(err)
	}
	if _, ok := c.vpcs[req.VpcID]; !ok {
		return nil, c.fail(validate.NotFound("vpcId", "VPC", req.VpcID))
	}
	if err := validate.TenantQuota("loadBalancers", "load balancers", len(c.lbs), c.quotas["loadBalancers"]); err != nil {
		return nil, c.fail(err)
	}
	if err := validate.NewLoadBalancerListeners(len(req.Listeners), c.quotas["listenersPerLoadBalancer"]); err != nil {
		return nil, c.fail(err)
	}
	if err := c.certsExist("listeners", req.Listeners...); err != nil {
		return nil, err
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
	off, lim, verr := validate.DescribeLoadBalancers(req)
	if verr != nil {
		return nil, c.fail(verr)
	}
	page, total := describe(c.lbs, func(lb *ic.LoadBalancer) bool { return validate.MatchLoadBalancer(req, lb) }, off, lim)
	return &ic.DescribeLoadBalancersResponse{ResponseMeta: c.meta(), LoadBalancers: page, TotalCount: total}, nil
}

// lookupLB finds a load balancer that accepts changes: DELETING ones are ResourceInUse.
func (c *Cloud) lookupLB(id string) (*ic.LoadBalancer, error) {
	lb, err := c.lbOf(id)
	if err != nil {
		return nil, err
	}
	if err := validate.LoadBalancerAcceptsChanges(lb); err != nil {
		return nil, c.fail(err)
	}
	return lb, nil
}

// lbOf finds a load balancer in any state.
func (c *Cloud) lbOf(id string) (*ic.LoadBalancer, error) {
	if err := validate.Required("loadBalancerId", id); err != nil {
		return nil, c.fail(err)
	}
	lb, ok := c.lbs[id]
	if !ok {
		return nil, c.fail(validate.NotFound("loadBalancerId", "load balancer", id))
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
	if err := validate.ModifyLoadBalancer(req); err != nil {
		return nil, c.fail(err)
	}
	lb, err := c.lookupLB(req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	if req.Name != nil {
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
	lb, err := c.lbOf(req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	if lb.State == ic.LoadBalancerDeleting {
		// Ends after the delete it repeats.
		return c.taskResponse(c.startTask(ic.ActionDeleteLoadBalancer, lb.LoadBalancerID, nil, nil)), nil
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
	return c.taskResponse(tid), nil
}

// CreateListeners implements iaasclient.LoadBalancerAPI. The listeners are visible at
// once; the load balancer is UPDATING until the task ends.
func (c *Cloud) CreateListeners(ctx context.Context, req *ic.CreateListenersRequest) (*ic.CreateListenersResponse, error) {
	if err := c.enter(ctx, ic.ActionCreateListeners, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := validate.CreateListeners(req); err != nil {
		return nil, c.fail(err)
	}
	fp := *req
	fp.ClientToken = ""
	if r, done, err := replay[ic.CreateListenersResponse](c, ic.ActionCreateListeners, req.ClientToken, fp); done {
		return r, err
	}
	lb, err := c.lookupLB(req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	if err := validate.Listeners("listeners", req.Listeners, lb.Listeners); err != nil {
		return nil, c.fail(err)
	}
	if err := validate.MoreListeners(len(lb.Listeners), len(req.Listeners), c.quotas["listenersPerLoadBalancer"]); err != nil {
		return nil, c.fail(err)
	}
	if err := c.certsExist("listeners", req.Listeners...); err != nil {
		return nil, err
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
	if err := validate.Required("listenerId", req.ListenerID); err != nil {
		return nil, c.fail(err)
	}
	i := slices.IndexFunc(lb.Listeners, func(l ic.Listener) bool { return l.ListenerID == req.ListenerID })
	if i < 0 {
		return nil, c.fail(validate.NotFound("listenerId", "listener", req.ListenerID))
	}
	if err := validate.ListenerUpdate("listener", &req.Listener, lb.Listeners, req.ListenerID); err != nil {
		return nil, c.fail(err)
	}
	if err := c.certsExist("listener", req.Listener); err != nil {
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
	return c.taskResponse(tid), nil
}

// DeleteListeners implements iaasclient.LoadBalancerAPI; missing ids are ignored.
func (c *Cloud) DeleteListeners(ctx context.Context, req *ic.DeleteListenersRequest) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, ic.ActionDeleteListeners, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := validate.NonEmptyIDList("listenerIds", "listener", req.ListenerIDs); err != nil {
		return nil, c.fail(err)
	}
	lb, err := c.lookupLB(req.LoadBalancerID)
	if err != nil {
		return nil, err
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
	return c.taskResponse(tid), nil
}
