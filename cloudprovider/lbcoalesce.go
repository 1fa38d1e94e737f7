package cloudprovider

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// backendUpdate is one UpdateLoadBalancer (or backend resync) of a Service, queued.
type backendUpdate struct {
	svc   *v1.Service
	nodes []*v1.Node
	seq   uint64
}

// coalesceWorkers bounds the LB writes in flight from coalesced updates, as the
// service controller's --concurrent-service-syncs bounds its own.
const coalesceWorkers = 4

// startCoalescing turns on per-Service coalescing of backend updates: from now on
// UpdateLoadBalancer and the backend resync queue their write (see coalescer) and
// return at once. Creates, Service changes and deletes stay synchronous.
func (l *loadBalancers) startCoalescing(delay time.Duration, clk clock.WithTicker, stop <-chan struct{}) {
	l.updates = newCoalescer(delay, clk, func(ctx context.Context, _ string, u backendUpdate) error {
		if !l.handled(u.svc.UID) {
			return nil // deleted (or handed to another class) since it was queued
		}
		_, err := l.ensure(ctx, u.svc, u.nodes, false, u.seq)
		return err
	})
	l.updates.start(coalesceWorkers, stop)
	klog.InfoS("Coalescing load balancer backend updates", "maxDelay", delay)
}

// updateBackends is the node-change path. Bad settings are still reported at once (an
// Event and the error); the IaaS write is queued when coalescing is on.
func (l *loadBalancers) updateBackends(ctx context.Context, svc *v1.Service, nodes []*v1.Node) error {
	seq := l.order.next()
	if l.updates == nil {
		_, err := l.ensure(ctx, svc, nodes, false, seq)
		return err
	}
	if _, err := parseOptions(svc, l.defaultType); err != nil {
		_, err = l.ensure(ctx, svc, nodes, false, seq) // writes nothing; gives the Event
		return err
	}
	l.markHandled(svc.UID, true)
	l.updates.submit(string(svc.UID), backendUpdate{svc: svc, nodes: nodes, seq: seq})
	return nil
}

// writeOrder numbers the writes of every Service, so that a queued update older than
// a write already applied is dropped instead of reverting it.
type writeOrder struct {
	counter atomic.Uint64
	mu      sync.Mutex
	last    map[types.UID]uint64
}

func (o *writeOrder) next() uint64 { return o.counter.Add(1) }

// stale reports whether a newer write of uid was applied already.
func (o *writeOrder) stale(uid types.UID, seq uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return seq < o.last[uid]
}

func (o *writeOrder) applied(uid types.UID, seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		o.last = map[types.UID]uint64{}
	}
	if seq > o.last[uid] {
		o.last[uid] = seq
	}
}

func (o *writeOrder) forget(uid types.UID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.last, uid)
}
