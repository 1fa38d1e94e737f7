// Package docker is the "docker" instance backend of the simulated IaaS: the node
// containers of a kind cluster (found by label) are the instances. It talks to the
// Docker Engine API over its unix socket with net/http, so it needs no Docker client
// module and no docker CLI.
//
// Power state is the container's: running is RUNNING, anything else STOPPED (a
// container that died outside the simulator shows up as STOPPED at the next List).
// Stop is `docker stop` (SIGTERM, then SIGKILL after the grace period): when it returns
// no process of the machine runs, which is the fencing failover relies on.
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

// BackendName is the InstanceBackend name of this backend.
const BackendName = "docker"

// KindClusterLabel is the label kind puts on the node containers of a cluster.
const KindClusterLabel = "io.x-k8s.kind.cluster"

// Config of the docker backend.
type Config struct {
	// Socket is the Docker Engine socket (default /var/run/docker.sock).
	Socket string
	// Label selects the containers, as "key=value" or "key" (default: the kind
	// cluster label with the value "kind").
	Label string
	// Zone, InstanceType and MaxDisks are reported for every instance.
	Zone         string
	InstanceType string
	MaxDisks     int
	// StopTimeout is the grace period of Stop (default 10s).
	StopTimeout time.Duration
}

// Backend implements dataplane.InstanceBackend with containers.
type Backend struct {
	cfg Config
	hc  *http.Client
}

var _ dataplane.InstanceBackend = (*Backend)(nil)

// New makes a backend; it does not contact the daemon.
func New(cfg Config) *Backend {
	if cfg.Socket == "" {
		cfg.Socket = "/var/run/docker.sock"
	}
	if cfg.Label == "" {
		cfg.Label = KindClusterLabel + "=kind"
	}
	if cfg.InstanceType == "" {
		cfg.InstanceType = "KIND.NODE"
	}
	if cfg.MaxDisks == 0 {
		cfg.MaxDisks = 16
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	sock := cfg.Socket
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &Backend{cfg: cfg, hc: &http.Client{Transport: tr}}
}

func (b *Backend) Name() string { return BackendName }

// apiError is the daemon's error body.
type apiError struct {
	Message string `json:"message"`
}

func (b *Backend) do(ctx context.Context, method, path string, q url.Values, out any) error {
	u := "http://docker" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return fmt.Errorf("docker: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		var e apiError
		_ = json.Unmarshal(body, &e)
		return iaasclient.Errorf(iaasclient.CodeResourceNotFound, "docker: %s", e.Message)
	case resp.StatusCode == http.StatusNotModified: // already started / stopped
		return nil
	case resp.StatusCode >= 300:
		var e apiError
		_ = json.Unmarshal(body, &e)
		return fmt.Errorf("docker: %s %s: HTTP %d: %s", method, path, resp.StatusCode, e.Message)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("docker: %s %s: %w", method, path, err)
		}
	}
	return nil
}

// container is the part of /containers/{id}/json the backend reads.
type container struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	State struct {
		Running bool `json:"Running"`
		Pid     int  `json:"Pid"`
	} `json:"State"`
	NetworkSettings struct {
		Networks map[string]struct {
			IPAddress string `json:"IPAddress"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
}

func (b *Backend) inspect(ctx context.Context, key string) (*container, error) {
	var c container
	if err := b.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(key)+"/json", nil, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// List returns every labelled container, running or not.
func (b *Backend) List(ctx context.Context) ([]dataplane.DiscoveredInstance, error) {
	filters, _ := json.Marshal(map[string][]string{"label": {b.cfg.Label}})
	var summaries []struct {
		ID string `json:"Id"`
	}
	q := url.Values{"all": {"1"}, "filters": {string(filters)}}
	if err := b.do(ctx, http.MethodGet, "/containers/json", q, &summaries); err != nil {
		return nil, err
	}
	var out []dataplane.DiscoveredInstance
	for _, s := range summaries {
		c, err := b.inspect(ctx, s.ID)
		if errors.Is(err, iaasclient.ErrNotFound) {
			continue // removed between list and inspect
		}
		if err != nil {
			return nil, err
		}
		inst := dataplane.DiscoveredInstance{Key: c.ID, Name: strings.TrimPrefix(c.Name, "/"), Zone: b.cfg.Zone,
			InstanceType: b.cfg.InstanceType, MaxDisks: b.cfg.MaxDisks, State: iaasclient.InstanceStopped}
		if c.State.Running {
			inst.State = iaasclient.InstanceRunning
		}
		for _, n := range c.NetworkSettings.Networks {
			if n.IPAddress != "" {
				inst.PrivateIPs = append(inst.PrivateIPs, n.IPAddress)
			}
		}
		slices.Sort(inst.PrivateIPs) // map order is random; keep the primary IP stable
		out = append(out, inst)
	}
	return out, nil
}

// Start starts the container; a running one is left alone.
func (b *Backend) Start(ctx context.Context, key string) error {
	if err := b.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(key)+"/start", nil, nil); err != nil {
		return err
	}
	klog.InfoS("Started container instance", "container", key)
	return nil
}

// Stop stops the container and returns once no process of it runs.
func (b *Backend) Stop(ctx context.Context, key string) error {
	q := url.Values{"t": {fmt.Sprint(int(b.cfg.StopTimeout.Seconds()))}}
	if err := b.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(key)+"/stop", q, nil); err != nil {
		return err
	}
	klog.InfoS("Stopped (fenced) container instance", "container", key)
	return nil
}

// Terminate removes the container (and its anonymous volumes); a missing one is gone.
func (b *Backend) Terminate(ctx context.Context, key string) error {
	q := url.Values{"force": {"1"}, "v": {"1"}}
	err := b.do(ctx, http.MethodDelete, "/containers/"+url.PathEscape(key), q, nil)
	if errors.Is(err, iaasclient.ErrNotFound) {
		return nil
	}
	if err == nil {
		klog.InfoS("Terminated container instance", "container", key)
	}
	return err
}

// PID is the host PID of the container's init process; 0 when it does not run. The disk
// data plane reaches the container's /dev through /proc/<pid>/root.
func (b *Backend) PID(ctx context.Context, key string) (int, error) {
	c, err := b.inspect(ctx, key)
	if err != nil {
		return 0, err
	}
	if !c.State.Running {
		return 0, nil
	}
	return c.State.Pid, nil
}
