package lb_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
)

// Request header edits and redirects of L7 rules, over real sockets in network
// namespaces: the backend sees the request with its headers removed, set (every old
// value replaced) and added (appended), and only on the rule that edits; a redirect
// rule answers its status and a Location with the request's path and query on the
// rule's scheme, host and port (a well-known port left out), and forwards nothing.
func TestLoadBalancerL7HeaderEditsAndRedirects(t *testing.T) {
	b := dptest.Backend(t, "l7e", "172.30.19.0/24")
	m := newManager(t, b.Config().Bridge, "172.31.23.0/24", "172.31.24.0/24", false)
	ctx := context.Background()
	nsA, ipA := dptest.Instance(t, b, "a")
	cl, _ := dptest.Instance(t, b, "client")
	l := dptest.Listen(t, nsA, "tcp", ":8080")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(r.Header)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	be := []iaasclient.Backend{{IP: ipA.String(), Port: 8080}}

	vip, err := m.AllocateVIP(iaasclient.LoadBalancerInternal, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rules := []iaasclient.L7Rule{
		{Path: "/plain", PathType: iaasclient.PathPrefix, Backends: be},
		{Path: "/edit", PathType: iaasclient.PathPrefix, Backends: be, RequestHeaders: &iaasclient.HeaderEdits{
			Remove: []string{"x-drop"},
			Set:    []iaasclient.HeaderMatch{{Name: "x-set", Value: "new"}},
			Add:    []iaasclient.HeaderMatch{{Name: "X-Add", Value: "two"}, {Name: "X-Fresh", Value: "f"}},
		}},
		{Path: "/moved", PathType: iaasclient.PathPrefix, Backends: []iaasclient.Backend{}, Redirect: &iaasclient.Redirect{Host: "example.org", StatusCode: 302}},
		{Path: "/secure", PathType: iaasclient.PathPrefix, Backends: []iaasclient.Backend{}, Redirect: &iaasclient.Redirect{Scheme: "https", StatusCode: 301}},
		{Path: "/port", PathType: iaasclient.PathPrefix, Backends: []iaasclient.Backend{}, Redirect: &iaasclient.Redirect{Port: 8443, StatusCode: 308}},
	}
	spec := dataplane.LoadBalancerSpec{LoadBalancerID: "lb-l7e", VIP: vip, Listeners: []iaasclient.Listener{{
		ListenerID: "l-http", ListenerSpec: iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolHTTP, Port: 80, Rules: rules}}}}
	if err := m.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	c := nsClient(cl, nil, false)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	do := func(path string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+vip+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "a.example.com"
		req.Header = http.Header{"X-Drop": {"1"}, "X-Set": {"old", "older"}, "X-Add": {"one"}, "X-Keep": {"k"}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	seen := func(path string) http.Header {
		t.Helper()
		resp := do(path)
		defer resp.Body.Close()
		var h http.Header
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d, %v", path, resp.StatusCode, err)
		}
		return h
	}

	edited := seen("/edit/x")
	for name, want := range map[string][]string{"X-Drop": nil, "X-Set": {"new"}, "X-Add": {"one", "two"}, "X-Fresh": {"f"}, "X-Keep": {"k"}} {
		if got := edited.Values(name); !slices.Equal(got, want) {
			t.Errorf("edited request: %s = %q, want %q", name, got, want)
		}
	}
	plain := seen("/plain")
	for name, want := range map[string][]string{"X-Drop": {"1"}, "X-Set": {"old", "older"}, "X-Add": {"one"}, "X-Fresh": nil} {
		if got := plain.Values(name); !slices.Equal(got, want) {
			t.Errorf("request of a rule without edits: %s = %q, want %q", name, got, want)
		}
	}

	for _, tc := range []struct {
		path, location string
		status         int
	}{
		{"/moved/a?q=1", "http://example.org/moved/a?q=1", 302},
		{"/secure", "https://a.example.com/secure", 301},
		{"/port/p", "http://a.example.com:8443/port/p", 308},
	} {
		resp := do(tc.path)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s: %d Location %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
		}
	}
}
