package iaassim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// call is one authenticated API request.
type call struct {
	tenant    *tenant
	requestID string
	action    string
	body      []byte
}

type actionFunc func(c *call) (any, *iaasclient.Error)

// handle adapts a typed handler: it decodes the body strictly into Req first.
func handle[Req any](fn func(c *call, req *Req) (any, *iaasclient.Error)) actionFunc {
	return func(c *call) (any, *iaasclient.Error) {
		req := new(Req)
		if err := DecodeStrict(c.body, req); err != nil {
			return nil, err
		}
		return fn(c, req)
	}
}

// Handler is the API listener's handler: every action, and the metadata endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(iaasclient.APIPathPrefix, s.serveAction)
	mux.HandleFunc(iaasclient.MetadataIdentityPath, s.serveIdentity)
	mux.HandleFunc("/latest/meta-data/", s.serveTCMetadata)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && isTCRequest(r) {
			s.serveTC(w, r)
			return
		}
		id := newRequestID()
		writeError(w, id, errf(iaasclient.CodeResourceNotFound, "path: %q is not an API path; actions are POST %s<Action>", validate.Truncate(r.URL.Path), iaasclient.APIPathPrefix))
	})
	return recoverMiddleware(mux)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "req-" + hex.EncodeToString(b[:])
}

// trackingWriter remembers whether the header went out, so the panic handler knows
// whether it may still answer.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) { t.wrote = true; t.ResponseWriter.WriteHeader(code) }
func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// recoverMiddleware turns a panic into InternalError (and never lets one kill the
// process). http.ErrAbortHandler passes through: it is how a timeout fault drops the
// connection.
func recoverMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			id := w.Header().Get(iaasclient.HeaderRequestID)
			if id == "" {
				id = newRequestID()
			}
			logPanic(r, id, v)
			if !tw.wrote {
				writeError(tw, id, errf(iaasclient.CodeInternalError, "internal error (request %s)", id))
			}
		}()
		next.ServeHTTP(tw, r)
	})
}

func writeError(w http.ResponseWriter, requestID string, e *iaasclient.Error) {
	e2 := *e
	e2.RequestID = requestID
	b, _ := json.Marshal(iaasclient.ErrorEnvelope{Error: &e2})
	h := w.Header()
	h.Set(iaasclient.HeaderRequestID, requestID)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e2.HTTPStatus())
	_, _ = w.Write(b)
}

// writeJSON marshals v completely before writing anything, so an answer is whole or
// absent.
func writeJSON(w http.ResponseWriter, requestID string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, requestID, errf(iaasclient.CodeInternalError, "encoding the response failed"))
		return
	}
	h := w.Header()
	h.Set(iaasclient.HeaderRequestID, requestID)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// setRequestID fills the RequestID of a response (every response embeds ResponseMeta).
func setRequestID(resp any, id string) {
	v := reflect.ValueOf(resp)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	f := v.Elem().FieldByName("RequestID")
	if f.IsValid() && f.CanSet() && f.Kind() == reflect.String {
		f.SetString(id)
	}
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *iaasclient.Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, iaasclient.MaxRequestBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, validate.Invalid("body", "larger than %d bytes", iaasclient.MaxRequestBodyBytes)
		}
		return nil, validate.Invalid("body", "reading failed: %v", err)
	}
	return body, nil
}

