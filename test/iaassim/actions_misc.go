package iaassim

import (
	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

func (s *Server) describeTask(c *call, req *iaasclient.DescribeTaskRequest) (any, *iaasclient.Error) {
	if err := validate.Required("taskId", req.TaskID); err != nil {
		return nil, err
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	t := s.state.tasks[req.TaskID]
	if t == nil || t.Tenant != c.tenant.name {
		return nil, validate.NotFound("taskId", "task", req.TaskID)
	}
	return &iaasclient.DescribeTaskResponse{Task: t.Task}, nil
}

func (s *Server) describeQuotas(c *call, _ *iaasclient.DescribeQuotasRequest) (any, *iaasclient.Error) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	q := c.tenant.quotas
	disks, gib := s.diskUsage(c.tenant.name)
	snaps, lbs, maxListeners, maxRoutes, routeLimit := 0, 0, 0, 0, s.cfg.RouteLimit
	for _, sn := range s.state.snapshots {
		if sn.Tenant == c.tenant.name {
			snaps++
		}
	}
	for _, lb := range s.state.lbs {
		if lb.Tenant == c.tenant.name {
			lbs++
			maxListeners = max(maxListeners, len(lb.Listeners))
		}
	}
	for _, rt := range s.state.routeTables {
		if rt.Tenant == c.tenant.name {
			maxRoutes = max(maxRoutes, len(rt.Routes))
		}
	}
	return &iaasclient.DescribeQuotasResponse{Quotas: []iaasclient.Quota{
		{Resource: "disks", Limit: q.Disks, Used: disks},
		{Resource: "diskGiB", Limit: q.DiskGiB, Used: gib},
		{Resource: "snapshots", Limit: q.Snapshots, Used: snaps},
		{Resource: "loadBalancers", Limit: q.LoadBalancers, Used: lbs},
		// For per-object limits, Used is the fullest object's count.
		{Resource: "listenersPerLoadBalancer", Limit: q.ListenersPerLoadBalancer, Used: maxListeners},
		{Resource: "routesPerTable", Limit: routeLimit, Used: maxRoutes},
	}}, nil
}
