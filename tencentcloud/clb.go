package tencentcloud

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	clb "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// CLB load balancers. Every CLB write answers a RequestId that DescribeTaskStatus
// follows, and CLB refuses a write on a load balancer while an earlier one runs; so a
// call of ours that needs several CLB writes (a listener and its targets) waits for
// each before the next, and answers the task of the last.

// clbTask names a CLB async task by the RequestId of the write.
func clbTask(requestID string) string { return "clb:" + requestID }

func lbType(t string) ic.LoadBalancerType {
	if t == "INTERNAL" {
		return ic.LoadBalancerInternal
	}
	return ic.LoadBalancerPublic
}

// clbHealthCheck maps our health check onto CLB's; nil is CLB's switch off.
func clbHealthCheck(h *ic.HealthCheck) *clb.HealthCheck {
	if h == nil {
		return &clb.HealthCheck{HealthSwitch: i64(0)}
	}
	out := &clb.HealthCheck{HealthSwitch: i64(1), CheckType: sp(string(h.Protocol))}
	set := func(dst **int64, v int) {
		if v != 0 {
			*dst = i64(v)
		}
	}
	set(&out.CheckPort, h.Port)
	set(&out.IntervalTime, h.IntervalSeconds)
	set(&out.TimeOut, h.TimeoutSeconds)
	set(&out.HealthNum, h.HealthyThreshold)
	set(&out.UnHealthNum, h.UnhealthyThreshold)
	if h.Path != "" {
		out.HttpCheckPath = sp(h.Path)
	}
	return out
}

func healthCheckOf(h *clb.HealthCheck) *ic.HealthCheck {
	if h == nil || h.HealthSwitch == nil || *h.HealthSwitch == 0 {
		return nil
	}
	return &ic.HealthCheck{
		Protocol: ic.HealthCheckProtocol(str(h.CheckType)), Port: n(h.CheckPort), Path: str(h.HttpCheckPath),
		IntervalSeconds: n(h.IntervalTime), TimeoutSeconds: n(h.TimeOut), HealthyThreshold: n(h.HealthNum), UnhealthyThreshold: n(h.UnHealthNum),
	}
}

func i64(v int) *int64 { x := int64(v); return &x }

func n(p *int64) int {
	if p == nil {
		return 0
	}
	return int(*p)
}

// checkListener refuses what CLB listeners cannot do here: source ranges (CLB filters
// clients with security groups, which this backend does not manage), PROXY protocol
// and L7 listeners.
func checkListener(s *ic.ListenerSpec) error {
	switch {
	case s.Protocol != ic.ProtocolTCP && s.Protocol != ic.ProtocolUDP:
		return ic.Errorf(ic.CodeInvalidParameter, "listener %d: protocol %s is not supported by the tencentcloud backend (TCP and UDP are)", s.Port, s.Protocol)
	case len(s.SourceRanges) > 0:
		return ic.Errorf(ic.CodeInvalidParameter, "listener %d: source ranges need CLB security groups, which the tencentcloud backend does not manage", s.Port)
	case s.ProxyProtocol != ic.ProxyProtocolNone:
		return ic.Errorf(ic.CodeInvalidParameter, "listener %d: PROXY protocol is not supported by the tencentcloud backend", s.Port)
	}
	return nil
}

func sessionExpire(s *ic.ListenerSpec) *int64 {
	if s.SessionAffinity == ic.SessionAffinityClientIP {
		t := s.SessionAffinityTimeoutSeconds
		if t == 0 {
			t = 10800
		}
		return i64(t)
	}
	return i64(0)
}

