package iaassim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// The simulator's second front-end: a local fake of Tencent Cloud API 3.0 (POST / with
// X-TC-Action, TC3-HMAC-SHA256 signatures, answers in {"Response": ...}) over the same
// state, tenancy and data plane as the native API. It lets the tencentcloud backend
// and the SDK's own signing run for real without a network to Tencent Cloud. Each
// Tencent action is translated into native actions (tcapi_*.go), so the rules, quotas
// and durability of the native handlers apply unchanged.

// tcMaxSkew is the documented validity of X-TC-Timestamp.
const tcMaxSkew = 5 * time.Minute

// tcAction answers one Tencent action for an authenticated tenant.
type tcAction func(c *call, body []byte) (any, *iaasclient.Error)

func (s *Server) tcActions() map[string]tcAction {
	return map[string]tcAction{
		"cvm/DescribeInstances":            s.tcDescribeInstances,
		"cvm/StartInstances":               s.tcInstancesAction(iaasclient.ActionStartInstances),
		"cvm/StopInstances":                s.tcInstancesAction(iaasclient.ActionStopInstances),
		"cvm/TerminateInstances":           s.tcInstancesAction(iaasclient.ActionTerminateInstances),
		"vpc/DescribeVpcs":                 s.tcDescribeVpcs,
		"vpc/DescribeRouteTables":          s.tcDescribeRouteTables,
		"vpc/CreateRoutes":                 s.tcCreateRoutes,
		"vpc/DeleteRoutes":                 s.tcDeleteRoutes,
		"cbs/CreateDisks":                  s.tcCreateDisks,
		"cbs/DescribeDisks":                s.tcDescribeDisks,
		"cbs/AttachDisks":                  s.tcAttachDisks,
		"cbs/DetachDisks":                  s.tcDetachDisks,
		"cbs/ResizeDisk":                   s.tcResizeDisk,
		"cbs/TerminateDisks":               s.tcTerminateDisks,
		"cbs/ModifyDiskAttributes":         s.tcModifyDiskAttributes,
		"cbs/CreateSnapshot":               s.tcCreateSnapshot,
		"cbs/DescribeSnapshots":            s.tcDescribeSnapshots,
		"cbs/DeleteSnapshots":              s.tcDeleteSnapshots,
		"tag/ModifyResourceTags":           s.tcModifyResourceTags,
		"clb/CreateLoadBalancer":           s.tcCreateLoadBalancer,
		"clb/DescribeLoadBalancers":        s.tcDescribeLoadBalancers,
		"clb/ModifyLoadBalancerAttributes": s.tcModifyLoadBalancerAttributes,
		"clb/DeleteLoadBalancer":           s.tcDeleteLoadBalancer,
		"clb/CreateListener":               s.tcCreateListener,
		"clb/DescribeListeners":            s.tcDescribeListeners,
		"clb/ModifyListener":               s.tcModifyListener,
		"clb/DeleteListener":               s.tcDeleteListener,
		"clb/DescribeTargets":              s.tcDescribeTargets,
		"clb/RegisterTargets":              s.tcRegisterTargets,
		"clb/DeregisterTargets":            s.tcDeregisterTargets,
		"clb/DescribeTaskStatus":           s.tcDescribeTaskStatus,
	}
}

// isTCRequest: the SDK always sends X-TC-Action; the native API never does.
func isTCRequest(r *http.Request) bool { return r.Header.Get("X-TC-Action") != "" }

// tcError is a Tencent error code with its message.
type tcError struct{ code, msg string }

// tcCode maps a native error code onto the documented Tencent code of the product.
func tcCode(service, action string, e *iaasclient.Error) string {
	switch e.Code {
	case iaasclient.CodeResourceNotFound:
		switch {
		case service == "cvm":
			return "InvalidInstanceId.NotFound"
		case service == "cbs" && strings.Contains(action, "Snapshot"):
			return "InvalidSnapshotId.NotFound"
		case service == "cbs":
			return "InvalidDiskId.NotFound"
		case service == "clb":
			return "InvalidParameter.LBIdNotFound"
		}
		return "ResourceNotFound"
	case iaasclient.CodeResourceInUse:
		return "ResourceInUse"
	case iaasclient.CodeLimitExceeded:
		if action == "AttachDisks" {
			return "LimitExceeded.InstanceAttachedDisk"
		}
		return "LimitExceeded"
	case iaasclient.CodeRequestLimitExceeded:
		return "RequestLimitExceeded"
	case iaasclient.CodeInvalidParameter:
		return "InvalidParameterValue"
	case iaasclient.CodeUnauthorizedOperation:
		return "UnauthorizedOperation"
	case iaasclient.CodeIdempotentParameterMismatch:
		return "IdempotentParameterMismatch"
	}
	return "InternalError"
}

