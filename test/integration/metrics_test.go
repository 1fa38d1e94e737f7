package integration

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

// The CCM serves Prometheus metrics of every IaaS operation on /metrics (authorized
// through the API server, like every controller manager).
func TestMetricsPerOperation(t *testing.T) {
	url := strings.TrimSuffix(env.ccm.HealthURL, "/healthz") + "/metrics"
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	wants := []string{
		`iaas_api_requests_total{code="Success",operation="DescribeInstances"}`,
		`iaas_api_request_duration_seconds_bucket{operation="DescribeInstances"`,
		// Registered when the fenced-failover controller starts, released pods or not.
		iaas.PodsReleasedMetric,
	}
	var body []byte
	// The first calls happen once the CCM holds the leader lease.
	err := framework.Eventually(waitTimeout, func() error {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+env.kube.Token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		for _, want := range wants {
			if !strings.Contains(string(body), want) {
				return fmt.Errorf("metrics lack %s", want)
			}
		}
		return nil
	})
	if err != nil {
		var iaasLines []string
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "iaas_") {
				iaasLines = append(iaasLines, l)
			}
		}
		t.Fatalf("%v; iaas metrics: %v", err, iaasLines)
	}
}
