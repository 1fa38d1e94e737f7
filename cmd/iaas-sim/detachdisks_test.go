package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetachDisksBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--data-dir is required"},
		{[]string{"--data-dir", filepath.Join(t.TempDir(), "missing")}, "is not a directory"},
		{[]string{"--data-dir", file}, "is not a directory"},
		{[]string{"--data-dir", t.TempDir(), "extra"}, "unexpected arguments"},
		{[]string{"--no-such-flag"}, "not defined"},
	} {
		err := runDetachDisks(context.Background(), tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("detach-disks %q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if err := runDetachDisks(context.Background(), []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

// A directory the simulator never used is left as it was: nothing detached, nothing made.
func TestDetachDisksUnusedDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := runDetachDisks(context.Background(), []string{"--data-dir", dir}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("detach-disks made %v in an unused directory", entries)
	}
}
