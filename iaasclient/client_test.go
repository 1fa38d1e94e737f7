package iaasclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

var testCreds = ic.Credentials{AccessKeyID: "AKTEST", SecretKey: "secret-test"}

// server is an httptest server whose handler sees the attempt number (from 1).
type server struct {
	*httptest.Server
	attempts atomic.Int32
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
}

func newServer(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.attempts.Add(1))
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		h(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) n() int { return int(s.attempts.Load()) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(ic.HeaderRequestID, "req-test")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code ic.Code, msg string) {
	e := ic.Errorf(code, "%s", msg)
	e.RequestID = "req-err"
	writeJSON(w, e.HTTPStatus(), ic.ErrorEnvelope{Error: e})
}

// fastConfig retries quickly so tests spend milliseconds, not seconds.
func fastConfig(url string) ic.Config {
	return ic.Config{
		Endpoint: url, Credentials: testCreds,
		BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond,
		AttemptTimeout: 2 * time.Second, MaxAttempts: 5,
		TaskPollInitial: time.Millisecond, TaskPollMax: 5 * time.Millisecond,
	}
}

func newClient(t *testing.T, cfg ic.Config) *ic.Client {
	t.Helper()
	c, err := ic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// recorder is an Observer for assertions.
type recorder struct {
	mu                 sync.Mutex
	calls              []string // operation/code
	throttled, retries int
}

func (r *recorder) ObserveCall(op, code string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, op+"/"+code)
}
func (r *recorder) ObserveThrottled(string) { r.mu.Lock(); r.throttled++; r.mu.Unlock() }
func (r *recorder) ObserveRetry(string)     { r.mu.Lock(); r.retries++; r.mu.Unlock() }

func TestSigningHeaders(t *testing.T) {
	var nonces sync.Map
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sr, err := ic.ParseSignedRequest(r.Header)
		if err == nil {
			err = sr.Verify(r.Method, r.URL, body, testCreds.SecretKey, time.Now())
		}
		if err != nil {
			writeErr(w, ic.CodeUnauthorizedOperation, err.Error())
			return
		}
		if _, dup := nonces.LoadOrStore(sr.Nonce, true); dup {
			writeErr(w, ic.CodeUnauthorizedOperation, "nonce reused")
			return
		}
		if sr.AccessKeyID != testCreds.AccessKeyID || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "test-agent" {
			writeErr(w, ic.CodeInvalidParameter, "headers")
			return
		}
		if n < 3 {
			// Retries must be signed anew: a replayed nonce would be refused.
			writeErr(w, ic.CodeInternalError, "try again")
			return
		}
		writeJSON(w, 200, ic.DescribeDisksResponse{TotalCount: 0})
	})
	cfg := fastConfig(srv.URL)
	cfg.UserAgent = "test-agent"
	c := newClient(t, cfg)
	if _, err := c.DescribeDisks(t.Context(), &ic.DescribeDisksRequest{DiskIDs: []string{"disk-1"}}); err != nil {
		t.Fatal(err)
	}
	if srv.n() != 3 {
		t.Fatalf("%d attempts, want 3", srv.n())
	}

	// A wrong secret is refused by the verifier, and 403 is not retried.
	cfg.Credentials.SecretKey = "wrong"
	srv.attempts.Store(0)
	_, err := newClient(t, cfg).DescribeDisks(t.Context(), nil)
	if !errors.Is(err, ic.ErrUnauthorized) || srv.n() != 1 {
		t.Fatalf("wrong secret: %v after %d attempts", err, srv.n())
	}
}

