package cloudprovider

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func plantLB(t *testing.T, e *env, name string, tags map[string]string) string {
	t.Helper()
	resp, err := e.fake.CreateLoadBalancer(context.Background(), &ic.CreateLoadBalancerRequest{
		Name: name, Type: ic.LoadBalancerPublic, VpcID: testConfig().VpcID, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.WaitTask(context.Background(), resp.TaskID); err != nil {
		t.Fatal(err)
	}
	return resp.LoadBalancerID
}

func TestSweeperDeletesOnlyOwnOrphansAfterGrace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	live := lbService("live")
	kept := plantLB(t, e, "kept", map[string]string{TagCluster: "test", TagServiceUID: string(live.UID)})
	orphan := plantLB(t, e, "orphan", map[string]string{TagCluster: "test", TagServiceUID: "gone-uid"})
	other := plantLB(t, e, "other", map[string]string{TagCluster: "another", TagServiceUID: "gone-uid-2"})
	untagged := plantLB(t, e, "user", nil)
	// An LB a Service adopted by annotation is never deleted, even tagged like an orphan.
	adopted := plantLB(t, e, "adopted", map[string]string{TagCluster: "test", TagServiceUID: "gone-uid-3"})
	user := lbService("user")
	user.Annotations[AnnotationExistingID] = adopted

	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, s := range []*v1.Service{live, user} {
		_ = idx.Add(s)
	}
	synced := false
	s := newLBSweeper(e.cloud.lbs, e.cloud.lbs.store.(*iaasLBs), corelisters.NewServiceLister(idx), func() bool { return synced }, 10*time.Minute)
	now := time.Now()
	s.now = func() time.Time { return now }

	if n, err := s.sweep(ctx); n != 0 || err != nil { // informer not synced: nothing at all
		t.Fatal(n, err)
	}
	synced = true
	if n, err := s.sweep(ctx); n != 0 || err != nil { // orphan seen, grace starts
		t.Fatal(n, err)
	}
	now = now.Add(9 * time.Minute)
	if n, err := s.sweep(ctx); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	now = now.Add(time.Minute)
	if n, err := s.sweep(ctx); n != 1 || err != nil {
		t.Fatalf("deleted %d (err %v), want the orphan", n, err)
	}
	resp, err := e.fake.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, lb := range resp.LoadBalancers {
		have[lb.LoadBalancerID] = true
	}
	for id, want := range map[string]bool{kept: true, orphan: false, other: true, untagged: true, adopted: true} {
		if have[id] != want {
			t.Errorf("LB %s exists=%v, want %v", id, have[id], want)
		}
	}
	// Idempotent: the next pass finds nothing.
	if n, err := s.sweep(ctx); n != 0 || err != nil {
		t.Fatal(n, err)
	}
}

func TestSweeperGraceRestartsWhenOwnerReturns(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := lbService("late")
	id := plantLB(t, e, "late", map[string]string{TagCluster: "test", TagServiceUID: string(svc.UID)})
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	s := newLBSweeper(e.cloud.lbs, e.cloud.lbs.store.(*iaasLBs), corelisters.NewServiceLister(idx), func() bool { return true }, time.Minute)
	now := time.Now()
	s.now = func() time.Time { return now }
	if n, _ := s.sweep(ctx); n != 0 {
		t.Fatal(n)
	}
	_ = idx.Add(svc) // the cache caught up: not an orphan after all
	now = now.Add(2 * time.Minute)
	if n, _ := s.sweep(ctx); n != 0 {
		t.Fatal("deleted an LB whose Service exists")
	}
	_ = idx.Delete(svc)
	now = now.Add(30 * time.Second)
	if n, _ := s.sweep(ctx); n != 0 {
		t.Fatal("grace did not restart")
	}
	now = now.Add(time.Minute)
	if n, err := s.sweep(ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	resp, err := e.fake.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{id}})
	if err != nil || len(resp.LoadBalancers) != 0 {
		t.Fatalf("LB %s still there: %+v %v", id, resp, err)
	}
}
