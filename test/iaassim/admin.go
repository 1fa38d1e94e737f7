package iaassim

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/static"
)

// Admin API (a separate listener; cmd/iaas-sim puts AdminAuth in front of it, since
// whoever reaches it owns the simulator):
//
//	GET    /healthz                          "ok"
//	GET    /metrics                          Prometheus metrics
//	GET    /admin/v1/counters                Counters (JSON, per action)
//	DELETE /admin/v1/counters                reset the JSON counters
//	GET    /admin/v1/faults                  map action -> FaultSpec ("*" = every action)
//	PUT    /admin/v1/faults                  replace the whole map
//	DELETE /admin/v1/faults                  remove every fault
//	PUT    /admin/v1/faults/{action}         set one action's FaultSpec
//	DELETE /admin/v1/faults/{action}         remove one action's faults
//	GET    /admin/v1/instances               static machines with their instance ids
//	POST   /admin/v1/instances               add a static machine (StaticInstanceConfig)
//	DELETE /admin/v1/instances/{key}         remove it (its instance becomes TERMINATED)
//	PUT    /admin/v1/instances/{key}/state   {"state": "RUNNING"|"STOPPED"|"PENDING"}
//	GET    /admin/v1/audit/disks[?since=SEQ] every disk attach/detach in the data plane,
//	                                         with timestamps (diskaudit.Response; audit.go)
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /admin/v1/counters", func(w http.ResponseWriter, _ *http.Request) {
		c := s.Counters()
		writeJSON(w, newRequestID(), &c)
	})
	mux.HandleFunc("DELETE /admin/v1/counters", func(w http.ResponseWriter, _ *http.Request) {
		s.metrics.reset()
		writeJSON(w, newRequestID(), map[string]string{})
	})
	mux.HandleFunc("GET /admin/v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, newRequestID(), s.faults.all())
	})
	mux.HandleFunc("PUT /admin/v1/faults", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]FaultSpec
		if !adminDecode(w, r, &m) {
			return
		}
		for a, f := range m {
			if err := checkFault(a, f); err != nil {
				writeError(w, newRequestID(), err)
				return
			}
		}
		s.faults.replace(m)
		writeJSON(w, newRequestID(), s.faults.all())
	})
	mux.HandleFunc("DELETE /admin/v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetFaults()
		writeJSON(w, newRequestID(), s.faults.all())
	})
	mux.HandleFunc("PUT /admin/v1/faults/{action}", func(w http.ResponseWriter, r *http.Request) {
		var f FaultSpec
		if !adminDecode(w, r, &f) {
			return
		}
		if err := s.SetFault(r.PathValue("action"), f); err != nil {
			writeError(w, newRequestID(), err)
			return
		}
		writeJSON(w, newRequestID(), s.faults.all())
	})
	mux.HandleFunc("DELETE /admin/v1/faults/{action}", func(w http.ResponseWriter, r *http.Request) {
		m := s.faults.all()
		delete(m, r.PathValue("action"))
		s.faults.replace(m)
		writeJSON(w, newRequestID(), s.faults.all())
	})
	mux.HandleFunc("GET /admin/v1/instances", s.adminListInstances)
	mux.HandleFunc("POST /admin/v1/instances", s.adminAddInstance)
	mux.HandleFunc("DELETE /admin/v1/instances/{key}", s.adminRemoveInstance)
	mux.HandleFunc("PUT /admin/v1/instances/{key}/state", s.adminSetInstanceState)
	mux.HandleFunc("GET /admin/v1/audit/disks", s.adminDiskAudit)
	return recoverMiddleware(mux)
}

// Counters returns the per-action request counts since start or the last reset.
func (s *Server) Counters() Counters { return s.metrics.snapshot() }

// SetFault sets the fault injection of one action ("*" for every action).
func (s *Server) SetFault(action string, f FaultSpec) *iaasclient.Error {
	if err := checkFault(action, f); err != nil {
		return err
	}
	s.faults.set(action, f)
	return nil
}

// ResetFaults removes every fault.
func (s *Server) ResetFaults() { s.faults.replace(nil) }

func checkFault(action string, f FaultSpec) *iaasclient.Error {
	if action != "*" && !knownAction(action) {
		return validate.Invalid("action", "unknown action %q", validate.Truncate(action))
	}
	if e := f.validate(); e != nil {
		return validate.Invalid(e.field, "%s", e.msg)
	}
	return nil
}

