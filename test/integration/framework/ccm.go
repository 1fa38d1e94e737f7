package framework

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// CCM is a running iaas-cloud-controller-manager.
type CCM struct {
	*Proc
	HealthURL string
	bin, dir  string
	args      []string
}

// CloudConfig is the cloud config of the tests: short cache and periods so that
// convergence takes seconds.
//
// KUBE_IAAS_BACKEND=tencentcloud points the CCM's tencentcloud backend at the
// simulator's Tencent Cloud API front-end instead (same simulator, same state).
func CloudConfig(sim *Sim, credentials string) string {
	return Backend().configLine() + fmt.Sprintf(`endpoint: %s
region: %s
vpcId: %s
routeTableId: %s
clusterId: itest
credentialsFile: %s
cacheTTL: 1s
fencedFailover: {enabled: true, period: 1s}
orphanSweeper: {gracePeriod: 4s, period: 1s}
`, sim.APIURL, SimRegion, SimVpc, SimRouteTable, credentials)
}

// StartCCM runs the CCM against kube with cloudConfig.
func StartCCM(t TB, bin, dir string, kube *Kube, cloudConfig string, extra ...string) *CCM {
	t.Helper()
	cfg := filepath.Join(dir, "cloud.yaml")
	writeFile(t, cfg, cloudConfig)
	c := &CCM{bin: bin, dir: dir}
	c.args = append([]string{
		"--cloud-provider=iaas", "--cloud-config=" + cfg,
		"--kubeconfig=" + kube.Kubeconfig,
		"--authentication-kubeconfig=" + kube.Kubeconfig, "--authorization-kubeconfig=" + kube.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--leader-elect=true", "--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s",
		"--leader-elect-retry-period=500ms", "--leader-elect-resource-namespace=kube-system",
		"--cluster-name=itest", "--cluster-cidr=10.128.0.0/9", "--configure-cloud-routes=true",
		"--route-reconciliation-period=2s", "--node-monitor-period=1s", "--node-status-update-frequency=2s",
		"--concurrent-service-syncs=4", "--v=2",
	}, extra...)
	c.Start(t)
	return c
}

// Start (re)starts the process with the same arguments on a new port.
func (c *CCM) Start(t TB) {
	t.Helper()
	port := FreePort()
	c.HealthURL = fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	c.Proc = Start(t, c.dir, "ccm", c.bin, append(c.args, fmt.Sprintf("--secure-port=%d", port))...)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	err := Eventually(60*time.Second, func() error {
		if c.Exited() {
			return Permanent(fmt.Errorf("ccm exited:\n%s", c.Tail(4000)))
		}
		resp, err := hc.Get(c.HealthURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("healthz: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ccm not healthy: %v", err)
	}
}

// Healthy reports whether /healthz answers 200.
func (c *CCM) Healthy() error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get(c.HealthURL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}

// BackendKind is the CCM's IaaS backend under test.
type BackendKind string

const (
	BackendSim          BackendKind = "sim"
	BackendTencentCloud BackendKind = "tencentcloud"
)

// Backend reads KUBE_IAAS_BACKEND (default sim).
func Backend() BackendKind {
	if os.Getenv("KUBE_IAAS_BACKEND") == string(BackendTencentCloud) {
		return BackendTencentCloud
	}
	return BackendSim
}

func (b BackendKind) configLine() string {
	if b == BackendTencentCloud {
		// accountId: load balancer tags changed after creation go through the tag service.
		return "provider: tencentcloud\ntencentcloud: {metadataURL: http://127.0.0.1:1, accountId: \"100000000001\"}\n"
	}
	return ""
}
