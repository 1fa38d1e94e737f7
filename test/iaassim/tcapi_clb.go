package iaassim

import (
	"strings"
	"time"

	"github.com/google/uuid"
	clb "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// The CLB actions of the Tencent front-end, on the native load balancers (so the data
// plane serves their VIPs). What CLB does differently is done here: every write answers
// only its RequestId, which DescribeTaskStatus follows; listeners, their targets and
// the load balancer are separate calls; targets name CVM instances, not IPs.

// tcTaskRef is the native task of a CLB write, for its tenant only.
type tcTaskRef struct {
	tenant, taskID string
	done           bool // a write the native API did synchronously
}

// tcRecordTask remembers the native task of this request's RequestId.
func (s *Server) tcRecordTask(c *call, taskID string) {
	if taskID != "" {
		s.tcTasks.Store(c.requestID, tcTaskRef{tenant: c.tenant.name, taskID: taskID})
	}
}

func (s *Server) tcDescribeTaskStatus(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.DescribeTaskStatusRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if req.TaskId == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "TaskId is required")
	}
	v, ok := s.tcTasks.Load(*req.TaskId)
	if !ok || v.(tcTaskRef).tenant != c.tenant.name {
		return nil, errf(iaasclient.CodeInvalidParameter, "TaskId %s is not a task of this account", *req.TaskId)
	}
	if v.(tcTaskRef).done {
		return map[string]any{"Status": 0}, nil
	}
	r, err := s.native(c, iaasclient.ActionDescribeTask, &iaasclient.DescribeTaskRequest{TaskID: v.(tcTaskRef).taskID})
	if err != nil {
		return nil, err
	}
	status := 2
	switch r.(*iaasclient.DescribeTaskResponse).Task.State {
	case iaasclient.TaskSucceeded:
		status = 0
	case iaasclient.TaskFailed:
		status = 1
	}
	return map[string]any{"Status": status}, nil
}

// tcLB is one native load balancer of the tenant.
func (s *Server) tcLB(c *call, id *string) (*iaasclient.LoadBalancer, *iaasclient.Error) {
	if id == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "LoadBalancerId is required")
	}
	r, err := s.native(c, iaasclient.ActionDescribeLoadBalancers, &iaasclient.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{*id}})
	if err != nil {
		return nil, err
	}
	lbs := r.(*iaasclient.DescribeLoadBalancersResponse).LoadBalancers
	if len(lbs) != 1 {
		return nil, errf(iaasclient.CodeResourceNotFound, "load balancer %s not found", *id)
	}
	return &lbs[0], nil
}

// tcListener is one listener of lb.
func tcListenerOf(lb *iaasclient.LoadBalancer, id *string) (*iaasclient.Listener, *iaasclient.Error) {
	if id == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "ListenerId is required")
	}
	for i := range lb.Listeners {
		if lb.Listeners[i].ListenerID == *id {
			return &lb.Listeners[i], nil
		}
	}
	return nil, errf(iaasclient.CodeResourceNotFound, "listener %s of load balancer %s not found", *id, lb.LoadBalancerID)
}

