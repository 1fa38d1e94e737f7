package iaassim

import (
	"context"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// restore brings memory and the data plane in line with the store at start-up: route
// tables of the config exist, instances are synced from the backend, the router gets
// every route, every load balancer is applied, every attachment re-made, and unfinished
// tasks are resumed.
func (s *Server) restore(ctx context.Context) error {
	if err := s.ensureRouteTables(); err != nil {
		return err
	}
	if err := s.pruneExpired(); err != nil {
		return err
	}
	if err := s.syncInstances(ctx); err != nil {
		s.log().Error(err, "Listing instances at start-up failed; using the stored ones")
	}
	s.syncRouter(ctx)
	s.state.mu.RLock()
	lbs := sortedValues(s.state.lbs, func(lb *lbRec) bool { return lb.State != iaasclient.LoadBalancerDeleting })
	disks := sortedValues(s.state.disks, func(d *diskRec) bool { return d.State == iaasclient.DiskAttached })
	s.state.mu.RUnlock()
	for _, lb := range lbs {
		if err := s.dp.LoadBalancers.Apply(ctx, s.lbSpec(lb)); err != nil {
			s.log().Error(err, "Restoring a load balancer failed", "loadBalancer", lb.LoadBalancerID)
		}
	}
	if err := s.dp.LoadBalancers.Restored(ctx); err != nil {
		s.log().Error(err, "Ending the load balancers' restore failed")
	}
	for _, d := range disks {
		ref, ok := s.instanceRef(d.InstanceID)
		if !ok {
			continue
		}
		if err := s.dp.Disks.Attach(ctx, d.DiskID, ref); err != nil {
			s.log().Error(err, "Restoring a disk attachment failed", "disk", d.DiskID, "instance", d.InstanceID)
		}
	}
	if err := s.state.waitAll(); err != nil {
		return err
	}
	s.resume()
	s.log().Info("State restored", "loadBalancers", len(lbs), "attachedDisks", len(disks))
	return nil
}

// ensureRouteTables creates the config's route tables that the store lacks and updates
// the attributes of those it has (routes are kept).
func (s *Server) ensureRouteTables() error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	tx := s.state.begin()
	for _, t := range s.cfg.Tenants {
		for _, v := range t.Vpcs {
			for _, rc := range v.RouteTables {
				cur := s.state.routeTables[rc.RouteTableID]
				n := &routeTableRec{Tenant: t.Name, RouteTable: iaasclient.RouteTable{RouteTableID: rc.RouteTableID, Routes: []iaasclient.Route{}}}
				if cur != nil {
					n = clone(cur)
				}
				n.Tenant, n.VpcID, n.Name, n.RouteLimit, n.Tags = t.Name, v.VpcID, rc.Name, rc.RouteLimit, copyTags(rc.Tags)
				tx.putRouteTable(n)
			}
		}
	}
	if err := tx.commit(); err != nil {
		return err
	}
	return nil
}

// finishedTaskTTL is how long a finished task stays describable.
const finishedTaskTTL = 24 * time.Hour

// pruneExpired forgets client tokens past their TTL and tasks that ended long ago.
func (s *Server) pruneExpired() error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	now := s.now()
	tx := s.state.begin()
	n := 0
	for k, t := range s.state.tokens {
		if now.Sub(t.CreatedAt) > tokenTTL {
			tx.delToken(k)
			n++
		}
	}
	for id, t := range s.state.tasks {
		if t.FinishedAt != nil && now.Sub(*t.FinishedAt) > finishedTaskTTL {
			del(tx, bucketTasks, s.state.tasks, id)
			n++
		}
	}
	if a, err := s.state.st.pruneAudit(now.Add(-finishedTaskTTL)); err != nil {
		return err
	} else if a > 0 {
		s.log().Info("Pruned old disk audit records", "count", a)
	}
	if n == 0 {
		return nil
	}
	if err := tx.commit(); err != nil {
		return err
	}
	s.log().Info("Pruned expired client tokens and finished tasks", "count", n)
	return nil
}
