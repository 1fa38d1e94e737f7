package static

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

func entry(key, ip string) Entry {
	return Entry{DiscoveredInstance: dataplane.DiscoveredInstance{Key: key, Name: key, PrivateIPs: []string{ip}}, Tenant: "t", VpcID: "vpc-1"}
}

func TestStaticPersistsChanges(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "static.json")
	cfg := []Entry{entry("a", "127.0.0.2"), entry("b", "127.0.0.3")}
	b, err := New(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Terminate(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(entry("c", "127.0.0.4")); err != nil {
		t.Fatal(err)
	}
	if err := b.SetState("zz", iaasclient.InstanceStopped); err == nil {
		t.Fatal("unknown key accepted")
	}
	if err := b.SetState("a", "EXPLODED"); err == nil {
		t.Fatal("bad state accepted")
	}

	b2, err := New(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := b2.List(ctx)
	got := map[string]iaasclient.InstanceState{}
	for _, d := range list {
		got[d.Key] = d.State
	}
	want := map[string]iaasclient.InstanceState{"a": iaasclient.InstanceStopped, "c": iaasclient.InstanceRunning}
	if len(got) != len(want) || got["a"] != want["a"] || got["c"] != want["c"] {
		t.Fatalf("after reload: %v, want %v", got, want)
	}
	if as, ok := b2.Assignment("c"); !ok || as.Tenant != "t" || as.VpcID != "vpc-1" {
		t.Fatalf("assignment: %+v %v", as, ok)
	}
	if err := b2.Start(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := b2.Remove("missing"); err != nil {
		t.Fatalf("removing a missing machine: %v", err)
	}
}
