package iaassim

import (
	"maps"
	"math/rand/v2"
	"sync"
	"time"
)

// faultTable holds the fault injection per action; "*" is the default for actions
// without their own entry.
type faultTable struct {
	mu    sync.RWMutex
	specs map[string]FaultSpec
}

type faultDecision struct {
	latency    time.Duration
	throttle   bool
	retryAfter int
	fail       bool
	timeout    bool
}

func newFaultTable(specs map[string]FaultSpec) *faultTable {
	f := &faultTable{specs: map[string]FaultSpec{}}
	maps.Copy(f.specs, specs)
	return f
}

func (f *faultTable) spec(action string) (FaultSpec, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if sp, ok := f.specs[action]; ok {
		return sp, true
	}
	sp, ok := f.specs["*"]
	return sp, ok
}

// decide draws the faults of one request.
func (f *faultTable) decide(action string) faultDecision {
	sp, ok := f.spec(action)
	if !ok {
		return faultDecision{}
	}
	d := faultDecision{latency: durOr(sp.Latency, 0), retryAfter: sp.RetryAfterSeconds}
	if d.retryAfter == 0 {
		d.retryAfter = 1
	}
	switch r := rand.Float64(); {
	case r < sp.ThrottleRate:
		d.throttle = true
	case r < sp.ThrottleRate+sp.ErrorRate:
		d.fail = true
	}
	if !d.throttle && !d.fail && sp.TimeoutRate > 0 && rand.Float64() < sp.TimeoutRate {
		d.timeout = true
	}
	return d
}

// Faults returns a copy of the fault table.
func (f *faultTable) all() map[string]FaultSpec {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return maps.Clone(f.specs)
}

func (f *faultTable) set(action string, sp FaultSpec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs[action] = sp
}

func (f *faultTable) replace(specs map[string]FaultSpec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = maps.Clone(specs)
	if f.specs == nil {
		f.specs = map[string]FaultSpec{}
	}
}