func (s *Server) tcCreateLoadBalancer(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.CreateLoadBalancerRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	nreq := iaasclient.CreateLoadBalancerRequest{ClientToken: uuid.NewString()}
	switch {
	case req.LoadBalancerType == nil:
		return nil, errf(iaasclient.CodeInvalidParameter, "LoadBalancerType is required")
	case *req.LoadBalancerType == "OPEN":
		nreq.Type = iaasclient.LoadBalancerPublic
	case *req.LoadBalancerType == "INTERNAL":
		nreq.Type = iaasclient.LoadBalancerInternal
	default:
		return nil, errf(iaasclient.CodeInvalidParameter, "LoadBalancerType must be OPEN or INTERNAL")
	}
	if req.Number != nil && *req.Number != 1 {
		return nil, errf(iaasclient.CodeInvalidParameter, "Number: this fake creates one load balancer per call")
	}
	if req.Forward != nil && *req.Forward != 1 {
		return nil, errf(iaasclient.CodeInvalidParameter, "Forward: this fake serves CLBs (1), not classic CLBs")
	}
	for dst, src := range map[*string]*string{&nreq.Name: req.LoadBalancerName, &nreq.VpcID: req.VpcId, &nreq.SubnetID: req.SubnetId, &nreq.VIP: req.Vip} {
		if src != nil {
			*dst = *src
		}
	}
	if req.ClientToken != nil {
		nreq.ClientToken = "clb:" + *req.ClientToken
	}
	for _, t := range req.Tags {
		if t.TagKey == nil || t.TagValue == nil {
			return nil, errf(iaasclient.CodeInvalidParameter, "Tags: TagKey and TagValue are required")
		}
		if nreq.Tags == nil {
			nreq.Tags = map[string]string{}
		}
		nreq.Tags[*t.TagKey] = *t.TagValue
	}
	r, err := s.native(c, iaasclient.ActionCreateLoadBalancer, &nreq)
	if err != nil {
		return nil, err
	}
	resp := r.(*iaasclient.CreateLoadBalancerResponse)
	s.tcRecordTask(c, resp.TaskID)
	return map[string]any{"LoadBalancerIds": []string{resp.LoadBalancerID}}, nil
}

func tcLoadBalancer(lb *iaasclient.LoadBalancer) *clb.LoadBalancer {
	typ := "OPEN"
	if lb.Type == iaasclient.LoadBalancerInternal {
		typ = "INTERNAL"
	}
	status := uint64(1)
	if lb.State == iaasclient.LoadBalancerCreating {
		status = 0
	}
	fwd := uint64(1)
	out := &clb.LoadBalancer{
		LoadBalancerId: common.StringPtr(lb.LoadBalancerID), LoadBalancerName: common.StringPtr(lb.Name),
		LoadBalancerType: common.StringPtr(typ), Forward: &fwd, Status: &status,
		VpcId: common.StringPtr(lb.VpcID), SubnetId: common.StringPtr(lb.SubnetID),
		CreateTime: common.StringPtr(lb.CreatedAt.UTC().Format(time.DateTime)), Tags: []*clb.TagInfo{},
		AddressIPVersion: common.StringPtr("ipv4"), ChargeType: common.StringPtr("POSTPAID_BY_HOUR"),
	}
	if lb.VIP != "" {
		out.LoadBalancerVips = common.StringPtrs([]string{lb.VIP})
	}
	for k, v := range lb.Tags {
		out.Tags = append(out.Tags, &clb.TagInfo{TagKey: common.StringPtr(k), TagValue: common.StringPtr(v)})
	}
	return out
}

func (s *Server) tcDescribeLoadBalancers(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.DescribeLoadBalancersRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	nreq := iaasclient.DescribeLoadBalancersRequest{LoadBalancerIDs: derefs(req.LoadBalancerIds)}
	if req.LoadBalancerName != nil {
		nreq.Names = []string{*req.LoadBalancerName}
	}
	for _, f := range req.Filters {
		name, vals := "", derefs(f.Values)
		if f.Name != nil {
			name = *f.Name
		}
		if !strings.HasPrefix(name, "tag:") || len(vals) != 1 {
			return nil, errf(iaasclient.CodeInvalidParameter, "filter %q is not supported by this fake (tag:<key> with one value is)", name)
		}
		if nreq.Tags == nil {
			nreq.Tags = map[string]string{}
		}
		nreq.Tags[strings.TrimPrefix(name, "tag:")] = vals[0]
	}
	nreq.Limit = 20
	if req.Offset != nil {
		nreq.Offset = int(*req.Offset)
	}
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > 100 {
			return nil, errf(iaasclient.CodeInvalidParameter, "Limit must be between 1 and 100")
		}
		nreq.Limit = int(*req.Limit)
	}
	r, err := s.native(c, iaasclient.ActionDescribeLoadBalancers, &nreq)
	if err != nil {
		return nil, err
	}
	resp := r.(*iaasclient.DescribeLoadBalancersResponse)
	set := []*clb.LoadBalancer{}
	for i := range resp.LoadBalancers {
		set = append(set, tcLoadBalancer(&resp.LoadBalancers[i]))
	}
	return map[string]any{"TotalCount": resp.TotalCount, "LoadBalancerSet": set}, nil
}