func (s *Server) serveTC(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	action := r.Header.Get("X-TC-Action")
	service := ""
	code := "OK"
	defer func() { s.metrics.observe("tc:"+service+"/"+action, code, time.Since(start)) }()
	fail := func(e tcError) {
		code = e.code
		writeTC(w, map[string]any{"Error": map[string]string{"Code": e.code, "Message": e.msg}, "RequestId": reqID})
	}
	if r.Method != http.MethodPost {
		fail(tcError{"InvalidParameter", "this fake takes POST with a JSON body"})
		return
	}
	body, berr := readBody(w, r)
	if berr != nil {
		fail(tcError{"InvalidParameter", berr.Message})
		return
	}
	tn, svc, terr := s.tcAuthenticate(r, body)
	service = svc
	if terr != nil {
		fail(*terr)
		return
	}
	if region := r.Header.Get("X-TC-Region"); region != s.cfg.Region {
		fail(tcError{"InvalidParameterValue.InvalidRegion", "region " + strconv.Quote(region) + " does not exist (this fake serves " + s.cfg.Region + ")"})
		return
	}
	fn, ok := s.tcActions()[svc+"/"+action]
	if !ok {
		fail(tcError{"InvalidAction", "unknown action " + strconv.Quote(svc+"/"+action)})
		return
	}
	fd := s.faults.decide(action)
	if fd.throttle {
		fail(tcError{"RequestLimitExceeded", "request limit exceeded (injected)"})
		return
	}
	if fd.fail {
		fail(tcError{"InternalError", "internal error (injected)"})
		return
	}
	resp, aerr := fn(&call{tenant: tn, requestID: reqID, action: action}, body)
	if err := s.state.waitAll(); err != nil {
		resp, aerr = nil, err
	}
	if aerr != nil {
		fail(tcError{tcCode(svc, action, aerr), aerr.Message})
		return
	}
	b, _ := json.Marshal(resp)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	m["RequestId"] = reqID
	writeTC(w, m)
}

// writeTC writes {"Response": inner}; Tencent answers errors with HTTP 200 too.
func writeTC(w http.ResponseWriter, inner map[string]any) {
	b, _ := json.Marshal(map[string]any{"Response": inner})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// tcAuthenticate verifies a TC3-HMAC-SHA256 signature (the SecretId is the tenant's
// access key id, the SecretKey its secret) and then the source address, as the native
// API does. It returns the product named in the credential scope.
func (s *Server) tcAuthenticate(r *http.Request, body []byte) (*tenant, string, *tcError) {
	authz := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(authz, "TC3-HMAC-SHA256 ")
	if !ok {
		return nil, "", &tcError{"AuthFailure.InvalidAuthorization", "Authorization must be TC3-HMAC-SHA256"}
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 4 || scope[3] != "tc3_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return nil, "", &tcError{"AuthFailure.InvalidAuthorization", "malformed Authorization"}
	}
	secretID, date, service := scope[0], scope[1], scope[2]
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		return nil, service, &tcError{"AuthFailure.InvalidAuthorization", "X-TC-Timestamp missing"}
	}
	t := time.Unix(ts, 0).UTC()
	if d := s.now().Sub(t); d > tcMaxSkew || d < -tcMaxSkew {
		return nil, service, &tcError{"AuthFailure.SignatureExpire", "signature expired: X-TC-Timestamp is off by " + d.Round(time.Second).String()}
	}
	if t.Format("2006-01-02") != date {
		return nil, service, &tcError{"AuthFailure.SignatureFailure", "credential scope date does not match X-TC-Timestamp"}
	}
	key, ok := s.keys[secretID]
	if !ok {
		return nil, service, &tcError{"AuthFailure.SecretIdNotFound", "the SecretId is not found"}
	}
	var canon strings.Builder
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canon.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
	}
	payload := sha256.Sum256(body)
	creq := strings.Join([]string{r.Method, "/", r.URL.RawQuery, canon.String(), fields["SignedHeaders"], hex.EncodeToString(payload[:])}, "\n")
	creqHash := sha256.Sum256([]byte(creq))
	toSign := strings.Join([]string{"TC3-HMAC-SHA256", strconv.FormatInt(ts, 10), date + "/" + service + "/tc3_request", hex.EncodeToString(creqHash[:])}, "\n")
	k := hmacSHA256([]byte("TC3"+key.secret), date)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "tc3_request")
	want := hex.EncodeToString(hmacSHA256(k, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return nil, service, &tcError{"AuthFailure.SignatureFailure", "the request signature does not match"}
	}
	tn := s.tenants[key.tenant]
	peer, ok := peerAddr(r)
	if !ok || !s.sourceAllowed(tn, peer) {
		return nil, service, &tcError{"UnauthorizedOperation", "source address " + peerString(peer, ok) + " is not an instance of this tenant nor in its admin CIDRs"}
	}
	return tn, service, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// native runs a native action with a JSON request for the tenant of c.
func (s *Server) native(c *call, action string, req any) (any, *iaasclient.Error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, errf(iaasclient.CodeInternalError, "encoding %s: %v", action, err)
	}
	return s.actions()[action](&call{tenant: c.tenant, requestID: c.requestID, action: action, body: b})
}

// decodeTC decodes a Tencent request body (unknown fields are ignored, as Tencent does
// for the common parameters the SDK also puts in the body).
func decodeTC(body []byte, v any) *iaasclient.Error {
	if err := json.Unmarshal(body, v); err != nil {
		return errf(iaasclient.CodeInvalidParameter, "request body: %v", err)
	}
	return nil
}
