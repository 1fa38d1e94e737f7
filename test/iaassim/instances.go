package iaassim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/static"
)

// Defaults of instance attributes a backend leaves empty.
const (
	defaultMaxDisks     = 20
	defaultInstanceType = "SIM.STANDARD"
)

// assigner is implemented by backends that know each machine's tenant (static).
type assigner interface {
	Assignment(key string) (static.Assignment, bool)
}

// assignment finds the tenant and VPC of a discovered machine: from the backend when it
// knows (static), else from the config's instanceTenancy rules.
func (s *Server) assignment(d dataplane.DiscoveredInstance) (static.Assignment, bool) {
	if a, ok := s.dp.Instances.(assigner); ok {
		if as, ok := a.Assignment(d.Key); ok {
			return as, true
		}
	}
	for _, r := range s.cfg.InstanceTenancy {
		if strings.HasPrefix(d.Name, r.NamePrefix) {
			return static.Assignment{Tenant: r.Tenant, VpcID: r.VpcID}, true
		}
	}
	if len(s.cfg.InstanceTenancy) == 0 && len(s.cfg.Tenants) == 1 {
		// One tenant and no rules: every machine is that tenant's, in its first VPC.
		t := s.cfg.Tenants[0]
		return static.Assignment{Tenant: t.Name, VpcID: t.Vpcs[0].VpcID}, true
	}
	return static.Assignment{}, false
}

// syncInstances lists the backend and brings the instance records in line: new
// machines get an instance id (kept for good), changed attributes and power states are
// recorded, machines that disappeared are TERMINATED. An instance with a running task
// keeps its state until the task ends.
func (s *Server) syncInstances(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	list, err := s.dp.Instances.List(ctx)
	if err != nil {
		return err
	}
	backend := s.dp.Instances.Name()
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	byKey := map[string]*instanceRec{}
	for _, in := range s.state.instances {
		if in.Backend == backend && in.State != iaasclient.InstanceTerminated {
			byKey[in.Key] = in
		}
	}
	tx := s.state.begin()
	seen := map[string]bool{}
	changed := 0
	for _, d := range list {
		as, ok := s.assignment(d)
		if !ok || s.vpcs[as.VpcID] == nil || s.vpcs[as.VpcID].tenant != as.Tenant {
			continue // not assigned to a tenant: invisible to the API
		}
		seen[d.Key] = true
		cur := byKey[d.Key]
		n := &instanceRec{Tenant: as.Tenant, Backend: backend, Key: d.Key}
		if cur != nil {
			n = clone(cur)
		} else {
			n.InstanceID = stableInstanceID(as.Tenant, backend, d.Key, has(s.state.instances))
			n.CreatedAt = s.now().UTC()
			n.State = d.State
		}
		n.Tenant, n.VpcID, n.Region = as.Tenant, as.VpcID, s.cfg.Region
		ips, bad := canonicalIPs(d.PrivateIPs)
		if len(bad) > 0 {
			s.log().Error(nil, "A machine reports addresses that are not IPs; they authorise nothing", "backend", backend, "key", d.Key, "addresses", bad)
		}
		n.Name, n.PrivateIPs, n.PublicIP = d.Name, ips, as.PublicIP
		n.Zone = d.Zone
		if n.Zone == "" {
			n.Zone = s.defaultZone()
		}
		n.InstanceType = d.InstanceType
		if n.InstanceType == "" {
			n.InstanceType = defaultInstanceType
		}
		n.MaxDisks = d.MaxDisks
		if n.MaxDisks == 0 {
			n.MaxDisks = defaultMaxDisks
		}
		n.Tags = copyTags(as.Tags)
		if s.state.busyInstances[n.InstanceID] == 0 && d.State != "" {
			n.State = d.State
		}
		if n.State == "" {
			n.State = iaasclient.InstanceRunning
		}
		if cur == nil || !sameInstance(cur, n) {
			tx.putInstance(n)
			changed++
		}
	}
	for key, in := range byKey {
		if !seen[key] {
			n := clone(in)
			n.State = iaasclient.InstanceTerminated
			tx.putInstance(n)
			changed++
		}
	}
	if changed == 0 {
		if s.conflicts == nil { // first sync since start: report what the store holds
			s.reportAddressConflictsLocked()
		}
		return nil
	}
	if err := tx.commit(); err != nil {
		return err
	}
	// Discovered machines and address changes cannot be refused (the machine exists):
	// a conflict is logged and counted, and ownerOf refuses the address to everyone.
	s.reportAddressConflictsLocked()
	s.log().V(2).Info("Instances synced from the backend", "backend", backend, "changed", changed)
	return nil
}

// stableInstanceID derives a machine's id from its backend identity, so that every
// simulator that discovers the machine names it alike: a kept kind cluster whose nodes'
// providerIDs name these ids stays usable with a fresh data directory. A taken id (the
// TERMINATED record of an earlier machine with the same key) falls back to a random one.
func stableInstanceID(tenant, backend, key string, taken func(string) bool) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + backend + "\x00" + key))
	if id := "ins-" + hex.EncodeToString(sum[:6]); !taken(id) {
		return id
	}
	return newID("ins-", taken)
}

func sameInstance(a, b *instanceRec) bool {
	return a.Tenant == b.Tenant && a.VpcID == b.VpcID && a.Name == b.Name && a.Zone == b.Zone && a.Region == b.Region &&
		a.InstanceType == b.InstanceType && a.MaxDisks == b.MaxDisks && a.State == b.State && a.PublicIP == b.PublicIP &&
		slices.Equal(a.PrivateIPs, b.PrivateIPs) && maps.Equal(a.Tags, b.Tags)
}
