package iaassim

import (
	"fmt"
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func (s *Server) describeInstances(c *call, req *iaasclient.DescribeInstancesRequest) (any, *iaasclient.Error) {
	off, lim, err := validatePage(req.Page)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		n string
		v []string
	}{{"instanceIds", req.InstanceIDs}, {"privateIps", req.PrivateIPs}, {"names", req.Names}} {
		if err := validateIDList(f.n, f.v); err != nil {
			return nil, err
		}
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	all := sortedValues(s.state.instances, func(in *instanceRec) bool {
		return in.Tenant == c.tenant.name && inList(req.InstanceIDs, in.InstanceID) && inList(req.Names, in.Name) &&
			tagsMatch(in.Tags, req.Tags) &&
			(len(req.PrivateIPs) == 0 || slices.ContainsFunc(in.PrivateIPs, func(ip string) bool { return slices.Contains(req.PrivateIPs, ip) }))
	})
	resp := &iaasclient.DescribeInstancesResponse{TotalCount: len(all), Instances: []iaasclient.Instance{}}
	for _, in := range paginate(all, off, lim) {
		resp.Instances = append(resp.Instances, in.Instance)
	}
	return resp, nil
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

const maxInstancesPerCall = 100

// instancesTask validates Start/Stop/TerminateInstances and starts one task for all of
// the named instances.
func (s *Server) instancesTask(c *call, req *iaasclient.InstancesRequest) (any, *iaasclient.Error) {
	if len(req.InstanceIDs) == 0 {
		return nil, invalid("instanceIds", "at least one instance id is required")
	}
	if len(req.InstanceIDs) > maxInstancesPerCall {
		return nil, invalid("instanceIds", "at most %d instances per call", maxInstancesPerCall)
	}
	if err := validateIDList("instanceIds", req.InstanceIDs); err != nil {
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
			return nil, notFound(field, "instance", id)
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
