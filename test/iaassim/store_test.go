package iaassim

import (
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestTxnCommitAndReload(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newState(st)
	if err != nil {
		t.Fatal(err)
	}
	tx := s.begin()
	tx.putDisk(&diskRec{Tenant: "a", Disk: iaasclient.Disk{DiskID: "disk-1", SizeGiB: 3}})
	tx.putTask(&taskRec{Tenant: "a", Seq: 7, Task: iaasclient.Task{TaskID: "task-1", State: iaasclient.TaskRunning}, Params: taskParams{InstanceIDs: []string{"ins-1"}}})
	if s.disks["disk-1"] != nil {
		t.Fatal("staged write visible before commit")
	}
	if err := tx.commit(); err != nil {
		t.Fatal(err)
	}
	tx = s.begin()
	tx.delDisk("disk-1")
	tx.putDisk(&diskRec{Tenant: "a", Disk: iaasclient.Disk{DiskID: "disk-2"}})
	if err := tx.commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitAll(); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}

	st, err = openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := newState(st)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close()
	if s2.disks["disk-1"] != nil || s2.disks["disk-2"] == nil || s2.tasks["task-1"] == nil {
		t.Fatalf("reloaded: disks %v tasks %v", s2.disks, s2.tasks)
	}
	if s2.seq != 7 || s2.busyInstances["ins-1"] != 1 {
		t.Fatalf("derived state: seq %d busy %v", s2.seq, s2.busyInstances)
	}
}

func TestFailedFlushRefusesEverything(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := newState(st)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	st.close() // every flush now fails
	tx := s.begin()
	tx.putDisk(&diskRec{Disk: iaasclient.Disk{DiskID: "disk-1"}})
	if err := tx.commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitAll(); err == nil || err.Code != iaasclient.CodeInternalError {
		t.Fatalf("a failed flush was acknowledged: %v", err)
	}
	tx = s.begin()
	applied := false
	tx.putDisk(&diskRec{Disk: iaasclient.Disk{DiskID: "disk-2"}})
	tx.after(func() { applied = true })
	if err := tx.commit(); err == nil || applied || s.disks["disk-2"] != nil {
		t.Fatalf("a commit after a failed flush: %v (applied %v)", err, applied)
	}
}

func TestGroupCommitOrder(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newState(st)
	if err != nil {
		t.Fatal(err)
	}
	// The same key written by many txns: the last one applied must be the one stored.
	for i := range 200 {
		s.mu.Lock()
		tx := s.begin()
		tx.putDisk(&diskRec{Disk: iaasclient.Disk{DiskID: "disk-1", SizeGiB: i}})
		if err := tx.commit(); err != nil {
			t.Fatal(err)
		}
		s.mu.Unlock()
	}
	if err := s.waitAll(); err != nil {
		t.Fatal(err)
	}
	s.close()
	st, _ = openStore(dir)
	s2, err := newState(st)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close()
	if got := s2.disks["disk-1"].SizeGiB; got != 199 {
		t.Fatalf("stored %d, want the last write 199", got)
	}
}

func TestNonceCache(t *testing.T) {
	n := newNonceCache()
	now := time.Now()
	if !n.remember("k", "nonce-1", now, now) || n.remember("k", "nonce-1", now, now) {
		t.Fatal("replay not detected")
	}
	if !n.remember("other", "nonce-1", now, now) {
		t.Fatal("nonces are per key")
	}
	later := now.Add(iaasclient.MaxClockSkew * 3)
	if !n.remember("k", "nonce-1", later, later) {
		t.Fatal("an expired nonce is remembered forever")
	}
	for i := range 10000 {
		n.remember("k", string(rune(i))+"-nonce", now, later)
	}
	if len(n.seen) > 8192 {
		t.Fatalf("cache not pruned: %d", len(n.seen))
	}
}
