package cloudprovider

import (
	"testing"

	"k8s.io/client-go/tools/record"
)

func TestProblemWarnings(t *testing.T) {
	rec := record.NewFakeRecorder(100)
	w := newProblemWarnings(newEventer(rec))
	ref := nodeRef("n1")
	drain := func() (out []string) {
		for {
			select {
			case e := <-rec.Events:
				out = append(out, e)
			default:
				return out
			}
		}
	}
	a, b := problem{"ReasonA", "a is wrong"}, problem{"ReasonB", "b is wrong"}

	w.report("obj:x", ref, []problem{a, b})
	if evs := drain(); len(evs) != 2 || !hasEvent(evs, "Warning ReasonA a is wrong") || !hasEvent(evs, "Warning ReasonB b is wrong") {
		t.Fatalf("first report: %v", evs)
	}
	w.report("obj:x", ref, []problem{a, b})
	if evs := drain(); len(evs) != 0 {
		t.Fatalf("the same problems warned again at once: %v", evs)
	}
	// b went away: it is cleared, so when it comes back it warns again; a stays quiet.
	w.report("obj:x", ref, []problem{a})
	w.report("obj:x", ref, []problem{a, b})
	if evs := drain(); len(evs) != 1 || !hasEvent(evs, "ReasonB") {
		t.Fatalf("a problem that came back: %v", evs)
	}
	if got := w.keys(func(k string) bool { return k == "obj:x" }); len(got) != 1 {
		t.Fatalf("keys %v", got)
	}
	w.forget("obj:x")
	if got := w.keys(func(string) bool { return true }); len(got) != 0 {
		t.Fatalf("keys after forget %v", got)
	}
	w.report("obj:x", ref, []problem{a})
	if evs := drain(); len(evs) != 1 || !hasEvent(evs, "ReasonA") {
		t.Fatalf("after forget: %v", evs)
	}
	// No problem left: nothing is kept for the key.
	w.report("obj:x", ref, nil)
	if got := w.keys(func(string) bool { return true }); len(got) != 0 {
		t.Fatalf("keys with no problem %v", got)
	}
}