func (s *Server) serveAction(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set(iaasclient.HeaderRequestID, reqID)
	action := strings.TrimPrefix(r.URL.Path, iaasclient.APIPathPrefix)
	fn, known := s.actions()[action]
	label := action
	if !known {
		label = "unknown"
	}
	code := "OK"
	tenantName := ""
	defer func() {
		d := time.Since(start)
		s.metrics.observe(label, code, d)
		s.log().V(4).Info("API request", "action", label, "code", code, "tenant", tenantName, "peer", r.RemoteAddr, "requestId", reqID, "duration", d)
	}()
	fail := func(e *iaasclient.Error) {
		code = string(e.Code)
		writeError(w, reqID, e)
	}
	if !known {
		fail(validate.Invalid("action", "unknown action %q", validate.Truncate(action)))
		return
	}
	if r.Method != http.MethodPost {
		fail(validate.Invalid("method", "actions take POST, not %s", validate.Truncate(r.Method)))
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		fail(err)
		return
	}
	tn, err := s.authenticate(r, body)
	if err != nil {
		fail(err)
		return
	}
	tenantName = tn.name
	fd := s.faults.decide(action)
	if fd.latency > 0 {
		s.metrics.fault(action, "latency")
		select {
		case <-time.After(fd.latency):
		case <-r.Context().Done():
			code = "ClientGone"
			return
		}
	}
	if fd.throttle {
		s.metrics.fault(action, "throttle")
		w.Header().Set("Retry-After", strconv.Itoa(fd.retryAfter))
		fail(errf(iaasclient.CodeRequestLimitExceeded, "request limit exceeded for %s (injected)", action))
		return
	}
	if fd.fail {
		s.metrics.fault(action, "error")
		fail(errf(iaasclient.CodeInternalError, "internal error (injected)"))
		return
	}
	resp, aerr := fn(&call{tenant: tn, requestID: reqID, action: action, body: body})
	// Answer only once everything this request did or saw is durable.
	if err := s.state.waitAll(); err != nil {
		resp, aerr = nil, err
	}
	if fd.timeout {
		// The action happened; the caller never learns it. Only client tokens (creates)
		// and convergent semantics (everything else) make a retry safe.
		s.metrics.fault(action, "timeout")
		if aerr != nil {
			code = string(aerr.Code)
		}
		select {
		case <-time.After(durOr(s.cfg.TimeoutFaultDelay, 60*time.Second)):
		case <-r.Context().Done():
		case <-s.ctx.Done():
		}
		panic(http.ErrAbortHandler)
	}
	if aerr != nil {
		fail(aerr)
		return
	}
	setRequestID(resp, reqID)
	writeJSON(w, reqID, resp)
}

// actions maps each action name to its handler.
func (s *Server) actions() map[string]actionFunc {
	s.actionsOnce.Do(func() {
		s.actionTable = map[string]actionFunc{
			iaasclient.ActionDescribeInstances:  handle(s.describeInstances),
			iaasclient.ActionStartInstances:     handle(s.startInstances),
			iaasclient.ActionStopInstances:      handle(s.stopInstances),
			iaasclient.ActionTerminateInstances: handle(s.terminateInstances),

			iaasclient.ActionDescribeVpcs:        handle(s.describeVpcs),
			iaasclient.ActionDescribeRouteTables: handle(s.describeRouteTables),
			iaasclient.ActionCreateRoutes:        handle(s.createRoutes),
			iaasclient.ActionDeleteRoutes:        handle(s.deleteRoutes),

			iaasclient.ActionCreateLoadBalancer:    handle(s.createLoadBalancer),
			iaasclient.ActionDescribeLoadBalancers: handle(s.describeLoadBalancers),
			iaasclient.ActionModifyLoadBalancer:    handle(s.modifyLoadBalancer),
			iaasclient.ActionDeleteLoadBalancer:    handle(s.deleteLoadBalancer),
			iaasclient.ActionCreateListeners:       handle(s.createListeners),
			iaasclient.ActionModifyListener:        handle(s.modifyListener),
			iaasclient.ActionDeleteListeners:       handle(s.deleteListeners),

			iaasclient.ActionUploadCertificate:    handle(s.uploadCertificate),
			iaasclient.ActionDescribeCertificates: handle(s.describeCertificates),
			iaasclient.ActionDeleteCertificate:    handle(s.deleteCertificate),

			iaasclient.ActionCreateDisk:    handle(s.createDisk),
			iaasclient.ActionDescribeDisks: handle(s.describeDisks),
			iaasclient.ActionDeleteDisk:    handle(s.deleteDisk),
			iaasclient.ActionAttachDisk:    handle(s.attachDisk),
			iaasclient.ActionDetachDisk:    handle(s.detachDisk),
			iaasclient.ActionResizeDisk:    handle(s.resizeDisk),
			iaasclient.ActionModifyDisk:    handle(s.modifyDisk),

			iaasclient.ActionCreateSnapshot:    handle(s.createSnapshot),
			iaasclient.ActionDescribeSnapshots: handle(s.describeSnapshots),
			iaasclient.ActionDeleteSnapshot:    handle(s.deleteSnapshot),

			iaasclient.ActionDescribeTask:   handle(s.describeTask),
			iaasclient.ActionDescribeQuotas: handle(s.describeQuotas),
		}
	})
	return s.actionTable
}