func adminDecode(w http.ResponseWriter, r *http.Request, out any) bool {
	body, err := readBody(w, r)
	if err == nil {
		err = DecodeStrict(body, out)
	}
	if err != nil {
		writeError(w, newRequestID(), err)
		return false
	}
	return true
}

// staticBackend is what the admin API needs of the instance backend.
type staticBackend interface {
	Add(static.Entry) error
	Remove(key string) error
	SetState(key string, st iaasclient.InstanceState) error
	Entries() []static.Entry
}

// AdminInstance is a static machine and the instance id the control plane gave it.
type AdminInstance struct {
	StaticInstanceConfig
	InstanceID string `json:"instanceId,omitempty"`
}

func configOf(e static.Entry) StaticInstanceConfig {
	return StaticInstanceConfig{
		Key: e.Key, Name: e.Name, Tenant: e.Tenant, VpcID: e.VpcID, Zone: e.Zone, InstanceType: e.InstanceType,
		PrivateIPs: e.PrivateIPs, PublicIP: e.PublicIP, MaxDisks: e.MaxDisks, State: e.State, Tags: e.Tags,
	}
}

func (s *Server) staticBackend(w http.ResponseWriter) (staticBackend, bool) {
	b, ok := s.dp.Instances.(staticBackend)
	if !ok {
		writeError(w, newRequestID(), validate.Invalid("backend", "the instance backend %q is not static", s.dp.Instances.Name()))
	}
	return b, ok
}

func (s *Server) adminInstances(b staticBackend) []AdminInstance {
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	ids := map[string]string{}
	for _, in := range s.state.instances {
		if in.Backend == "static" && in.State != iaasclient.InstanceTerminated {
			ids[in.Key] = in.InstanceID
		}
	}
	out := []AdminInstance{}
	for _, e := range b.Entries() {
		out = append(out, AdminInstance{StaticInstanceConfig: configOf(e), InstanceID: ids[e.Key]})
	}
	return out
}

func (s *Server) adminListInstances(w http.ResponseWriter, _ *http.Request) {
	b, ok := s.staticBackend(w)
	if !ok {
		return
	}
	writeJSON(w, newRequestID(), map[string]any{"instances": s.adminInstances(b)})
}

// adminAfterChange syncs instances and answers with the machine of key.
func (s *Server) adminAfterChange(w http.ResponseWriter, r *http.Request, b staticBackend, key string) {
	if err := s.syncInstances(r.Context()); err != nil {
		writeError(w, newRequestID(), errf(iaasclient.CodeInternalError, "syncing instances: %v", err))
		return
	}
	if err := s.state.waitAll(); err != nil {
		writeError(w, newRequestID(), err)
		return
	}
	for _, in := range s.adminInstances(b) {
		if in.Key == key {
			writeJSON(w, newRequestID(), &in)
			return
		}
	}
	writeJSON(w, newRequestID(), map[string]string{"key": key, "state": string(iaasclient.InstanceTerminated)})
}

func (s *Server) adminAddInstance(w http.ResponseWriter, r *http.Request) {
	b, ok := s.staticBackend(w)
	if !ok {
		return
	}
	var sc StaticInstanceConfig
	if !adminDecode(w, r, &sc) {
		return
	}
	// The address check and the sync that records the machine run as one step, so two
	// concurrent adds cannot both pass the check with one address.
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	e, err := s.staticEntry(sc)
	if err != nil {
		writeError(w, newRequestID(), err)
		return
	}
	if err := b.Add(e); err != nil {
		writeError(w, newRequestID(), errf(iaasclient.CodeInternalError, "%v", err))
		return
	}
	s.adminAfterChange(w, r, b, e.Key)
}

