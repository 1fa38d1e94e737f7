package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

// sweeperGrace is the orphan sweeper's grace in this tier's cloud config.
const sweeperGrace = 4 * time.Second

// plantLB creates an LB as the tenant, the way a CCM that died mid-way would leave one.
func plantLB(t *testing.T, name string, tags map[string]string) string {
	t.Helper()
	ctx := context.Background()
	resp, err := env.sim.API.CreateLoadBalancer(ctx, &ic.CreateLoadBalancerRequest{
		Name: name, Type: ic.LoadBalancerPublic, VpcID: framework.SimVpc, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.sim.API.WaitTask(ctx, resp.TaskID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.sim.API.DeleteLoadBalancer(context.Background(), &ic.DeleteLoadBalancerRequest{LoadBalancerID: resp.LoadBalancerID})
	})
	return resp.LoadBalancerID
}

func lbExists(t *testing.T, id string) bool {
	t.Helper()
	all, err := env.sim.LoadBalancers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, lb := range all {
		if lb.LoadBalancerID == id {
			return true
		}
	}
	return false
}

// The real CCM against the real simulator: an LB tagged with this cluster and a
// Service UID that no Service has is deleted after the grace; another cluster's LB, an
// untagged one, and one a Service adopted by annotation (even tagged like an orphan)
// are never touched, nor is the LB of a live Service.
func TestOrphanSweeper(t *testing.T) {
	needsLoadBalancers(t)
	initializedNode(t, "sweep-0", "sim-1a", "")
	live := createService(t, "sweep-live", nil, v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80})
	liveLB := waitLB(t, live, "created", func(ic.LoadBalancer) error { return nil })

	orphan := plantLB(t, "itest-default-gone", map[string]string{iaas.TagCluster: "itest", iaas.TagServiceUID: "5e0f1a2b-dead-4000-8000-000000000001"})
	other := plantLB(t, "other-default-gone", map[string]string{iaas.TagCluster: "other-cluster", iaas.TagServiceUID: "5e0f1a2b-dead-4000-8000-000000000002"})
	untagged := plantLB(t, "by-hand", nil)
	adopted := plantLB(t, "adopted", map[string]string{iaas.TagCluster: "itest", iaas.TagServiceUID: "5e0f1a2b-dead-4000-8000-000000000003"})
	createService(t, "sweep-adopter", map[string]string{iaas.AnnotationExistingID: adopted},
		v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 81})

	start := time.Now()
	err := framework.Eventually(waitTimeout, func() error {
		if lbExists(t, orphan) {
			return fmt.Errorf("orphan %s still there", orphan)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took < sweeperGrace {
		t.Errorf("orphan deleted after %v, before the grace of %v", took, sweeperGrace)
	}
	t.Logf("orphan deleted %v after it was planted (grace %v)", took.Round(100*time.Millisecond), sweeperGrace)
	time.Sleep(2 * sweeperGrace) // several more passes
	for what, id := range map[string]string{"another cluster's": other, "untagged": untagged, "adopted": adopted, "live Service's": liveLB.LoadBalancerID} {
		if !lbExists(t, id) {
			t.Errorf("the sweeper deleted the %s LB %s", what, id)
		}
	}
	if got := ccmMetric(t, iaas.OrphansDeletedMetric+`{kind="loadBalancer"}`); got < 1 {
		t.Errorf("%s = %v, want at least 1", iaas.OrphansDeletedMetric, got)
	}
}

// ccmMetric reads one sample of the CCM's /metrics.
func ccmMetric(t *testing.T, series string) float64 {
	t.Helper()
	url := strings.TrimSuffix(env.ccm.HealthURL, "/healthz") + "/metrics"
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+env.kube.Token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return 0
}