func TestRetriesThenSuccess(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			writeErr(w, ic.CodeRequestLimitExceeded, "slow down")
		case 2:
			writeErr(w, ic.CodeInternalError, "oops")
		case 3:
			w.WriteHeader(http.StatusBadGateway) // a proxy's empty answer
		default:
			writeJSON(w, 200, ic.DescribeInstancesResponse{TotalCount: 7})
		}
	})
	rec := &recorder{}
	cfg := fastConfig(srv.URL)
	cfg.Observer = rec
	resp, err := newClient(t, cfg).DescribeInstances(t.Context(), &ic.DescribeInstancesRequest{})
	if err != nil || resp.TotalCount != 7 {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
	if srv.n() != 4 || rec.retries != 3 || rec.throttled != 1 {
		t.Fatalf("attempts %d retries %d throttled %d", srv.n(), rec.retries, rec.throttled)
	}
	if len(rec.calls) != 1 || rec.calls[0] != "DescribeInstances/Success" {
		t.Fatalf("calls %v", rec.calls)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { writeErr(w, ic.CodeInternalError, "down") })
	rec := &recorder{}
	cfg := fastConfig(srv.URL)
	cfg.MaxAttempts, cfg.Observer = 3, rec
	_, err := newClient(t, cfg).DescribeVpcs(t.Context(), nil)
	if !errors.Is(err, ic.ErrInternal) || srv.n() != 3 {
		t.Fatalf("err %v after %d attempts", err, srv.n())
	}
	if rec.calls[0] != "DescribeVpcs/InternalError" {
		t.Fatalf("calls %v", rec.calls)
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	cases := []struct {
		code     ic.Code
		sentinel error
	}{
		{ic.CodeResourceNotFound, ic.ErrNotFound},
		{ic.CodeResourceInUse, ic.ErrInUse},
		{ic.CodeLimitExceeded, ic.ErrLimitExceeded},
		{ic.CodeInvalidParameter, ic.ErrInvalidParameter},
		{ic.CodeUnauthorizedOperation, ic.ErrUnauthorized},
		{ic.CodeIdempotentParameterMismatch, ic.ErrIdempotentParameterMismatch},
	}
	for _, tc := range cases {
		t.Run(string(tc.code), func(t *testing.T) {
			srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { writeErr(w, tc.code, "diskId: no") })
			_, err := newClient(t, fastConfig(srv.URL)).DeleteDisk(t.Context(), &ic.DeleteDiskRequest{DiskID: "disk-1"})
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err %v is not %v", err, tc.sentinel)
			}
			var e *ic.Error
			if !errors.As(err, &e) || e.RequestID != "req-err" || e.Message != "diskId: no" {
				t.Fatalf("decoded %+v", e)
			}
			if srv.n() != 1 {
				t.Fatalf("%d attempts, want 1", srv.n())
			}
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		want      ic.Code
		requestID string
		attempts  int
	}{
		{"api error without request id takes the header's", 404, `{"error":{"code":"ResourceNotFound","message":"m"}}`, ic.CodeResourceNotFound, "req-hdr", 1},
		{"html 502", 502, `<html>bad gateway</html>`, ic.CodeInternalError, "req-hdr", 3},
		{"bare 429", 429, ``, ic.CodeRequestLimitExceeded, "req-hdr", 3},
		{"html 404 is not retried", 404, `<html>not here</html>`, ic.CodeInternalError, "req-hdr", 1},
		{"garbled 200 is retried", 200, `{"disks": [`, ic.CodeInternalError, "req-hdr", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set(ic.HeaderRequestID, "req-hdr")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			cfg := fastConfig(srv.URL)
			cfg.MaxAttempts = 3
			_, err := newClient(t, cfg).DescribeDisks(t.Context(), nil)
			var e *ic.Error
			if !errors.As(err, &e) || e.Code != tc.want || e.RequestID != tc.requestID {
				t.Fatalf("err %v (%+v), want %s", err, e, tc.want)
			}
			if srv.n() != tc.attempts {
				t.Fatalf("%d attempts, want %d", srv.n(), tc.attempts)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			writeErr(w, ic.CodeRequestLimitExceeded, "slow down")
			return
		}
		writeJSON(w, 200, ic.DescribeDisksResponse{})
	})
	start := time.Now()
	if _, err := newClient(t, fastConfig(srv.URL)).DescribeDisks(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("retried after %v, Retry-After said 1s", el)
	}

	// A huge Retry-After is capped.
	srv2 := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "3600")
			writeErr(w, ic.CodeRequestLimitExceeded, "slow down")
			return
		}
		writeJSON(w, 200, ic.DescribeDisksResponse{})
	})
	cfg := fastConfig(srv2.URL)
	cfg.MaxRetryAfter = 50 * time.Millisecond
	start = time.Now()
	if _, err := newClient(t, cfg).DescribeDisks(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > 2*time.Second {
		t.Fatalf("retried after %v, want about the 50ms cap", el)
	}
}

func TestRetryAfterBeyondDeadlineReturnsAtOnce(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "10")
		writeErr(w, ic.CodeRequestLimitExceeded, "slow down")
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := newClient(t, fastConfig(srv.URL)).DescribeDisks(ctx, nil)
	if !errors.Is(err, ic.ErrThrottled) {
		t.Fatalf("err %v, want the throttle error", err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Fatalf("took %v: waited for a retry past the deadline", el)
	}
}