// staticEntry validates an instance declared through the admin API (or the config).
func (s *Server) staticEntry(sc StaticInstanceConfig) (static.Entry, *iaasclient.Error) {
	if sc.Name == "" {
		return static.Entry{}, validate.Invalid("name", "is required")
	}
	if sc.Key == "" {
		sc.Key = sc.Name
	}
	if s.tenants[sc.Tenant] == nil {
		return static.Entry{}, validate.Invalid("tenant", "unknown tenant %q", validate.Truncate(sc.Tenant))
	}
	if sc.VpcID == "" {
		for _, t := range s.cfg.Tenants {
			if t.Name == sc.Tenant {
				sc.VpcID = t.Vpcs[0].VpcID
			}
		}
	}
	if v := s.vpcs[sc.VpcID]; v == nil || v.tenant != sc.Tenant {
		return static.Entry{}, validate.Invalid("vpcId", "%q is not a VPC of tenant %q", validate.Truncate(sc.VpcID), sc.Tenant)
	}
	if len(sc.PrivateIPs) == 0 {
		return static.Entry{}, validate.Invalid("privateIps", "at least one address is required")
	}
	var claims []addressClaim
	for i, ip := range sc.PrivateIPs {
		a, err := validate.IP(fmt.Sprintf("privateIps[%d]", i), ip)
		if err != nil {
			return static.Entry{}, err
		}
		sc.PrivateIPs[i] = a.String()
		claims = append(claims, addressClaim{tenant: sc.Tenant, field: fmt.Sprintf("privateIps[%d]", i), instance: true, prefix: hostPrefix(a)})
	}
	// One address, one tenant (addrowner.go): not another tenant's admin CIDR, not
	// another instance's address. The machine being replaced (same key) does not count.
	s.state.mu.RLock()
	live := s.liveClaimsLocked(func(in *instanceRec) bool { return in.Backend == "static" && in.Key == sc.Key })
	s.state.mu.RUnlock()
	if c := checkClaims(claims); c != nil {
		return static.Entry{}, validate.Invalid(c.New.field, "%s", c.Error())
	}
	if c := firstConflict(live, claims); c != nil {
		return static.Entry{}, validate.InUse(c.New.field, "%s", c.Error())
	}
	if sc.PublicIP != "" {
		if _, err := netip.ParseAddr(sc.PublicIP); err != nil {
			return static.Entry{}, validate.Invalid("publicIp", "%q is not an IP address", validate.Truncate(sc.PublicIP))
		}
	}
	if sc.MaxDisks < 0 {
		return static.Entry{}, validate.Invalid("maxDisks", "must not be negative")
	}
	switch sc.State {
	case "", iaasclient.InstanceRunning, iaasclient.InstanceStopped, iaasclient.InstancePending:
	default:
		return static.Entry{}, validate.Invalid("state", "must be RUNNING, STOPPED or PENDING")
	}
	if err := validate.Tags("tags", sc.Tags); err != nil {
		return static.Entry{}, err
	}
	return StaticEntry(sc), nil
}

// StaticEntry converts a validated config entry.
func StaticEntry(sc StaticInstanceConfig) static.Entry {
	key := sc.Key
	if key == "" {
		key = sc.Name
	}
	return static.Entry{
		DiscoveredInstance: dataplane.DiscoveredInstance{
			Key: key, Name: sc.Name, PrivateIPs: append([]string(nil), sc.PrivateIPs...), Zone: sc.Zone,
			InstanceType: sc.InstanceType, MaxDisks: sc.MaxDisks, State: sc.State,
		},
		Tenant: sc.Tenant, VpcID: sc.VpcID, PublicIP: sc.PublicIP, Tags: copyTags(sc.Tags),
	}
}

func (s *Server) adminRemoveInstance(w http.ResponseWriter, r *http.Request) {
	b, ok := s.staticBackend(w)
	if !ok {
		return
	}
	key := r.PathValue("key")
	if err := b.Remove(key); err != nil {
		writeError(w, newRequestID(), errf(iaasclient.CodeInternalError, "%v", err))
		return
	}
	s.adminAfterChange(w, r, b, key)
}

func (s *Server) adminSetInstanceState(w http.ResponseWriter, r *http.Request) {
	b, ok := s.staticBackend(w)
	if !ok {
		return
	}
	var body struct {
		State iaasclient.InstanceState `json:"state"`
	}
	if !adminDecode(w, r, &body) {
		return
	}
	key := r.PathValue("key")
	if err := b.SetState(key, body.State); err != nil {
		code := iaasclient.CodeInvalidParameter
		if errors.Is(err, static.ErrUnknown) {
			code = iaasclient.CodeResourceNotFound
		}
		writeError(w, newRequestID(), errf(code, "%v", err))
		return
	}
	s.adminAfterChange(w, r, b, key)
}
