package iaassim

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// AdminAuth wraps the admin handler so that every route but /healthz needs
// "Authorization: Bearer <token>". Whoever reaches the admin API owns the simulator
// (faults on every tenant's actions, static instances that authorise addresses), and
// instances may run on host addresses, so a loopback listener alone is no credential.
// An empty token means the caller chose another credential (a 0600 unix socket) or
// asked for an open loopback listener explicitly.
func AdminAuth(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			h.ServeHTTP(w, r)
			return
		}
		got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
		// ConstantTimeCompare leaks only the length, which is public (the token format).
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="iaas-sim-admin"`)
			writeError(w, newRequestID(), errf(iaasclient.CodeUnauthorizedOperation, "admin API: missing or wrong bearer token (see --admin-token-file)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
