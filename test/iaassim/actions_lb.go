package iaassim

import (
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// lbOf returns the tenant's load balancer or ResourceNotFound (also for other tenants').
func (s *Server) lbOf(c *call, id string) (*lbRec, *iaasclient.Error) {
	if err := validate.Required("loadBalancerId", id); err != nil {
		return nil, err
	}
	lb := s.state.lbs[id]
	if lb == nil || lb.Tenant != c.tenant.name {
		return nil, validate.NotFound("loadBalancerId", "load balancer", id)
	}
	return lb, nil
}

func (s *Server) createLoadBalancer(c *call, req *iaasclient.CreateLoadBalancerRequest) (any, *iaasclient.Error) {
	if err := validate.CreateLoadBalancer(req); err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	hashed := *req
	hashed.ClientToken = ""
	hash := paramsHash(hashed)
	resp := &iaasclient.CreateLoadBalancerResponse{}
	if ok, err := s.replayToken(c, req.ClientToken, hash, resp); ok || err != nil {
		return resp, err
	}
	if err := validate.Required("vpcId", req.VpcID); err != nil {
		return nil, err
	}
	if v := s.vpcs[req.VpcID]; v == nil || v.tenant != c.tenant.name {
		return nil, validate.NotFound("vpcId", "VPC", req.VpcID)
	}
	count := 0
	var vips []string
	for _, lb := range s.state.lbs {
		vips = append(vips, lb.VIP)
		if lb.Tenant == c.tenant.name {
			count++
		}
	}
	if err := validate.TenantQuota("loadBalancers", "load balancers", count, c.tenant.quotas.LoadBalancers); err != nil {
		return nil, err
	}
	if err := validate.NewLoadBalancerListeners(len(req.Listeners), c.tenant.quotas.ListenersPerLoadBalancer); err != nil {
		return nil, err
	}
	if err := s.certsExist(c, "listeners", req.Listeners...); err != nil {
		return nil, err
	}
	vip, err := s.dp.LoadBalancers.AllocateVIP(req.Type, req.VIP, vips)
	if err != nil {
		return nil, dpError(err)
	}
	lb := &lbRec{Tenant: c.tenant.name, LoadBalancer: iaasclient.LoadBalancer{
		LoadBalancerID: newID("lb-", has(s.state.lbs)), Name: req.Name, Type: req.Type, VpcID: req.VpcID,
		SubnetID: req.SubnetID, VIP: vip, State: iaasclient.LoadBalancerCreating,
		Listeners: []iaasclient.Listener{}, Tags: copyTags(req.Tags), CreatedAt: s.now().UTC(),
	}}
	for _, sp := range req.Listeners {
		lb.Listeners = append(lb.Listeners, s.newListener(lb, sp))
	}
	tx := s.state.begin()
	tx.putLB(lb)
	t := s.newTask(tx, c, lb.LoadBalancerID, lb.LoadBalancerID, taskParams{})
	resp.LoadBalancerID, resp.TaskID = lb.LoadBalancerID, t.TaskID
	s.recordToken(tx, c, req.ClientToken, hash, resp)
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Server) newListener(lb *lbRec, sp iaasclient.ListenerSpec) iaasclient.Listener {
	taken := func(id string) bool {
		return slices.ContainsFunc(lb.Listeners, func(l iaasclient.Listener) bool { return l.ListenerID == id })
	}
	cp := clone(&sp)
	return iaasclient.Listener{ListenerID: newID("lsn-", taken), ListenerSpec: *cp}
}

func (s *Server) describeLoadBalancers(c *call, req *iaasclient.DescribeLoadBalancersRequest) (any, *iaasclient.Error) {
	off, lim, err := validate.DescribeLoadBalancers(req)
	if err != nil {
		return nil, err
	}
	s.state.mu.RLock()
	page, total := describePage(s.state.lbs, func(lb *lbRec) bool {
		return lb.Tenant == c.tenant.name && validate.MatchLoadBalancer(req, &lb.LoadBalancer)
	}, func(lb *lbRec) iaasclient.LoadBalancer { return lb.LoadBalancer }, off, lim)
	s.state.mu.RUnlock()
	for i := range page {
		lb := &page[i]
		status := s.dp.LoadBalancers.BackendStatus(lb.LoadBalancerID)
		if len(status) > 0 {
			lb.Listeners = slices.Clone(lb.Listeners)
			for j := range lb.Listeners {
				lb.Listeners[j].BackendStatus = status[lb.Listeners[j].ListenerID]
			}
		}
		if lb.Listeners == nil {
			lb.Listeners = []iaasclient.Listener{}
		}
	}
	return &iaasclient.DescribeLoadBalancersResponse{TotalCount: total, LoadBalancers: page}, nil
}

func (s *Server) modifyLoadBalancer(c *call, req *iaasclient.ModifyLoadBalancerRequest) (any, *iaasclient.Error) {
	if err := validate.ModifyLoadBalancer(req); err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	lb, err := s.lbForChange(c, req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	n := clone(lb)
	if req.Name != nil {
		n.Name = *req.Name
	}
	if req.Tags != nil {
		n.Tags = copyTags(req.Tags)
	}
	tx := s.state.begin()
	tx.putLB(n)
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return &iaasclient.ModifyLoadBalancerResponse{}, nil
}

func (s *Server) deleteLoadBalancer(c *call, req *iaasclient.DeleteLoadBalancerRequest) (any, *iaasclient.Error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	lb, err := s.lbOf(c, req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	tx := s.state.begin()
	if lb.State != iaasclient.LoadBalancerDeleting {
		n := clone(lb)
		n.State = iaasclient.LoadBalancerDeleting
		tx.putLB(n)
	}
	t := s.newTask(tx, c, lb.LoadBalancerID, lb.LoadBalancerID, taskParams{})
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return &iaasclient.TaskResponse{TaskID: t.TaskID}, nil
}

// lbForChange returns a load balancer that may take listener changes.
func (s *Server) lbForChange(c *call, id string) (*lbRec, *iaasclient.Error) {
	lb, err := s.lbOf(c, id)
	if err != nil {
		return nil, err
	}
	if err := validate.LoadBalancerAcceptsChanges(&lb.LoadBalancer); err != nil {
		return nil, err
	}
	return lb, nil
}

// commitListenerChange stores n (marked UPDATING unless still CREATING) with a task.
// inTx, when set, adds to the same transaction (a client token's record).
func (s *Server) commitListenerChange(c *call, n *lbRec, inTx func(*txn, *taskRec)) (*taskRec, *iaasclient.Error) {
	if n.State != iaasclient.LoadBalancerCreating {
		n.State = iaasclient.LoadBalancerUpdating
	}
	tx := s.state.begin()
	tx.putLB(n)
	t := s.newTask(tx, c, n.LoadBalancerID, n.LoadBalancerID, taskParams{})
	if inTx != nil {
		inTx(tx, t)
	}
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return t, nil
}

func (s *Server) createListeners(c *call, req *iaasclient.CreateListenersRequest) (any, *iaasclient.Error) {
	if err := validate.CreateListeners(req); err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	hashed := *req
	hashed.ClientToken = ""
	hash := paramsHash(hashed)
	resp := &iaasclient.CreateListenersResponse{}
	if ok, err := s.replayToken(c, req.ClientToken, hash, resp); ok || err != nil {
		return resp, err
	}
	lb, err := s.lbForChange(c, req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	if err := validate.Listeners("listeners", req.Listeners, lb.Listeners); err != nil {
		return nil, err
	}
	if err := validate.MoreListeners(len(lb.Listeners), len(req.Listeners), c.tenant.quotas.ListenersPerLoadBalancer); err != nil {
		return nil, err
	}
	if err := s.certsExist(c, "listeners", req.Listeners...); err != nil {
		return nil, err
	}
	n := clone(lb)
	resp.ListenerIDs = []string{}
	for _, sp := range req.Listeners {
		l := s.newListener(n, sp)
		n.Listeners = append(n.Listeners, l)
		resp.ListenerIDs = append(resp.ListenerIDs, l.ListenerID)
	}
	_, err = s.commitListenerChange(c, n, func(tx *txn, t *taskRec) {
		resp.TaskID = t.TaskID
		s.recordToken(tx, c, req.ClientToken, hash, resp)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Server) modifyListener(c *call, req *iaasclient.ModifyListenerRequest) (any, *iaasclient.Error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	lb, err := s.lbForChange(c, req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	if err := validate.Required("listenerId", req.ListenerID); err != nil {
		return nil, err
	}
	idx := slices.IndexFunc(lb.Listeners, func(l iaasclient.Listener) bool { return l.ListenerID == req.ListenerID })
	if idx < 0 {
		return nil, validate.NotFound("listenerId", "listener", req.ListenerID)
	}
	if err := validate.ListenerUpdate("listener", &req.Listener, lb.Listeners, req.ListenerID); err != nil {
		return nil, err
	}
	if err := s.certsExist(c, "listener", req.Listener); err != nil {
		return nil, err
	}
	n := clone(lb)
	n.Listeners[idx].ListenerSpec = *clone(&req.Listener)
	t, err := s.commitListenerChange(c, n, nil)
	if err != nil {
		return nil, err
	}
	return &iaasclient.TaskResponse{TaskID: t.TaskID}, nil
}

func (s *Server) deleteListeners(c *call, req *iaasclient.DeleteListenersRequest) (any, *iaasclient.Error) {
	if err := validate.NonEmptyIDList("listenerIds", "listener", req.ListenerIDs); err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	lb, err := s.lbForChange(c, req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	n := clone(lb)
	n.Listeners = slices.DeleteFunc(n.Listeners, func(l iaasclient.Listener) bool { return slices.Contains(req.ListenerIDs, l.ListenerID) })
	t, err := s.commitListenerChange(c, n, nil)
	if err != nil {
		return nil, err
	}
	return &iaasclient.TaskResponse{TaskID: t.TaskID}, nil
}
