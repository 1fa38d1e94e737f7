// Package static is the instance backend whose machines are a list: declared in the
// simulator's config file and changed at run time through the admin API. Starting,
// stopping and terminating only change the recorded state (the machines are addresses
// that tests bind to, such as 127.0.0.x). Changes are kept in a state file so that a
// restarted simulator still sees a stopped instance as stopped.
package static

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

// Entry is one static machine and the tenant it belongs to.
type Entry struct {
	dataplane.DiscoveredInstance
	Tenant   string            `json:"tenant"`
	VpcID    string            `json:"vpcId"`
	PublicIP string            `json:"publicIp,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
}

// Assignment is the tenancy of a machine.
type Assignment struct {
	Tenant   string
	VpcID    string
	PublicIP string
	Tags     map[string]string
}

// persisted is the state file: what changed since the config.
type persisted struct {
	Added   []Entry                             `json:"added,omitempty"`
	Removed []string                            `json:"removed,omitempty"`
	States  map[string]iaasclient.InstanceState `json:"states,omitempty"`
}

// Backend is the static instance backend.
type Backend struct {
	mu        sync.Mutex
	entries   map[string]*Entry
	fromCfg   map[string]bool
	changes   persisted
	statePath string
}

var _ dataplane.InstanceBackend = (*Backend)(nil)

// New builds the backend from the config's entries and the changes recorded in
// statePath ("" keeps nothing across restarts).
func New(entries []Entry, statePath string) (*Backend, error) {
	b := &Backend{entries: map[string]*Entry{}, fromCfg: map[string]bool{}, statePath: statePath,
		changes: persisted{States: map[string]iaasclient.InstanceState{}}}
	for _, e := range entries {
		e := e
		if e.State == "" {
			e.State = iaasclient.InstanceRunning
		}
		b.entries[e.Key] = &e
		b.fromCfg[e.Key] = true
	}
	if statePath != "" {
		raw, err := os.ReadFile(statePath)
		switch {
		case os.IsNotExist(err):
		case err != nil:
			return nil, err
		default:
			if err := json.Unmarshal(raw, &b.changes); err != nil {
				return nil, fmt.Errorf("%s: %w", statePath, err)
			}
		}
	}
	if b.changes.States == nil {
		b.changes.States = map[string]iaasclient.InstanceState{}
	}
	for _, e := range b.changes.Added {
		e := e
		b.entries[e.Key] = &e
	}
	for _, k := range b.changes.Removed {
		delete(b.entries, k)
	}
	for k, st := range b.changes.States {
		if e := b.entries[k]; e != nil {
			e.State = st
		}
	}
	return b, nil
}

func (b *Backend) Name() string { return "static" }

func (b *Backend) List(context.Context) ([]dataplane.DiscoveredInstance, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]dataplane.DiscoveredInstance, 0, len(b.entries))
	for _, e := range b.entries {
		d := e.DiscoveredInstance
		d.PrivateIPs = slices.Clone(d.PrivateIPs)
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, c dataplane.DiscoveredInstance) int {
		if a.Key < c.Key {
			return -1
		}
		if a.Key > c.Key {
			return 1
		}
		return 0
	})
	return out, nil
}

func (b *Backend) Start(_ context.Context, key string) error {
	return b.SetState(key, iaasclient.InstanceRunning)
}

func (b *Backend) Stop(_ context.Context, key string) error {
	return b.SetState(key, iaasclient.InstanceStopped)
}

func (b *Backend) Terminate(_ context.Context, key string) error { return b.Remove(key) }

// Assignment returns the tenancy of the machine with key.
func (b *Backend) Assignment(key string) (Assignment, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil {
		return Assignment{}, false
	}
	return Assignment{Tenant: e.Tenant, VpcID: e.VpcID, PublicIP: e.PublicIP, Tags: e.Tags}, true
}

// Entries lists the machines.
func (b *Backend) Entries() []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Entry, 0, len(b.entries))
	for _, e := range b.entries {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, c Entry) int {
		if a.Key < c.Key {
			return -1
		}
		if a.Key > c.Key {
			return 1
		}
		return 0
	})
	return out
}

// Add adds (or replaces) a machine.
func (b *Backend) Add(e Entry) error {
	if e.Key == "" {
		return fmt.Errorf("key: is required")
	}
	if e.State == "" {
		e.State = iaasclient.InstanceRunning
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entries[e.Key] = &e
	b.changes.Added = slices.DeleteFunc(b.changes.Added, func(x Entry) bool { return x.Key == e.Key })
	b.changes.Added = append(b.changes.Added, e)
	b.changes.Removed = slices.DeleteFunc(b.changes.Removed, func(k string) bool { return k == e.Key })
	delete(b.changes.States, e.Key)
	return b.saveLocked()
}

// Remove deletes a machine (it disappears from List; the control plane then marks its
// instance TERMINATED). Removing a missing machine succeeds.
func (b *Backend) Remove(key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.entries[key]; !ok {
		return nil
	}
	delete(b.entries, key)
	b.changes.Added = slices.DeleteFunc(b.changes.Added, func(x Entry) bool { return x.Key == key })
	if b.fromCfg[key] {
		b.changes.Removed = append(b.changes.Removed, key)
	}
	delete(b.changes.States, key)
	return b.saveLocked()
}

// ErrUnknown is returned for a key the backend does not have.
var ErrUnknown = fmt.Errorf("no such static instance")

// SetState sets a machine's power state (RUNNING, STOPPED or PENDING).
func (b *Backend) SetState(key string, st iaasclient.InstanceState) error {
	switch st {
	case iaasclient.InstanceRunning, iaasclient.InstanceStopped, iaasclient.InstancePending:
	default:
		return fmt.Errorf("state: must be RUNNING, STOPPED or PENDING, got %q", st)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil {
		return fmt.Errorf("%w: %q", ErrUnknown, key)
	}
	if e.State == st {
		return nil
	}
	e.State = st
	b.changes.States[key] = st
	return b.saveLocked()
}

// saveLocked writes the state file atomically and durably.
func (b *Backend) saveLocked() error {
	if b.statePath == "" {
		return nil
	}
	raw, err := json.MarshalIndent(b.changes, "", "  ")
	if err != nil {
		return err
	}
	tmp := b.statePath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, b.statePath); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(b.statePath))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
