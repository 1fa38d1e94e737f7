package csi

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A disk is found by its serial under either name: iaas-<id> (the simulator's disk
// data plane) or virtio-<id> (udev's name for a CBS disk on a Tencent Cloud CVM).
func TestByIDFinderPrefixes(t *testing.T) {
	dir := t.TempDir()
	f := ByIDFinder{Dir: dir}
	for prefix, id := range map[string]string{"iaas-": "disk-sim1", "virtio-": "disk-cbs1"} {
		dev := filepath.Join(dir, "dev-"+id)
		if err := os.WriteFile(dev, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.Present(id); ok {
			t.Fatalf("%s present before its link exists", id)
		}
		if err := os.Symlink(dev, filepath.Join(dir, prefix+id)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := f.Wait(ctx, id, "")
		cancel()
		if err != nil || got != dev {
			t.Fatalf("%s%s: %q, %v; want %s", prefix, id, got, err, dev)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := f.Wait(ctx, "disk-absent", ""); err == nil {
		t.Fatal("a disk with no link was found")
	}
}
