package iaasclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient/transport"
)

var _ API = (*Client)(nil)

// maxResponseBytes bounds what the client reads from one response: a full page of
// MaxPageSize load balancers with listeners stays far below it.
const maxResponseBytes = 64 << 20

// ResultClientRateLimited is the Observer code of a call that the client-side rate
// limit would have delayed past the caller's deadline.
const ResultClientRateLimited = "ClientRateLimited"

// Client is the HTTP client of the IaaS API. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	hc      *http.Client
	tr      *http.Transport
	limiter *rate.Limiter
}

// New returns a Client for cfg. It reads the TLS files now so that a wrong path or a
// bad certificate fails at start, not at the first call.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	base, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("iaasclient config: %w", err)
	}
	topts := transport.Options{LocalAddr: cfg.LocalAddr}
	if base.Scheme == "https" {
		tc, err := transport.ClientTLSConfig(transport.TLSOptions{
			CAFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, ServerName: cfg.TLS.ServerName,
		})
		if err != nil {
			return nil, fmt.Errorf("iaasclient config: %w", err)
		}
		topts.TLS = tc
	}
	tr, err := transport.New(topts)
	if err != nil {
		return nil, fmt.Errorf("iaasclient config: %w", err)
	}
	c := &Client{
		cfg:  cfg,
		base: base,
		tr:   tr,
		// Per-attempt timeouts come from the request ctx; redirects are an error
		// because a signed request is bound to its path.
		hc: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	if cfg.RateLimit.QPS > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit.QPS), max(cfg.RateLimit.Burst, 1))
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Endpoint returns the base URL the client talks to.
func (c *Client) Endpoint() string { return c.base.String() }

// attempt is the outcome of one HTTP request.
type attempt struct {
	err        error
	code       string // ResultSuccess, an API code or ResultTransportError
	retryable  bool
	retryAfter time.Duration
	status     int
	requestID  string
}

// call runs one operation with retries and reports it to the Observer. body is nil
// for the unsigned GET of the metadata endpoint.
func (c *Client) call(ctx context.Context, op, method, path string, body []byte, signed bool, out any) error {
	start := time.Now()
	code, err := c.retry(ctx, op, method, path, body, signed, out, start)
	c.cfg.Observer.ObserveCall(op, code, time.Since(start))
	return err
}

func (c *Client) retry(ctx context.Context, op, method, path string, body []byte, signed bool, out any, start time.Time) (string, error) {
	logger := klog.FromContext(ctx)
	if signed && c.cfg.Credentials.AccessKeyID == "" {
		return string(CodeUnauthorizedOperation), fmt.Errorf("iaas %s: no credentials configured", op)
	}
	var last attempt
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return ResultCanceled, canceled(op, err, last.err)
		}
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return ResultCanceled, canceled(op, cerr, last.err)
				}
				return ResultClientRateLimited, fmt.Errorf("iaas %s: the client-side rate limit would delay the call past its deadline: %w", op, context.DeadlineExceeded)
			}
		}
		t0 := time.Now()
		last = c.once(ctx, op, method, path, body, signed, out)
		logger.V(4).Info("IaaS API attempt", "operation", op, "attempt", n, "status", last.status,
			"code", last.code, "requestId", last.requestID, "duration", time.Since(t0))
		if last.err == nil {
			return ResultSuccess, nil
		}
		if last.code == string(CodeRequestLimitExceeded) {
			c.cfg.Observer.ObserveThrottled(op)
		}
		if err := ctx.Err(); err != nil {
			return ResultCanceled, canceled(op, err, last.err)
		}
		if !last.retryable {
			return last.code, fmt.Errorf("iaas %s: %w", op, last.err)
		}
		if n >= c.cfg.MaxAttempts {
			return last.code, fmt.Errorf("iaas %s: giving up after %d attempts: %w", op, n, last.err)
		}
		wait := backoff(n, c.cfg.BackoffBase, c.cfg.BackoffCap)
		if last.retryAfter > 0 {
			// Honour the server's pause, plus a little jitter so that the clients it
			// throttled together do not come back together.
			wait = last.retryAfter + backoff(1, c.cfg.BackoffBase, c.cfg.BackoffCap)
		}
		resume := time.Now().Add(wait)
		if resume.Sub(start) > c.cfg.MaxElapsed {
			return last.code, fmt.Errorf("iaas %s: giving up after %d attempts in %v: %w", op, n, time.Since(start).Round(time.Millisecond), last.err)
		}
		if dl, ok := ctx.Deadline(); ok && resume.After(dl) {
			// Waiting would only end in the caller's deadline; the API error tells
			// the caller more (throttled, server fault) than DeadlineExceeded would.
			return last.code, fmt.Errorf("iaas %s: giving up after %d attempts, the next one would be past the deadline: %w", op, n, last.err)
		}
		c.cfg.Observer.ObserveRetry(op)
		logger.V(4).Info("IaaS API retry", "operation", op, "attempt", n, "code", last.code, "wait", wait)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ResultCanceled, canceled(op, ctx.Err(), last.err)
		case <-timer.C:
		}
	}
}

// canceled wraps the caller's ctx error, keeping the last API error in the message.
func canceled(op string, ctxErr, last error) error {
	if last != nil {
		return fmt.Errorf("iaas %s: %w (last error: %v)", op, ctxErr, last)
	}
	return fmt.Errorf("iaas %s: %w", op, ctxErr)
}