func (c *Client) CreateLoadBalancer(ctx context.Context, req *ic.CreateLoadBalancerRequest) (*ic.CreateLoadBalancerResponse, error) {
	for i := range req.Listeners {
		if err := checkListener(&req.Listeners[i]); err != nil {
			return nil, err
		}
	}
	r := clb.NewCreateLoadBalancerRequest()
	r.LoadBalancerType = sp("OPEN")
	if req.Type == ic.LoadBalancerInternal {
		r.LoadBalancerType = sp("INTERNAL")
	}
	r.Forward = i64(1) // a CLB (layer 4 and 7 listeners), not a classic CLB
	r.LoadBalancerName = sp(truncName(req.Name, 60))
	vpc := req.VpcID
	if vpc == "" {
		vpc = c.cfg.VpcID
	}
	r.VpcId = sp(vpc)
	if req.SubnetID != "" {
		r.SubnetId = sp(req.SubnetID)
	}
	if req.VIP != "" {
		r.Vip = sp(req.VIP)
	}
	one := uint64(1)
	r.Number = &one
	keys := make([]string, 0, len(req.Tags))
	for k := range req.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.Tags = append(r.Tags, &clb.TagInfo{TagKey: sp(k), TagValue: sp(req.Tags[k])})
	}
	if req.ClientToken != "" {
		r.ClientToken = sp(cbsToken(req.ClientToken))
	}
	resp := clb.NewCreateLoadBalancerResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, err
	}
	ids := strs(resp.Response.LoadBalancerIds)
	if len(ids) != 1 {
		return nil, ic.Errorf(ic.CodeInternalError, "CreateLoadBalancer answered %d ids, want 1", len(ids))
	}
	out := &ic.CreateLoadBalancerResponse{LoadBalancerID: ids[0], TaskID: clbTask(str(resp.Response.RequestId))}
	if len(req.Listeners) == 0 {
		return out, nil
	}
	// Listeners can be added once the load balancer exists.
	if _, err := c.WaitTask(ctx, out.TaskID); err != nil {
		return nil, fmt.Errorf("load balancer %s: %w", out.LoadBalancerID, err)
	}
	lr, err := c.CreateListeners(ctx, &ic.CreateListenersRequest{LoadBalancerID: out.LoadBalancerID, Listeners: req.Listeners})
	if err != nil {
		return nil, fmt.Errorf("listeners of load balancer %s: %w", out.LoadBalancerID, err)
	}
	out.TaskID = lr.TaskID
	return out, nil
}

func (c *Client) DescribeLoadBalancers(ctx context.Context, req *ic.DescribeLoadBalancersRequest) (*ic.DescribeLoadBalancersResponse, error) {
	r := clb.NewDescribeLoadBalancersRequest()
	if len(req.LoadBalancerIDs) > 0 {
		r.LoadBalancerIds = sps(req.LoadBalancerIDs)
	}
	if len(req.Names) == 1 {
		r.LoadBalancerName = sp(req.Names[0])
	}
	for k, v := range req.Tags {
		r.Filters = append(r.Filters, &clb.Filter{Name: sp("tag:" + k), Values: sps([]string{v})})
	}
	o, l := window(req.Offset, req.Limit)
	r.Offset, r.Limit = i64(o), i64(l)
	resp := clb.NewDescribeLoadBalancersResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, err
	}
	out := &ic.DescribeLoadBalancersResponse{LoadBalancers: []ic.LoadBalancer{}}
	if resp.Response.TotalCount != nil {
		out.TotalCount = int(*resp.Response.TotalCount)
	}
	for _, lb := range resp.Response.LoadBalancerSet {
		if len(req.Names) > 1 && !contains(req.Names, str(lb.LoadBalancerName)) {
			continue
		}
		x, err := c.loadBalancer(ctx, lb)
		if err != nil {
			return nil, err
		}
		out.LoadBalancers = append(out.LoadBalancers, *x)
	}
	return out, nil
}

