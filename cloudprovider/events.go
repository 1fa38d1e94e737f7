package cloudprovider

import (
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// eventer records Events for the provider. Warnings that a controller would repeat on
// every retry are suppressed for a while per object and reason, on top of the
// recorder's own aggregation, so a stuck object cannot flood the API server.
type eventer struct {
	rec   record.EventRecorder // nil in unit tests that do not look at events
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

func newEventer(rec record.EventRecorder) *eventer {
	return &eventer{rec: rec, every: 5 * time.Minute, now: time.Now, last: map[string]time.Time{}}
}

// nodeRef refers to a Node by name the way the kubelet does (UID = name), for callers
// that have no Node object at hand.
func nodeRef(name string) *v1.ObjectReference {
	return &v1.ObjectReference{Kind: "Node", Name: name, UID: types.UID(name)}
}

func (e *eventer) event(obj runtime.Object, typ, reason, format string, args ...any) {
	if e == nil || e.rec == nil {
		return
	}
	e.rec.Eventf(obj, typ, reason, format, args...)
}

// warnOnce emits a Warning unless the same key warned within e.every.
func (e *eventer) warnOnce(key string, obj runtime.Object, reason, format string, args ...any) {
	if e == nil {
		return
	}
	e.mu.Lock()
	t, seen := e.last[key+"/"+reason]
	if seen && e.now().Sub(t) < e.every {
		e.mu.Unlock()
		return
	}
	e.last[key+"/"+reason] = e.now()
	e.mu.Unlock()
	e.event(obj, v1.EventTypeWarning, reason, format, args...)
}

// clear lets the next warning of key and reason through, once the condition is gone.
func (e *eventer) clear(key, reason string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	delete(e.last, key+"/"+reason)
	e.mu.Unlock()
}