func (s *Server) tcModifyLoadBalancerAttributes(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.ModifyLoadBalancerAttributesRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if req.LoadBalancerId == nil || req.LoadBalancerName == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "this fake changes LoadBalancerName only")
	}
	if _, err := s.native(c, iaasclient.ActionModifyLoadBalancer, &iaasclient.ModifyLoadBalancerRequest{LoadBalancerID: *req.LoadBalancerId, Name: req.LoadBalancerName}); err != nil {
		return nil, err
	}
	// Synchronous here; CLB answers a task, so this RequestId is one that is done.
	s.tcTasks.Store(c.requestID, tcTaskRef{tenant: c.tenant.name, done: true})
	return map[string]any{}, nil
}

func (s *Server) tcDeleteLoadBalancer(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.DeleteLoadBalancerRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	ids := derefs(req.LoadBalancerIds)
	if len(ids) == 0 {
		return nil, errf(iaasclient.CodeInvalidParameter, "LoadBalancerIds is required")
	}
	for _, id := range ids {
		r, err := s.native(c, iaasclient.ActionDeleteLoadBalancer, &iaasclient.DeleteLoadBalancerRequest{LoadBalancerID: id})
		if err != nil {
			return nil, err
		}
		s.tcRecordTask(c, r.(*iaasclient.TaskResponse).TaskID)
	}
	return map[string]any{}, nil
}

// tcNativeHealthCheck maps CLB's health check back (switch off: none).
func tcNativeHealthCheck(h *clb.HealthCheck) *iaasclient.HealthCheck {
	if h == nil || h.HealthSwitch == nil || *h.HealthSwitch == 0 {
		return nil
	}
	v := func(p *int64) int {
		if p == nil {
			return 0
		}
		return int(*p)
	}
	out := &iaasclient.HealthCheck{Protocol: iaasclient.HealthCheckTCP, Port: v(h.CheckPort), IntervalSeconds: v(h.IntervalTime),
		TimeoutSeconds: v(h.TimeOut), HealthyThreshold: v(h.HealthNum), UnhealthyThreshold: v(h.UnHealthNum)}
	if h.CheckType != nil {
		out.Protocol = iaasclient.HealthCheckProtocol(*h.CheckType)
	}
	if h.HttpCheckPath != nil {
		out.Path = *h.HttpCheckPath
	}
	return out
}

func tcHealthCheck(h *iaasclient.HealthCheck) *clb.HealthCheck {
	if h == nil {
		return &clb.HealthCheck{HealthSwitch: common.Int64Ptr(0)}
	}
	out := &clb.HealthCheck{HealthSwitch: common.Int64Ptr(1), CheckType: common.StringPtr(string(h.Protocol))}
	set := func(dst **int64, v int) {
		if v != 0 {
			*dst = common.Int64Ptr(int64(v))
		}
	}
	set(&out.CheckPort, h.Port)
	set(&out.IntervalTime, h.IntervalSeconds)
	set(&out.TimeOut, h.TimeoutSeconds)
	set(&out.HealthNum, h.HealthyThreshold)
	set(&out.UnHealthNum, h.UnhealthyThreshold)
	if h.Path != "" {
		out.HttpCheckPath = common.StringPtr(h.Path)
	}
	return out
}

// tcSession applies CLB's SessionExpireTime (0: no persistence).
func tcSession(spec *iaasclient.ListenerSpec, t *int64) {
	if t == nil {
		return
	}
	spec.SessionAffinity, spec.SessionAffinityTimeoutSeconds = iaasclient.SessionAffinityNone, 0
	if *t > 0 {
		spec.SessionAffinity, spec.SessionAffinityTimeoutSeconds = iaasclient.SessionAffinityClientIP, int(*t)
	}
}

