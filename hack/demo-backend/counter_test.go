package main

import "testing"

// The count survives a restart of the server on the same directory (the pod moving to
// another node with its volume), and the first visitor is remembered.
func TestCounterSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	c, err := openCounter(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		n, first, err := c.add("pod-a on node 1")
		if err != nil || n != i || first != "pod-a on node 1" {
			t.Fatalf("visit %d: n=%d first=%q err=%v", i, n, first, err)
		}
	}
	c.f.Close()
	c, err = openCounter(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.f.Close()
	if n, first, err := c.add("pod-a on node 2"); err != nil || n != 4 || first != "pod-a on node 1" {
		t.Fatalf("after reopen: n=%d first=%q err=%v", n, first, err)
	}
}
