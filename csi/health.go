package csi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// healthHandler answers /healthz by calling the driver's own Probe over its socket, as
// the livenessprobe sidecar would: a wedged gRPC server or a deleted socket fails it,
// which an in-process flag could not see.
type healthHandler struct {
	conn         *grpc.ClientConn
	registration *RegistrationServer // nil when the plugin does not register itself
	timeout      time.Duration
}

func newHealthHandler(socket string, reg *RegistrationServer) (*healthHandler, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &healthHandler{conn: conn, registration: reg, timeout: 3 * time.Second}, nil
}

func (h *healthHandler) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	resp, err := csi.NewIdentityClient(h.conn).Probe(ctx, &csi.ProbeRequest{})
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if r := resp.GetReady(); r != nil && !r.GetValue() {
		return fmt.Errorf("probe: driver not ready")
	}
	if h.registration != nil {
		if known, ok, msg := h.registration.Status(); known && !ok {
			return fmt.Errorf("kubelet refused the registration: %s", msg)
		}
	}
	return nil
}

func (h *healthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.check(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func (h *healthHandler) Close() error { return h.conn.Close() }
