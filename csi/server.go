package csi

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubernetes-csi/csi-lib-utils/metrics"
	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"
)

// ParseEndpoint accepts unix:///path, unix:/path, unix://path and a bare /path, and
// returns the socket path. Only unix sockets: the CSI socket is shared with sidecars or
// kubelet on the same machine, never exposed on the network.
func ParseEndpoint(ep string) (string, error) {
	if strings.HasPrefix(ep, "/") {
		return ep, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %w", ep, err)
	}
	if u.Scheme != "unix" {
		return "", fmt.Errorf("endpoint %q: only unix sockets are served", ep)
	}
	p := u.Path
	if u.Host != "" {
		p = u.Host + p
	}
	if p == "" {
		p = u.Opaque
	}
	if p == "" {
		return "", fmt.Errorf("endpoint %q: no socket path", ep)
	}
	return p, nil
}

// listenUnix removes a stale socket left by an earlier process and listens.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	return net.Listen("unix", path)
}

// interceptor logs every failed RPC (always) and every request and response at -v=5,
// secrets stripped, and records the RPC's duration and code in the CSI metrics.
func interceptor(mm metrics.CSIMetricsManager) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		if klog.V(5).Enabled() {
			klog.V(5).InfoS("GRPC call", "method", info.FullMethod, "request", protosanitizer.StripSecrets(req))
		}
		resp, err := handler(ctx, req)
		d := time.Since(start)
		if mm != nil {
			mm.RecordMetrics(info.FullMethod, err, d)
		}
		if err != nil {
			klog.ErrorS(err, "GRPC error", "method", info.FullMethod, "duration", d, "request", protosanitizer.StripSecrets(req))
		} else if klog.V(5).Enabled() {
			klog.V(5).InfoS("GRPC response", "method", info.FullMethod, "duration", d, "response", protosanitizer.StripSecrets(resp))
		}
		return resp, err
	}
}
