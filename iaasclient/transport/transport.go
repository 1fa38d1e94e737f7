package transport

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Options of New.
type Options struct {
	// TLS is the client TLS configuration; nil for plain http.
	TLS *tls.Config
	// LocalAddr is the source IP of every connection; "" lets the kernel choose.
	LocalAddr string
	// DialTimeout bounds a TCP connect; 0 means 5s.
	DialTimeout time.Duration
}

// New returns an http.Transport for one IaaS endpoint. Connections are kept alive and
// reused, because every call is a small request to the same host.
func New(o Options) (*http.Transport, error) {
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	if d.Timeout == 0 {
		d.Timeout = 5 * time.Second
	}
	if o.LocalAddr != "" {
		ip, err := netip.ParseAddr(o.LocalAddr)
		if err != nil {
			return nil, fmt.Errorf("localAddr: %q is not an IP address", o.LocalAddr)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip.AsSlice()}
	}
	return &http.Transport{
		// No proxy: the IaaS identifies the caller by the TCP peer address, which a
		// proxy would replace with its own.
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       o.TLS,
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     o.TLS != nil,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}, nil
}
