package iaassim

import (
	"fmt"
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

func (s *Server) describeInstances(c *call, req *iaasclient.DescribeInstancesRequest) (any, *iaasclient.Error) {
	off, lim, err := validate.DescribeInstances(req)
	if err != nil {
		return nil, err
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	page, total := describePage(s.state.instances, func(in *instanceRec) bool {
		return in.Tenant == c.tenant.name && validate.MatchInstance(req, &in.Instance)
	}, func(in *instanceRec) iaasclient.Instance { return in.Instance }, off, lim)
	return &iaasclient.DescribeInstancesResponse{TotalCount: total, Instances: page}, nil
}

func (s *Server) startInstances(c *call, req *iaasclient.InstancesRequest) (any, *iaasclient.Error) {
	return s.instancesTask(c, req)
}

func (s *Server) stopInstances(c *call, req *iaasclient.InstancesRequest) (any, *iaasclient.Error) {
	return s.instancesTask(c, req)
}

func (s *Server) terminateInstances(c *call, req *iaasclient.InstancesRequest) (any, *iaasclient.Error) {
	return s.instancesTask(c, req)
}

// instancesTask validates Start/Stop/TerminateInstances and starts one task for all of
// the named instances.
func (s *Server) instancesTask(c *call, req *iaasclient.InstancesRequest) (any, *iaasclient.Error) {
	if err := validate.InstancesRequest(req); err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	var ids []string
	tx := s.state.begin()
	for i, id := range req.InstanceIDs {
		field := fmt.Sprintf("instanceIds[%d]", i)
		in := s.state.instances[id]
		if in == nil || in.Tenant != c.tenant.name {
			return nil, validate.NotFound(field, "instance", id)
		}
		if slices.Contains(ids, id) {
			continue
		}
		if in.State == iaasclient.InstanceTerminated && c.action != iaasclient.ActionTerminateInstances {
			return nil, errf(iaasclient.CodeResourceInUse, "%s: instance %s is TERMINATED", field, id)
		}
		ids = append(ids, id)
		if c.action == iaasclient.ActionStartInstances && in.State == iaasclient.InstanceStopped {
			n := clone(in)
			n.State = iaasclient.InstancePending
			tx.putInstance(n)
		}
	}
	t := s.newTask(tx, c, ids[0], "instances/"+c.tenant.name, taskParams{InstanceIDs: ids})
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return &iaasclient.TaskResponse{TaskID: t.TaskID}, nil
}
