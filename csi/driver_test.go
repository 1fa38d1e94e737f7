package csi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

func TestParseEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"unix:///csi/csi.sock": "/csi/csi.sock",
		"unix:/csi/csi.sock":   "/csi/csi.sock",
		"/csi/csi.sock":        "/csi/csi.sock",
		"unix://csi.sock":      "csi.sock",
	} {
		if got, err := ParseEndpoint(in); err != nil || got != want {
			t.Errorf("ParseEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"tcp://127.0.0.1:10000", "unix://", "http://x"} {
		if _, err := ParseEndpoint(bad); err == nil {
			t.Errorf("ParseEndpoint(%q) accepted", bad)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRunServesEverything starts the whole driver (mode all) over real sockets: the CSI
// services, kubelet registration, /healthz (which probes the CSI socket) and /metrics.
func TestRunServesEverything(t *testing.T) {
	dir := t.TempDir()
	cloud := fake.New()
	inst := cloud.AddInstance(iaasclient.Instance{Name: "n"})
	cloud.SetIdentity(inst.InstanceID)
	sock := filepath.Join(dir, "csi.sock")
	httpAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Mode: ModeAll, Endpoint: "unix://" + sock, Version: "test", Cloud: NewCloud(cloud),
			Mounter: NewFakeMounter(), Devices: ByIDFinder{Dir: dir},
			HTTPEndpoint: httpAddr, KubeletRegistrationPath: sock, RegistrationDir: filepath.Join(dir, "registry"),
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not stop")
		}
	}()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	info, err := csi.NewIdentityClient(conn).GetPluginInfo(cctx, &csi.GetPluginInfoRequest{}, grpc.WaitForReady(true))
	if err != nil || info.GetName() != DriverName || info.GetVendorVersion() != "test" {
		t.Fatalf("GetPluginInfo = %v, %v", info, err)
	}
	caps, _ := csi.NewIdentityClient(conn).GetPluginCapabilities(cctx, &csi.GetPluginCapabilitiesRequest{})
	if !strings.Contains(caps.String(), "CONTROLLER_SERVICE") {
		t.Errorf("mode all lacks the controller service: %v", caps)
	}
	ni, err := csi.NewNodeClient(conn).NodeGetInfo(cctx, &csi.NodeGetInfoRequest{})
	if err != nil || ni.GetNodeId() != inst.InstanceID {
		t.Errorf("NodeGetInfo = %v, %v", ni, err)
	}
	// An error goes through the interceptor and keeps its code.
	_, err = csi.NewControllerClient(conn).CreateVolume(cctx, &csi.CreateVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument)

	reg, err := grpc.NewClient("unix://"+RegistrationSocket(filepath.Join(dir, "registry")), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	pi, err := registerapi.NewRegistrationClient(reg).GetInfo(cctx, &registerapi.InfoRequest{}, grpc.WaitForReady(true))
	if err != nil || pi.GetEndpoint() != sock {
		t.Errorf("registration GetInfo = %v, %v", pi, err)
	}

	get := func(path string) (int, string) {
		t.Helper()
		var resp *http.Response
		for range 50 {
			if resp, err = http.Get(fmt.Sprintf("http://%s%s", httpAddr, path)); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %s", code, body)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "csi_plugin_operations_seconds") {
		t.Errorf("/metrics = %d, csi metrics present: %t", code, strings.Contains(body, "csi_plugin_operations_seconds"))
	}
	// Kubelet refuses the registration: /healthz turns unhealthy so the plugin restarts.
	if _, err := registerapi.NewRegistrationClient(reg).NotifyRegistrationStatus(cctx, &registerapi.RegistrationStatus{Error: "no"}); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz after a refused registration = %d", code)
	}
}

func TestNodeOnlyDoesNotClaimController(t *testing.T) {
	s := NewIdentityServer("v", false, nil)
	caps, _ := s.GetPluginCapabilities(context.Background(), nil)
	if strings.Contains(caps.String(), "CONTROLLER_SERVICE") {
		t.Errorf("node-only plugin claims the controller service: %v", caps)
	}
}

func TestParams(t *testing.T) {
	p, err := parseVolumeParams(map[string]string{"tags": " a = 1 ,b=2,, ", "type": "cloud_basic"})
	if err != nil || p.tags["a"] != "1" || p.tags["b"] != "2" || p.diskType != iaasclient.DiskTypeBasic {
		t.Errorf("params = %+v, %v", p, err)
	}
	if _, err := parseVolumeParams(map[string]string{"tags": "a=1,a=2"}); err == nil {
		t.Error("duplicate tag accepted")
	}
	if _, err := parseVolumeParams(map[string]string{"tags": "=v"}); err == nil {
		t.Error("empty tag key accepted")
	}
}
