package cloudprovider

import (
	"slices"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
)

// problemWarnings remembers which Warning Events the current problems of each object
// raised, so that a problem that went away is cleared from the eventer and warns again
// should it come back, while one that stays warns only as often as warnOnce allows.
type problemWarnings struct {
	events *eventer
	mu     sync.Mutex
	active map[string][]string // object key -> eventer key + "\x00" + reason
}

func newProblemWarnings(events *eventer) *problemWarnings {
	return &problemWarnings{events: events, active: map[string][]string{}}
}

// report warns on ref about probs (one Event per reason, messages joined) and clears
// the warnings of key that are no longer among them.
func (w *problemWarnings) report(key string, ref runtime.Object, probs []problem) {
	msgs := joinProblems(probs)
	reasons := make([]string, 0, len(msgs))
	for r := range msgs {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	var active []string
	for _, r := range reasons {
		ek := key + ":" + msgs[r]
		active = append(active, ek+"\x00"+r)
		w.events.warnOnce(ek, ref, r, "%s", msgs[r])
	}
	w.mu.Lock()
	old := w.active[key]
	if len(active) == 0 {
		delete(w.active, key)
	} else {
		w.active[key] = active
	}
	w.mu.Unlock()
	w.clear(old, active)
}

// forget clears every warning of key (its object is gone or has no problem left).
func (w *problemWarnings) forget(key string) {
	w.mu.Lock()
	old := w.active[key]
	delete(w.active, key)
	w.mu.Unlock()
	w.clear(old, nil)
}

// keys returns the object keys with active warnings that match.
func (w *problemWarnings) keys(match func(string) bool) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for k := range w.active {
		if match(k) {
			out = append(out, k)
		}
	}
	return out
}

func (w *problemWarnings) clear(old, keep []string) {
	for _, k := range old {
		if !slices.Contains(keep, k) {
			ek, r, _ := strings.Cut(k, "\x00")
			w.events.clear(ek, r)
		}
	}
}
