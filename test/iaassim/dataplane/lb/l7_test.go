package lb_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// serveWho answers "name path xff proto host" and /healthz 200 (or 500 while sick).
func serveWho(t *testing.T, ns, addr, name string, sick *atomic.Bool) {
	l := dptest.Listen(t, ns, "tcp", addr)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && sick != nil && sick.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s %s %s %s", name, r.URL.Path, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Host)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// nsClient is an HTTP client whose connections start inside ns (kept alive).
func nsClient(ns string, tlsCfg *tls.Config, h2c bool) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dptest.Dial(ns, network, "", addr, 3*time.Second)
		},
		TLSClientConfig:   tlsCfg,
		ForceAttemptHTTP2: tlsCfg != nil,
	}
	if h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

type answer struct {
	status int
	body   string
	proto  int
	peer   []byte // the TLS leaf the LB presented
}

func get(t *testing.T, c *http.Client, url, host string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: string(b), proto: resp.ProtoMajor}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		a.peer = resp.TLS.PeerCertificates[0].Raw
	}
	return a
}

// An HTTP and an HTTPS listener on one VIP with host and path rules to two backend
// groups, over real sockets in network namespaces: routing by host (exact, wildcard)
// and path (prefix by element, exact, longest wins), the default group, 404 without
// one, X-Forwarded-* headers, keep-alive, HTTP/2 over TLS and in clear text, the
// uploaded certificate, a per-group health check that drops a sick backend, and a
// backend change applied to an open connection.
func TestLoadBalancerL7(t *testing.T) {
	b := dptest.Backend(t, "l7", "172.30.13.0/24")
	m := newManager(t, b.Config().Bridge, "172.31.13.0/24", "172.31.14.0/24", false)
	ctx := context.Background()
	nsA, ipA := dptest.Instance(t, b, "a")
	nsB, ipB := dptest.Instance(t, b, "b")
	cl, clIP := dptest.Instance(t, b, "client")
	var sick atomic.Bool
	serveWho(t, nsA, ":8080", "a", nil)
	serveWho(t, nsB, ":8080", "b", &sick)
	serveWho(t, nsB, ":8081", "b2", nil)
	be := func(ip netip.Addr, port int) iaasclient.Backend {
		return iaasclient.Backend{IP: ip.String(), Port: port}
	}

	vip, err := m.AllocateVIP(iaasclient.LoadBalancerInternal, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	groupB := []iaasclient.Backend{be(ipB, 8080)}
	rules := []iaasclient.L7Rule{
		{Host: "a.example.com", Path: "/", PathType: iaasclient.PathPrefix, Backends: []iaasclient.Backend{be(ipA, 8080)}},
		{Host: "a.example.com", Path: "/b", PathType: iaasclient.PathPrefix, Backends: groupB, HealthCheck: fastHTTPCheck()},
		{Host: "a.example.com", Path: "/exact", PathType: iaasclient.PathExact, Backends: groupB},
		{Host: "*.wild.example.com", Path: "/", PathType: iaasclient.PathPrefix, Backends: groupB},
	}
	web := iaasclient.Listener{ListenerID: "l-http", ListenerSpec: iaasclient.ListenerSpec{
		Protocol: iaasclient.ProtocolHTTP, Port: 80, Rules: rules}}
	cert := testutil.SelfSigned(t, "secure.example.com")
	certPEM, keyPEM := cert.PEM(t)
	secure := iaasclient.Listener{ListenerID: "l-https", ListenerSpec: iaasclient.ListenerSpec{
		Protocol: iaasclient.ProtocolHTTPS, Port: 443, CertificateID: "cert-1", Rules: rules,
		Backends: []iaasclient.Backend{be(ipA, 8080)}}}
	spec := dataplane.LoadBalancerSpec{LoadBalancerID: "lb-l7", VIP: vip, Listeners: []iaasclient.Listener{web, secure},
		Certificates: map[string]dataplane.Certificate{"cert-1": {CertPEM: certPEM, KeyPEM: keyPEM}}}
	if err := m.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(ctx, spec); err != nil { // idempotent
		t.Fatal(err)
	}
	c := nsClient(cl, nil, false)
	base := "http://" + vip

	t.Run("routes", func(t *testing.T) {
		for _, tc := range []struct{ host, path, want string }{
			{"a.example.com", "/", "a /"},
			{"A.example.com:80", "/x/y", "a /x/y"},
			{"a.example.com", "/b", "b /b"},
			{"a.example.com", "/b/c", "b /b/c"},
			{"a.example.com", "/bc", "a /bc"}, // prefix matches whole elements
			{"a.example.com", "/exact", "b /exact"},
			{"a.example.com", "/exact/more", "a /exact/more"},
			{"x.wild.example.com", "/q", "b /q"},
		} {
			a := get(t, c, base+tc.path, tc.host)
			if a.status != http.StatusOK || !strings.HasPrefix(a.body, tc.want+" ") {
				t.Errorf("Host %s path %s: %d %q, want %q", tc.host, tc.path, a.status, a.body, tc.want)
			}
		}
		// No rule and no default group: 404 from the LB. A wildcard covers one label.
		for _, host := range []string{"other.example.com", "x.y.wild.example.com"} {
			if a := get(t, c, base+"/", host); a.status != http.StatusNotFound {
				t.Errorf("Host %s: %d %q, want 404", host, a.status, a.body)
			}
		}
	})
	t.Run("forwarded headers", func(t *testing.T) {
		a := get(t, c, base+"/", "a.example.com")
		want := fmt.Sprintf("a / %s http a.example.com", clIP)
		if a.body != want {
			t.Fatalf("got %q, want %q", a.body, want)
		}
	})
	t.Run("https and http2", func(t *testing.T) {
		tc := nsClient(cl, &tls.Config{InsecureSkipVerify: true}, false) // the leaf is compared below
		a := get(t, tc, "https://"+vip+"/b", "a.example.com")
		want := fmt.Sprintf("b /b %s https a.example.com", clIP)
		if a.status != http.StatusOK || a.body != want || a.proto != 2 {
			t.Fatalf("got %d HTTP/%d %q, want 200 HTTP/2 %q", a.status, a.proto, a.body, want)
		}
		if string(a.peer) != string(cert.DER) {
			t.Fatal("the HTTPS listener did not present the uploaded certificate")
		}
		// The default group takes hosts without a rule.
		if a := get(t, tc, "https://"+vip+"/", "nobody.example.com"); a.status != http.StatusOK || !strings.HasPrefix(a.body, "a / ") {
			t.Fatalf("default group: %d %q", a.status, a.body)
		}
		// HTTP/2 in clear text (prior knowledge) on the HTTP listener.
		if a := get(t, nsClient(cl, nil, true), base+"/", "a.example.com"); a.status != http.StatusOK || a.proto != 2 {
			t.Fatalf("h2c: %d HTTP/%d %q", a.status, a.proto, a.body)
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		var conns atomic.Int32
		kc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conns.Add(1)
			return dptest.Dial(cl, network, "", addr, 3*time.Second)
		}}}
		for range 20 {
			if a := get(t, kc, base+"/", "a.example.com"); a.status != http.StatusOK {
				t.Fatalf("%d %q", a.status, a.body)
			}
		}
		if conns.Load() != 1 {
			t.Fatalf("20 requests used %d connections, want 1", conns.Load())
		}
	})
	t.Run("group health check", func(t *testing.T) {
		sick.Store(true)
		dptest.Eventually(t, 10*time.Second, "sick backend leaves its group", func() error {
			if a := get(t, c, base+"/b", "a.example.com"); a.status != http.StatusServiceUnavailable {
				return fmt.Errorf("%d %q", a.status, a.body)
			}
			return nil
		})
		// The backend is only sick by its group's HTTP check: the other groups, checked
		// by TCP connect, keep it.
		if a := get(t, c, base+"/exact", "a.example.com"); a.status != http.StatusOK {
			t.Fatalf("TCP-checked group: %d %q", a.status, a.body)
		}
		sick.Store(false)
		dptest.Eventually(t, 10*time.Second, "backend back in its group", func() error {
			if a := get(t, c, base+"/b", "a.example.com"); a.status != http.StatusOK {
				return fmt.Errorf("%d %q", a.status, a.body)
			}
			return nil
		})
	})
	t.Run("backend change on an open connection", func(t *testing.T) {
		kc := nsClient(cl, nil, false)
		if a := get(t, kc, base+"/exact", "a.example.com"); !strings.HasPrefix(a.body, "b ") {
			t.Fatalf("before: %q", a.body)
		}
		changed := spec
		changed.Listeners = []iaasclient.Listener{web, secure}
		r := append([]iaasclient.L7Rule(nil), rules...)
		r[2].Backends = []iaasclient.Backend{be(ipB, 8081)}
		changed.Listeners[0].Rules = r
		if err := m.Apply(ctx, changed); err != nil {
			t.Fatal(err)
		}
		if a := get(t, kc, base+"/exact", "a.example.com"); !strings.HasPrefix(a.body, "b2 ") {
			t.Fatalf("after: %q", a.body)
		}
	})
	t.Run("bad certificate", func(t *testing.T) {
		bad := spec
		bad.Certificates = map[string]dataplane.Certificate{"cert-1": {CertPEM: []byte("junk"), KeyPEM: keyPEM}}
		if err := m.Apply(ctx, bad); err == nil {
			t.Fatal("Apply took a junk certificate")
		}
		missing := spec
		missing.Certificates = nil
		if err := m.Apply(ctx, missing); err == nil {
			t.Fatal("Apply took an HTTPS listener without its certificate")
		}
	})
	t.Run("remove", func(t *testing.T) {
		if err := m.Remove(ctx, "lb-l7"); err != nil {
			t.Fatal(err)
		}
		if _, err := dptest.HTTPGet(cl, base+"/", time.Second); err == nil {
			t.Fatal("the VIP still answers after Remove")
		}
	})
}
