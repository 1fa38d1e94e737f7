package cloudprovider

import (
	"context"
	"sync"
	"time"
)

// batcher groups concurrent single-item calls into one batch call. The route controller
// creates and deletes routes one node at a time from up to 200 goroutines; the IaaS takes
// a batch, so N new nodes cost about N/max calls instead of N.
type batcher[Req any] struct {
	window time.Duration // how long the first item waits for company
	max    int
	// run executes one batch and returns one error per item, in order.
	run func(ctx context.Context, items []Req) []error
	// timeout bounds a batch: it outlives the callers' contexts, which differ.
	timeout time.Duration

	mu      sync.Mutex
	pending []*batchItem[Req]
	timer   *time.Timer
}

type batchItem[Req any] struct {
	req  Req
	done chan error
}

func newBatcher[Req any](window time.Duration, max int, timeout time.Duration, run func(context.Context, []Req) []error) *batcher[Req] {
	return &batcher[Req]{window: window, max: max, run: run, timeout: timeout}
}

// do queues req and waits for the result of its batch, or for ctx.
func (b *batcher[Req]) do(ctx context.Context, req Req) error {
	it := &batchItem[Req]{req: req, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, it)
	switch {
	case len(b.pending) >= b.max:
		batch := b.take()
		go b.flush(batch)
	case len(b.pending) == 1:
		b.timer = time.AfterFunc(b.window, func() {
			b.mu.Lock()
			batch := b.take()
			b.mu.Unlock()
			b.flush(batch)
		})
	}
	b.mu.Unlock()
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// take empties the queue; b.mu must be held.
func (b *batcher[Req]) take() []*batchItem[Req] {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	batch := b.pending
	b.pending = nil
	return batch
}

func (b *batcher[Req]) flush(batch []*batchItem[Req]) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	reqs := make([]Req, len(batch))
	for i, it := range batch {
		reqs[i] = it.req
	}
	errs := b.run(ctx, reqs)
	for i, it := range batch {
		it.done <- errs[i]
	}
}
