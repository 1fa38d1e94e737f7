package lb

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// health keeps the active health-check results of one listener's backends.
//
// A backend nobody has checked yet counts as healthy (so a new listener serves at once);
// the first result then decides, and after that it takes HealthyThreshold successes or
// UnhealthyThreshold failures in a row to flip. Connections that fail to reach a
// backend are retried on another one, so the optimistic start costs no client request.
//
// A backend that has never passed a check is warming up: typically a NodePort that
// kube-proxy has not programmed yet when the load balancer is created. It is checked
// every warmupInterval and its first success makes it healthy at once, so a new Service
// answers within a second of its backends being ready instead of after interval ×
// HealthyThreshold. Once it has been healthy, the thresholds guard against flapping.
// Warming up ends after warmupWindow even without a success: a backend that never
// passes (a node without endpoints of an externalTrafficPolicy=Local Service, most of
// a large cluster's nodes) is then checked at the configured interval like any other.
type health struct {
	mu    sync.Mutex
	state map[string]*hstate
	now   func() time.Time
}

type hstate struct {
	known, healthy bool
	everHealthy    bool
	okRun, failRun int
	firstChecked   time.Time
}

const (
	// warmupInterval is how often a backend that has never passed a check is probed.
	warmupInterval = 250 * time.Millisecond
	// warmupWindow bounds that: kube-proxy programs a new NodePort within seconds.
	warmupWindow = 30 * time.Second
)

func newHealth() *health { return &health{state: map[string]*hstate{}, now: time.Now} }

func (h *health) healthy(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.state[key]
	return !ok || !s.known || s.healthy
}

// record applies one check result and reports a change of state.
func (h *health) record(key string, ok bool, p healthParams) (changed, now bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.state[key]
	if s == nil {
		s = &hstate{firstChecked: h.now()}
		h.state[key] = s
	}
	if ok {
		s.okRun++
		s.failRun = 0
	} else {
		s.failRun++
		s.okRun = 0
	}
	prev := s.healthy
	switch {
	case !s.known:
		s.known, s.healthy = true, ok
		s.everHealthy = ok
		return !ok, s.healthy
	case !s.healthy && ok && !s.everHealthy:
		s.healthy, s.everHealthy = true, true
	case !s.healthy && s.okRun >= p.healthy:
		s.healthy = true
	case s.healthy && s.failRun >= p.unhealthy:
		s.healthy = false
	}
	return prev != s.healthy, s.healthy
}

// warming reports whether a backend has been checked, has never passed, and was first
// checked less than warmupWindow ago.
func (h *health) warming() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	for _, s := range h.state {
		if s.known && !s.everHealthy && now.Sub(s.firstChecked) < warmupWindow {
			return true
		}
	}
	return false
}

// forget drops state of backends no longer configured.
func (h *health) forget(keep map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.state {
		if !keep[k] {
			delete(h.state, k)
		}
	}
}

// runHealth checks every backend of the listener's current configuration each interval
// until ctx ends; kick runs a round at once (after a configuration change).
func (l *listener) runHealth(ctx context.Context, kick <-chan struct{}) {
	for {
		cfg := l.cfg.Load()
		if cfg.health.enabled {
			l.checkRound(ctx, cfg)
		}
		keep := map[string]bool{}
		for _, b := range cfg.backends {
			keep[b.key] = true
		}
		l.health.forget(keep)
		next := cfg.health.interval
		if cfg.health.enabled && l.health.warming() {
			next = min(next, warmupInterval)
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-kick:
			t.Stop()
		case <-t.C:
		}
	}
}

func (l *listener) checkRound(ctx context.Context, cfg *listenerConfig) {
	var wg sync.WaitGroup
	for _, b := range cfg.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := cfg.health
			if b.hp != nil {
				p = *b.hp
			}
			err := probe(ctx, p, b)
			if ctx.Err() != nil {
				return
			}
			if changed, now := l.health.record(b.key, err == nil, p); changed {
				klog.InfoS("Backend health changed", "loadBalancer", l.lbID, "listener", l.id,
					"backend", b.key, "healthy", now, "err", err)
				if l.onChange != nil {
					l.onChange(b.key, now)
				}
			}
		}()
	}
	wg.Wait()
}

// probe is one TCP connect or HTTP GET (2xx/3xx is healthy) with the check's timeout.
func probe(ctx context.Context, p healthParams, b backend) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	port := int(b.addr.Port())
	if p.port != 0 {
		port = p.port
	}
	target := net.JoinHostPort(b.addr.Addr().String(), strconv.Itoa(port))
	if !p.http {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return err
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+p.path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-iaas-lb-health/1")
	resp, err := healthClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// healthClient does not follow redirects (a 3xx is an answer) nor keep connections (each
// check must prove the backend accepts a new one).
var healthClient = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