func (s *Server) tcCreateListener(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.CreateListenerRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if req.LoadBalancerId == nil || req.Protocol == nil || len(req.Ports) != 1 || req.Ports[0] == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "LoadBalancerId, Protocol and one port in Ports are required by this fake")
	}
	if len(req.ListenerNames) > 1 {
		return nil, errf(iaasclient.CodeInvalidParameter, "ListenerNames: one name per port")
	}
	spec := iaasclient.ListenerSpec{Protocol: iaasclient.Protocol(*req.Protocol), Port: int(*req.Ports[0]), Backends: []iaasclient.Backend{},
		HealthCheck: tcNativeHealthCheck(req.HealthCheck), SessionAffinity: iaasclient.SessionAffinityNone}
	if len(req.ListenerNames) == 1 && req.ListenerNames[0] != nil {
		spec.Name = *req.ListenerNames[0]
	}
	tcSession(&spec, req.SessionExpireTime)
	r, err := s.native(c, iaasclient.ActionCreateListeners, &iaasclient.CreateListenersRequest{
		LoadBalancerID: *req.LoadBalancerId, Listeners: []iaasclient.ListenerSpec{spec}, ClientToken: uuid.NewString()})
	if err != nil {
		return nil, err
	}
	resp := r.(*iaasclient.CreateListenersResponse)
	s.tcRecordTask(c, resp.TaskID)
	return map[string]any{"ListenerIds": resp.ListenerIDs}, nil
}

func tcListener(l *iaasclient.Listener) *clb.Listener {
	port := int64(l.Port)
	expire := int64(0)
	if l.SessionAffinity == iaasclient.SessionAffinityClientIP {
		expire = int64(l.SessionAffinityTimeoutSeconds)
	}
	return &clb.Listener{
		ListenerId: common.StringPtr(l.ListenerID), ListenerName: common.StringPtr(l.Name), Protocol: common.StringPtr(string(l.Protocol)),
		Port: &port, HealthCheck: tcHealthCheck(l.HealthCheck), SessionExpireTime: &expire, Scheduler: common.StringPtr("WRR"),
	}
}

