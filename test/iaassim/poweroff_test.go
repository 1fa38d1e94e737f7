package iaassim_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

// callLog is a disk data plane that keeps no data and records PowerOff and Detach.
type callLog struct {
	dataplane.NoopDisks
	mu    sync.Mutex
	calls []string
}

func (l *callLog) PowerOff(_ context.Context, diskID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, "poweroff "+diskID)
	return nil
}

func (l *callLog) Detach(_ context.Context, diskID string, inst dataplane.InstanceRef) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, "detach "+diskID+" "+inst.InstanceID)
	return nil
}

func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// Stopping an instance powers off (in the data plane) exactly the disks attached to it;
// terminating one powers them off before detaching them; starting one does neither.
func TestStopAndTerminatePowerOffAttachedDisks(t *testing.T) {
	log := &callLog{}
	e := &env{t: t, dir: t.TempDir(), yaml: testConfig, disks: log}
	e.start()
	t.Cleanup(e.stop)
	c := e.alpha()
	a1, a3 := instanceID(t, c, "127.0.0.11"), instanceID(t, c, "127.0.0.13")
	d1, d2, d3 := createDisk(t, c, "sim-1a", 1), createDisk(t, c, "sim-1a", 1), createDisk(t, c, "sim-1a", 1)
	for _, a := range []struct{ disk, inst string }{{d1, a1}, {d2, a1}, {d3, a3}} {
		r := must[iaasclient.TaskResponse](t, c, iaasclient.ActionAttachDisk, iaasclient.AttachDiskRequest{DiskID: a.disk, InstanceID: a.inst})
		waitOK(t, c, r.TaskID)
	}
	log.take()

	instances := func(action, inst string) {
		t.Helper()
		r := must[iaasclient.TaskResponse](t, c, action, iaasclient.InstancesRequest{InstanceIDs: []string{inst}})
		waitOK(t, c, r.TaskID)
	}
	instances(iaasclient.ActionStopInstances, a1)
	got := log.take()
	slices.Sort(got)
	want := []string{"poweroff " + d1, "poweroff " + d2}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stop of %s: data plane calls %v, want %v", a1, got, want)
	}
	instances(iaasclient.ActionStartInstances, a1)
	if got := log.take(); len(got) != 0 {
		t.Fatalf("start of %s: data plane calls %v, want none", a1, got)
	}
	instances(iaasclient.ActionTerminateInstances, a3)
	if got, want := log.take(), []string{"poweroff " + d3, "detach " + d3 + " " + a3}; !slices.Equal(got, want) {
		t.Fatalf("terminate of %s: data plane calls %v, want %v", a3, got, want)
	}
}