// loadBalancer completes one CLB with its listeners and their targets (two more
// calls: CLB lists them separately).
func (c *Client) loadBalancer(ctx context.Context, lb *clb.LoadBalancer) (*ic.LoadBalancer, error) {
	id := str(lb.LoadBalancerId)
	out := &ic.LoadBalancer{
		LoadBalancerID: id, Name: str(lb.LoadBalancerName), Type: lbType(str(lb.LoadBalancerType)),
		VpcID: str(lb.VpcId), SubnetID: str(lb.SubnetId), State: ic.LoadBalancerActive,
		Listeners: []ic.Listener{}, CreatedAt: tcTime(lb.CreateTime),
	}
	if lb.Status != nil && *lb.Status == 0 {
		out.State = ic.LoadBalancerCreating
	}
	if vips := strs(lb.LoadBalancerVips); len(vips) > 0 {
		out.VIP = vips[0]
	}
	for _, t := range lb.Tags {
		if out.Tags == nil {
			out.Tags = map[string]string{}
		}
		out.Tags[str(t.TagKey)] = str(t.TagValue)
	}
	if out.State == ic.LoadBalancerCreating {
		return out, nil
	}
	lr := clb.NewDescribeListenersRequest()
	lr.LoadBalancerId = sp(id)
	lresp := clb.NewDescribeListenersResponse()
	if err := c.call(ctx, lr, lresp); err != nil {
		return nil, err
	}
	if len(lresp.Response.Listeners) == 0 {
		return out, nil
	}
	tr := clb.NewDescribeTargetsRequest()
	tr.LoadBalancerId = sp(id)
	tresp := clb.NewDescribeTargetsResponse()
	if err := c.call(ctx, tr, tresp); err != nil {
		return nil, err
	}
	targets := map[string][]ic.Backend{}
	for _, lt := range tresp.Response.Listeners {
		for _, b := range lt.Targets {
			ips := strs(b.PrivateIpAddresses)
			if len(ips) == 0 {
				continue
			}
			targets[str(lt.ListenerId)] = append(targets[str(lt.ListenerId)], ic.Backend{IP: ips[0], Port: n(b.Port), Weight: n(b.Weight)})
		}
	}
	for _, l := range lresp.Response.Listeners {
		spec := ic.ListenerSpec{
			Name: str(l.ListenerName), Protocol: ic.Protocol(str(l.Protocol)), Port: n(l.Port),
			Backends: targets[str(l.ListenerId)], HealthCheck: healthCheckOf(l.HealthCheck),
			SessionAffinity: ic.SessionAffinityNone,
		}
		if t := n(l.SessionExpireTime); t > 0 {
			spec.SessionAffinity, spec.SessionAffinityTimeoutSeconds = ic.SessionAffinityClientIP, t
		}
		out.Listeners = append(out.Listeners, ic.Listener{ListenerID: str(l.ListenerId), ListenerSpec: spec})
	}
	return out, nil
}

func (c *Client) getLoadBalancer(ctx context.Context, id string) (*ic.LoadBalancer, error) {
	resp, err := c.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{id}})
	if err != nil {
		return nil, err
	}
	for i := range resp.LoadBalancers {
		if resp.LoadBalancers[i].LoadBalancerID == id {
			return &resp.LoadBalancers[i], nil
		}
	}
	return nil, ic.Errorf(ic.CodeResourceNotFound, "load balancer %s not found", id)
}

// ModifyLoadBalancer: the name through ModifyLoadBalancerAttributes, tags through the
// tag service (qcs::clb:<region>:uin/<account>:clb/<lb-id>).
func (c *Client) ModifyLoadBalancer(ctx context.Context, req *ic.ModifyLoadBalancerRequest) (*ic.ModifyLoadBalancerResponse, error) {
	if req.Name != nil {
		r := clb.NewModifyLoadBalancerAttributesRequest()
		r.LoadBalancerId, r.LoadBalancerName = sp(req.LoadBalancerID), sp(truncName(*req.Name, 60))
		resp := clb.NewModifyLoadBalancerAttributesResponse()
		if err := c.call(ctx, r, resp); err != nil {
			return nil, err
		}
		if _, err := c.WaitTask(ctx, clbTask(str(resp.Response.RequestId))); err != nil {
			return nil, err
		}
	}
	if req.Tags != nil {
		lb, err := c.getLoadBalancer(ctx, req.LoadBalancerID)
		if err != nil {
			return nil, err
		}
		if err := c.replaceTags(ctx, "clb", "clb/"+req.LoadBalancerID, lb.Tags, req.Tags); err != nil {
			return nil, fmt.Errorf("tags of load balancer %s: %w", req.LoadBalancerID, err)
		}
	}
	return &ic.ModifyLoadBalancerResponse{}, nil
}

func (c *Client) DeleteLoadBalancer(ctx context.Context, req *ic.DeleteLoadBalancerRequest) (*ic.TaskResponse, error) {
	r := clb.NewDeleteLoadBalancerRequest()
	r.LoadBalancerIds = sps([]string{req.LoadBalancerID})
	resp := clb.NewDeleteLoadBalancerResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, err
	}
	return &ic.TaskResponse{TaskID: clbTask(str(resp.Response.RequestId))}, nil
}

