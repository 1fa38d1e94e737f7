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
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
	"github.com/kube-iaas/kube-iaas/test/testutil"
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
	initializedNode(t, "sweep-0", "sim-1a", "")
	live := createService(t, "sweep-live", nil, v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80})
	liveLB := waitLB(t, live, "created", func(ic.LoadBalancer) error { return nil })

	// The grace runs from the moment the orphan exists: the sweeper may see it at once,
	// while the other plants below still take time.
	start := time.Now()
	orphan := plantLB(t, "itest-default-gone", map[string]string{iaas.TagCluster: "itest", iaas.TagServiceUID: "5e0f1a2b-dead-4000-8000-000000000001"})
	other := plantLB(t, "other-default-gone", map[string]string{iaas.TagCluster: "other-cluster", iaas.TagServiceUID: "5e0f1a2b-dead-4000-8000-000000000002"})
	untagged := plantLB(t, "by-hand", nil)
	adopted := plantLB(t, "adopted", map[string]string{iaas.TagCluster: "itest", iaas.TagServiceUID: "5e0f1a2b-dead-4000-8000-000000000003"})
	createService(t, "sweep-adopter", map[string]string{iaas.AnnotationExistingID: adopted},
		v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 81})

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

// The sweeper's Ingress rules on the real CCM: an L7 LB and a certificate tagged with
// this cluster and an Ingress UID that no Ingress has are deleted after the grace; a
// live Ingress's are kept.
func TestOrphanSweeperIngress(t *testing.T) {
	needsLayer7(t)
	ctx := context.Background()
	live, err := env.kube.Client.NetworkingV1().Ingresses("default").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "sweep-live-ing"},
		// A class nobody serves: the Ingress exists, no controller makes it an LB.
		Spec: networkingv1.IngressSpec{IngressClassName: ptrTo("nobody"), DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "x", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.NetworkingV1().Ingresses("default").Delete(context.Background(), "sweep-live-ing", metav1.DeleteOptions{})
	})
	upload := func(uid string) string {
		crt, key := testutil.SelfSigned(t, "sweep").PEM(t)
		r, err := env.sim.API.UploadCertificate(ctx, &ic.UploadCertificateRequest{Name: "sweep", CertificatePEM: string(crt), PrivateKeyPEM: string(key),
			Tags: map[string]string{iaas.TagCluster: "itest", iaas.TagIngressUID: uid}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = env.sim.API.DeleteCertificate(context.Background(), &ic.DeleteCertificateRequest{CertificateID: r.CertificateID})
		})
		return r.CertificateID
	}
	start := time.Now()
	orphanLB := plantLB(t, "itest-ing-gone", map[string]string{iaas.TagCluster: "itest", iaas.TagIngressUID: "5e0f1a2b-dead-4000-8000-0000000000i1"})
	orphanCert := upload("5e0f1a2b-dead-4000-8000-0000000000i1")
	liveLB := plantLB(t, "itest-ing-live", map[string]string{iaas.TagCluster: "itest", iaas.TagIngressUID: string(live.UID)})
	liveCert := upload(string(live.UID))
	certExists := func(id string) bool {
		r, err := env.sim.API.DescribeCertificates(ctx, &ic.DescribeCertificatesRequest{CertificateIDs: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		return len(r.Certificates) == 1
	}
	err = framework.Eventually(waitTimeout, func() error {
		if lbExists(t, orphanLB) || certExists(orphanCert) {
			return fmt.Errorf("orphan LB %s or certificate %s still there", orphanLB, orphanCert)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < sweeperGrace {
		t.Errorf("orphans deleted after %v, before the grace of %v", took, sweeperGrace)
	}
	time.Sleep(2 * sweeperGrace)
	if !lbExists(t, liveLB) || !certExists(liveCert) {
		t.Errorf("the sweeper deleted the live Ingress's LB or certificate")
	}
	if got := ccmMetric(t, iaas.OrphansDeletedMetric+`{kind="certificate"}`); got < 1 {
		t.Errorf("%s{kind=certificate} = %v, want at least 1", iaas.OrphansDeletedMetric, got)
	}
}

func ptrTo[T any](v T) *T { return &v }
