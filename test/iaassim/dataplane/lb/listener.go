package lb

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// listener is one VIP:port/protocol with its live configuration, health state and open
// connections. Its socket lives as long as protocol and port stay the same.
type listener struct {
	lbID, id string
	proto    iaasclient.Protocol
	port     int
	cfg      atomic.Pointer[listenerConfig]
	health   *health
	aff      affinity

	cancel context.CancelFunc
	kick   chan struct{}
	done   sync.WaitGroup

	kernel   bool                           // served by nftables rules (nft.go), no socket
	onChange func(key string, healthy bool) // called when a backend's health flips

	closer interface{ Close() error } // the listening socket
	connMu sync.Mutex
	conns  map[interface{ Close() error }]struct{}
	closed bool
}

func newListener(lbID, id string, cfg *listenerConfig) *listener {
	l := &listener{lbID: lbID, id: id, proto: cfg.spec.Protocol, port: cfg.spec.Port,
		health: newHealth(), kick: make(chan struct{}, 1), conns: map[interface{ Close() error }]struct{}{}}
	l.cfg.Store(cfg)
	return l
}

// update swaps the configuration in place; the socket and connections stay.
func (l *listener) update(cfg *listenerConfig) {
	l.cfg.Store(cfg)
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// track registers an open connection so that closing the listener closes it; it
// reports false when the listener is already closed.
func (l *listener) track(c interface{ Close() error }) bool {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c interface{ Close() error }) {
	l.connMu.Lock()
	delete(l.conns, c)
	l.connMu.Unlock()
}

// startKernel runs only the health checks; the rules carry the traffic.
func (l *listener) startKernel() { l.run(nil, nil) }

// run starts the health checker and, when serve is set, the loop serving the listening
// socket closer; stop ends both and waits for them.
func (l *listener) run(closer interface{ Close() error }, serve func()) {
	if closer != nil {
		l.closer = closer
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done.Add(1)
	go func() { defer l.done.Done(); l.runHealth(ctx, l.kick) }()
	if serve != nil {
		l.done.Add(1)
		go func() { defer l.done.Done(); serve() }()
	}
}

// stop closes the socket, every connection and the health checker, and waits for them.
func (l *listener) stop() {
	l.connMu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = nil
	l.connMu.Unlock()
	l.cancel()
	if l.closer != nil {
		l.closer.Close()
	}
	for c := range conns {
		c.Close()
	}
	l.done.Wait()
}

func (l *listener) statuses() []iaasclient.BackendStatus {
	cfg := l.cfg.Load()
	out := make([]iaasclient.BackendStatus, 0, len(cfg.backends))
	for _, b := range cfg.backends {
		out = append(out, iaasclient.BackendStatus{IP: b.addr.Addr().String(), Port: int(b.addr.Port()), Healthy: l.health.healthy(b.key)})
	}
	return out
}
