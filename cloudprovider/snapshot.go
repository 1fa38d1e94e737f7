package cloudprovider

import (
	"context"
	"sync"
	"time"
)

// snapshot holds the last answer of one Describe (all instances of the VPC, the route
// table, the cluster's load balancers) for a short TTL, so every controller of the CCM
// shares one IaaS call per resource type per TTL instead of one per node or Service.
//
// Fetches are serialized: callers that arrive while a fetch runs wait for it and share
// its result rather than starting their own.
type snapshot[T any] struct {
	ttl   time.Duration
	fetch func(context.Context) (T, error)
	now   func() time.Time

	fetchMu sync.Mutex // held while fetching
	mu      sync.Mutex // guards the fields below
	value   T
	at      time.Time
	valid   bool
	gen     uint64 // bumped by invalidate, so a fetch that started before it is not trusted
}

func newSnapshot[T any](ttl time.Duration, fetch func(context.Context) (T, error)) *snapshot[T] {
	return &snapshot[T]{ttl: ttl, fetch: fetch, now: time.Now}
}

// get returns a value no older than the TTL.
func (s *snapshot[T]) get(ctx context.Context) (T, error) { return s.getFresher(ctx, s.ttl) }

// getFresher returns a value no older than maxAge (bounded by the TTL). Callers that
// miss an object use a small maxAge to refetch once, without letting a stream of misses
// turn into a stream of calls.
func (s *snapshot[T]) getFresher(ctx context.Context, maxAge time.Duration) (T, error) {
	return s.getSince(ctx, s.now().Add(-min(maxAge, s.ttl)))
}

// getSince returns a value whose fetch started at or after t. Callers that wait for a
// fetch in flight share it if it started late enough, and start their own otherwise.
func (s *snapshot[T]) getSince(ctx context.Context, t time.Time) (T, error) {
	if v, ok := s.since(t); ok {
		return v, nil
	}
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	if v, ok := s.since(t); ok {
		return v, nil
	}
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	start := s.now()
	v, err := s.fetch(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	s.mu.Lock()
	if gen == s.gen {
		s.value, s.at, s.valid = v, start, true
	}
	s.mu.Unlock()
	return v, nil
}

func (s *snapshot[T]) since(t time.Time) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.valid && !s.at.Before(t) {
		return s.value, true
	}
	var zero T
	return zero, false
}

// invalidate forgets the value; the next get fetches.
func (s *snapshot[T]) invalidate() {
	s.mu.Lock()
	s.valid = false
	s.gen++
	s.mu.Unlock()
}

// update edits the cached value in place after a write the caller knows the effect of,
// so one write does not cost a full Describe of every object.
func (s *snapshot[T]) update(f func(T) T) {
	s.mu.Lock()
	if s.valid {
		s.value = f(s.value)
	}
	s.mu.Unlock()
}
