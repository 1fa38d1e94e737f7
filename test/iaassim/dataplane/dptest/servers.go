package dptest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/netns"
)

// Listen opens a listener inside the namespace ns (the socket keeps the namespace).
func Listen(t testing.TB, ns, network, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	err := netns.Do(ns, func() (err error) { l, err = net.Listen(network, addr); return })
	if err != nil {
		t.Fatalf("listen %s %s in %s: %v", network, addr, ns, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// HTTPServer serves an HTTP server inside ns on addr that answers every request with
// body; /healthz answers 200 too.
func HTTPServer(t testing.TB, ns, addr, body string) *http.Server {
	t.Helper()
	l := Listen(t, ns, "tcp", addr)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// UDPEcho answers every datagram received inside ns on addr with prefix+datagram.
func UDPEcho(t testing.TB, ns, addr, prefix string) net.PacketConn {
	t.Helper()
	var pc net.PacketConn
	err := netns.Do(ns, func() (err error) { pc, err = net.ListenPacket("udp", addr); return })
	if err != nil {
		t.Fatalf("listen udp %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte(prefix), buf[:n]...), from)
		}
	}()
	return pc
}

// Dial connects from inside ns (from local, "ip" or "ip:port", when not empty) to addr;
// ns "" is the host's namespace.
func Dial(ns, network, local, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	do := netns.Do
	if ns == "" {
		do = func(_ string, f func() error) error { return f() }
	}
	err := do(ns, func() (err error) {
		d := net.Dialer{Timeout: timeout}
		if local != "" {
			ip, port := local, 0
			if ap, err := netip.ParseAddrPort(local); err == nil { // "ip:port"
				ip, port = ap.Addr().String(), int(ap.Port())
			}
			switch network {
			case "udp":
				d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
			default:
				d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip), Port: port}
			}
		}
		c, err = d.Dial(network, addr)
		return
	})
	return c, err
}

// HTTPGet makes one request from inside ns to url on a fresh connection and returns the
// body.
func HTTPGet(ns, url string, timeout time.Duration) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: nil}
	tr.Dial = func(network, addr string) (net.Conn, error) { return Dial(ns, network, "", addr, timeout) }
	cl := &http.Client{Transport: tr, Timeout: timeout}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

// UDPRoundTrip sends msg from inside ns to addr and waits for one answer.
func UDPRoundTrip(ns, addr, msg string, timeout time.Duration) (string, error) {
	return UDPRoundTripFrom(ns, "", addr, msg, timeout)
}

// UDPRoundTripFrom is UDPRoundTrip from the local address local ("ip:port" keeps a
// source port across calls, as a DNS resolver does).
func UDPRoundTripFrom(ns, local, addr, msg string, timeout time.Duration) (string, error) {
	c, err := Dial(ns, "udp", local, addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// Eventually retries f every 100ms until it returns nil or d passes.
func Eventually(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ErrUnexpectedSuccess is returned by checks that expect a failure.
var ErrUnexpectedSuccess = errors.New("unexpectedly succeeded")
