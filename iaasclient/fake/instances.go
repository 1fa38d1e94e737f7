package fake

import (
	"context"
	"fmt"
	"slices"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// AddInstance stores a copy of inst and returns it as stored. Empty fields get
// defaults: a new ins- id, the default VPC, region and zone, RUNNING, DefaultMaxDisks,
// and a private IP in 10.0.1.0-10.0.255.255 of its own.
func (c *Cloud) AddInstance(inst ic.Instance) ic.Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := clone(inst)
	if in.InstanceID == "" {
		in.InstanceID = c.newID("ins")
	}
	if in.Name == "" {
		in.Name = in.InstanceID
	}
	if in.VpcID == "" {
		in.VpcID = DefaultVpcID
	}
	if in.Region == "" {
		in.Region = c.region
	}
	if in.Zone == "" {
		in.Zone = DefaultZone
	}
	if in.State == "" {
		in.State = ic.InstanceRunning
	}
	if in.MaxDisks == 0 {
		in.MaxDisks = DefaultMaxDisks
	}
	if in.InstanceType == "" {
		in.InstanceType = "S1.MEDIUM2"
	}
	if len(in.PrivateIPs) == 0 {
		// Every instance of a real VPC has an address; routes and node addresses
		// need one, so tests that do not care get a distinct one.
		c.ipSeq++
		in.PrivateIPs = []string{fmt.Sprintf("10.0.%d.%d", 1+c.ipSeq/250, 1+c.ipSeq%250)}
	}
	if in.CreatedAt.IsZero() {
		in.CreatedAt = c.now().UTC()
	}
	c.instances[in.InstanceID] = &in
	return clone(in)
}

// SetInstanceState changes an instance's state at once, as if it had crashed,
// stopped or been deleted outside the API. It reports whether the instance exists.
func (c *Cloud) SetInstanceState(id string, state ic.InstanceState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.instances[id]
	if ok {
		in.State = state
		if state == ic.InstanceTerminated {
			c.releaseDisksOf(id)
		}
	}
	return ok
}

// RemoveInstance forgets an instance, as if it never existed (unlike TERMINATED, which
// a real cloud still describes for a while).
func (c *Cloud) RemoveInstance(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releaseDisksOf(id)
	delete(c.instances, id)
}

// SetIdentity makes Identity answer for instance id, as the metadata endpoint answers
// for the caller's source address; "" makes it answer ResourceNotFound.
func (c *Cloud) SetIdentity(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.identity = id
}

// Instance returns a copy of a stored instance.
func (c *Cloud) Instance(id string) (ic.Instance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.instances[id]
	if !ok {
		return ic.Instance{}, false
	}
	return clone(*in), true
}

// releaseDisksOf detaches every disk of a terminated instance, as clouds do for data
// disks when a machine is deleted.
func (c *Cloud) releaseDisksOf(id string) {
	for _, d := range c.disks {
		if d.InstanceID == id {
			d.InstanceID, d.State = "", ic.DiskAvailable
		}
	}
}

// DescribeInstances implements iaasclient.InstancesAPI.
func (c *Cloud) DescribeInstances(ctx context.Context, req *ic.DescribeInstancesRequest) (*ic.DescribeInstancesResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeInstances, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	off, lim, verr := validate.DescribeInstances(req)
	if verr != nil {
		return nil, c.fail(verr)
	}
	page, total := describe(c.instances, func(in *ic.Instance) bool { return validate.MatchInstance(req, in) }, off, lim)
	return &ic.DescribeInstancesResponse{ResponseMeta: c.meta(), Instances: page, TotalCount: total}, nil
}

func (c *Cloud) StartInstances(ctx context.Context, req *ic.InstancesRequest) (*ic.TaskResponse, error) {
	return c.instancesTask(ctx, ic.ActionStartInstances, req, ic.InstanceRunning)
}

func (c *Cloud) StopInstances(ctx context.Context, req *ic.InstancesRequest) (*ic.TaskResponse, error) {
	return c.instancesTask(ctx, ic.ActionStopInstances, req, ic.InstanceStopped)
}

func (c *Cloud) TerminateInstances(ctx context.Context, req *ic.InstancesRequest) (*ic.TaskResponse, error) {
	return c.instancesTask(ctx, ic.ActionTerminateInstances, req, ic.InstanceTerminated)
}

// instancesTask moves instances to target in one task. Starting or stopping a
// TERMINATED instance is ResourceInUse (its state forbids it); terminating twice and
// stopping a stopped instance converge.
func (c *Cloud) instancesTask(ctx context.Context, action string, req *ic.InstancesRequest, target ic.InstanceState) (*ic.TaskResponse, error) {
	if err := c.enter(ctx, action, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := validate.InstancesRequest(req); err != nil {
		return nil, c.fail(err)
	}
	var ids []string
	for i, id := range req.InstanceIDs {
		field := fmt.Sprintf("instanceIds[%d]", i)
		in, ok := c.instances[id]
		if !ok {
			return nil, c.fail(validate.NotFound(field, "instance", id))
		}
		if slices.Contains(ids, id) {
			continue
		}
		if in.State == ic.InstanceTerminated && target != ic.InstanceTerminated {
			return nil, c.failf(ic.CodeResourceInUse, "%s: instance %s is TERMINATED", field, id)
		}
		ids = append(ids, id)
	}
	resource := ids[0]
	if target == ic.InstanceRunning {
		for _, id := range ids {
			if c.instances[id].State == ic.InstanceStopped {
				c.instances[id].State = ic.InstancePending
			}
		}
	}
	tid := c.startTask(action, resource, func() {
		for _, id := range ids {
			if in, ok := c.instances[id]; ok {
				in.State = target
				if target == ic.InstanceTerminated {
					c.releaseDisksOf(id)
				}
			}
		}
	}, func() {
		for _, id := range ids {
			if in, ok := c.instances[id]; ok && in.State == ic.InstancePending {
				in.State = ic.InstanceStopped
			}
		}
	})
	return c.taskResponse(tid), nil
}

// Identity implements iaasclient.MetadataAPI for the instance chosen by SetIdentity.
func (c *Cloud) Identity(ctx context.Context) (*ic.Identity, error) {
	if err := c.enter(ctx, ic.OperationIdentity, nil, false); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.instances[c.identity]
	if !ok || in.State == ic.InstanceTerminated {
		return nil, c.failf(ic.CodeResourceNotFound, "no instance has the caller's address")
	}
	id := &ic.Identity{
		InstanceID: in.InstanceID, Name: in.Name, Zone: in.Zone, Region: in.Region,
		VpcID: in.VpcID, InstanceType: in.InstanceType, MaxDisks: in.MaxDisks,
	}
	if len(in.PrivateIPs) > 0 {
		id.PrivateIP = in.PrivateIPs[0]
	}
	return id, nil
}
