package netns_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
)

// Instances get addresses, talk to each other through the bridge, and Stop fences one
// (no traffic) until Start; Terminate removes it.
func TestNetnsLifecycle(t *testing.T) {
	b := dptest.Backend(t, "ns", "172.30.1.0/24")
	ctx := context.Background()
	a, aip := dptest.Instance(t, b, "a")
	c, cip := dptest.Instance(t, b, "c")
	if aip.String() != "172.30.1.2" || cip.String() != "172.30.1.3" {
		t.Fatalf("addresses %s %s, want .2 and .3", aip, cip)
	}
	// Idempotent create.
	again, err := b.Create(a, aip)
	if err != nil || again.PrivateIPs[0] != aip.String() {
		t.Fatalf("create again: %v %v", again, err)
	}
	insts, err := b.List(ctx)
	if err != nil || len(insts) != 2 {
		t.Fatalf("list: %v %v", insts, err)
	}
	for _, i := range insts {
		if i.State != iaasclient.InstanceRunning || i.Zone != "zone-a" {
			t.Fatalf("instance %+v", i)
		}
	}
	dptest.HTTPServer(t, c, ":8080", "hello")
	get := func() error {
		_, err := dptest.HTTPGet(a, "http://"+cip.String()+":8080/", time.Second)
		return err
	}
	dptest.Eventually(t, 5*time.Second, "a->c", get)

	if err := b.Stop(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := get(); err == nil {
		t.Fatal("a reached c while c is stopped (not fenced)")
	}
	insts, _ = b.List(ctx)
	idx := slices.IndexFunc(insts, func(i dataplane.DiscoveredInstance) bool { return i.Key == c })
	if idx < 0 || insts[idx].State != iaasclient.InstanceStopped {
		t.Fatalf("c after stop: %+v", insts)
	}
	if err := b.Start(ctx, c); err != nil {
		t.Fatal(err)
	}
	dptest.Eventually(t, 5*time.Second, "a->c after start", get)

	if err := b.Terminate(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := b.Terminate(ctx, c); err != nil {
		t.Fatalf("terminate twice: %v", err)
	}
	insts, _ = b.List(ctx)
	if len(insts) != 1 || insts[0].Key != a {
		t.Fatalf("after terminate: %+v", insts)
	}
}