func TestTransportErrorsRetried(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			// Close the connection without an answer: a reset from the client's side.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		writeJSON(w, 200, ic.DescribeDisksResponse{TotalCount: 1})
	})
	resp, err := newClient(t, fastConfig(srv.URL)).DescribeDisks(t.Context(), nil)
	if err != nil || resp.TotalCount != 1 || srv.n() != 3 {
		t.Fatalf("resp %+v err %v attempts %d", resp, err, srv.n())
	}
}

func TestConnectionRefusedIsTransportError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	rec := &recorder{}
	cfg := fastConfig("http://" + addr)
	cfg.MaxAttempts, cfg.Observer = 2, rec
	_, err = newClient(t, cfg).DescribeDisks(t.Context(), nil)
	if err == nil || ic.CodeOf(err) != "" || !ic.IsRetryable(err) {
		t.Fatalf("err %v", err)
	}
	if rec.retries != 1 || rec.calls[0] != "DescribeDisks/"+ic.ResultTransportError {
		t.Fatalf("retries %d calls %v", rec.retries, rec.calls)
	}
}

func TestAttemptTimeoutRetried(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			// Accept, then never answer.
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		writeJSON(w, 200, ic.DescribeDisksResponse{TotalCount: 2})
	})
	cfg := fastConfig(srv.URL)
	cfg.AttemptTimeout = 100 * time.Millisecond
	start := time.Now()
	resp, err := newClient(t, cfg).DescribeDisks(t.Context(), nil)
	if err != nil || resp.TotalCount != 2 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > 2*time.Second {
		t.Fatalf("took %v", el)
	}
}

func TestCancelStopsRetriesAtOnce(t *testing.T) {
	t.Run("during backoff", func(t *testing.T) {
		srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { writeErr(w, ic.CodeInternalError, "down") })
		cfg := fastConfig(srv.URL)
		// A 10 s backoff: the call can only end quickly through ctx.
		cfg.BackoffBase, cfg.BackoffCap, cfg.MaxAttempts = 10*time.Second, 10*time.Second, 100
		rec := &recorder{}
		cfg.Observer = rec
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := newClient(t, cfg).DescribeDisks(ctx, nil)
		el := time.Since(start)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		if el > time.Second {
			t.Fatalf("cancel took %v to stop the retries", el)
		}
		if rec.calls[0] != "DescribeDisks/"+ic.ResultCanceled {
			t.Fatalf("calls %v", rec.calls)
		}
	})
	t.Run("during an attempt", func(t *testing.T) {
		srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		cfg := fastConfig(srv.URL)
		cfg.AttemptTimeout = time.Minute
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := newClient(t, cfg).DescribeDisks(ctx, nil)
		if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second || srv.n() != 1 {
			t.Fatalf("err %v after %v and %d attempts", err, time.Since(start), srv.n())
		}
	})
	t.Run("already canceled", func(t *testing.T) {
		srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, struct{}{}) })
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := newClient(t, fastConfig(srv.URL)).DescribeDisks(ctx, nil)
		if !errors.Is(err, context.Canceled) || srv.n() != 0 {
			t.Fatalf("err %v, %d attempts", err, srv.n())
		}
	})
}

func TestClientTokenStableAcrossRetries(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 3 {
			writeErr(w, ic.CodeInternalError, "lost")
			return
		}
		writeJSON(w, 200, ic.CreateDiskResponse{DiskID: "disk-1", TaskID: "task-1"})
	})
	c := newClient(t, fastConfig(srv.URL))
	req := &ic.CreateDiskRequest{Name: "pv", Zone: "zone-a", SizeGiB: 1}
	if _, err := c.CreateDisk(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if req.ClientToken != "" {
		t.Fatal("the caller's request was modified")
	}
	var first string
	for i, b := range srv.bodies {
		var got ic.CreateDiskRequest
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = got.ClientToken
		}
		if got.ClientToken == "" || got.ClientToken != first {
			t.Fatalf("attempt %d token %q, first %q", i+1, got.ClientToken, first)
		}
	}

	// A caller's token is sent as is; a new call without one gets a new token.
	srv.bodies, srv.attempts = nil, atomic.Int32{}
	srv.attempts.Store(2)
	if _, err := c.CreateDisk(t.Context(), &ic.CreateDiskRequest{ClientToken: "mine"}); err != nil {
		t.Fatal(err)
	}
	srv.attempts.Store(2)
	if _, err := c.CreateDisk(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	var a, b ic.CreateDiskRequest
	_ = json.Unmarshal(srv.bodies[0], &a)
	_ = json.Unmarshal(srv.bodies[1], &b)
	if a.ClientToken != "mine" || b.ClientToken == first || b.ClientToken == "" {
		t.Fatalf("tokens %q %q (first call %q)", a.ClientToken, b.ClientToken, first)
	}
}