func (s *Server) tcDescribeListeners(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.DescribeListenersRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	lb, err := s.tcLB(c, req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	ids := derefs(req.ListenerIds)
	set := []*clb.Listener{}
	for i := range lb.Listeners {
		if len(ids) == 0 || contains(ids, lb.Listeners[i].ListenerID) {
			set = append(set, tcListener(&lb.Listeners[i]))
		}
	}
	return map[string]any{"TotalCount": len(set), "Listeners": set}, nil
}

func (s *Server) tcModifyListener(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.ModifyListenerRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	lb, err := s.tcLB(c, req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	l, err := tcListenerOf(lb, req.ListenerId)
	if err != nil {
		return nil, err
	}
	spec := l.ListenerSpec
	if req.ListenerName != nil {
		spec.Name = *req.ListenerName
	}
	if req.HealthCheck != nil {
		spec.HealthCheck = tcNativeHealthCheck(req.HealthCheck)
	}
	tcSession(&spec, req.SessionExpireTime)
	return s.tcWriteListener(c, lb.LoadBalancerID, l.ListenerID, spec)
}

// tcWriteListener replaces a listener's native spec and records the task.
func (s *Server) tcWriteListener(c *call, lbID, listenerID string, spec iaasclient.ListenerSpec) (any, *iaasclient.Error) {
	r, err := s.native(c, iaasclient.ActionModifyListener, &iaasclient.ModifyListenerRequest{LoadBalancerID: lbID, ListenerID: listenerID, Listener: spec})
	if err != nil {
		return nil, err
	}
	s.tcRecordTask(c, r.(*iaasclient.TaskResponse).TaskID)
	return map[string]any{}, nil
}

func (s *Server) tcDeleteListener(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.DeleteListenerRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	lb, err := s.tcLB(c, req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	if _, err := tcListenerOf(lb, req.ListenerId); err != nil {
		return nil, err
	}
	r, err := s.native(c, iaasclient.ActionDeleteListeners, &iaasclient.DeleteListenersRequest{LoadBalancerID: lb.LoadBalancerID, ListenerIDs: []string{*req.ListenerId}})
	if err != nil {
		return nil, err
	}
	s.tcRecordTask(c, r.(*iaasclient.TaskResponse).TaskID)
	return map[string]any{}, nil
}

func (s *Server) tcDescribeTargets(c *call, body []byte) (any, *iaasclient.Error) {
	var req clb.DescribeTargetsRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	lb, err := s.tcLB(c, req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	ids := derefs(req.ListenerIds)
	set := []*clb.ListenerBackend{}
	for _, l := range lb.Listeners {
		if len(ids) > 0 && !contains(ids, l.ListenerID) {
			continue
		}
		port := int64(l.Port)
		lbk := &clb.ListenerBackend{ListenerId: common.StringPtr(l.ListenerID), Protocol: common.StringPtr(string(l.Protocol)), Port: &port, Targets: []*clb.Backend{}}
		for _, b := range l.Backends {
			bp, w := int64(b.Port), int64(b.Weight)
			lbk.Targets = append(lbk.Targets, &clb.Backend{Type: common.StringPtr("CVM"), InstanceId: common.StringPtr(s.tenantInstanceByIP(c.tenant.name, b.IP)),
				Port: &bp, Weight: &w, PrivateIpAddresses: common.StringPtrs([]string{b.IP})})
		}
		set = append(set, lbk)
	}
	return map[string]any{"Listeners": set}, nil
}

// tcTargets turns CLB targets (CVM instances of the tenant) into native backends.
func (s *Server) tcTargets(c *call, targets []*clb.Target) ([]iaasclient.Backend, *iaasclient.Error) {
	if len(targets) == 0 {
		return nil, errf(iaasclient.CodeInvalidParameter, "Targets is required")
	}
	r, err := s.native(c, iaasclient.ActionDescribeInstances, &iaasclient.DescribeInstancesRequest{Page: iaasclient.Page{Limit: iaasclient.MaxPageSize}})
	if err != nil {
		return nil, err
	}
	ipOf := map[string]string{}
	for _, in := range r.(*iaasclient.DescribeInstancesResponse).Instances {
		if len(in.PrivateIPs) > 0 {
			ipOf[in.InstanceID] = in.PrivateIPs[0]
		}
	}
	out := make([]iaasclient.Backend, 0, len(targets))
	for _, t := range targets {
		if t.InstanceId == nil || t.Port == nil {
			return nil, errf(iaasclient.CodeInvalidParameter, "Targets: InstanceId and Port are required by this fake")
		}
		ip, ok := ipOf[*t.InstanceId]
		if !ok {
			return nil, errf(iaasclient.CodeInvalidParameter, "Targets: instance %s not found", *t.InstanceId)
		}
		b := iaasclient.Backend{IP: ip, Port: int(*t.Port), Weight: 10}
		if t.Weight != nil {
			b.Weight = int(*t.Weight)
		}
		out = append(out, b)
	}
	return out, nil
}

func (s *Server) tcRegisterTargets(c *call, body []byte) (any, *iaasclient.Error) {
	return s.tcChangeTargets(c, body, true)
}

func (s *Server) tcDeregisterTargets(c *call, body []byte) (any, *iaasclient.Error) {
	return s.tcChangeTargets(c, body, false)
}

// tcChangeTargets adds (or removes) targets: a target already there is replaced (or
// one not there is ignored).
func (s *Server) tcChangeTargets(c *call, body []byte, add bool) (any, *iaasclient.Error) {
	var req clb.RegisterTargetsRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	lb, err := s.tcLB(c, req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	l, err := tcListenerOf(lb, req.ListenerId)
	if err != nil {
		return nil, err
	}
	change, err := s.tcTargets(c, req.Targets)
	if err != nil {
		return nil, err
	}
	spec := l.ListenerSpec
	kept := []iaasclient.Backend{}
	for _, b := range spec.Backends {
		drop := false
		for _, x := range change {
			drop = drop || (x.IP == b.IP && x.Port == b.Port)
		}
		if !drop {
			kept = append(kept, b)
		}
	}
	if add {
		kept = append(kept, change...)
	}
	spec.Backends = kept
	return s.tcWriteListener(c, lb.LoadBalancerID, l.ListenerID, spec)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
