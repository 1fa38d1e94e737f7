package apitest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim"
)

func contextWithTimeout(t testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

// TestRetriesConvergeUnderFaults runs a CSI-like and CCM-like workload while 30% of all
// requests fail: 10% InternalError, 10% throttled, 10% performed and then never
// answered. Every operation must end as if no fault had happened: no disk created
// twice, every disk attached, detached and deleted, every route in place.
func TestRetriesConvergeUnderFaults(t *testing.T) {
	s := startSim(t, "--task-delay=5ms", "--timeout-fault-delay=10s")
	rec := newOpRecorder()
	c := s.client(func(cfg *ic.Config) {
		cfg.Observer = rec
		// 0.3^16: the chance that one call exhausts its attempts is negligible.
		cfg.MaxAttempts = 16
		cfg.AttemptTimeout = 500 * time.Millisecond
	})
	ctx := t.Context()
	ids := instanceIDs(t, c)
	s.setFault("*", iaassim.FaultSpec{ErrorRate: 0.1, ThrottleRate: 0.1, TimeoutRate: 0.1 / 0.8, RetryAfterSeconds: 1})

	const workers, perWorker = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				if err := diskLifecycle(ctx, c, fmt.Sprintf("pv-%d-%d", w, i), ids["node-1"]); err != nil {
					errs <- err
				}
			}
		}()
	}
	// Routes: a batch create retried through faults must not give ResourceInUse
	// (its own first attempt) thanks to the token the client set.
	for i := range 5 {
		_, err := c.CreateRoutes(ctx, &ic.CreateRoutesRequest{RouteTableID: routeTableID,
			Routes: []ic.RouteSpec{{DestinationCidr: fmt.Sprintf("10.100.%d.0/24", i), NextHopInstanceID: ids["node-2"]}}})
		if err != nil {
			errs <- fmt.Errorf("CreateRoutes %d: %w", i, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	counters := s.counters()
	s.clearFaults()
	var injected int64
	for _, a := range counters.Actions {
		for _, n := range a.Faults {
			injected += n
		}
	}
	t.Logf("faults injected: %d; client retries %d, throttled %d", injected, rec.retries, rec.throttled)
	if injected < 20 || rec.retries < 20 || rec.throttled == 0 {
		t.Fatalf("the faults did not bite: %d injected, %d retries, %d throttled", injected, rec.retries, rec.throttled)
	}
	disks := must[[]ic.Disk](t, "DescribeAllDisks")(ic.DescribeAllDisks(ctx, c, ic.DescribeDisksRequest{}))
	if len(disks) != 0 {
		t.Fatalf("%d disks left (duplicates from retried creates?): %+v", len(disks), disks)
	}
	rt := must[*ic.DescribeRouteTablesResponse](t, "DescribeRouteTables")(c.DescribeRouteTables(ctx, &ic.DescribeRouteTablesRequest{RouteTableIDs: []string{routeTableID}}))
	if n := len(rt.RouteTables[0].Routes); n != 5 {
		t.Fatalf("%d routes, want 5", n)
	}
}

// diskLifecycle is what the CSI controller does for one volume: create, attach,
// detach, delete, each retried by the client. A delete retried after an unanswered
// success finds nothing; the caller treats that as done, as the API says to.
func diskLifecycle(ctx context.Context, c *ic.Client, name, instanceID string) error {
	cd, err := c.CreateDisk(ctx, &ic.CreateDiskRequest{Name: name, Zone: zoneA, SizeGiB: 1})
	if err != nil {
		return fmt.Errorf("%s CreateDisk: %w", name, err)
	}
	if _, err := c.WaitTask(ctx, cd.TaskID); err != nil {
		return fmt.Errorf("%s create task: %w", name, err)
	}
	r, err := c.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: cd.DiskID, InstanceID: instanceID})
	if _, err := ic.RunTask(ctx, c, r, err); err != nil {
		return fmt.Errorf("%s attach: %w", name, err)
	}
	r, err = c.DetachDisk(ctx, &ic.DetachDiskRequest{DiskID: cd.DiskID, InstanceID: instanceID})
	if _, err := ic.RunTask(ctx, c, r, err); err != nil {
		return fmt.Errorf("%s detach: %w", name, err)
	}
	if _, err := c.DeleteDisk(ctx, &ic.DeleteDiskRequest{DiskID: cd.DiskID}); err != nil && !errors.Is(err, ic.ErrNotFound) {
		return fmt.Errorf("%s DeleteDisk: %w", name, err)
	}
	return nil
}

// TestCancelStopsRetriesAtOnce: against a server that always fails, or never answers,
// a canceled ctx ends the call at once, however long the next backoff would be.
func TestCancelStopsRetriesAtOnce(t *testing.T) {
	s := startSim(t, "--timeout-fault-delay=60s")
	c := s.client(func(cfg *ic.Config) {
		cfg.BackoffBase, cfg.BackoffCap, cfg.MaxRetryAfter = 10*time.Second, 10*time.Second, 10*time.Second
		cfg.AttemptTimeout, cfg.MaxAttempts = time.Minute, 100
	})
	cases := []struct {
		name  string
		fault iaassim.FaultSpec
	}{
		{"always InternalError", iaassim.FaultSpec{ErrorRate: 1}},
		{"always throttled", iaassim.FaultSpec{ThrottleRate: 1, RetryAfterSeconds: 30}},
		{"never answers", iaassim.FaultSpec{TimeoutRate: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.setFault(ic.ActionDescribeDisks, tc.fault)
			defer s.clearFaults()
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(200*time.Millisecond, cancel)
			start := time.Now()
			_, err := c.DescribeDisks(ctx, nil)
			el := time.Since(start)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v, want context.Canceled", err)
			}
			// The backoff is 10s; only the cancel can end the call this early.
			if el > time.Second {
				t.Fatalf("the call ended %v after the start, %v after the cancel", el, el-200*time.Millisecond)
			}
			t.Logf("ended %v after the cancel: %v", (el - 200*time.Millisecond).Round(time.Millisecond), err)
		})
	}
}
