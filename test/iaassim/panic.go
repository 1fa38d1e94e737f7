package iaassim

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"k8s.io/klog/v2"
)

func logPanic(r *http.Request, requestID string, v any) {
	klog.FromContext(r.Context()).Error(fmt.Errorf("panic: %v", v), "Request handler panicked",
		"requestId", requestID, "path", r.URL.Path, "stack", string(debug.Stack()))
}
