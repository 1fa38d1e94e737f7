package lb

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// affinity remembers the backend of each client IP (session affinity CLIENT_IP).
type affinity struct {
	mu sync.Mutex
	m  map[netip.Addr]affEntry
}

type affEntry struct {
	key     string
	expires time.Time
}

func (a *affinity) get(client netip.Addr, now time.Time) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[client]
	if !ok || now.After(e.expires) {
		return "", false
	}
	return e.key, true
}

func (a *affinity) set(client netip.Addr, key string, ttl time.Duration, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[netip.Addr]affEntry{}
	}
	if len(a.m) > 4096 { // sweep expired entries now and then, bounded by use
		for k, e := range a.m {
			if now.After(e.expires) {
				delete(a.m, k)
			}
		}
	}
	a.m[client] = affEntry{key: key, expires: now.Add(ttl)}
}

// pick chooses a healthy backend for client, skipping tried ones: the client's affinity
// backend when it has one and it is healthy, else weighted random. ok is false when no
// healthy backend is left (the connection is then refused).
func (l *listener) pick(cfg *listenerConfig, client netip.Addr, tried map[string]bool) (backend, bool) {
	now := time.Now()
	if cfg.affinity {
		if key, ok := l.aff.get(client, now); ok && !tried[key] && l.health.healthy(key) {
			for _, b := range cfg.backends {
				if b.key == key {
					l.aff.set(client, key, cfg.affinityTimeout, now)
					return b, true
				}
			}
		}
	}
	total := 0
	for _, b := range cfg.backends {
		if !tried[b.key] && l.health.healthy(b.key) {
			total += b.weight
		}
	}
	if total == 0 {
		return backend{}, false
	}
	n := rand.IntN(total)
	for _, b := range cfg.backends {
		if tried[b.key] || !l.health.healthy(b.key) {
			continue
		}
		if n < b.weight {
			if cfg.affinity {
				l.aff.set(client, b.key, cfg.affinityTimeout, now)
			}
			return b, true
		}
		n -= b.weight
	}
	return backend{}, false
}
