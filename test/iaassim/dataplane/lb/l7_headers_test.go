package lb_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
)

// Header matches on an HTTP listener, over real sockets in network namespaces: every
// header of a rule must match (name case-insensitive, value exact, one of several
// values or all of them joined by ","), a rule with more header matches wins over one
// with fewer on the same host and path, a longer path still wins over more headers,
// "Host" matches the request's host, and a request that matches no header rule falls
// to the rule without headers, or to 404 where there is none. A fixed-status rule
// answers its status. A "*." host matches one label, or one or more with
// wildcardSpansLabels (the Gateway API's hostnames), and the longer wildcard wins.
func TestLoadBalancerL7HeaderMatches(t *testing.T) {
	b := dptest.Backend(t, "l7h", "172.30.17.0/24")
	m := newManager(t, b.Config().Bridge, "172.31.17.0/24", "172.31.18.0/24", false)
	ctx := context.Background()
	nsA, ipA := dptest.Instance(t, b, "a")
	cl, _ := dptest.Instance(t, b, "client")
	for port, name := range map[string]string{":8080": "plain", ":8081": "v2", ":8082": "v2-canary", ":8083": "deep", ":8084": "byhost", ":8085": "list", ":8086": "wild1", ":8087": "wildN", ":8088": "wildB"} {
		serveWho(t, nsA, port, name, nil)
	}
	to := func(port int) []iaasclient.Backend {
		return []iaasclient.Backend{{IP: ipA.String(), Port: port}}
	}
	vip, err := m.AllocateVIP(iaasclient.LoadBalancerInternal, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rules := []iaasclient.L7Rule{
		{Host: "a.example.com", Path: "/", PathType: iaasclient.PathPrefix, Backends: to(8080)},
		// Given before the rule with more headers: the data plane must still try that one first.
		{Host: "a.example.com", Path: "/", PathType: iaasclient.PathPrefix, Backends: to(8081),
			Headers: []iaasclient.HeaderMatch{{Name: "version", Value: "two"}}},
		{Host: "a.example.com", Path: "/", PathType: iaasclient.PathPrefix, Backends: to(8082),
			Headers: []iaasclient.HeaderMatch{{Name: "Version", Value: "two"}, {Name: "X-Canary", Value: "yes"}}},
		{Host: "a.example.com", Path: "/", PathType: iaasclient.PathPrefix, Backends: to(8085),
			Headers: []iaasclient.HeaderMatch{{Name: "X-List", Value: "a,b"}}},
		{Host: "a.example.com", Path: "/broken", PathType: iaasclient.PathPrefix, FixedStatus: 500, Backends: []iaasclient.Backend{}},
		{Host: "a.example.com", Path: "/deep", PathType: iaasclient.PathPrefix, Backends: to(8083)},
		{Host: "", Path: "/", PathType: iaasclient.PathPrefix, Backends: to(8084),
			Headers: []iaasclient.HeaderMatch{{Name: "host", Value: "b.example.com"}}},
		{Host: "*.one.test", Path: "/", PathType: iaasclient.PathPrefix, Backends: to(8086)},
		{Host: "*.deep.test", WildcardSpansLabels: true, Path: "/", PathType: iaasclient.PathPrefix, Backends: to(8087)},
		// Given after *.deep.test: the longer wildcard must still be tried first.
		{Host: "*.b.deep.test", WildcardSpansLabels: true, Path: "/", PathType: iaasclient.PathPrefix, Backends: to(8088)},
	}
	spec := dataplane.LoadBalancerSpec{LoadBalancerID: "lb-l7h", VIP: vip, Listeners: []iaasclient.Listener{{
		ListenerID: "l-http", ListenerSpec: iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolHTTP, Port: 80, Rules: rules}}}}
	if err := m.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	c := nsClient(cl, nil, false)
	for _, tc := range []struct {
		name, host, path string
		headers          http.Header
		status           int
		want             string // first word of the answer: which backend
	}{
		{"no headers", "a.example.com", "/", nil, 200, "plain"},
		{"one header", "a.example.com", "/x", http.Header{"Version": {"two"}}, 200, "v2"},
		{"value is case-sensitive", "a.example.com", "/", http.Header{"Version": {"Two"}}, 200, "plain"},
		{"both headers: the rule with more wins", "a.example.com", "/", http.Header{"Version": {"two"}, "X-Canary": {"yes"}}, 200, "v2-canary"},
		{"one of two values", "a.example.com", "/", http.Header{"Version": {"one", "two"}}, 200, "v2"},
		{"values joined by a comma", "a.example.com", "/", http.Header{"X-List": {"a", "b"}}, 200, "list"},
		{"a header split is not a value", "a.example.com", "/", http.Header{"Version": {"two"}, "X-Canary": {"y", "es"}}, 200, "v2"},
		{"longer path beats more headers", "a.example.com", "/deep", http.Header{"Version": {"two"}, "X-Canary": {"yes"}}, 200, "deep"},
		{"Host as a header match", "b.example.com", "/", nil, 200, "byhost"},
		{"a fixed-status rule answers its status", "a.example.com", "/broken/x", nil, 500, ""},
		{"one-label wildcard", "x.one.test", "/", nil, 200, "wild1"},
		{"one-label wildcard, two labels", "x.y.one.test", "/", nil, 404, ""},
		{"spanning wildcard, one label", "x.deep.test", "/", nil, 200, "wildN"},
		{"spanning wildcard, two labels", "x.y.deep.test", "/", nil, 200, "wildN"},
		{"longer spanning wildcard wins", "x.y.b.deep.test", "/", nil, 200, "wildB"},
		{"a wildcard needs a label", "deep.test", "/", nil, 404, ""},
		{"no rule matches", "c.example.com", "/", http.Header{"Version": {"two"}}, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://"+vip+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			req.Header = tc.headers
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tc.status)
			}
			if tc.want != "" && firstWord(body) != tc.want {
				t.Fatalf("answered by %q (%q), want %q", firstWord(body), body, tc.want)
			}
		})
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}