// once sends one attempt, signed anew, under the per-attempt timeout.
func (c *Client) once(ctx context.Context, op, method, path string, body []byte, signed bool, out any) attempt {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	u := *c.base
	u.Path = joinPath(c.base.Path, path)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, u.String(), rd)
	if err != nil {
		return attempt{err: err, code: ResultTransportError}
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if signed {
		// The signature covers the path the server sees, so sign after joining.
		if err := SignRequest(req, body, c.cfg.Credentials, c.cfg.Now()); err != nil {
			return attempt{err: err, code: ResultTransportError}
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("attempt timed out after %v: %w", c.cfg.AttemptTimeout, err)
		}
		return attempt{err: err, code: ResultTransportError, retryable: retryableTransport(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	a := attempt{status: resp.StatusCode, requestID: resp.Header.Get(HeaderRequestID)}
	if err != nil {
		a.err, a.code, a.retryable = fmt.Errorf("reading the response: %w", err), ResultTransportError, true
		return a
	}
	if len(data) > maxResponseBytes {
		a.err, a.code = Errorf(CodeInternalError, "response larger than %d bytes", maxResponseBytes), string(CodeInternalError)
		return a
	}
	if resp.StatusCode == http.StatusOK {
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				// A cut or garbled answer: the server did the work or not, and
				// every action is safe to repeat.
				e := Errorf(CodeInternalError, "decoding the %s response: %v", op, err)
				e.RequestID = a.requestID
				a.err, a.code, a.retryable = e, string(CodeInternalError), true
				return a
			}
		}
		a.code = ResultSuccess
		return a
	}
	e, shaped := decodeError(resp.StatusCode, data, a.requestID)
	a.err, a.code = e, string(e.Code)
	a.retryable = retryableCode(e.Code, resp.StatusCode)
	if !shaped {
		// Not the API talking (a proxy, a wrong path): only the status means anything.
		a.retryable = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	}
	if e.Code == CodeRequestLimitExceeded || resp.StatusCode == http.StatusServiceUnavailable {
		a.retryAfter = retryAfter(resp.Header, time.Now(), c.cfg.MaxRetryAfter)
	}
	return a
}

// decodeError turns a failed response into an *Error. A body that is not the API's
// error shape (a proxy's HTML page, an empty 502) becomes InternalError with the
// status, or RequestLimitExceeded for a bare 429, so that callers still get a code;
// shaped reports whether the body was the API's error.
func decodeError(status int, data []byte, requestID string) (e *Error, shaped bool) {
	var env ErrorEnvelope
	if err := json.Unmarshal(data, &env); err == nil && env.Error != nil && env.Error.Code != "" {
		if env.Error.RequestID == "" {
			env.Error.RequestID = requestID
		}
		return env.Error, true
	}
	code := CodeInternalError
	if status == http.StatusTooManyRequests {
		code = CodeRequestLimitExceeded
	}
	snippet := data
	if len(snippet) > 200 {
		snippet = snippet[:200]
	}
	return &Error{Code: code, Message: fmt.Sprintf("HTTP %d with a body that is not an API error: %q", status, snippet), RequestID: requestID}, false
}

func joinPath(base, p string) string {
	if base == "" || base == "/" {
		return p
	}
	if base[len(base)-1] == '/' {
		return base + p[1:]
	}
	return base + p
}

// action runs a signed POST /v1/<action> with req as the JSON body.
func action[Req, Resp any](ctx context.Context, c *Client, op string, req *Req) (*Resp, error) {
	if req == nil {
		req = new(Req)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("iaas %s: encoding the request: %w", op, err)
	}
	if len(body) > MaxRequestBodyBytes {
		return nil, fmt.Errorf("iaas %s: %w", op, Errorf(CodeInvalidParameter, "request: %d bytes is larger than the %d the API accepts", len(body), MaxRequestBodyBytes))
	}
	var resp Resp
	if err := c.call(ctx, op, http.MethodPost, APIPathPrefix+op, body, true, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Identity implements MetadataAPI: GET /meta/v1/identity, unsigned.
func (c *Client) Identity(ctx context.Context) (*Identity, error) {
	var id Identity
	if err := c.call(ctx, OperationIdentity, http.MethodGet, MetadataIdentityPath, nil, false, &id); err != nil {
		return nil, err
	}
	return &id, nil
}

// IsRetryable reports whether err is one the client retries (throttling, server faults,
// transport errors); callers that keep their own retry loop can use it.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return retryableCode(e.Code, e.HTTPStatus())
	}
	return retryableTransport(err)
}

// Raw runs any action with a JSON body given as is and returns the JSON answer, with
// the same signing, retries and metrics as the typed methods. It is for tools (iaasctl)
// that pass requests through; programs use the typed methods.
func (c *Client) Raw(ctx context.Context, op string, body json.RawMessage) (json.RawMessage, error) {
	if len(body) == 0 {
		body = json.RawMessage("{}")
	}
	if len(body) > MaxRequestBodyBytes {
		return nil, fmt.Errorf("iaas %s: %w", op, Errorf(CodeInvalidParameter, "request: %d bytes is larger than the %d the API accepts", len(body), MaxRequestBodyBytes))
	}
	var resp json.RawMessage
	if err := c.call(ctx, op, http.MethodPost, APIPathPrefix+op, body, true, &resp); err != nil {
		return nil, err
	}
	return resp, nil
}
