package lb

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
)

// l7Config is the parsed routing table of an HTTP or HTTPS listener.
type l7Config struct {
	rules []l7Rule         // most specific first
	def   l7Rule           // the listener's own backends, for requests no rule matches
	cert  *tls.Certificate // HTTPS
}

type l7Rule struct {
	host     string // "" any, "*.x" wildcard, else exact
	deep     bool   // the wildcard matches one or more labels
	path     string
	exact    bool
	headers  []iaasclient.HeaderMatch // names canonical (textproto)
	backends []backend
	fixed    int                  // status answered without forwarding; 0: forward to backends
	redirect *iaasclient.Redirect // answered without forwarding
	edits    *iaasclient.HeaderEdits
}

// hostRank orders hosts by specificity: exact, wildcard, any.
func hostRank(h string) int {
	switch {
	case h == "":
		return 2
	case strings.HasPrefix(h, "*."):
		return 1
	}
	return 0
}

// parseL7 builds the routing table; c.backends becomes every backend of every group
// (deduplicated by health key), so the listener's health checker and BackendStatus cover
// them all.
func (c *listenerConfig) parseL7() error {
	l7 := &l7Config{def: l7Rule{backends: c.backends}}
	seen := map[string]bool{}
	for _, b := range c.backends {
		seen[b.key] = true
	}
	for i, r := range c.spec.Rules {
		var hp *healthParams
		if r.HealthCheck != nil {
			p := c.health
			p.enabled = true
			if err := p.apply(r.HealthCheck); err != nil {
				return fmt.Errorf("rule %d: %w", i, err)
			}
			hp = &p
		}
		bs, err := parseBackends(r.Backends, hp)
		if err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
		if hp != nil {
			// A group with its own check has its own health state: the same node:port
			// may be sick for one group's HTTP path and fine for another's.
			for j := range bs {
				bs[j].key = fmt.Sprintf("rule%d/%s", i, bs[j].addr)
			}
		}
		if !strings.HasPrefix(r.Path, "/") {
			return fmt.Errorf("rule %d: path %q does not start with /", i, r.Path)
		}
		hs := make([]iaasclient.HeaderMatch, len(r.Headers))
		for j, h := range r.Headers {
			hs[j] = iaasclient.HeaderMatch{Name: textproto.CanonicalMIMEHeaderKey(h.Name), Value: h.Value}
		}
		l7.rules = append(l7.rules, l7Rule{host: strings.ToLower(r.Host), deep: r.WildcardSpansLabels, path: r.Path, exact: r.PathType == iaasclient.PathExact, headers: hs, backends: bs, fixed: r.FixedStatus,
			redirect: r.Redirect, edits: r.RequestHeaders})
		for _, b := range bs {
			if !seen[b.key] {
				seen[b.key] = true
				c.backends = append(c.backends, b)
			}
		}
	}
	sort.SliceStable(l7.rules, func(i, j int) bool {
		a, b := l7.rules[i], l7.rules[j]
		if ra, rb := hostRank(a.host), hostRank(b.host); ra != rb {
			return ra < rb
		}
		if len(a.host) != len(b.host) {
			return len(a.host) > len(b.host) // *.b.example.com before *.example.com
		}
		if a.exact != b.exact {
			return a.exact
		}
		if len(a.path) != len(b.path) {
			return len(a.path) > len(b.path)
		}
		return len(a.headers) > len(b.headers)
	})
	c.l7 = l7
	// An HTTP listener's backends answer HTTP: no check given means a TCP connect, as
	// for TCP listeners.
	c.health.enabled = true
	return nil
}

// setCert loads the HTTPS listener's certificate from the load balancer's spec.
func (c *listenerConfig) setCert(certs map[string]dataplane.Certificate) error {
	if c.l7 == nil || c.spec.Protocol != iaasclient.ProtocolHTTPS {
		return nil
	}
	pem, ok := certs[c.spec.CertificateID]
	if !ok {
		return fmt.Errorf("certificate %q is not available", c.spec.CertificateID)
	}
	cert, err := tls.X509KeyPair(pem.CertPEM, pem.KeyPEM)
	if err != nil {
		return fmt.Errorf("certificate %q: %w", c.spec.CertificateID, err)
	}
	c.l7.cert = &cert
	return nil
}

// route returns the rule for the request's host, path and headers (the listener's
// own backends when no rule matches but it has some); ok is false when nothing matches.
func (t *l7Config) route(req *http.Request) (rule *l7Rule, ok bool) {
	host, path := req.Host, req.URL.Path
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for i := range t.rules {
		r := &t.rules[i]
		if !hostMatches(r.host, r.deep, host) || !pathMatches(*r, path) || !headersMatch(r.headers, req) {
			continue
		}
		return r, true
	}
	if len(t.def.backends) > 0 {
		return &t.def, true
	}
	return nil, false
}

