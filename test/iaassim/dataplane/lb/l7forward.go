package lb

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// The L7 listener forwards every request but protocol upgrades itself, over kept-alive
// HTTP/1.1 connections it owns, instead of through httputil.ReverseProxy and
// http.Transport: the transport hands each request to a writer goroutine and each
// response back from a reader goroutine, and those wake-ups were most of the proxy's CPU
// per small request (test/bench/lb). Here the handler's goroutine writes the request and
// reads the answer itself.

const (
	maxIdlePerBackend = 256
	backendIdleFor    = 90 * time.Second
)

// backendConns keeps the idle connections of one listener to its backends.
type backendConns struct {
	dialer net.Dialer
	mu     sync.Mutex
	idle   map[netip.AddrPort][]*backendConn
	closed bool
}

type backendConn struct {
	net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func newBackendConns(dialTimeout time.Duration) *backendConns {
	return &backendConns{dialer: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		idle: map[netip.AddrPort][]*backendConn{}}
}

// get returns an idle connection to addr (reused true) or a new one.
func (p *backendConns) get(ctx context.Context, addr netip.AddrPort) (c *backendConn, reused bool, err error) {
	p.mu.Lock()
	for cs := p.idle[addr]; len(cs) > 0; cs = p.idle[addr] {
		c = cs[len(cs)-1]
		p.idle[addr] = cs[:len(cs)-1]
		if time.Since(c.idleSince) < backendIdleFor {
			p.mu.Unlock()
			return c, true, nil
		}
		c.Close()
	}
	p.mu.Unlock()
	conn, err := p.dialer.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, false, err
	}
	return &backendConn{Conn: conn, br: bufio.NewReaderSize(conn, 4<<10), bw: bufio.NewWriterSize(conn, 4<<10)}, false, nil
}

// put keeps c for the next request to addr, or closes it when there are enough.
func (p *backendConns) put(addr netip.AddrPort, c *backendConn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	if !p.closed && len(p.idle[addr]) < maxIdlePerBackend {
		p.idle[addr] = append(p.idle[addr], c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (p *backendConns) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.Close()
		}
	}
}

// hopHeaders are the headers of one connection (RFC 9110, 7.6.1), never forwarded.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopHeaders deletes hop-by-hop headers and those the Connection header names.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				delete(h, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// isUpgrade tells a protocol upgrade (WebSocket): the reverse proxy serves those, as it
// takes the connection over from the server.
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), "upgrade") {
				return true
			}
		}
	}
	return false
}

// outbound is r as the backend gets it: HTTP/1.1, hop-by-hop headers removed,
// X-Forwarded-For (appended to), -Host and -Proto set.
func outbound(r *http.Request, proto string) *http.Request {
	h := r.Header.Clone()
	removeHopHeaders(h)
	delete(h, "Expect") // the server answered 100 Continue when the body was read
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // else Request.Write adds Go's
	}
	if client, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			client = strings.Join(prior, ", ") + ", " + client
		}
		h["X-Forwarded-For"] = []string{client}
	}
	h["X-Forwarded-Host"] = []string{r.Host}
	h["X-Forwarded-Proto"] = []string{proto}
	u := *r.URL
	u.Scheme, u.Host = "", ""
	out := &http.Request{Method: r.Method, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: r.Host, ContentLength: r.ContentLength, Body: r.Body}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	return out
}

// forward proxies r to backend addr and writes the answer to w.
func (l *listener) forward(w http.ResponseWriter, r *http.Request, addr netip.AddrPort, conns *backendConns) {
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	bc, resp, err := send(r.Context(), outbound(r, proto), addr, conns)
	if err != nil {
		l.badGateway(w, err)
		return
	}
	reuse := false
	defer func() { // also when answer aborts the handler
		if reuse {
			conns.put(addr, bc)
		} else {
			bc.Close()
		}
	}()
	reuse = l.answer(w, resp)
}

// send writes out to addr and reads the answer's header, on a kept connection if there
// is one. A kept connection the backend closed while idle fails at once: a request
// without a body is sent again on a new one, as http.Transport does.
func send(ctx context.Context, out *http.Request, addr netip.AddrPort, conns *backendConns) (*backendConn, *http.Response, error) {
	for attempt := 0; ; attempt++ {
		bc, reused, err := conns.get(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		resp, err := roundTrip(ctx, bc, out)
		if err == nil {
			return bc, resp, nil
		}
		bc.Close()
		if !reused || out.Body != nil || attempt > 0 || ctx.Err() != nil {
			return nil, nil, err
		}
	}
}

// roundTrip writes req on bc and reads the final answer's header; the request's context
// ending (the client went away) breaks off both.
func roundTrip(ctx context.Context, bc *backendConn, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { bc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := req.Write(bc.bw); err != nil {
		return nil, err
	}
	if err := bc.bw.Flush(); err != nil {
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(bc.br, req)
		if err != nil {
			return nil, err
		}
		// Interim answers (103 Early Hints) are not passed on; 101 was not asked for.
		if resp.StatusCode >= 200 || resp.StatusCode < 100 {
			return resp, nil
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return nil, errors.New("backend switched protocols unasked")
		}
	}
}

// answer copies resp to w; true when the backend connection can serve another request.
func (l *listener) answer(w http.ResponseWriter, resp *http.Response) bool {
	defer resp.Body.Close()
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	removeHopHeaders(h)
	for k := range resp.Trailer {
		h.Add("Trailer", k)
	}
	w.WriteHeader(resp.StatusCode)
	var dst io.Writer = writerOnly{w}
	if resp.ContentLength == -1 {
		// A stream (or an answer of unknown length): each piece goes out as it comes.
		dst = flushingWriter{w, http.NewResponseController(w)}
	}
	buf := copyBuffers.Get()
	_, err := io.CopyBuffer(dst, readerOnly{resp.Body}, buf)
	copyBuffers.Put(buf)
	if err != nil {
		// Cut off mid-answer: the client must not take it for whole.
		panic(http.ErrAbortHandler)
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	return !resp.Close && (resp.ContentLength >= 0 || chunked || resp.Body == http.NoBody)
}

func (l *listener) badGateway(w http.ResponseWriter, err error) {
	klog.V(2).InfoS("Backend request failed", "loadBalancer", l.lbID, "listener", l.id, "err", err)
	http.Error(w, "bad gateway: the backend did not answer", http.StatusBadGateway)
}

// writerOnly and readerOnly hide ReadFrom and WriteTo, so that io.CopyBuffer uses the
// pooled buffer instead of allocating its own.
type writerOnly struct{ io.Writer }

type readerOnly struct{ io.Reader }

type flushingWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushingWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}
