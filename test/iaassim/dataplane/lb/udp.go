package lb

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// udpSession is one client address's flow: a connected socket to the chosen backend,
// whose answers go back to the client from the VIP socket.
type udpSession struct {
	up      *net.UDPConn
	backend string       // backend key, to move the flow when it turns unhealthy
	last    atomic.Int64 // unix nanos of the last datagram from the client
}

func (s *udpSession) Close() error { return s.up.Close() }

// startUDP serves a UDP listener: a session per client address, sticky to its backend
// until idle for idleTimeout.
func (l *listener) startUDP(vip netip.Addr, idleTimeout time.Duration) error {
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, uint16(l.port))))
	if err != nil {
		return err
	}
	l.run(pc, func() { l.serveUDP(pc, idleTimeout) })
	return nil
}

func (l *listener) serveUDP(pc *net.UDPConn, idleTimeout time.Duration) {
	var mu sync.Mutex
	sessions := map[netip.AddrPort]*udpSession{}
	buf := make([]byte, 65535)
	for {
		n, client, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		cfg := l.cfg.Load()
		if !cfg.allowed(client.Addr()) {
			continue
		}
		mu.Lock()
		s := sessions[client]
		mu.Unlock()
		if s != nil && !l.usable(cfg, s.backend) {
			// The flow's backend turned unhealthy or was removed: a client that keeps
			// its source port (DNS resolvers do) must not stay pinned to it.
			s.up.Close()
			mu.Lock()
			if sessions[client] == s {
				delete(sessions, client)
			}
			mu.Unlock()
			s = nil
		}
		if s == nil {
			s = l.newUDPSession(cfg, pc, client, idleTimeout, func(gone *udpSession) {
				mu.Lock()
				if sessions[client] == gone {
					delete(sessions, client)
				}
				mu.Unlock()
			})
			if s == nil {
				continue // no healthy backend: dropped
			}
			mu.Lock()
			sessions[client] = s
			mu.Unlock()
		}
		s.last.Store(time.Now().UnixNano())
		s.up.Write(buf[:n])
	}
}

// usable reports whether backend key is still configured and healthy.
func (l *listener) usable(cfg *listenerConfig, key string) bool {
	if !l.health.healthy(key) {
		return false
	}
	for _, b := range cfg.backends {
		if b.key == key {
			return true
		}
	}
	return false
}

func (l *listener) newUDPSession(cfg *listenerConfig, pc *net.UDPConn, client netip.AddrPort, idle time.Duration, gone func(*udpSession)) *udpSession {
	b, ok := l.pick(cfg, client.Addr(), nil)
	if !ok {
		return nil
	}
	up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(b.addr))
	if err != nil {
		klog.V(2).InfoS("UDP backend unusable", "loadBalancer", l.lbID, "listener", l.id, "backend", b.key, "err", err)
		return nil
	}
	s := &udpSession{up: up, backend: b.key}
	s.last.Store(time.Now().UnixNano())
	if !l.track(s) {
		up.Close()
		return nil
	}
	go func() {
		defer func() {
			up.Close()
			l.untrack(s)
			gone(s)
		}()
		rb := make([]byte, 65535)
		for {
			up.SetReadDeadline(time.Now().Add(idle))
			n, err := up.Read(rb)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, s.last.Load())) < idle {
					continue // the client is still sending
				}
				if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ICMP port unreachable and the like: keep the session
			}
			pc.WriteToUDPAddrPort(rb[:n], client)
		}
	}()
	return s
}
