package apitest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Issue 15, gap 4: the admin API of the real iaas-sim binary refuses callers without
// its credential, from any loopback address (the instances of both tenants run on
// loopback addresses here, as instances on host addresses do), over real HTTP.
func TestAdminAPINeedsItsCredential(t *testing.T) {
	s := startSim(t)
	st, err := os.Stat(s.AdminTokenFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v %v", s.AdminTokenFile, st, err)
	}
	raw, _ := os.ReadFile(s.AdminTokenFile)
	token := strings.TrimSpace(string(raw))
	if len(token) < 32 {
		t.Fatalf("token %q", token)
	}
	type attempt struct{ method, path, body string }
	attempts := []attempt{
		{"GET", "/admin/v1/counters", ""},
		{"GET", "/admin/v1/faults", ""},
		{"GET", "/metrics", ""},
		{"GET", "/admin/v1/instances", ""},
		{"PUT", "/admin/v1/faults/CreateDisk", `{"errorRate":1}`},
		{"PUT", "/admin/v1/faults", `{"*":{"errorRate":1}}`},
		{"DELETE", "/admin/v1/counters", ""},
		// An instance that would make a new address the conformance tenant's.
		{"POST", "/admin/v1/instances", `{"name":"evil","tenant":"conformance","privateIps":["127.0.0.99"]}`},
		{"PUT", "/admin/v1/instances/node-1/state", `{"state":"STOPPED"}`},
		{"DELETE", "/admin/v1/instances/other-1", ""},
	}
	for _, src := range []string{"127.0.0.11", "127.0.0.21", "127.0.0.1"} {
		hc := httpFrom(src)
		for _, auth := range []string{"", "Bearer ", "Bearer wrong-token-0123456789abcdef", "Bearer " + token + "x", "Bearer " + token[:len(token)-1], "Basic " + token, token} {
			for _, a := range attempts {
				req, _ := http.NewRequest(a.method, s.AdminURL+a.path, strings.NewReader(a.body))
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var env ic.ErrorEnvelope
				_ = json.Unmarshal(b, &env)
				if resp.StatusCode != http.StatusForbidden || env.Error == nil || env.Error.Code != ic.CodeUnauthorizedOperation {
					t.Fatalf("from %s with Authorization %q: %s %s answered %d %s", src, auth, a.method, a.path, resp.StatusCode, b)
				}
			}
		}
		// /healthz stays open (liveness probes carry no secret).
		resp, err := hc.Get(s.AdminURL + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz from %s: %v %v", src, err, resp)
		}
		resp.Body.Close()
	}
	// Nothing the refused calls asked for happened.
	admin := s.AdminClient(t)
	var faults map[string]any
	if err := admin.Do(context.Background(), "GET", "/admin/v1/faults", nil, &faults); err != nil || len(faults) != 0 {
		t.Fatalf("faults after refused calls: %v %v", faults, err)
	}
	var list struct {
		Instances []struct {
			Name  string           `json:"name"`
			State ic.InstanceState `json:"state"`
		} `json:"instances"`
	}
	if err := admin.Do(context.Background(), "GET", "/admin/v1/instances", nil, &list); err != nil {
		t.Fatal(err)
	}
	for _, in := range list.Instances {
		if in.Name == "evil" || in.State != ic.InstanceRunning {
			t.Fatalf("instances after refused calls: %+v", list.Instances)
		}
	}
	if len(list.Instances) != 4 {
		t.Fatalf("instances after refused calls: %+v", list.Instances)
	}
	// The API itself is unaffected: no fault was set.
	c := s.client()
	if _, err := c.CreateDisk(context.Background(), &ic.CreateDiskRequest{Name: "after-admin-probe", Zone: zoneA, SizeGiB: 1}); err != nil {
		t.Fatalf("CreateDisk after the refused fault injection: %v", err)
	}
	// With the token, the same calls work.
	if err := admin.Do(context.Background(), "PUT", "/admin/v1/faults/CreateDisk", map[string]any{"errorRate": 0}, nil); err != nil {
		t.Fatalf("with the token: %v", err)
	}
}

// A unix socket of mode 0600 is the credential: no token, no TCP port.
func TestAdminAPIOnUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	s := startSim(t, "--admin-listen", "unix:"+sock)
	if s.AdminURL != "unix:"+sock || s.AdminTokenFile != "" {
		t.Fatalf("ready file: adminURL %q adminTokenFile %q", s.AdminURL, s.AdminTokenFile)
	}
	st, err := os.Lstat(sock)
	if err != nil || st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v %v", sock, st.Mode(), err)
	}
	var counters map[string]any
	if err := s.AdminClient(t).Do(context.Background(), "GET", "/admin/v1/counters", nil, &counters); err != nil {
		t.Fatalf("over the socket: %v", err)
	}
}

// httpFrom is an HTTP client whose connections come from the loopback address src.
func httpFrom(src string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: netip.MustParseAddr(src).AsSlice()}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}
