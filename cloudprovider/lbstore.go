package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// lbStore is the load balancer side of the IaaS as the Service code needs it: the
// cluster's LBs from one shared, short-lived snapshot, and writes that wait for their
// tasks and keep the snapshot current.
type lbStore interface {
	// owned returns the LB tagged with this cluster and the Service UID, or nil. fresh
	// bypasses the cache, for the moment before a create.
	owned(ctx context.Context, uid string, fresh bool) (*ic.LoadBalancer, error)
	// byID returns any LB of the tenant (an existing one named by annotation), or an
	// error wrapping ic.ErrNotFound.
	byID(ctx context.Context, id string) (*ic.LoadBalancer, error)
	create(ctx context.Context, req *ic.CreateLoadBalancerRequest) (*ic.LoadBalancer, error)
	createListeners(ctx context.Context, lbID string, specs []ic.ListenerSpec) error
	modifyListener(ctx context.Context, lbID, listenerID string, spec ic.ListenerSpec) error
	deleteListeners(ctx context.Context, lbID string, ids []string) error
	delete(ctx context.Context, lbID string) error
}

// taskTimeout bounds one wait for an LB task; past it the Service is requeued instead
// of holding a worker.
const taskTimeout = 2 * time.Minute

// errLBPending is returned when the IaaS is still working on an LB.
var errLBPending = errors.New("load balancer task still running")

type iaasLBs struct {
	api     ic.API
	cluster string
	// key is the tag that names the owner (TagServiceUID for Services, TagIngressUID
	// for Ingresses): the snapshot holds only the LBs that carry it.
	key  string
	snap *snapshot[map[string]*ic.LoadBalancer] // by owner UID
}

var _ lbStore = (*iaasLBs)(nil)

func newIaaSLBs(api ic.API, clusterID string, ttl time.Duration) *iaasLBs {
	return newOwnedLBs(api, clusterID, TagServiceUID, ttl)
}

// newOwnedLBs is the store of the LBs whose owner UID is in tag key.
func newOwnedLBs(api ic.API, clusterID, key string, ttl time.Duration) *iaasLBs {
	s := &iaasLBs{api: api, cluster: clusterID, key: key}
	s.snap = newSnapshot(ttl, func(ctx context.Context) (map[string]*ic.LoadBalancer, error) {
		list, err := s.describe(ctx, &ic.DescribeLoadBalancersRequest{Tags: map[string]string{TagCluster: clusterID}})
		if err != nil {
			return nil, err
		}
		m := make(map[string]*ic.LoadBalancer, len(list))
		for i := range list {
			if uid := list[i].Tags[key]; uid != "" {
				m[uid] = &list[i]
			}
		}
		return m, nil
	})
	return s
}

func (s *iaasLBs) describe(ctx context.Context, req *ic.DescribeLoadBalancersRequest) ([]ic.LoadBalancer, error) {
	var all []ic.LoadBalancer
	for offset := 0; ; {
		req.Page = ic.Page{Offset: offset, Limit: ic.MaxPageSize}
		resp, err := s.api.DescribeLoadBalancers(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("DescribeLoadBalancers: %w", err)
		}
		all = append(all, resp.LoadBalancers...)
		offset += len(resp.LoadBalancers)
		if len(resp.LoadBalancers) == 0 || offset >= resp.TotalCount {
			return all, nil
		}
	}
}

func (s *iaasLBs) owned(ctx context.Context, uid string, fresh bool) (*ic.LoadBalancer, error) {
	if fresh {
		list, err := s.describe(ctx, &ic.DescribeLoadBalancersRequest{
			Tags: map[string]string{TagCluster: s.cluster, s.key: uid}})
		if err != nil || len(list) == 0 {
			return nil, err
		}
		s.put(uid, &list[0])
		return &list[0], nil
	}
	m, err := s.snap.get(ctx)
	if err != nil {
		return nil, err
	}
	return m[uid], nil
}

