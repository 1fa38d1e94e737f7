package iaassim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/static"
)

const fuzzConfig = `
zones: [z1]
tenants:
  - name: t
    accessKeys: [{accessKeyId: AK, secretKey: secret-secret}]
    adminCidrs: [192.0.2.0/24]
    vpcs: [{vpcId: vpc-1, name: v, cidrBlock: 10.0.0.0/16, routeTables: [{routeTableId: rtb-1, name: r}]}]
staticInstances:
  - {name: n1, tenant: t, zone: z1, privateIps: [10.0.0.5]}
`

// FuzzAPIHandler sends arbitrary bodies to every action through the whole handler
// (authentication, decoding, rules, store): the answer is always a whole JSON document,
// never a 5xx, and the process never panics.
func FuzzAPIHandler(f *testing.F) {
	cfg, err := ParseConfig([]byte(fuzzConfig))
	if err != nil {
		f.Fatal(err)
	}
	b, _ := static.New([]static.Entry{StaticEntry(cfg.StaticInstances[0])}, "")
	zero := time.Duration(0)
	s, err := New(context.Background(), cfg, Options{DataDir: f.TempDir(), TaskDelay: &zero, DataPlane: dataplane.DataPlane{Instances: b}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	h := s.Handler()
	var once sync.Once
	var insID string
	for i := range iaasclient.Actions {
		for _, seed := range []string{`{}`, `{"routeTableId":"rtb-1","routes":[{"destinationCidr":"10.9.0.0/24","nextHopInstanceId":"INS"}]}`,
			`{"zone":"z1","sizeGiB":1}`, `{"name":"l","type":"internal","vpcId":"vpc-1","listeners":[{"protocol":"UDP","port":53,"backends":[]}]}`,
			`{"diskId":"disk-1","instanceId":"INS"}`, `{"limit":1000,"offset":99999999}`, `{"instanceIds":["INS"]}`} {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		once.Do(func() {
			for _, in := range s.state.instances {
				insID = in.InstanceID
			}
		})
		body = bytes.ReplaceAll(body, []byte("INS"), []byte(insID))
		action := iaasclient.Actions[int(which)%len(iaasclient.Actions)]
		req := httptest.NewRequest(http.MethodPost, iaasclient.APIPathPrefix+action, bytes.NewReader(body))
		req.RemoteAddr = "192.0.2.10:4444"
		if err := iaasclient.SignRequest(req, body, iaasclient.Credentials{AccessKeyID: "AK", SecretKey: "secret-secret"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", action, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: answer is not JSON: %q", action, rec.Body)
		}
		if rec.Code != http.StatusOK {
			var env iaasclient.ErrorEnvelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error == nil || !iaasclient.KnownCode(env.Error.Code) {
				t.Fatalf("%s: bad error envelope %s", action, rec.Body)
			}
		}
	})
}
