package iaassim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim"
)

func TestBadInput(t *testing.T) {
	e := newEnv(t, 0)
	c := e.alpha()
	for _, tc := range []struct {
		name, action string
		body         string
		code         iaasclient.Code
		msg          string
	}{
		{"unknown field", "DescribeDisks", `{"diskIds":[],"bogus":1}`, iaasclient.CodeInvalidParameter, "bogus: unknown field"},
		{"case folding refused", "DescribeDisks", `{"DiskIds":[]}`, iaasclient.CodeInvalidParameter, "DiskIds: unknown field"},
		{"nested path", "CreateRoutes", `{"routeTableId":"rtb-alpha","routes":[{},{},{"destinationCidr":5}]}`, iaasclient.CodeInvalidParameter, "routes[2].destinationCidr: must be a string"},
		{"nested unknown", "CreateLoadBalancer", `{"name":"x","type":"public","vpcId":"vpc-alpha","listeners":[{"protocol":"TCP","port":80,"backends":[{"ip":"1.2.3.4","port":1,"wat":2}]}]}`, iaasclient.CodeInvalidParameter, "listeners[0].backends[0].wat: unknown field"},
		{"wrong type", "CreateDisk", `{"zone":"sim-1a","sizeGiB":"10"}`, iaasclient.CodeInvalidParameter, "sizeGiB: must be an integer"},
		{"fraction", "CreateDisk", `{"zone":"sim-1a","sizeGiB":1.5}`, iaasclient.CodeInvalidParameter, "sizeGiB: must be an integer"},
		{"overflow", "CreateDisk", `{"zone":"sim-1a","sizeGiB":99999999999999999999}`, iaasclient.CodeInvalidParameter, "sizeGiB"},
		{"trailing data", "DescribeDisks", `{}{}`, iaasclient.CodeInvalidParameter, "trailing data"},
		{"trailing garbage", "DescribeDisks", `{} x`, iaasclient.CodeInvalidParameter, "body"},
		{"malformed", "DescribeDisks", `{"diskIds":[`, iaasclient.CodeInvalidParameter, "malformed JSON"},
		{"not an object", "DescribeDisks", `[1]`, iaasclient.CodeInvalidParameter, "must be a JSON object"},
		{"empty", "DescribeDisks", ``, iaasclient.CodeInvalidParameter, "body: empty"},
		{"null", "DescribeDisks", `null`, iaasclient.CodeInvalidParameter, "body"},
		{"unknown action", "FormatDisk", `{}`, iaasclient.CodeInvalidParameter, "unknown action"},
		{"negative size", "CreateDisk", `{"zone":"sim-1a","sizeGiB":-5}`, iaasclient.CodeInvalidParameter, "sizeGiB"},
		{"unknown id", "DeleteDisk", `{"diskId":"disk-123"}`, iaasclient.CodeResourceNotFound, "diskId"},
		{"bad tag map", "ModifyDisk", `{"diskId":"disk-1","tags":{"a":1}}`, iaasclient.CodeInvalidParameter, `tags["a"]: must be a string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Do(context.Background(), tc.action, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			e := r.Err()
			if e == nil || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("got %d %+v, want %s containing %q", r.Status, e, tc.code, tc.msg)
			}
			if e.RequestID == "" || r.Header.Get(iaasclient.HeaderRequestID) != e.RequestID {
				t.Errorf("request id: body %q header %q", e.RequestID, r.Header.Get(iaasclient.HeaderRequestID))
			}
			if want := (&iaasclient.Error{Code: tc.code}).HTTPStatus(); r.Status != want {
				t.Errorf("status %d, want %d", r.Status, want)
			}
		})
	}
	t.Run("oversized", func(t *testing.T) {
		big := []byte(`{"names":["` + strings.Repeat("x", iaasclient.MaxRequestBodyBytes) + `"]}`)
		r, err := c.Do(context.Background(), "DescribeDisks", big)
		if err != nil {
			t.Fatal(err)
		}
		if e := r.Err(); e == nil || e.Code != iaasclient.CodeInvalidParameter || !strings.Contains(e.Message, "larger than") {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(e.api.URL + "/v1/DescribeDisks")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, 0)
	body := []byte(`{}`)
	send := func(mut func(r *http.Request)) *iaasclient.Error {
		req, _ := http.NewRequest(http.MethodPost, e.api.URL+"/v1/DescribeVpcs", bytes.NewReader(body))
		if err := iaasclient.SignRequest(req, body, alphaCreds, time.Now()); err != nil {
			t.Fatal(err)
		}
		mut(req)
		resp, err := e.client(alphaCreds, ipAdmin).HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 {
			return nil
		}
		var env iaasclient.ErrorEnvelope
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &env)
		return env.Error
	}
	if err := send(func(*http.Request) {}); err != nil {
		t.Fatalf("a good request: %v", err)
	}
	var replay *http.Request
	if err := send(func(r *http.Request) { replay = r.Clone(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(r *http.Request){
		"replayed nonce": func(r *http.Request) { r.Header = replay.Header.Clone() },
		"old timestamp": func(r *http.Request) {
			_ = iaasclient.SignRequest(r, body, alphaCreds, time.Now().Add(-10*time.Minute))
		},
		"wrong secret": func(r *http.Request) {
			_ = iaasclient.SignRequest(r, body, iaasclient.Credentials{AccessKeyID: "AKALPHA", SecretKey: "guess-guess"}, time.Now())
		},
		"unknown key": func(r *http.Request) {
			_ = iaasclient.SignRequest(r, body, iaasclient.Credentials{AccessKeyID: "AKNOBODY", SecretKey: "guess-guess"}, time.Now())
		},
		"unsigned":     func(r *http.Request) { r.Header.Del("Authorization") },
		"other action": func(r *http.Request) { r.URL.Path = "/v1/DescribeDisks" },
	} {
		t.Run(name, func(t *testing.T) {
			if err := send(mut); err == nil || err.Code != iaasclient.CodeUnauthorizedOperation {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestFaultInjection(t *testing.T) {
	e := newEnvConfig(t, testConfig+"\ntimeoutFaultDelay: 300ms\n", 0)
	c := e.alpha()
	admin := func(method, path string, body any) *http.Response {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, e.admin.URL+path, bytes.NewReader(b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := admin("PUT", "/admin/v1/faults/DescribeVpcs", iaassim.FaultSpec{ErrorRate: 1}); r.StatusCode != 200 {
		t.Fatalf("set fault: %d", r.StatusCode)
	}
	r, _ := c.Do(context.Background(), "DescribeVpcs", struct{}{})
	if r.Status != 500 || r.Err().Code != iaasclient.CodeInternalError {
		t.Fatalf("error fault: %d %s", r.Status, r.Body)
	}
	admin("PUT", "/admin/v1/faults/DescribeVpcs", iaassim.FaultSpec{ThrottleRate: 1, RetryAfterSeconds: 3})
	r, _ = c.Do(context.Background(), "DescribeVpcs", struct{}{})
	if r.Status != 429 || r.Header.Get("Retry-After") != "3" || r.Err().Code != iaasclient.CodeRequestLimitExceeded {
		t.Fatalf("throttle fault: %d %v %s", r.Status, r.Header, r.Body)
	}
	admin("PUT", "/admin/v1/faults/DescribeVpcs", iaassim.FaultSpec{Latency: &iaassim.Duration{Duration: 150 * time.Millisecond}})
	start := time.Now()
	if _, err := call[iaasclient.DescribeVpcsResponse](t, c, "DescribeVpcs", struct{}{}); err != nil || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("latency fault: %v after %v", err, time.Since(start))
	}
	if r := admin("PUT", "/admin/v1/faults/NoSuchAction", iaassim.FaultSpec{}); r.StatusCode != 400 {
		t.Fatalf("unknown action accepted: %d", r.StatusCode)
	}
	if r := admin("PUT", "/admin/v1/faults/CreateDisk", map[string]any{"errorRate": 2}); r.StatusCode != 400 {
		t.Fatalf("rate 2 accepted: %d", r.StatusCode)
	}

	// Accept then time out: the disk is created, the caller gets no answer; the
	// same client token then returns the same disk.
	admin("PUT", "/admin/v1/faults/CreateDisk", iaassim.FaultSpec{TimeoutRate: 1})
	req := iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: 1, ClientToken: "timeout-1"}
	if _, err := c.Do(context.Background(), "CreateDisk", req); err == nil {
		t.Fatal("timeout fault answered")
	}
	admin("DELETE", "/admin/v1/faults", nil)
	d := must[iaasclient.CreateDiskResponse](t, c, "CreateDisk", req)
	if list := must[iaasclient.DescribeDisksResponse](t, c, "DescribeDisks", struct{}{}); list.TotalCount != 1 || list.Disks[0].DiskID != d.DiskID {
		t.Fatalf("after the timed-out create: %+v", list)
	}

	// Counters as JSON, and Prometheus.
	resp := admin("GET", "/admin/v1/counters", nil)
	var cnt iaassim.Counters
	if err := json.NewDecoder(resp.Body).Decode(&cnt); err != nil {
		t.Fatal(err)
	}
	v := cnt.Actions["DescribeVpcs"]
	if v == nil || v.Requests != 3 || v.Codes["InternalError"] != 1 || v.Codes["RequestLimitExceeded"] != 1 || v.Faults["throttle"] != 1 || v.Faults["latency"] != 1 {
		t.Fatalf("DescribeVpcs counters: %+v", v)
	}
	if cd := cnt.Actions["CreateDisk"]; cd == nil || cd.Faults["timeout"] != 1 || cd.Requests != 2 {
		t.Fatalf("CreateDisk counters: %+v", cd)
	}
	resp = admin("GET", "/metrics", nil)
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`iaas_sim_requests_total{action="DescribeVpcs",code="InternalError"} 1`, `iaas_sim_faults_injected_total{action="CreateDisk",kind="timeout"} 1`, "iaas_sim_request_duration_seconds_bucket"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	admin("DELETE", "/admin/v1/counters", nil)
	if c := e.sim.Counters(); len(c.Actions) != 0 {
		t.Fatalf("after reset: %+v", c)
	}
}

func TestAdminInstances(t *testing.T) {
	e := newEnv(t, 0)
	admin := func(method, path string, body any) (int, iaassim.AdminInstance) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, e.admin.URL+path, bytes.NewReader(b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out iaassim.AdminInstance
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	newIP := "127.0.0.31"
	c := e.client(alphaCreds, mustAddr(newIP))
	if _, err := call[iaasclient.DescribeVpcsResponse](t, c, "DescribeVpcs", struct{}{}); iaasclient.CodeOf(err) != iaasclient.CodeUnauthorizedOperation {
		t.Fatalf("before the instance exists: %v", err)
	}
	code, in := admin("POST", "/admin/v1/instances", iaassim.StaticInstanceConfig{Name: "a-new", Tenant: "alpha", Zone: "sim-1a", PrivateIPs: []string{newIP}})
	if code != 200 || !strings.HasPrefix(in.InstanceID, "ins-") {
		t.Fatalf("add: %d %+v", code, in)
	}
	if code, _ := admin("POST", "/admin/v1/instances", iaassim.StaticInstanceConfig{Name: "dup", Tenant: "beta", PrivateIPs: []string{newIP}}); code != 409 {
		t.Fatalf("duplicate IP: %d", code)
	}
	if code, _ := admin("POST", "/admin/v1/instances", iaassim.StaticInstanceConfig{Name: "x", Tenant: "nobody", PrivateIPs: []string{"127.0.0.32"}}); code != 400 {
		t.Fatalf("unknown tenant: %d", code)
	}
	if id := instanceID(t, c, newIP); id != in.InstanceID {
		t.Fatalf("id %s, want %s", id, in.InstanceID)
	}
	if code, got := admin("PUT", "/admin/v1/instances/a-new/state", map[string]string{"state": "STOPPED"}); code != 200 || got.State != iaasclient.InstanceStopped {
		t.Fatalf("set state: %d %+v", code, got)
	}
	r := must[iaasclient.DescribeInstancesResponse](t, e.alpha(), "DescribeInstances", iaasclient.DescribeInstancesRequest{InstanceIDs: []string{in.InstanceID}})
	if r.Instances[0].State != iaasclient.InstanceStopped {
		t.Fatalf("state: %s", r.Instances[0].State)
	}
	e.restart() // the static state file keeps added machines and states
	r = must[iaasclient.DescribeInstancesResponse](t, e.alpha(), "DescribeInstances", iaasclient.DescribeInstancesRequest{InstanceIDs: []string{in.InstanceID}})
	if len(r.Instances) != 1 || r.Instances[0].State != iaasclient.InstanceStopped {
		t.Fatalf("after restart: %+v", r.Instances)
	}
	if code, _ := admin("PUT", "/admin/v1/instances/nope/state", map[string]string{"state": "STOPPED"}); code != 404 {
		t.Fatalf("unknown key: %d", code)
	}
	if code, _ := admin("DELETE", "/admin/v1/instances/a-new", nil); code != 200 {
		t.Fatalf("remove: %d", code)
	}
	r = must[iaasclient.DescribeInstancesResponse](t, e.alpha(), "DescribeInstances", iaasclient.DescribeInstancesRequest{InstanceIDs: []string{in.InstanceID}})
	if r.Instances[0].State != iaasclient.InstanceTerminated {
		t.Fatalf("after remove: %s", r.Instances[0].State)
	}
	c = e.client(alphaCreds, mustAddr(newIP))
	if _, err := call[iaasclient.DescribeVpcsResponse](t, c, "DescribeVpcs", struct{}{}); iaasclient.CodeOf(err) != iaasclient.CodeUnauthorizedOperation {
		t.Fatalf("a terminated instance's address: %v", err)
	}
}

func TestRestartResumesTasks(t *testing.T) {
	e := newEnv(t, time.Hour) // no task runs before the restart
	c := e.alpha()
	a1 := instanceID(t, c, "127.0.0.11")
	cr := must[iaasclient.CreateDiskResponse](t, c, "CreateDisk", iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: 1})
	lb := must[iaasclient.CreateLoadBalancerResponse](t, c, "CreateLoadBalancer", iaasclient.CreateLoadBalancerRequest{Name: "l", Type: "public", VpcID: "vpc-alpha"})
	stop := must[iaasclient.TaskResponse](t, c, "StopInstances", iaasclient.InstancesRequest{InstanceIDs: []string{a1}})
	e.delay = 0
	e.restart()
	c = e.alpha()
	for _, id := range []string{cr.TaskID, lb.TaskID, stop.TaskID} {
		waitOK(t, c, id)
	}
	if d := describeDisk(t, c, cr.DiskID); d.State != iaasclient.DiskAvailable {
		t.Fatalf("disk after resume: %s", d.State)
	}
	in := must[iaasclient.DescribeInstancesResponse](t, e.client(alphaCreds, ipAdmin), "DescribeInstances", iaasclient.DescribeInstancesRequest{InstanceIDs: []string{a1}})
	if in.Instances[0].State != iaasclient.InstanceStopped {
		t.Fatalf("instance after resumed stop: %s", in.Instances[0].State)
	}
}

func TestExpiredTokensAndTasksArePruned(t *testing.T) {
	e := newEnv(t, 0)
	c := e.alpha()
	req := iaasclient.CreateDiskRequest{Zone: "sim-1a", SizeGiB: 1, ClientToken: "old"}
	first := must[iaasclient.CreateDiskResponse](t, c, "CreateDisk", req)
	waitOK(t, c, first.TaskID)
	var skew atomic.Int64 // the server's clock is 3 days ahead while it starts (and prunes)
	skew.Store(int64(72 * time.Hour))
	e.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	e.restart()
	skew.Store(0)
	c = e.alpha()
	again := must[iaasclient.CreateDiskResponse](t, c, "CreateDisk", req)
	if again.DiskID == first.DiskID {
		t.Fatal("an expired client token was replayed")
	}
	if _, err := call[iaasclient.DescribeTaskResponse](t, e.client(alphaCreds, ipAdmin), "DescribeTask", iaasclient.DescribeTaskRequest{TaskID: first.TaskID}); iaasclient.CodeOf(err) != iaasclient.CodeResourceNotFound {
		t.Fatalf("a task finished 3 days ago: %v", err)
	}
}
