package lb_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
)

// The L7 listener's own forwarding (every request but upgrades): request bodies of
// known and unknown length, hop-by-hop headers, kept-alive backend connections and
// their replacement when the backend closed them, streamed answers, trailers, an answer
// cut off by the backend, and a client that goes away while the backend works.
func TestLoadBalancerL7Forwarding(t *testing.T) {
	b := dptest.Backend(t, "l7f", "172.30.29.0/24")
	m := newManager(t, b.Config().Bridge, "172.31.29.0/24", "172.31.30.0/24", false)
	ns, ip := dptest.Instance(t, b, "a")
	cl, _ := dptest.Instance(t, b, "client")

	var newConns atomic.Int32
	release := make(chan struct{})
	arrived, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s len=%d te=%v body=%s x-hop=%q x-keep=%q xff=%q proto=%q conn=%q",
			r.Method, len(body), r.TransferEncoding, body, r.Header.Get("X-Hop"), r.Header.Get("X-Keep"),
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Connection"))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "second\n")
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("Connection", "X-Backend-Hop")
		w.Header().Set("X-Backend-Hop", "must not pass")
		io.WriteString(w, "payload")
		w.Header().Set("X-Sum", "42")
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "only ten b")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
		cancelled <- struct{}{}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}}
	go srv.Serve(dptest.Listen(t, ns, "tcp", ":8080"))
	t.Cleanup(func() { srv.Close() })

	vip, err := m.AllocateVIP(iaasclient.LoadBalancerInternal, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := dataplane.LoadBalancerSpec{LoadBalancerID: "lb-l7f", VIP: vip, Listeners: []iaasclient.Listener{{
		ListenerID: "l-http", ListenerSpec: iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolHTTP, Port: 80,
			Rules: []iaasclient.L7Rule{{Path: "/", PathType: iaasclient.PathPrefix, Backends: []iaasclient.Backend{{IP: ip.String(), Port: 8080}}}}}}}}
	if err := m.Apply(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	c := nsClient(cl, nil, false)
	base := "http://" + vip
	do := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: body: %v", req.Method, req.URL, err)
		}
		return resp, string(body)
	}
	newReq := func(method, path string, body io.Reader) *http.Request {
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	waitHealthy(t, c, base+"/echo")

	t.Run("bodies and headers", func(t *testing.T) {
		req := newReq(http.MethodPost, "/echo", strings.NewReader("hello"))
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "dropped at the proxy")
		req.Header.Set("X-Keep", "kept")
		req.Header.Set("X-Forwarded-For", "192.0.2.7")
		_, body := do(req)
		if !strings.HasPrefix(body, "POST len=5 te=[] body=hello x-hop=\"\" x-keep=\"kept\" xff=\"192.0.2.7, 172.30.29.") ||
			!strings.HasSuffix(body, `proto="http" conn=""`) {
			t.Fatalf("known length: %s", body)
		}
		// Unknown length (chunked from the client): chunked to the backend, whole.
		req = newReq(http.MethodPut, "/echo", io.MultiReader(strings.NewReader("chunk"), strings.NewReader("ed")))
		req.ContentLength = -1
		if _, body = do(req); !strings.HasPrefix(body, "PUT len=7 te=[chunked] body=chunked ") {
			t.Fatalf("unknown length: %s", body)
		}
		if _, body = do(newReq(http.MethodHead, "/echo", nil)); body != "" {
			t.Fatalf("HEAD answered a body: %q", body)
		}
	})

	t.Run("backend connections are kept and replaced", func(t *testing.T) {
		before := newConns.Load()
		for range 20 {
			do(newReq(http.MethodGet, "/echo", nil))
		}
		if n := newConns.Load() - before; n > 1 {
			t.Fatalf("20 sequential requests opened %d backend connections", n)
		}
		// The backend closes its idle connections: the next requests go out on new
		// ones instead of failing on the closed one.
		srv.SetKeepAlivesEnabled(false)
		srv.SetKeepAlivesEnabled(true)
		time.Sleep(100 * time.Millisecond) // the FIN reaches the proxy's side
		for i := range 3 {
			if resp, body := do(newReq(http.MethodGet, "/echo", nil)); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d after the backend closed its idle connections: %d %s", i, resp.StatusCode, body)
			}
		}
	})

	t.Run("trailers and hop headers of answers", func(t *testing.T) {
		resp, body := do(newReq(http.MethodGet, "/trailer", nil))
		if body != "payload" || resp.Trailer.Get("X-Sum") != "42" || resp.Header.Get("X-Backend-Hop") != "" {
			t.Fatalf("body %q trailer %v header %v", body, resp.Trailer, resp.Header)
		}
	})

	t.Run("streamed answer", func(t *testing.T) {
		resp, err := c.Do(newReq(http.MethodGet, "/stream", nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		// The first line arrives while the backend still holds the rest back.
		if line, err := br.ReadString('\n'); err != nil || line != "first\n" {
			t.Fatalf("first piece: %q %v", line, err)
		}
		close(release)
		if rest, err := io.ReadAll(br); err != nil || string(rest) != "second\n" {
			t.Fatalf("rest: %q %v", rest, err)
		}
	})

	t.Run("answer cut off by the backend", func(t *testing.T) {
		// The cut reaches the client as an error, of the request or of the body.
		if resp, err := c.Do(newReq(http.MethodGet, "/cut", nil)); err == nil {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Fatalf("a cut-off answer reached the client as whole: %d %q", resp.StatusCode, body)
			}
		}
		if resp, body := do(newReq(http.MethodGet, "/echo", nil)); resp.StatusCode != http.StatusOK {
			t.Fatalf("after a cut: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("client goes away", func(t *testing.T) {
		conn, err := dptest.Dial(cl, "tcp", "", vip+":80", 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
			t.Fatal("the request never reached the backend")
		}
		conn.Close()
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the backend request outlived its client by 5 s")
		}
	})
}

// waitHealthy waits until url answers 200 (the backend's first health check passed).
func waitHealthy(t *testing.T, c *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not healthy: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
