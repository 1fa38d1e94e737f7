// Package e2e holds the kind end-to-end tests of kube-iaas (issue 6): a real cluster
// (test/kind/create-cluster.sh) with our CCM, CSI driver and CNI config writer deployed
// from manifests/overlays/kind, against the simulated IaaS with its real data plane.
// test/kind/e2e.sh sets everything up and runs them; they skip unless KUBE_IAAS_E2E is
// set. Environment:
//
//	KUBE_IAAS_E2E=1       run (otherwise every test skips)
//	KUBECONFIG            the cluster
//	IAAS_ENDPOINT         the IaaS API, e.g. http://172.18.0.1:7790
//	IAAS_CREDENTIALS      tenant key file {accessKeyId, secretKey}
//	IAAS_SOURCE_IP        local address for IaaS calls (127.0.0.1: an admin CIDR)
//	IAAS_ROUTE_TABLE      the cluster's route table (rtb-kind)
//	IAAS_CLUSTER_ID       the CCM's clusterId (tags of its routes and LBs)
//	E2E_IMAGE             an image on every node with sh, socat, sha256sum, dd, df
//	                      (default registry.k8s.io/kube-proxy:v1.37.2)
//	E2E_ARTIFACTS         where logs go when a test fails
//
// The tests run in file order and share the cluster; each works in its own namespace,
// deleted when it ends. TestZZTeardown comes last and checks that nothing was left in
// the IaaS.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

const (
	driverName     = "disk.csi.kube-iaas.io"
	storageClass   = "iaas-ssd"
	snapshotClass  = "iaas-snapshots"
	tagCluster     = "kube-iaas.io/cluster"
	tagServiceUID  = "kube-iaas.io/service-uid"
	tagPVCNs       = "kubernetes.io/created-for/pvc/namespace"
	e2eLabel       = "e2e.kube-iaas.io/test"
	componentLabel = "app.kubernetes.io/part-of=kube-iaas"
	taintOOS       = "node.kubernetes.io/out-of-service"
	taintShutdown  = "node.cloudprovider.kubernetes.io/shutdown"
)

// env is the state shared by every test, made once.
type env struct {
	cfg        *rest.Config
	kube       kubernetes.Interface
	dyn        dynamic.Interface
	iaas       *ic.Client
	routeTable string
	clusterID  string
	image      string
	artifacts  string
}

var (
	shared  *env
	initErr error
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBE_IAAS_E2E") != "" {
		shared, initErr = newEnv()
	}
	os.Exit(m.Run())
}

