package cloudprovider

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// recorder is the write side of a coalescer under test: it records every write and
// can block or fail them.
type recorder struct {
	mu     sync.Mutex
	writes []int
	fail   int           // fail this many writes first
	gate   chan struct{} // when set, each write waits for a send on it
	seen   chan int      // every write's value, as it starts
}

func newRecorder() *recorder { return &recorder{seen: make(chan int, 100)} }

func (r *recorder) run(_ context.Context, _ string, v int) error {
	r.seen <- v
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, v)
	if r.fail > 0 {
		r.fail--
		return errors.New("injected")
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes)
}

// wantWrite waits (in real time: the workers are goroutines) for the next write.
func (r *recorder) wantWrite(t *testing.T, want int) {
	t.Helper()
	select {
	case v := <-r.seen:
		if v != want {
			t.Fatalf("write of %d, want %d", v, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no write of %d", want)
	}
}

// wantNoWrite checks that nothing is written for a while.
func (r *recorder) wantNoWrite(t *testing.T) {
	t.Helper()
	select {
	case v := <-r.seen:
		t.Fatalf("unexpected write of %d", v)
	case <-time.After(150 * time.Millisecond):
	}
}

func startTestCoalescer(t *testing.T, delay time.Duration) (*coalescer[int], *recorder, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Now())
	r := newRecorder()
	c := newCoalescer(delay, clk, r.run)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	c.start(2, stop)
	return c, r, clk
}

func TestCoalescerOneWritePerBurst(t *testing.T) {
	c, r, clk := startTestCoalescer(t, time.Second)
	for i := 1; i <= 100; i++ { // a burst within the delay
		c.submit("lb", i)
		clk.Step(9 * time.Millisecond)
	}
	r.wantNoWrite(t) // 900 ms after the first update
	clk.Step(100 * time.Millisecond)
	r.wantWrite(t, 100) // the newest value, once
	r.wantNoWrite(t)
	if n := r.count(); n != 1 {
		t.Fatalf("%d writes for one burst, want 1", n)
	}
}

func TestCoalescerDelayIsBounded(t *testing.T) {
	c, r, clk := startTestCoalescer(t, time.Second)
	// Updates never stop arriving: the first one is still written after the delay,
	// with the newest value. The last update comes 1 ms before the delay ends, so the
	// write cannot race it (a submit right after the due step could land either side).
	c.submit("lb", 0)
	for i := 1; i <= 3; i++ {
		clk.Step(250 * time.Millisecond)
		c.submit("lb", i)
	}
	clk.Step(249 * time.Millisecond)
	c.submit("lb", 4)
	r.wantNoWrite(t) // 999 ms after the first update
	clk.Step(time.Millisecond)
	r.wantWrite(t, 4)
	// seen is signalled as a write starts, before it is recorded: wait for it to end
	// (and check that no second write follows) before counting.
	r.wantNoWrite(t)
	if n := r.count(); n != 1 {
		t.Fatalf("%d writes, want 1", n)
	}
}

func TestCoalescerKeysAreIndependent(t *testing.T) {
	c, r, clk := startTestCoalescer(t, time.Second)
	c.submit("a", 1)
	c.submit("b", 2)
	c.submit("a", 3)
	clk.Step(time.Second)
	got := map[int]bool{}
	for range 2 {
		select {
		case v := <-r.seen:
			got[v] = true
		case <-time.After(5 * time.Second):
			t.Fatal("missing write")
		}
	}
	if !got[2] || !got[3] {
		t.Fatalf("writes %v, want 2 (b) and 3 (a)", got)
	}
	r.wantNoWrite(t)
}

func TestCoalescerUpdateDuringWriteIsNotLost(t *testing.T) {
	c, r, clk := startTestCoalescer(t, time.Second)
	gate := make(chan struct{})
	r.mu.Lock()
	r.gate = gate
	r.mu.Unlock()
	c.submit("lb", 1)
	clk.Step(time.Second)
	r.wantWrite(t, 1) // running, blocked on the gate
	c.submit("lb", 2)
	c.submit("lb", 3)
	clk.Step(time.Second)
	r.wantNoWrite(t) // one write of a key at a time
	gate <- struct{}{}
	r.wantWrite(t, 3)
	gate <- struct{}{}
	r.wantNoWrite(t)
	if c.pending() != 0 {
		t.Fatalf("%d keys still pending", c.pending())
	}
}

func TestCoalescerRetriesErrors(t *testing.T) {
	c, r, clk := startTestCoalescer(t, time.Second)
	r.fail = 2
	c.submit("lb", 1)
	clk.Step(time.Second)
	r.wantWrite(t, 1) // fails
	// Retried with backoff, until it succeeds, with the same value.
	for range 2 {
		deadline := time.Now().Add(5 * time.Second)
		for len(r.seen) == 0 && time.Now().Before(deadline) {
			clk.Step(time.Second)
			time.Sleep(10 * time.Millisecond)
		}
		r.wantWrite(t, 1)
	}
	r.wantNoWrite(t)
	if n := r.count(); n != 3 {
		t.Fatalf("%d writes, want 3 (two failures, one success)", n)
	}
}

func TestCoalescerRetryTakesNewerValue(t *testing.T) {
	c, r, clk := startTestCoalescer(t, time.Second)
	r.fail = 1
	c.submit("lb", 1)
	clk.Step(time.Second)
	r.wantWrite(t, 1) // fails
	deadline := time.Now().Add(5 * time.Second)
	for c.pending() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the worker puts the value back
	}
	c.submit("lb", 2)
	clk.Step(time.Second)
	r.wantWrite(t, 2)
	clk.Step(time.Minute) // the retry of 1, if any, is due
	r.wantNoWrite(t)
}

func TestCoalescerCancel(t *testing.T) {
	c, r, clk := startTestCoalescer(t, time.Second)
	c.submit("lb", 1)
	c.cancel("lb")
	clk.Step(time.Second)
	r.wantNoWrite(t)
	c.replace("lb", 5) // replace never schedules a write of its own
	clk.Step(time.Second)
	r.wantNoWrite(t)
}
