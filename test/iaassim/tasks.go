package iaassim

import (
	"context"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

// dataPlaneTimeout bounds one data plane call of a task.
const dataPlaneTimeout = 2 * time.Minute

// runTask does the work of one task; see complete for the return value.
func (s *Server) runTask(t *taskRec) bool {
	ctx, cancel := context.WithTimeout(s.ctx, dataPlaneTimeout)
	defer cancel()
	switch t.Action {
	case iaasclient.ActionCreateDisk:
		return s.taskCreateDisk(ctx, t)
	case iaasclient.ActionAttachDisk:
		return s.taskAttachDisk(ctx, t)
	case iaasclient.ActionDetachDisk:
		return s.taskDetachDisk(ctx, t)
	case iaasclient.ActionResizeDisk:
		return s.taskResizeDisk(ctx, t)
	case iaasclient.ActionCreateSnapshot:
		return s.taskCreateSnapshot(ctx, t)
	case iaasclient.ActionCreateLoadBalancer, iaasclient.ActionDeleteLoadBalancer,
		iaasclient.ActionCreateListeners, iaasclient.ActionModifyListener, iaasclient.ActionDeleteListeners:
		return s.taskLoadBalancer(ctx, t)
	case iaasclient.ActionStartInstances, iaasclient.ActionStopInstances, iaasclient.ActionTerminateInstances:
		return s.taskInstances(ctx, t)
	}
	return s.complete(t, errf(iaasclient.CodeInternalError, "unknown task action %q", t.Action), nil)
}

func (s *Server) readDisk(id string) *diskRec {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	return s.state.disks[id]
}

func (s *Server) instanceRef(id string) (dataplane.InstanceRef, bool) {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	in := s.state.instances[id]
	if in == nil {
		return dataplane.InstanceRef{}, false
	}
	return refOf(in), true
}

func refOf(in *instanceRec) dataplane.InstanceRef {
	return dataplane.InstanceRef{InstanceID: in.InstanceID, Backend: in.Backend, Key: in.Key, PrivateIPs: append([]string(nil), in.PrivateIPs...)}
}

func (s *Server) taskCreateDisk(ctx context.Context, t *taskRec) bool {
	d := s.readDisk(t.ResourceID)
	if d == nil || d.State != iaasclient.DiskCreating {
		return s.complete(t, nil, nil)
	}
	terr := dpError(s.dp.Disks.Create(ctx, d.DiskID, int64(d.SizeGiB)*gib, t.Params.SnapshotID, t.Params.SourceDiskID))
	return s.complete(t, terr, func(tx *txn) {
		cur := s.state.disks[d.DiskID]
		if cur == nil || cur.State != iaasclient.DiskCreating {
			return
		}
		n := clone(cur)
		n.State = iaasclient.DiskAvailable
		if terr != nil {
			n.State = iaasclient.DiskError
		}
		tx.putDisk(n)
	})
}

func (s *Server) taskAttachDisk(ctx context.Context, t *taskRec) bool {
	inst := t.Params.InstanceID
	d := s.readDisk(t.ResourceID)
	if d == nil || d.InstanceID != inst || (d.State != iaasclient.DiskAttaching && d.State != iaasclient.DiskAttached) {
		return s.complete(t, errf(iaasclient.CodeResourceInUse, "diskId: the disk changed before it could be attached"), nil)
	}
	ref, ok := s.instanceRef(inst)
	if !ok {
		return s.complete(t, validate.NotFound("instanceId", "instance", inst), nil)
	}
	terr := dpError(s.dp.Disks.Attach(ctx, d.DiskID, ref))
	return s.complete(t, terr, func(tx *txn) {
		cur := s.state.disks[d.DiskID]
		if cur == nil || cur.InstanceID != inst || cur.State != iaasclient.DiskAttaching {
			return
		}
		n := clone(cur)
		n.State = iaasclient.DiskAttached
		if terr != nil {
			n.State, n.InstanceID = iaasclient.DiskAvailable, ""
		}
		tx.putDisk(n)
	})
}

func (s *Server) taskDetachDisk(ctx context.Context, t *taskRec) bool {
	inst := t.Params.InstanceID
	d := s.readDisk(t.ResourceID)
	if d == nil || d.InstanceID != inst || d.State != iaasclient.DiskDetaching {
		return s.complete(t, nil, nil) // already detached by an earlier task
	}
	ref, ok := s.instanceRef(inst)
	var terr *iaasclient.Error
	if ok {
		terr = dpError(s.dp.Disks.Detach(ctx, d.DiskID, ref))
	}
	return s.complete(t, terr, func(tx *txn) {
		cur := s.state.disks[d.DiskID]
		if cur == nil || cur.InstanceID != inst || cur.State != iaasclient.DiskDetaching {
			return
		}
		n := clone(cur)
		n.State, n.InstanceID = iaasclient.DiskAvailable, ""
		if terr != nil {
			n.State, n.InstanceID = iaasclient.DiskAttached, inst
		}
		tx.putDisk(n)
	})
}

func (s *Server) taskResizeDisk(ctx context.Context, t *taskRec) bool {
	d := s.readDisk(t.ResourceID)
	if d == nil {
		return s.complete(t, validate.NotFound("diskId", "disk", t.ResourceID), nil)
	}
	return s.complete(t, dpError(s.dp.Disks.Resize(ctx, d.DiskID, int64(d.SizeGiB)*gib)), nil)
}

func (s *Server) taskCreateSnapshot(ctx context.Context, t *taskRec) bool {
	s.state.mu.RLock()
	snap := s.state.snapshots[t.ResourceID]
	s.state.mu.RUnlock()
	if snap == nil || snap.State != iaasclient.SnapshotCreating {
		return s.complete(t, nil, nil)
	}
	terr := dpError(s.dp.Disks.CreateSnapshot(ctx, snap.DiskID, snap.SnapshotID))
	return s.complete(t, terr, func(tx *txn) {
		cur := s.state.snapshots[snap.SnapshotID]
		if cur == nil || cur.State != iaasclient.SnapshotCreating {
			return
		}
		n := clone(cur)
		n.State = iaasclient.SnapshotAvailable
		if terr != nil {
			n.State = iaasclient.SnapshotError
		}
		tx.putSnapshot(n)
	})
}

// lbSpec is what the data plane gets of lb, with the PEM of the certificates its
// HTTPS listeners name (a certificate deleted meanwhile is left out: Apply then fails
// that listener, and the load balancer goes to ERROR).
func (s *Server) lbSpec(lb *lbRec) dataplane.LoadBalancerSpec {
	c := clone(lb)
	spec := dataplane.LoadBalancerSpec{LoadBalancerID: c.LoadBalancerID, VIP: c.VIP, Listeners: c.Listeners}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	for _, l := range c.Listeners {
		if cert := s.state.certs[l.CertificateID]; l.CertificateID != "" && cert != nil && cert.Tenant == lb.Tenant {
			if spec.Certificates == nil {
				spec.Certificates = map[string]dataplane.Certificate{}
			}
			spec.Certificates[l.CertificateID] = dataplane.Certificate{CertPEM: []byte(cert.CertificatePEM), KeyPEM: []byte(cert.PrivateKeyPEM)}
		}
	}
	return spec
}

func (s *Server) taskLoadBalancer(ctx context.Context, t *taskRec) bool {
	s.state.mu.RLock()
	lb := s.state.lbs[t.ResourceID]
	s.state.mu.RUnlock()
	if lb == nil {
		if t.Action == iaasclient.ActionDeleteLoadBalancer {
			return s.complete(t, nil, nil)
		}
		return s.complete(t, validate.NotFound("loadBalancerId", "load balancer", t.ResourceID), nil)
	}
	if lb.State == iaasclient.LoadBalancerDeleting {
		if t.Action != iaasclient.ActionDeleteLoadBalancer {
			return s.complete(t, nil, nil) // superseded by the delete queued after it
		}
		terr := dpError(s.dp.LoadBalancers.Remove(ctx, lb.LoadBalancerID))
		return s.complete(t, terr, func(tx *txn) {
			if terr == nil {
				tx.delLB(lb.LoadBalancerID)
			}
		})
	}
	terr := dpError(s.dp.LoadBalancers.Apply(ctx, s.lbSpec(lb)))
	return s.complete(t, terr, func(tx *txn) {
		cur := s.state.lbs[lb.LoadBalancerID]
		if cur == nil || cur.State == iaasclient.LoadBalancerDeleting {
			return
		}
		n := clone(cur)
		switch {
		case terr != nil:
			n.State = iaasclient.LoadBalancerError
		case s.sched.pending(t.Queue) > 0:
			n.State = iaasclient.LoadBalancerUpdating
		default:
			n.State = iaasclient.LoadBalancerActive
		}
		if n.State != cur.State {
			tx.putLB(n)
		}
	})
}

func (s *Server) taskInstances(ctx context.Context, t *taskRec) bool {
	var first *iaasclient.Error
	results := map[string]iaasclient.InstanceState{}
	detached := map[string][]string{} // instance -> disks detached by Terminate
	for _, id := range t.Params.InstanceIDs {
		s.state.mu.RLock()
		in := s.state.instances[id]
		var disks []string
		if in != nil && t.Action != iaasclient.ActionStartInstances {
			for _, d := range s.state.disks {
				if d.InstanceID == id {
					disks = append(disks, d.DiskID)
				}
			}
		}
		s.state.mu.RUnlock()
		if in == nil || in.State == iaasclient.InstanceTerminated {
			continue
		}
		var err error
		switch t.Action {
		case iaasclient.ActionStartInstances:
			if err = s.dp.Instances.Start(ctx, in.Key); err == nil {
				results[id] = iaasclient.InstanceRunning
			}
		case iaasclient.ActionStopInstances:
			if err = s.dp.Instances.Stop(ctx, in.Key); err == nil {
				results[id] = iaasclient.InstanceStopped
				s.powerOff(ctx, id, disks)
			}
		case iaasclient.ActionTerminateInstances:
			s.powerOff(ctx, id, disks)
			for _, d := range disks {
				if err = s.dp.Disks.Detach(ctx, d, refOf(in)); err != nil {
					break
				}
				detached[id] = append(detached[id], d)
			}
			if err == nil {
				if err = s.dp.Instances.Terminate(ctx, in.Key); err == nil {
					results[id] = iaasclient.InstanceTerminated
				}
			}
		}
		if err != nil && first == nil {
			first = errf(iaasclient.CodeInternalError, "instance %s: %v", id, err)
		}
	}
	return s.complete(t, first, func(tx *txn) {
		for id, st := range results {
			cur := s.state.instances[id]
			if cur == nil || cur.State == iaasclient.InstanceTerminated {
				continue
			}
			n := clone(cur)
			n.State = st
			tx.putInstance(n)
		}
		for inst, disks := range detached {
			for _, d := range disks {
				cur := s.state.disks[d]
				if cur == nil || cur.InstanceID != inst {
					continue
				}
				n := clone(cur)
				n.State, n.InstanceID = iaasclient.DiskAvailable, ""
				tx.putDisk(n)
			}
		}
	})
}

// powerOff lets go of what the stopped instance's kernel had built on its disks. A
// failure is logged, not the task's: the instance did stop, and a Detach from the
// stopped instance releases the same again.
func (s *Server) powerOff(ctx context.Context, instanceID string, disks []string) {
	for _, d := range disks {
		if err := s.dp.Disks.PowerOff(ctx, d); err != nil {
			s.log().Error(err, "Releasing what the stopped instance held on its disk failed", "instance", instanceID, "disk", d)
		}
	}
}