// CreateListeners: CreateListener, then RegisterTargets, for each listener in turn.
func (c *Client) CreateListeners(ctx context.Context, req *ic.CreateListenersRequest) (*ic.CreateListenersResponse, error) {
	for i := range req.Listeners {
		if err := checkListener(&req.Listeners[i]); err != nil {
			return nil, err
		}
	}
	out := &ic.CreateListenersResponse{ListenerIDs: []string{}}
	for i := range req.Listeners {
		s := &req.Listeners[i]
		r := clb.NewCreateListenerRequest()
		r.LoadBalancerId = sp(req.LoadBalancerID)
		r.Ports = []*int64{i64(s.Port)}
		r.Protocol = sp(string(s.Protocol))
		if s.Name != "" {
			r.ListenerNames = sps([]string{s.Name})
		}
		r.HealthCheck = clbHealthCheck(s.HealthCheck)
		r.SessionExpireTime = sessionExpire(s)
		r.Scheduler = sp("WRR")
		resp := clb.NewCreateListenerResponse()
		if err := c.call(ctx, r, resp); err != nil {
			return nil, err
		}
		ids := strs(resp.Response.ListenerIds)
		if len(ids) != 1 {
			return nil, ic.Errorf(ic.CodeInternalError, "CreateListener answered %d ids, want 1", len(ids))
		}
		out.ListenerIDs = append(out.ListenerIDs, ids[0])
		out.TaskID = clbTask(str(resp.Response.RequestId))
		task, err := c.setTargets(ctx, req.LoadBalancerID, ids[0], nil, s.Backends, out.TaskID)
		if err != nil {
			return nil, err
		}
		out.TaskID = task
	}
	return out, nil
}

// setTargets makes a listener's targets equal to want (have is what it has), after the
// task prev ends: Deregister the ones that go or change, Register the new ones. It
// answers the task of its last write (prev when nothing changes).
func (c *Client) setTargets(ctx context.Context, lbID, listenerID string, have, want []ic.Backend, prev string) (string, error) {
	key := func(b ic.Backend) string { return b.IP + ":" + strconv.Itoa(b.Port) }
	weight := func(b ic.Backend) int {
		if b.Weight == 0 {
			return 10
		}
		return b.Weight
	}
	haveBy := map[string]ic.Backend{}
	for _, b := range have {
		haveBy[key(b)] = b
	}
	wantBy := map[string]ic.Backend{}
	for _, b := range want {
		wantBy[key(b)] = b
	}
	var gone, added []ic.Backend
	for k, b := range haveBy {
		if w, ok := wantBy[k]; !ok || weight(w) != weight(b) {
			gone = append(gone, b)
		}
	}
	for k, b := range wantBy {
		if h, ok := haveBy[k]; !ok || weight(h) != weight(b) {
			added = append(added, b)
		}
	}
	if len(gone) == 0 && len(added) == 0 {
		return prev, nil
	}
	ips := []string{}
	for _, b := range append(append([]ic.Backend{}, gone...), added...) {
		if !contains(ips, b.IP) {
			ips = append(ips, b.IP)
		}
	}
	ins, err := c.DescribeInstances(ctx, &ic.DescribeInstancesRequest{PrivateIPs: ips})
	if err != nil {
		return "", err
	}
	idOf := map[string]string{}
	for _, i := range ins.Instances {
		for _, ip := range i.PrivateIPs {
			idOf[ip] = i.InstanceID
		}
	}
	targets := func(bs []ic.Backend) ([]*clb.Target, error) {
		out := make([]*clb.Target, 0, len(bs))
		sort.Slice(bs, func(i, j int) bool { return key(bs[i]) < key(bs[j]) })
		for _, b := range bs {
			id, ok := idOf[b.IP]
			if !ok {
				return nil, ic.Errorf(ic.CodeInvalidParameter, "backend %s is not the private IP of a CVM instance in region %s", b.IP, c.cfg.Region)
			}
			out = append(out, &clb.Target{InstanceId: sp(id), Port: i64(b.Port), Weight: i64(weight(b)), Type: sp("CVM")})
		}
		return out, nil
	}
	wait := func() error {
		if prev == "" {
			return nil
		}
		_, err := c.WaitTask(ctx, prev)
		return err
	}
	if len(gone) > 0 {
		ts, err := targets(gone)
		if err != nil {
			return "", err
		}
		if err := wait(); err != nil {
			return "", err
		}
		r := clb.NewDeregisterTargetsRequest()
		r.LoadBalancerId, r.ListenerId, r.Targets = sp(lbID), sp(listenerID), ts
		resp := clb.NewDeregisterTargetsResponse()
		if err := c.call(ctx, r, resp); err != nil {
			return "", err
		}
		prev = clbTask(str(resp.Response.RequestId))
	}
	if len(added) > 0 {
		ts, err := targets(added)
		if err != nil {
			return "", err
		}
		if err := wait(); err != nil {
			return "", err
		}
		r := clb.NewRegisterTargetsRequest()
		r.LoadBalancerId, r.ListenerId, r.Targets = sp(lbID), sp(listenerID), ts
		resp := clb.NewRegisterTargetsResponse()
		if err := c.call(ctx, r, resp); err != nil {
			return "", err
		}
		prev = clbTask(str(resp.Response.RequestId))
	}
	return prev, nil
}

