package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Names shared with the e2e tests and the manifests.
const (
	driverName     = "disk.csi.kube-iaas.io"
	storageClass   = "iaas-ssd"
	snapshotClass  = "iaas-snapshots"
	tagCluster     = "kube-iaas.io/cluster"
	tagServiceUID  = "kube-iaas.io/service-uid"
	e2eLabel       = "e2e.kube-iaas.io/test" // TestZZTeardown waits for such namespaces and deletes such classes
	nodeSelectorAn = "loadbalancer.kube-iaas.io/node-selector"
)

// mode is the size of one run.
type mode struct {
	name                   string
	services, pvcs         int // lifecycles
	svcWorkers, pvcWorkers int // concurrency
	kills                  int // at least, every component at least once
	killGapMin, killGapMax time.Duration
	budget                 time.Duration // the whole test
}

var modes = map[string]mode{
	// make test-chaos: 10-20 min on a loaded 2-core machine.
	"short": {name: "short", services: 60, pvcs: 24, svcWorkers: 10, pvcWorkers: 8, kills: 6,
		killGapMin: 20 * time.Second, killGapMax: 50 * time.Second, budget: 30 * time.Minute},
	// make bench.
	"long": {name: "long", services: 500, pvcs: 200, svcWorkers: 16, pvcWorkers: 10, kills: 40,
		killGapMin: 30 * time.Second, killGapMax: 90 * time.Second, budget: 150 * time.Minute},
}

// env is what the test needs to reach the cluster, the IaaS and the simulator process.
type env struct {
	cfg       *rest.Config
	kube      kubernetes.Interface
	dyn       dynamic.Interface
	iaas      *ic.Client
	clusterID string
	route     string
	image     string
	sim       *simProc
}

func setup(t *testing.T) (*env, mode) {
	t.Helper()
	m, ok := modes[os.Getenv("KUBE_IAAS_CHAOS")]
	if !ok {
		t.Skip("KUBE_IAAS_CHAOS is not short or long (test/kind/e2e.sh with E2E_CHAOS runs this)")
	}
	for _, k := range []string{"KUBECONFIG", "IAAS_ENDPOINT", "IAAS_CREDENTIALS", "IAAS_SIM_STATE"} {
		if os.Getenv(k) == "" {
			t.Fatalf("%s is required", k)
		}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	e := &env{cfg: cfg, clusterID: getenv("IAAS_CLUSTER_ID", "kube-iaas"), route: getenv("IAAS_ROUTE_TABLE", "rtb-kind"),
		image: getenv("E2E_IMAGE", "registry.k8s.io/kube-proxy:v1.37.2")}
	if e.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if e.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	endpoint := os.Getenv("IAAS_ENDPOINT")
	creds, err := ic.LoadCredentialsFile(os.Getenv("IAAS_CREDENTIALS"))
	if err != nil {
		t.Fatal(err)
	}
	if e.iaas, err = ic.New(ic.Config{Endpoint: endpoint, Credentials: creds, LocalAddr: os.Getenv("IAAS_SOURCE_IP"),
		UserAgent: "kube-iaas-chaos"}); err != nil {
		t.Fatal(err)
	}
	if e.sim, err = attachSim(os.Getenv("IAAS_SIM_STATE")); err != nil {
		t.Fatalf("simulator: %v", err)
	}
	return e, m
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// poll calls f every interval until it returns true or an error, or until timeout; the
// last "not yet" reason is in the error.
func poll(ctx context.Context, interval, timeout time.Duration, f func(ctx context.Context) (bool, string, error)) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		ok, why, err := f(ctx)
		last = why
		return ok, err
	})
	if err != nil && last != "" {
		return fmt.Errorf("%w (last: %s)", err, last)
	}
	return err
}

// exec runs cmd in a container and returns stdout; stderr is in the error.
func (e *env) exec(ctx context.Context, ns, pod, container string, cmd ...string) (string, error) {
	req := e.kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(e.cfg, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	spdy, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", req.URL())
	if err != nil {
		return "", err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		return stdout.String(), fmt.Errorf("exec %v in %s/%s: %w (stderr: %s)", cmd, ns, pod, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// waitPodReady waits until the pod is Ready.
func (e *env) waitPodReady(ctx context.Context, ns, name string, timeout time.Duration) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := poll(ctx, time.Second, timeout, func(ctx context.Context) (bool, string, error) {
		p, err := e.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		pod = p
		return podReady(p), fmt.Sprintf("phase %s on %q", p.Status.Phase, p.Spec.NodeName), nil
	})
	return pod, err
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// instanceID is the IaaS instance of a node, from its providerID iaas:///<zone>/<id>.
func instanceID(n *corev1.Node) string {
	i := strings.LastIndex(n.Spec.ProviderID, "/")
	if !strings.HasPrefix(n.Spec.ProviderID, "iaas://") || i < 0 {
		return ""
	}
	return n.Spec.ProviderID[i+1:]
}

// httpGet does one request on a new connection and returns the body.
func httpGet(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

func ptr[T any](v T) *T { return &v }