func hostMatches(rule string, deep bool, host string) bool {
	switch {
	case rule == "":
		return true
	case strings.HasPrefix(rule, "*.") && deep:
		return len(host) > len(rule)-1 && strings.HasSuffix(host, rule[1:])
	case strings.HasPrefix(rule, "*."):
		// One label: *.example.com matches a.example.com, not a.b.example.com.
		i := strings.IndexByte(host, '.')
		return i > 0 && host[i:] == rule[1:]
	}
	return rule == host
}

func pathMatches(r l7Rule, path string) bool {
	if r.exact {
		return path == r.path
	}
	p := strings.TrimSuffix(r.path, "/")
	return p == "" || path == p || strings.HasPrefix(path, p+"/")
}

func headersMatch(want []iaasclient.HeaderMatch, req *http.Request) bool {
	for _, h := range want {
		var got []string
		if h.Name == "Host" {
			got = []string{req.Host} // net/http moves Host out of the header map
		} else {
			got = req.Header[h.Name]
		}
		if !slices.Contains(got, h.Value) && (len(got) < 2 || strings.Join(got, ",") != h.Value) {
			return false
		}
	}
	return true
}

// pickFrom chooses a healthy backend of group by weight.
func (l *listener) pickFrom(group []backend) (backend, bool) {
	total := 0
	for _, b := range group {
		if l.health.healthy(b.key) {
			total += b.weight
		}
	}
	if total == 0 {
		return backend{}, false
	}
	n := rand.IntN(total)
	for _, b := range group {
		if !l.health.healthy(b.key) {
			continue
		}
		if n < b.weight {
			return b, true
		}
		n -= b.weight
	}
	return backend{}, false
}

// ctxKey carries the chosen backend from the handler to the proxy's Rewrite.
type ctxKey struct{}

// startHTTP serves an HTTP or HTTPS listener on vip:port: HTTP/1.1 with keep-alive and
// HTTP/2 (over TLS by ALPN; in clear text with prior knowledge), each request proxied
// to a backend of the group its host and path select, with X-Forwarded-For, -Host and
// -Proto set. The configuration is read per request, so a change of rules or backends
// applies to the next request on an open connection.
func (l *listener) startHTTP(vip netip.Addr, dialTimeout time.Duration) error {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(vip, uint16(l.port))))
	if err != nil {
		return err
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	conns := newBackendConns(dialTimeout)
	// Upgrades (WebSocket) take the client connection over: the reverse proxy does that.
	proxy := &httputil.ReverseProxy{
		Transport:  transport,
		BufferPool: copyBuffers,
		Rewrite: func(r *httputil.ProxyRequest) {
			b := r.In.Context().Value(ctxKey{}).(backend)
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = b.addr.String()
			r.Out.Host = r.In.Host // backends route by the client's Host
			r.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			klog.V(2).InfoS("Backend request failed", "loadBalancer", l.lbID, "listener", l.id, "err", err)
			http.Error(w, "bad gateway: the backend did not answer", http.StatusBadGateway)
		},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := l.cfg.Load()
		client, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !cfg.allowed(client.Addr()) {
			http.Error(w, "forbidden: client outside the listener's source ranges", http.StatusForbidden)
			return
		}
		rule, ok := cfg.l7.route(r)
		switch {
		case !ok:
			http.Error(w, "not found: no rule of this load balancer matches", http.StatusNotFound)
			return
		case rule.fixed > 0:
			http.Error(w, http.StatusText(rule.fixed), rule.fixed)
			return
		case rule.redirect != nil:
			http.Redirect(w, r, redirectURL(rule.redirect, r, l.proto, l.port), rule.redirect.StatusCode)
			return
		}
		editHeaders(r.Header, rule.edits)
		b, ok := l.pickFrom(rule.backends)
		if !ok {
			http.Error(w, "service unavailable: no healthy backend", http.StatusServiceUnavailable)
			return
		}
		if isUpgrade(r) {
			proxy.ServeHTTP(w, r.WithContext(contextWith(r, b)))
			return
		}
		l.forward(w, r, b.addr, conns)
	})
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: handler, Protocols: &protos, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	serve := func() error { return srv.Serve(ln) }
	if l.proto == iaasclient.ProtocolHTTPS {
		srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The certificate is read per handshake: a new certificate id applies to
			// new connections without a restart of the socket.
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return l.cfg.Load().l7.cert, nil
			},
		}
		serve = func() error { return srv.ServeTLS(ln, "", "") } // ALPN h2 and http/1.1
	}
	l.run(closerFunc(func() error { transport.CloseIdleConnections(); conns.close(); return srv.Close() }), func() {
		if err := serve(); err != nil && err != http.ErrServerClosed {
			klog.ErrorS(err, "HTTP listener stopped", "loadBalancer", l.lbID, "listener", l.id)
		}
	})
	return nil
}

// copyBuffers recycles the body copy buffers of every L7 listener: without a pool the
// reverse proxy allocates 32 KiB per request, and the garbage collection that costs
// showed in profiles of small requests at 64 connections.
var copyBuffers = &bufferPool{}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

func contextWith(r *http.Request, b backend) context.Context {
	return context.WithValue(r.Context(), ctxKey{}, b)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