func TestEveryCreateGetsAToken(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, struct{}{}) })
	c := newClient(t, fastConfig(srv.URL))
	ctx := t.Context()
	_, _ = c.CreateRoutes(ctx, &ic.CreateRoutesRequest{})
	_, _ = c.CreateLoadBalancer(ctx, &ic.CreateLoadBalancerRequest{})
	_, _ = c.CreateDisk(ctx, nil)
	_, _ = c.CreateSnapshot(ctx, &ic.CreateSnapshotRequest{})
	for i, h := range srv.bodies {
		var m map[string]any
		_ = json.Unmarshal(h, &m)
		if tok, _ := m["clientToken"].(string); tok == "" {
			t.Errorf("create %d sent no clientToken: %s", i, h)
		}
	}
	if len(srv.bodies) != 4 {
		t.Fatalf("%d requests", len(srv.bodies))
	}
}

func TestWaitTask(t *testing.T) {
	task := func(state ic.TaskState, e *ic.Error) ic.DescribeTaskResponse {
		return ic.DescribeTaskResponse{Task: ic.Task{TaskID: "task-1", State: state, Error: e}}
	}
	t.Run("success", func(t *testing.T) {
		srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n < 4 {
				writeJSON(w, 200, task(ic.TaskRunning, nil))
				return
			}
			writeJSON(w, 200, task(ic.TaskSucceeded, nil))
		})
		got, err := newClient(t, fastConfig(srv.URL)).WaitTask(t.Context(), "task-1")
		if err != nil || got.State != ic.TaskSucceeded || srv.n() != 4 {
			t.Fatalf("task %+v err %v polls %d", got, err, srv.n())
		}
	})
	t.Run("failure", func(t *testing.T) {
		srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, task(ic.TaskFailed, &ic.Error{Code: ic.CodeResourceInUse, Message: "attached elsewhere", RequestID: "req-1"}))
		})
		got, err := newClient(t, fastConfig(srv.URL)).WaitTask(t.Context(), "task-1")
		var e *ic.Error
		if !errors.Is(err, ic.ErrInUse) || !errors.As(err, &e) || got == nil || got.State != ic.TaskFailed {
			t.Fatalf("task %+v err %v", got, err)
		}
	})
	t.Run("ctx", func(t *testing.T) {
		srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, task(ic.TaskRunning, nil)) })
		cfg := fastConfig(srv.URL)
		cfg.TaskPollInitial, cfg.TaskPollMax = 10*time.Second, 10*time.Second
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := newClient(t, cfg).WaitTask(ctx, "task-1")
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
	})
	t.Run("polls fast first then backs off", func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Time
		srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			if n < 6 {
				writeJSON(w, 200, task(ic.TaskRunning, nil))
				return
			}
			writeJSON(w, 200, task(ic.TaskSucceeded, nil))
		})
		cfg := fastConfig(srv.URL)
		cfg.TaskPollInitial, cfg.TaskPollMax = 20*time.Millisecond, 60*time.Millisecond
		if _, err := newClient(t, cfg).WaitTask(t.Context(), "task-1"); err != nil {
			t.Fatal(err)
		}
		// Lower bounds only: a loaded machine stretches gaps, it never shrinks them.
		first, last := at[1].Sub(at[0]), at[5].Sub(at[4])
		if first < 20*time.Millisecond || last < 55*time.Millisecond {
			t.Fatalf("gaps %v then %v, want >= 20ms then >= 55ms", first, last)
		}
	})
}

func TestDescribeAllDisksPages(t *testing.T) {
	const total = 2500
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		var req ic.DescribeDisksRequest
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		var out ic.DescribeDisksResponse
		out.TotalCount = total
		for i := req.Offset; i < min(req.Offset+req.Limit, total); i++ {
			out.Disks = append(out.Disks, ic.Disk{DiskID: "disk-" + strconv.Itoa(100000+i)})
		}
		writeJSON(w, 200, out)
	})
	disks, err := ic.DescribeAllDisks(t.Context(), newClient(t, fastConfig(srv.URL)), ic.DescribeDisksRequest{Zone: "zone-a"})
	if err != nil || len(disks) != total || srv.n() != 3 {
		t.Fatalf("%d disks in %d calls, err %v", len(disks), srv.n(), err)
	}
	for i, b := range srv.bodies {
		var req ic.DescribeDisksRequest
		_ = json.Unmarshal(b, &req)
		if req.Offset != i*ic.MaxPageSize || req.Limit != ic.MaxPageSize || req.Zone != "zone-a" {
			t.Fatalf("page %d asked %+v", i, req)
		}
	}
}

