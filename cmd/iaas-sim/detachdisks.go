package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/disks"
)

// detachDisksCommand is the name of the subcommand that undoes the loop disk data plane.
const detachDisksCommand = "detach-disks"

// runDetachDisks detaches the loop device of every disk under --data-dir, with the loop
// devices instances had stacked on them (which losetup -d on the disk alone would leave
// holding it for ever). For teardown once the simulator has stopped for good.
func runDetachDisks(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("iaas-sim "+detachDisksCommand, flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "Directory whose disks/ hold the simulator's disk files (the --data-dir or --disks-dir the simulator ran with). Required.")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: iaas-sim %s --data-dir DIR\n\nDetaches the loop devices of the simulator's disks (and those stacked on them) after the simulator stopped.\n\n", detachDisksCommand)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", detachDisksCommand, fs.Args())
	}
	if *dataDir == "" {
		return fmt.Errorf("%s: --data-dir is required", detachDisksCommand)
	}
	if st, err := os.Stat(*dataDir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s: --data-dir %s is not a directory", detachDisksCommand, *dataDir)
	}
	if _, err := os.Stat(filepath.Join(*dataDir, "disks")); errors.Is(err, os.ErrNotExist) {
		return nil // the simulator never made a disk here
	}
	m, err := disks.New(disks.Config{DataDir: *dataDir})
	if err != nil {
		return err
	}
	detached, err := m.DetachAll(ctx)
	if len(detached) > 0 {
		fmt.Printf("detached %s\n", strings.Join(detached, " "))
	}
	if err != nil {
		return errors.Join(fmt.Errorf("%s", detachDisksCommand), err)
	}
	return nil
}