func (s *iaasLBs) byID(ctx context.Context, id string) (*ic.LoadBalancer, error) {
	list, err := s.describe(ctx, &ic.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{id}})
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].LoadBalancerID == id {
			if uid := list[i].Tags[s.key]; uid != "" && list[i].Tags[TagCluster] == s.cluster {
				s.put(uid, &list[i])
			}
			return &list[i], nil
		}
	}
	return nil, fmt.Errorf("load balancer %s: %w", id, ic.ErrNotFound)
}

// put replaces one entry of the snapshot without copying the LB objects others hold.
func (s *iaasLBs) put(uid string, lb *ic.LoadBalancer) {
	s.snap.update(func(m map[string]*ic.LoadBalancer) map[string]*ic.LoadBalancer {
		c := maps.Clone(m)
		if lb == nil {
			delete(c, uid)
		} else {
			c[uid] = lb
		}
		return c
	})
}

func (s *iaasLBs) wait(ctx context.Context, taskID string) error {
	if taskID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, taskTimeout)
	defer cancel()
	_, err := s.api.WaitTask(ctx, taskID)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("task %s: %w", taskID, errLBPending)
	}
	return err
}

// settle waits for a task and then re-reads the LB into the snapshot.
func (s *iaasLBs) settle(ctx context.Context, lbID, taskID string) error {
	if err := s.wait(ctx, taskID); err != nil {
		return err
	}
	_, err := s.byID(ctx, lbID)
	return err
}

func (s *iaasLBs) create(ctx context.Context, req *ic.CreateLoadBalancerRequest) (*ic.LoadBalancer, error) {
	resp, err := s.api.CreateLoadBalancer(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("CreateLoadBalancer: %w", err)
	}
	if err := s.wait(ctx, resp.TaskID); err != nil {
		return nil, err
	}
	return s.byID(ctx, resp.LoadBalancerID)
}

func (s *iaasLBs) createListeners(ctx context.Context, lbID string, specs []ic.ListenerSpec) error {
	resp, err := s.api.CreateListeners(ctx, &ic.CreateListenersRequest{LoadBalancerID: lbID, Listeners: specs})
	if err != nil {
		return fmt.Errorf("CreateListeners: %w", err)
	}
	return s.settle(ctx, lbID, resp.TaskID)
}

func (s *iaasLBs) modifyListener(ctx context.Context, lbID, listenerID string, spec ic.ListenerSpec) error {
	resp, err := s.api.ModifyListener(ctx, &ic.ModifyListenerRequest{LoadBalancerID: lbID, ListenerID: listenerID, Listener: spec})
	if err != nil {
		return fmt.Errorf("ModifyListener: %w", err)
	}
	return s.settle(ctx, lbID, resp.TaskID)
}

func (s *iaasLBs) deleteListeners(ctx context.Context, lbID string, ids []string) error {
	resp, err := s.api.DeleteListeners(ctx, &ic.DeleteListenersRequest{LoadBalancerID: lbID, ListenerIDs: ids})
	if err != nil {
		return fmt.Errorf("DeleteListeners: %w", err)
	}
	return s.settle(ctx, lbID, resp.TaskID)
}

func (s *iaasLBs) delete(ctx context.Context, lbID string) error {
	resp, err := s.api.DeleteLoadBalancer(ctx, &ic.DeleteLoadBalancerRequest{LoadBalancerID: lbID})
	if errors.Is(err, ic.ErrNotFound) {
		err, resp = nil, &ic.TaskResponse{}
	}
	if err != nil {
		return fmt.Errorf("DeleteLoadBalancer: %w", err)
	}
	if err := s.wait(ctx, resp.TaskID); err != nil && !errors.Is(err, ic.ErrNotFound) {
		return err
	}
	s.snap.update(func(m map[string]*ic.LoadBalancer) map[string]*ic.LoadBalancer {
		c := maps.Clone(m)
		for uid, lb := range c {
			if lb.LoadBalancerID == lbID {
				delete(c, uid)
			}
		}
		return c
	})
	return nil
}