func TestIdentityIsUnsignedGET(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != ic.MetadataIdentityPath || r.Header.Get("Authorization") != "" {
			writeErr(w, ic.CodeInvalidParameter, r.Method+" "+r.URL.Path)
			return
		}
		writeJSON(w, 200, ic.Identity{InstanceID: "ins-1", Zone: "zone-a", Region: "region-1"})
	})
	cfg := fastConfig(srv.URL)
	cfg.Credentials = ic.Credentials{}
	c := newClient(t, cfg)
	id, err := c.Identity(t.Context())
	if err != nil || id.InstanceID != "ins-1" || id.Zone != "zone-a" {
		t.Fatalf("identity %+v err %v", id, err)
	}
	// Without credentials, signed actions fail locally.
	if _, err := c.DescribeDisks(t.Context(), nil); err == nil || srv.n() != 1 {
		t.Fatalf("err %v, %d requests", err, srv.n())
	}
}

func TestLocalAddr(t *testing.T) {
	var remote atomic.Value
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		remote.Store(r.RemoteAddr)
		writeJSON(w, 200, ic.Identity{})
	})
	cfg := fastConfig(srv.URL)
	cfg.LocalAddr = "127.0.0.7"
	if _, err := newClient(t, cfg).Identity(t.Context()); err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(remote.Load().(string))
	if host != "127.0.0.7" {
		t.Fatalf("server saw %s", host)
	}
}

func TestClientRateLimit(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, struct{}{}) })
	cfg := fastConfig(srv.URL)
	cfg.RateLimit = ic.RateLimit{QPS: 20, Burst: 1}
	c := newClient(t, cfg)
	start := time.Now()
	for range 5 {
		if _, err := c.DescribeQuotas(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("5 calls at 20 QPS, burst 1, took %v", el)
	}

	// A wait longer than the caller's deadline fails at once instead of queueing.
	cfg.RateLimit = ic.RateLimit{QPS: 0.01, Burst: 1}
	rec := &recorder{}
	cfg.Observer = rec
	c = newClient(t, cfg)
	_, _ = c.DescribeQuotas(t.Context(), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start = time.Now()
	_, err := c.DescribeQuotas(ctx, nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if rec.calls[1] != "DescribeQuotas/"+ic.ResultClientRateLimited {
		t.Fatalf("calls %v", rec.calls)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  ic.Config
	}{
		{"no endpoint", ic.Config{}},
		{"bad scheme", ic.Config{Endpoint: "ftp://x"}},
		{"no host", ic.Config{Endpoint: "http://"}},
		{"half credentials", ic.Config{Endpoint: "http://x", Credentials: ic.Credentials{AccessKeyID: "a"}}},
		{"cert without key", ic.Config{Endpoint: "https://x", TLS: ic.TLSConfig{CertFile: "c"}}},
		{"tls files with http", ic.Config{Endpoint: "http://x", TLS: ic.TLSConfig{CAFile: "ca"}}},
		{"missing ca file", ic.Config{Endpoint: "https://x", TLS: ic.TLSConfig{CAFile: "/nonexistent/ca.pem"}}},
		{"bad local addr", ic.Config{Endpoint: "http://x", LocalAddr: "nope"}},
		{"negative timeout", ic.Config{Endpoint: "http://x", AttemptTimeout: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ic.New(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := ic.New(ic.Config{Endpoint: "https://iaas.example:8443/base/"}); err != nil {
		t.Fatal(err)
	}
}

func TestEndpointWithBasePath(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sr, err := ic.ParseSignedRequest(r.Header)
		if err == nil {
			err = sr.Verify(r.Method, r.URL, body, testCreds.SecretKey, time.Now())
		}
		if r.URL.Path != "/iaas/v1/DescribeQuotas" || err != nil {
			writeErr(w, ic.CodeInvalidParameter, r.URL.Path)
			return
		}
		writeJSON(w, 200, ic.DescribeQuotasResponse{})
	})
	if _, err := newClient(t, fastConfig(srv.URL+"/iaas/")).DescribeQuotas(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}
