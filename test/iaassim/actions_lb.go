package iaassim

import (
	"fmt"
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// lbOf returns the tenant's load balancer or ResourceNotFound (also for other tenants').
func (s *Server) lbOf(c *call, id string) (*lbRec, *iaasclient.Error) {
	if id == "" {
		return nil, invalid("loadBalancerId", "is required")
	}
	lb := s.state.lbs[id]
	if lb == nil || lb.Tenant != c.tenant.name {
		return nil, notFound("loadBalancerId", "load balancer", id)
	}
	return lb, nil
}

// checkListeners validates new listener specs against each other and the listeners kept.
func checkListeners(field string, specs []iaasclient.ListenerSpec, kept []iaasclient.Listener) *iaasclient.Error {
	used := map[string]string{}
	for _, l := range kept {
		used[listenerKey(&l.ListenerSpec)] = "listener " + l.ListenerID
	}
	for i := range specs {
		p := fmt.Sprintf("%s[%d]", field, i)
		if err := ValidateListener(p, &specs[i]); err != nil {
			return err
		}
		k := listenerKey(&specs[i])
		if other, dup := used[k]; dup {
			return errf(iaasclient.CodeResourceInUse, "%s: %s is already used by %s", p, k, other)
		}
		used[k] = p
	}
	return nil
}

func (s *Server) createLoadBalancer(c *call, req *iaasclient.CreateLoadBalancerRequest) (any, *iaasclient.Error) {
	if err := validateName("name", req.Name, true); err != nil {
		return nil, err
	}
	if req.Type != iaasclient.LoadBalancerPublic && req.Type != iaasclient.LoadBalancerInternal {
		return nil, invalid("type", "must be public or internal, got %q", truncate(string(req.Type)))
	}
	if err := validateText("subnetId", req.SubnetID, maxNameLen); err != nil {
		return nil, err
	}
	if err := validateTags("tags", req.Tags); err != nil {
		return nil, err
	}
	if err := checkListeners("listeners", req.Listeners, nil); err != nil {
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
	if v := s.vpcs[req.VpcID]; req.VpcID == "" || v == nil || v.tenant != c.tenant.name {
		if req.VpcID == "" {
			return nil, invalid("vpcId", "is required")
		}
		return nil, notFound("vpcId", "VPC", req.VpcID)
	}
	count := 0
	var vips []string
	for _, lb := range s.state.lbs {
		vips = append(vips, lb.VIP)
		if lb.Tenant == c.tenant.name {
			count++
		}
	}
	if q := c.tenant.quotas.LoadBalancers; count+1 > q {
		return nil, errf(iaasclient.CodeLimitExceeded, "loadBalancers: the tenant's quota of %d load balancers is used up", q)
	}
	if q := c.tenant.quotas.ListenersPerLoadBalancer; len(req.Listeners) > q {
		return nil, errf(iaasclient.CodeLimitExceeded, "listeners: %d listeners exceed the quota of %d per load balancer", len(req.Listeners), q)
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
	off, lim, err := validatePage(req.Page)
	if err != nil {
		return nil, err
	}
	if err := validateIDList("loadBalancerIds", req.LoadBalancerIDs); err != nil {
		return nil, err
	}
	if err := validateIDList("names", req.Names); err != nil {
		return nil, err
	}
	s.state.mu.RLock()
	all := sortedValues(s.state.lbs, func(lb *lbRec) bool {
		return lb.Tenant == c.tenant.name && inList(req.LoadBalancerIDs, lb.LoadBalancerID) && inList(req.Names, lb.Name) && tagsMatch(lb.Tags, req.Tags)
	})
	page := paginate(all, off, lim)
	s.state.mu.RUnlock()
	resp := &iaasclient.DescribeLoadBalancersResponse{TotalCount: len(all), LoadBalancers: []iaasclient.LoadBalancer{}}
	for _, rec := range page {
		lb := rec.LoadBalancer
		status := s.dp.LoadBalancers.BackendStatus(lb.LoadBalancerID)
		if len(status) > 0 {
			lb.Listeners = slices.Clone(lb.Listeners)
			for i := range lb.Listeners {
				lb.Listeners[i].BackendStatus = status[lb.Listeners[i].ListenerID]
			}
		}
		if lb.Listeners == nil {
			lb.Listeners = []iaasclient.Listener{}
		}
		resp.LoadBalancers = append(resp.LoadBalancers, lb)
	}
	return resp, nil
}

func (s *Server) modifyLoadBalancer(c *call, req *iaasclient.ModifyLoadBalancerRequest) (any, *iaasclient.Error) {
	if req.Name != nil {
		if err := validateName("name", *req.Name, true); err != nil {
			return nil, err
		}
	}
	if err := validateTags("tags", req.Tags); err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	lb, err := s.lbOf(c, req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	if lb.State == iaasclient.LoadBalancerDeleting {
		return nil, errf(iaasclient.CodeResourceInUse, "loadBalancerId: load balancer %s is DELETING", lb.LoadBalancerID)
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
	if lb.State == iaasclient.LoadBalancerDeleting {
		return nil, errf(iaasclient.CodeResourceInUse, "loadBalancerId: load balancer %s is DELETING", lb.LoadBalancerID)
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
	if len(req.Listeners) == 0 {
		return nil, invalid("listeners", "at least one listener is required")
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
	if err := checkListeners("listeners", req.Listeners, lb.Listeners); err != nil {
		return nil, err
	}
	if q := c.tenant.quotas.ListenersPerLoadBalancer; len(lb.Listeners)+len(req.Listeners) > q {
		return nil, errf(iaasclient.CodeLimitExceeded, "listeners: the load balancer has %d listeners and the quota is %d", len(lb.Listeners), q)
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
	if req.ListenerID == "" {
		return nil, invalid("listenerId", "is required")
	}
	idx := slices.IndexFunc(lb.Listeners, func(l iaasclient.Listener) bool { return l.ListenerID == req.ListenerID })
	if idx < 0 {
		return nil, notFound("listenerId", "listener", req.ListenerID)
	}
	others := slices.Delete(slices.Clone(lb.Listeners), idx, idx+1)
	if err := ValidateListener("listener", &req.Listener); err != nil {
		return nil, err
	}
	for _, o := range others {
		if listenerKey(&o.ListenerSpec) == listenerKey(&req.Listener) {
			return nil, errf(iaasclient.CodeResourceInUse, "listener: %s is already used by listener %s", listenerKey(&req.Listener), o.ListenerID)
		}
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
	if len(req.ListenerIDs) == 0 {
		return nil, invalid("listenerIds", "at least one listener id is required")
	}
	if err := validateIDList("listenerIds", req.ListenerIDs); err != nil {
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