// ModifyListener: CLB cannot change a listener's protocol or port (a new listener is
// the caller's to make); the rest is ModifyListener plus the targets' difference.
func (c *Client) ModifyListener(ctx context.Context, req *ic.ModifyListenerRequest) (*ic.TaskResponse, error) {
	if err := checkListener(&req.Listener); err != nil {
		return nil, err
	}
	lb, err := c.getLoadBalancer(ctx, req.LoadBalancerID)
	if err != nil {
		return nil, err
	}
	var cur *ic.Listener
	for i := range lb.Listeners {
		if lb.Listeners[i].ListenerID == req.ListenerID {
			cur = &lb.Listeners[i]
		}
	}
	if cur == nil {
		return nil, ic.Errorf(ic.CodeResourceNotFound, "listener %s of load balancer %s not found", req.ListenerID, req.LoadBalancerID)
	}
	s := &req.Listener
	if s.Protocol != cur.Protocol || s.Port != cur.Port {
		return nil, ic.Errorf(ic.CodeInvalidParameter, "listener %s: CLB cannot change %s/%d to %s/%d in place", req.ListenerID, cur.Protocol, cur.Port, s.Protocol, s.Port)
	}
	r := clb.NewModifyListenerRequest()
	r.LoadBalancerId, r.ListenerId = sp(req.LoadBalancerID), sp(req.ListenerID)
	if s.Name != "" {
		r.ListenerName = sp(s.Name)
	}
	r.HealthCheck = clbHealthCheck(s.HealthCheck)
	r.SessionExpireTime = sessionExpire(s)
	resp := clb.NewModifyListenerResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, err
	}
	task, err := c.setTargets(ctx, req.LoadBalancerID, req.ListenerID, cur.Backends, s.Backends, clbTask(str(resp.Response.RequestId)))
	if err != nil {
		return nil, err
	}
	return &ic.TaskResponse{TaskID: task}, nil
}

// DeleteListeners: one DeleteListener per id, each after the one before; ids that do
// not exist are skipped.
func (c *Client) DeleteListeners(ctx context.Context, req *ic.DeleteListenersRequest) (*ic.TaskResponse, error) {
	out := &ic.TaskResponse{}
	for _, id := range req.ListenerIDs {
		if out.TaskID != "" {
			if _, err := c.WaitTask(ctx, out.TaskID); err != nil {
				return nil, err
			}
		}
		r := clb.NewDeleteListenerRequest()
		r.LoadBalancerId, r.ListenerId = sp(req.LoadBalancerID), sp(id)
		resp := clb.NewDeleteListenerResponse()
		err := c.call(ctx, r, resp)
		if errors.Is(err, ic.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out.TaskID = clbTask(str(resp.Response.RequestId))
	}
	return out, nil
}

// pollCLB asks DescribeTaskStatus: 0 succeeded, 1 failed, 2 running.
func (c *Client) pollCLB(ctx context.Context, t *ic.Task, requestID string) (*ic.Task, error) {
	r := clb.NewDescribeTaskStatusRequest()
	r.TaskId = sp(requestID)
	resp := clb.NewDescribeTaskStatusResponse()
	if err := c.call(ctx, r, resp); err != nil {
		return nil, err
	}
	switch n(resp.Response.Status) {
	case 0:
		t.State = ic.TaskSucceeded
	case 1:
		t.State, t.Error = ic.TaskFailed, ic.Errorf(ic.CodeInternalError, "CLB task %s failed", requestID)
	}
	return t, nil
}
