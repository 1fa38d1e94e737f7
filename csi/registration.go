package csi

import (
	"context"
	"path/filepath"
	"sync"

	"google.golang.org/grpc"
	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// DefaultRegistrationDir is where kubelet's plugin watcher looks for sockets.
const DefaultRegistrationDir = "/var/lib/kubelet/plugins_registry"

// RegistrationSocket is the registration socket path of this driver in dir.
func RegistrationSocket(dir string) string {
	return filepath.Join(dir, DriverName+"-reg.sock")
}

// RegistrationServer answers kubelet's plugin watcher, which finds its socket in the
// plugins_registry directory, asks GetInfo, then dials Endpoint and reports the
// outcome. It replaces the node-driver-registrar sidecar.
type RegistrationServer struct {
	registerapi.UnimplementedRegistrationServer
	// Endpoint is the CSI socket path as kubelet sees it (on the host).
	Endpoint string

	mu         sync.Mutex
	registered *bool
	lastError  string
}

var _ registerapi.RegistrationServer = (*RegistrationServer)(nil)

// NewRegistrationServer serves GetInfo for a CSI socket at endpoint (kubelet's view).
func NewRegistrationServer(endpoint string) *RegistrationServer {
	return &RegistrationServer{Endpoint: endpoint}
}

func (r *RegistrationServer) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              DriverName,
		Endpoint:          r.Endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *RegistrationServer) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := s.GetPluginRegistered()
	r.registered, r.lastError = &ok, s.GetError()
	if ok {
		klog.InfoS("Registered with kubelet", "driver", DriverName, "endpoint", r.Endpoint)
	} else {
		// Not fatal here: /healthz turns unhealthy, so the liveness probe restarts the
		// plugin and kubelet's watcher sees a fresh socket and tries again.
		klog.ErrorS(nil, "Kubelet refused the registration", "driver", DriverName, "error", s.GetError())
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// Status reports what kubelet said last: known=false until it said anything.
func (r *RegistrationServer) Status() (known, registered bool, lastError string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.registered == nil {
		return false, false, ""
	}
	return true, *r.registered, r.lastError
}

// Serve listens on socket until ctx ends.
func (r *RegistrationServer) Serve(ctx context.Context, socket string) error {
	l, err := listenUnix(socket)
	if err != nil {
		return err
	}
	s := grpc.NewServer()
	registerapi.RegisterRegistrationServer(s, r)
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	klog.InfoS("Serving kubelet plugin registration", "socket", socket, "csiEndpoint", r.Endpoint)
	return s.Serve(l)
}