func newEnv() (*env, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	e := &env{cfg: cfg, routeTable: getenv("IAAS_ROUTE_TABLE", "rtb-kind"), clusterID: getenv("IAAS_CLUSTER_ID", "kube-iaas"),
		image: getenv("E2E_IMAGE", "registry.k8s.io/kube-proxy:v1.37.2"), artifacts: os.Getenv("E2E_ARTIFACTS")}
	if e.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if e.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	endpoint, credsFile := os.Getenv("IAAS_ENDPOINT"), os.Getenv("IAAS_CREDENTIALS")
	if endpoint == "" || credsFile == "" {
		return nil, fmt.Errorf("IAAS_ENDPOINT and IAAS_CREDENTIALS are required")
	}
	creds, err := ic.LoadCredentialsFile(credsFile)
	if err != nil {
		return nil, err
	}
	if e.iaas, err = ic.New(ic.Config{Endpoint: endpoint, Credentials: creds, LocalAddr: os.Getenv("IAAS_SOURCE_IP"),
		UserAgent: "kube-iaas-e2e"}); err != nil {
		return nil, err
	}
	return e, nil
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// setup skips without KUBE_IAAS_E2E, fails when the environment is unusable, and
// returns the shared env and a context bounded by the test's deadline.
func setup(t testing.TB) (*env, context.Context) {
	t.Helper()
	if os.Getenv("KUBE_IAAS_E2E") == "" {
		t.Skip("KUBE_IAAS_E2E is not set (test/kind/e2e.sh runs these tests)")
	}
	if initErr != nil {
		t.Fatalf("e2e environment: %v", initErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	return shared, ctx
}

// namespace makes a namespace for the test, deleted at the end; on failure the
// components' logs and the namespace's events and pods are saved first.
func (e *env) namespace(t testing.TB, ctx context.Context, prefix string) string {
	t.Helper()
	ns, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "e2e-" + prefix + "-", Labels: map[string]string{e2eLabel: prefix}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			e.collectLogs(t, cctx, ns.Name)
		}
		if err := e.kube.CoreV1().Namespaces().Delete(cctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// collectLogs writes the kube-iaas components' logs (current and previous containers),
// and the test namespace's pods and events, under $E2E_ARTIFACTS/<test>/.
func (e *env) collectLogs(t testing.TB, ctx context.Context, ns string) {
	dir := e.artifacts
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "kube-iaas-e2e-logs")
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("logs: %v", err)
		return
	}
	t.Logf("collecting component logs into %s", dir)
	write := func(name string, b []byte) { _ = os.WriteFile(filepath.Join(dir, name), b, 0o644) }
	for _, n := range []string{"kube-system", ns} {
		sel := ""
		if n == "kube-system" {
			sel = componentLabel
		}
		pods, err := e.kube.CoreV1().Pods(n).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			continue
		}
		var sum bytes.Buffer
		for _, p := range pods.Items {
			fmt.Fprintf(&sum, "%s\t%s\t%s\t%s\n", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Reason)
			for _, c := range p.Spec.Containers {
				for _, prev := range []bool{false, true} {
					b, err := e.kube.CoreV1().Pods(n).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, Previous: prev}).DoRaw(ctx)
					if err != nil {
						continue
					}
					suffix := ""
					if prev {
						suffix = ".previous"
					}
					write(fmt.Sprintf("%s.%s.%s%s.log", n, p.Name, c.Name, suffix), b)
				}
			}
		}
		write(n+".pods.txt", sum.Bytes())
		if ev, err := e.kube.CoreV1().Events(n).List(ctx, metav1.ListOptions{}); err == nil {
			var b bytes.Buffer
			for _, x := range ev.Items {
				fmt.Fprintf(&b, "%s %s %s/%s %s: %s\n", x.LastTimestamp.Format(time.RFC3339), x.Type, x.InvolvedObject.Kind,
					x.InvolvedObject.Name, x.Reason, x.Message)
			}
			write(n+".events.txt", b.Bytes())
		}
	}
	if nodes, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		var b bytes.Buffer
		for _, n := range nodes.Items {
			fmt.Fprintf(&b, "%s providerID=%s podCIDR=%s ready=%v taints=%v\n", n.Name, n.Spec.ProviderID, n.Spec.PodCIDR, nodeReady(&n), n.Spec.Taints)
		}
		write("nodes.txt", b.Bytes())
	}
}

// poll calls f every interval until it returns true or an error, or until timeout.
// The last "not yet" reason is in the error.
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
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return stdout.String(), fmt.Errorf("exec %v in %s/%s: %w (stderr: %s)", cmd, ns, pod, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// waitPodReady waits until the pod exists, is Ready, and (when pred is set) pred holds.
func (e *env) waitPodReady(ctx context.Context, ns, name string, timeout time.Duration, pred func(*corev1.Pod) bool) (*corev1.Pod, error) {
	return e.waitPodReadyEvery(ctx, 500*time.Millisecond, ns, name, timeout, pred)
}

// waitPodReadyEvery is waitPodReady looking every interval (the benchmarks' resolution).
func (e *env) waitPodReadyEvery(ctx context.Context, interval time.Duration, ns, name string, timeout time.Duration, pred func(*corev1.Pod) bool) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := poll(ctx, interval, timeout, func(ctx context.Context) (bool, string, error) {
		p, err := e.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "not found", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		pod = p
		if p.DeletionTimestamp != nil {
			return false, "terminating on " + p.Spec.NodeName, nil
		}
		if !podReady(p) {
			return false, fmt.Sprintf("phase %s on %q", p.Status.Phase, p.Spec.NodeName), nil
		}
		if pred != nil && !pred(p) {
			return false, "ready on " + p.Spec.NodeName + ", condition not met", nil
		}
		return true, "", nil
	})
	return pod, err
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
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

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// workers are the schedulable nodes without the control-plane role, sorted by name.
func (e *env) workers(t testing.TB, ctx context.Context) []corev1.Node {
	t.Helper()
	nodes, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "!node-role.kubernetes.io/control-plane"})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	if len(nodes.Items) < 2 {
		t.Fatalf("need at least 2 worker nodes, have %d", len(nodes.Items))
	}
	return nodes.Items
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

// waitTask follows an IaaS task to its end.
func (e *env) waitTask(ctx context.Context, taskID string) error {
	task, err := e.iaas.WaitTask(ctx, taskID)
	if err != nil {
		return err
	}
	if task.State != ic.TaskSucceeded {
		return fmt.Errorf("task %s: %s", taskID, task.State)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
