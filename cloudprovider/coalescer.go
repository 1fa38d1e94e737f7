package cloudprovider

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// coalescer merges bursts of updates of one key into one write. When 1000 nodes join,
// the service controller and the backend resync each walk every LoadBalancer Service
// again and again as the node set grows; written at once, every pass is a
// ModifyListener per LB carrying the whole backend list. Queued here, the updates of a
// key that arrive within delay of the first one are written once, with the newest
// value, and a key never waits longer than delay before its write starts (it may wait
// for a write of the same key that is already running).
//
// A failed write is retried with backoff (1 s to 5 min) until it succeeds or a newer
// value replaces it, so an update is never lost to an IaaS error.
type coalescer[T any] struct {
	delay time.Duration
	run   func(ctx context.Context, key string, v T) error
	queue workqueue.TypedRateLimitingInterface[string]
	// timeout bounds one write; it outlives the callers, whose contexts are gone.
	timeout time.Duration

	mu     sync.Mutex
	latest map[string]T // keys waiting for a write, with the value to write
}

const (
	coalesceRetryBase = time.Second
	coalesceRetryMax  = 5 * time.Minute
)

func newCoalescer[T any](delay time.Duration, clk clock.WithTicker, run func(context.Context, string, T) error) *coalescer[T] {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &coalescer[T]{
		delay: delay, run: run, timeout: 5 * time.Minute, latest: map[string]T{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](coalesceRetryBase, coalesceRetryMax),
			workqueue.TypedRateLimitingQueueConfig[string]{Clock: clk}),
	}
}

// start runs workers until stop closes. Different keys are written in parallel; one
// key never is (the work queue hands a key to one worker at a time).
func (c *coalescer[T]) start(workers int, stop <-chan struct{}) {
	for range workers {
		go func() {
			for c.next() {
			}
		}()
	}
	go func() { <-stop; c.queue.ShutDown() }()
}

// submit makes v the value to write for key. The delaying queue keeps the earliest
// due time of a key already waiting, which is what bounds the delay.
func (c *coalescer[T]) submit(key string, v T) {
	c.mu.Lock()
	c.latest[key] = v
	c.mu.Unlock()
	c.queue.AddAfter(key, c.delay)
}

// replace swaps the pending value of key, if one waits, without scheduling a write;
// a synchronous writer calls it so that a queued older value cannot undo its write.
func (c *coalescer[T]) replace(key string, v T) {
	c.mu.Lock()
	if _, ok := c.latest[key]; ok {
		c.latest[key] = v
	}
	c.mu.Unlock()
}

// cancel drops the pending value of key (its object is gone).
func (c *coalescer[T]) cancel(key string) {
	c.mu.Lock()
	delete(c.latest, key)
	c.mu.Unlock()
}

// pending reports how many keys wait for a write.
func (c *coalescer[T]) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.latest)
}

func (c *coalescer[T]) next() bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	c.mu.Lock()
	v, ok := c.latest[key]
	delete(c.latest, key)
	c.mu.Unlock()
	if !ok { // written already by an earlier due time, or cancelled
		c.queue.Forget(key)
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	err := c.run(ctx, key, v)
	cancel()
	if err == nil {
		c.queue.Forget(key)
		return true
	}
	c.mu.Lock()
	if _, newer := c.latest[key]; !newer {
		c.latest[key] = v
	}
	c.mu.Unlock()
	klog.V(2).InfoS("Coalesced update failed, retrying", "key", key, "attempt", c.queue.NumRequeues(key)+1, "err", err)
	c.queue.AddRateLimited(key)
	return true
}
