package iaassim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestPanicIsInternalError(t *testing.T) {
	h := recoverMiddleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/DescribeDisks", nil))
	var env iaasclient.ErrorEnvelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != 500 || env.Error.Code != iaasclient.CodeInternalError || env.Error.RequestID == "" {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}
