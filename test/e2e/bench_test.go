package e2e

// Benchmarks on the kind cluster: how long a user waits for what kube-iaas does, each
// measured against a baseline in the same run that the plugins take no part in, and
// reported as percentiles and a ratio:
//
//	BenchmarkServiceFirstResponse  Service type=LoadBalancer -> first good HTTP answer
//	                               through the VIP; baseline type=NodePort -> first
//	                               answer on a node's InternalIP:nodePort (kube-proxy)
//	BenchmarkPVCPodRunning         pod + its own PVC (iaas-ssd) -> Running and Ready;
//	                               baseline the same pod with an emptyDir
//	BenchmarkFailover              instance stopped in the IaaS -> the StatefulSet pod
//	                               Ready on another node with its data; baseline a
//	                               planned move (cordon, delete the pod with grace 0)
//
// They need the environment of the e2e tests (see main_test.go; test/kind/e2e.sh sets
// it up) and skip without KUBE_IAAS_E2E. Run them alone, with a -timeout well above
// their sum (about 20 min) so that their own deadline (benchContext) ends them first:
//
//	go test -count=1 -run '^$' -bench . -benchtime 1x -timeout 60m
//
// One benchmark op is the whole set of samples (20, 20 and 5; E2E_BENCH_SAMPLES_LB,
// E2E_BENCH_SAMPLES_PVC, E2E_BENCH_SAMPLES_FAILOVER override), taken sequentially so
// that samples do not compete with each other, baseline and subject interleaved so
// that drift during the run affects both alike. Every timed wait looks every
// benchTick, which bounds the resolution.

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

const (
	// benchTick is how often a timed wait looks: the measurements' resolution (5 % of
	// the 1 s load balancer goal).
	benchTick = 50 * time.Millisecond
	// httpAttempt bounds one HTTP attempt of firstGoodResponse.
	httpAttempt = 2 * time.Second
	// cleanupMargin is the time kept before go test's -timeout for the cleanups:
	// restarting a stopped instance and waiting for its node, uncordoning.
	cleanupMargin = 5 * time.Minute

	lbGoalP50       = 1 * time.Second
	lbGoalP99       = 3 * time.Second
	pvcGoalP50      = 5 * time.Second
	csiNodeSelector = "app.kubernetes.io/name=iaas-csi-node"
)

// processStart approximates when go test's -timeout alarm was set (a little before it,
// which errs on the safe side).
var processStart = time.Now()

// BenchmarkServiceFirstResponse: a fresh Service in front of an already Ready
// Deployment, created, timed to its first good HTTP response from the host, deleted.
// type=LoadBalancer is reached through its VIP (CCM -> IaaS load balancer -> NodePort
// -> pod); the baseline type=NodePort through a node's InternalIP:nodePort, which is
// what kube-proxy alone costs. The load balancer's part is what it adds on top.
func BenchmarkServiceFirstResponse(b *testing.B) {
	e, _ := setup(b)
	n := sampleCount(b, "E2E_BENCH_SAMPLES_LB", 20)
	ctx := benchContext(b, 5*time.Minute+time.Duration(n)*time.Minute)
	ns := e.namespace(b, ctx, "bench-lb")
	nodes := e.workers(b, ctx)
	if _, err := e.kube.AppsV1().Deployments(ns).Create(ctx, webDeployment(e.image, 2), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	e.waitDeploymentReady(b, ctx, ns, "web", 2)

	// One untimed round first: the first Service after the CCM (re)started waits for its
	// leader election and informers, which is start-up, not what a Service costs.
	e.nodePortSample(b, ctx, ns, "np-warmup", &nodes[0])
	e.loadBalancerSample(b, ctx, ns, "lb-warmup")
	var lb, lbIP, np []time.Duration
	for i := range n {
		// A different node each time: kube-proxy programs every node on its own.
		settleKubeProxy()
		np = append(np, e.nodePortSample(b, ctx, ns, fmt.Sprintf("np-%02d", i), &nodes[i%len(nodes)]))
		settleKubeProxy()
		toIP, toHTTP := e.loadBalancerSample(b, ctx, ns, fmt.Sprintf("lb-%02d", i))
		lb, lbIP = append(lb, toHTTP), append(lbIP, toIP)
	}

	lb50, lb99, np50, np99 := percentile(lb, 50), percentile(lb, 99), percentile(np, 50), percentile(np, 99)
	ratio := lb50.Seconds() / np50.Seconds()
	reportSeconds(b, "lb-p50-s", lb50)
	reportSeconds(b, "lb-p99-s", lb99)
	reportSeconds(b, "lb-ip-p50-s", percentile(lbIP, 50))
	reportSeconds(b, "nodeport-p50-s", np50)
	reportSeconds(b, "nodeport-p99-s", np99)
	b.ReportMetric(ratio, "ratio-p50")
	b.Logf("samples (s): LoadBalancer %s; of which to the external IP %s; NodePort %s", secs(lb), secs(lbIP), secs(np))
	b.Logf("Service -> first good response over %d Services: LoadBalancer p50 %v p99 %v (external IP p50 %v), NodePort p50 %v p99 %v, ratio p50 %.2f; goal p50 <= %v, p99 <= %v: %s",
		n, round(lb50), round(lb99), round(percentile(lbIP, 50)), round(np50), round(np99), ratio, lbGoalP50, lbGoalP99,
		met(lb50 <= lbGoalP50 && lb99 <= lbGoalP99))
}

// settleKubeProxy waits out kube-proxy's minimum sync period (1 s by default) after
// the previous sample's Service was deleted: otherwise that deletion's sync holds back
// the programming of the next Service and every sample measures the rate limit instead
// of the Service, the first by up to a second more than the next.
func settleKubeProxy() { time.Sleep(1500 * time.Millisecond) }

// nodePortSample times a new NodePort Service to its first good response on
// node:nodePort, then deletes it.
func (e *env) nodePortSample(tb testing.TB, ctx context.Context, ns, name string, node *corev1.Node) time.Duration {
	tb.Helper()
	svcs := e.kube.CoreV1().Services(ns)
	t0 := time.Now()
	svc, err := svcs.Create(ctx, webService(name, corev1.ServiceTypeNodePort), metav1.CreateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	// The node port is allocated by the create itself, so the clock runs only for
	// kube-proxy (and the EndpointSlice).
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(internalIP(node), strconv.Itoa(int(svc.Spec.Ports[0].NodePort))))
	if err := firstGoodResponse(ctx, url, 60*time.Second); err != nil {
		tb.Fatalf("NodePort Service %s on %s: %v", name, url, err)
	}
	d := time.Since(t0)
	e.deleteService(tb, ctx, ns, name)
	return d
}

// loadBalancerSample times a new LoadBalancer Service to its external IP and to its
// first good response through it, then deletes it and waits until it is gone, so the
// next sample does not share the CCM's service workers with this deletion.
func (e *env) loadBalancerSample(tb testing.TB, ctx context.Context, ns, name string) (toIP, toResponse time.Duration) {
	tb.Helper()
	svcs := e.kube.CoreV1().Services(ns)
	t0 := time.Now()
	if _, err := svcs.Create(ctx, webService(name, corev1.ServiceTypeLoadBalancer), metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	var vip string
	err := poll(ctx, benchTick, 90*time.Second, func(ctx context.Context) (bool, string, error) {
		s, err := svcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if ing := s.Status.LoadBalancer.Ingress; len(ing) > 0 && ing[0].IP != "" {
			vip = ing[0].IP
			return true, "", nil
		}
		return false, "no external IP", nil
	})
	if err != nil {
		tb.Fatalf("LoadBalancer Service %s: %v", name, err)
	}
	toIP = time.Since(t0)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, "80"))
	if err := firstGoodResponse(ctx, url, 60*time.Second); err != nil {
		tb.Fatalf("LoadBalancer Service %s on %s: %v", name, url, err)
	}
	toResponse = time.Since(t0)
	e.deleteService(tb, ctx, ns, name)
	return toIP, toResponse
}

func webService(name string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// deleteService deletes a Service and waits until it is gone: a LoadBalancer Service
// keeps the CCM's finalizer until its IaaS load balancer is deleted.
func (e *env) deleteService(tb testing.TB, ctx context.Context, ns, name string) {
	tb.Helper()
	svcs := e.kube.CoreV1().Services(ns)
	if err := svcs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		tb.Fatalf("delete Service %s: %v", name, err)
	}
	if err := waitGone(ctx, 90*time.Second, func(ctx context.Context) error {
		_, err := svcs.Get(ctx, name, metav1.GetOptions{})
		return err
	}); err != nil {
		tb.Fatalf("Service %s after delete: %v", name, err)
	}
}

// firstGoodResponse returns once a GET of url was answered 200 by a pod of the web
// Deployment. It starts an attempt, on a new connection, every benchTick without
// waiting for the earlier ones: an attempt can hang (a SYN dropped while the load
// balancer has no healthy backend yet is retried by the kernel only after 1 s), and
// waiting for it would cost resolution.
func firstGoodResponse(ctx context.Context, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel() // also ends the attempts still running
	results := make(chan error)
	attempt := func() {
		actx, acancel := context.WithTimeout(ctx, httpAttempt)
		defer acancel()
		body, err := httpGet(actx, url)
		if err == nil && !strings.HasPrefix(body, "web-") {
			err = fmt.Errorf("unexpected answer %q", body)
		}
		select {
		case results <- err:
		case <-ctx.Done():
		}
	}
	tick := time.NewTicker(benchTick)
	defer tick.Stop()
	go attempt()
	var last error
	for {
		select {
		case err := <-results:
			if err == nil {
				return nil
			}
			last = err
		case <-tick.C:
			go attempt()
		case <-ctx.Done():
			return fmt.Errorf("no good response in %v: %w (last: %v)", limit, ctx.Err(), last)
		}
	}
}

// BenchmarkPVCPodRunning: a pod with its own new PVC of the default StorageClass
// (WaitForFirstConsumer: provision, attach, format, mount after scheduling) timed from
// the PVC's creation to the pod Running and Ready; the baseline is the same pod with an
// emptyDir. After each sample the pod, the PVC and its PV are gone before the next one
// starts, so detaching and deleting a disk never overlaps a measurement.
func BenchmarkPVCPodRunning(b *testing.B) {
	e, _ := setup(b)
	n := sampleCount(b, "E2E_BENCH_SAMPLES_PVC", 20)
	ctx := benchContext(b, 5*time.Minute+time.Duration(n)*2*time.Minute)
	ns := e.namespace(b, ctx, "bench-pvc")

	var pvc, empty []time.Duration
	for i := range n {
		empty = append(empty, e.podSample(b, ctx, ns, fmt.Sprintf("empty-%02d", i), false))
		pvc = append(pvc, e.podSample(b, ctx, ns, fmt.Sprintf("pvc-%02d", i), true))
	}

	pvc50, pvc99, empty50, empty99 := percentile(pvc, 50), percentile(pvc, 99), percentile(empty, 50), percentile(empty, 99)
	ratio := pvc50.Seconds() / empty50.Seconds()
	reportSeconds(b, "pvc-p50-s", pvc50)
	reportSeconds(b, "pvc-p99-s", pvc99)
	reportSeconds(b, "emptydir-p50-s", empty50)
	reportSeconds(b, "emptydir-p99-s", empty99)
	b.ReportMetric(ratio, "ratio-p50")
	b.Logf("samples (s): PVC %s; emptyDir %s", secs(pvc), secs(empty))
	b.Logf("pod create -> Running and Ready over %d pods: with a new PVC p50 %v p99 %v, with an emptyDir p50 %v p99 %v, ratio p50 %.2f; goal p50 <= %v: %s",
		n, round(pvc50), round(pvc99), round(empty50), round(empty99), ratio, pvcGoalP50, met(pvc50 <= pvcGoalP50))
}

// podSample creates a pod (with a new PVC of its own, or an emptyDir), times it to
// Running and Ready, and deletes it (and the PVC, waiting for its PV to go).
func (e *env) podSample(tb testing.TB, ctx context.Context, ns, name string, withPVC bool) time.Duration {
	tb.Helper()
	pods, pvcs := e.kube.CoreV1().Pods(ns), e.kube.CoreV1().PersistentVolumeClaims(ns)
	vol := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	t0 := time.Now()
	if withPVC {
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr(storageClass),
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		if _, err := pvcs.Create(ctx, claim, metav1.CreateOptions{}); err != nil {
			tb.Fatal(err)
		}
		vol = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}
	}
	if _, err := pods.Create(ctx, sleeperPod(name, e.image, vol), metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.waitPodReadyEvery(ctx, benchTick, ns, name, 180*time.Second, nil); err != nil {
		tb.Fatalf("pod %s: %v", name, err)
	}
	d := time.Since(t0)

	// Untimed teardown. Gracefully (1 s): a pod deleted with grace 0 leaves the API
	// before its volume is unmounted, and the PV's deletion would then fail on the
	// still attached disk and back off.
	var pv string
	if withPVC {
		c, err := pvcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		pv = c.Spec.VolumeName
	}
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		tb.Fatalf("delete pod %s: %v", name, err)
	}
	if err := waitGone(ctx, 120*time.Second, func(ctx context.Context) error {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		return err
	}); err != nil {
		tb.Fatalf("pod %s after delete: %v", name, err)
	}
	if withPVC {
		if err := pvcs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			tb.Fatalf("delete PVC %s: %v", name, err)
		}
		if err := waitGone(ctx, 180*time.Second, func(ctx context.Context) error {
			_, err := e.kube.CoreV1().PersistentVolumes().Get(ctx, pv, metav1.GetOptions{})
			return err
		}); err != nil {
			tb.Fatalf("PV %s of PVC %s after delete: %v", pv, name, err)
		}
	}
	return d
}

// BenchmarkFailover: a StatefulSet pod with data on an IaaS disk. Each run first stops
// the instance of the pod's node through the IaaS API and times it to the pod Ready on
// another node (fencing, out-of-service taint, detach, attach, mount), then starts the
// instance again and waits for its node; then, as the baseline, moves the pod the
// planned way (cordon its node, delete it with grace 0) and times that to Ready on
// another node, and uncordons. After each move the data's checksum is checked
// (untimed: the pod's readiness probe already needs the data on the disk).
func BenchmarkFailover(b *testing.B) {
	e, _ := setup(b)
	n := sampleCount(b, "E2E_BENCH_SAMPLES_FAILOVER", 5)
	ctx := benchContext(b, 10*time.Minute+time.Duration(n)*8*time.Minute)
	ns := e.namespace(b, ctx, "bench-failover")
	e.workers(b, ctx) // at least 2
	// After the namespace's cleanup so that it runs before it (cleanups run last in,
	// first out): the namespace's disk can be detached and deleted only once the node
	// it was last attached to runs again.
	g := e.newNodeGuard(b)

	if _, err := e.kube.AppsV1().StatefulSets(ns).Create(ctx, dataStatefulSet("fo", e.image, "1Gi", storageClass), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.waitPodReady(ctx, ns, "fo-0", 180*time.Second, nil); err != nil {
		b.Fatalf("pod fo-0: %v", err)
	}
	sum := e.checksum(b, ctx, ns, "fo-0")

	var failover, planned []time.Duration
	for i := range n {
		failover = append(failover, e.failoverSample(b, ctx, g, ns, "fo-0", sum, i))
		planned = append(planned, e.plannedMoveSample(b, ctx, g, ns, "fo-0", sum, i))
	}

	fo50, foMax, pl50, plMax := percentile(failover, 50), percentile(failover, 100), percentile(planned, 50), percentile(planned, 100)
	ratio := fo50.Seconds() / pl50.Seconds()
	reportSeconds(b, "failover-p50-s", fo50)
	reportSeconds(b, "failover-max-s", foMax)
	reportSeconds(b, "planned-p50-s", pl50)
	reportSeconds(b, "planned-max-s", plMax)
	b.ReportMetric(ratio, "ratio-p50")
	within := 0
	for _, d := range failover {
		if d <= failoverGoal {
			within++
		}
	}
	b.Logf("samples (s): failover %s; planned move %s", secs(failover), secs(planned))
	b.Logf("pod Ready elsewhere with its data over %d runs: after an instance stop p50 %v max %v, after a planned move p50 %v max %v, ratio p50 %.2f; goal <= %v: %d of %d runs, %s",
		n, round(fo50), round(foMax), round(pl50), round(plMax), ratio, failoverGoal, within, n, met(within == n))
}

// failoverSample stops the instance of the pod's node and times it until the pod is
// Ready elsewhere; then restores the node (untimed).
func (e *env) failoverSample(tb testing.TB, ctx context.Context, g *nodeGuard, ns, pod, sum string, run int) time.Duration {
	tb.Helper()
	old, node := e.podAndNode(tb, ctx, ns, pod)
	inst := instanceID(node)
	if inst == "" {
		tb.Fatalf("node %s has no iaas providerID: %q", node.Name, node.Spec.ProviderID)
	}
	t0 := time.Now()
	if err := g.stop(ctx, inst, node.Name); err != nil {
		tb.Fatal(err)
	}
	moved, err := e.waitPodReadyEvery(ctx, benchTick, ns, pod, 3*failoverLimit, movedFrom(old))
	d := time.Since(t0)
	if err != nil {
		tb.Fatalf("run %d: pod %s did not come back after stopping node %s: %v", run, pod, node.Name, err)
	}
	if got := e.checksum(tb, ctx, ns, pod); got != sum {
		tb.Fatalf("run %d: checksum after failover %s, want %s", run, got, sum)
	}

	// Back in service before the next move, which may well go to this node: Ready
	// without the taints, and its CSI node plugin running again.
	t1 := time.Now()
	if err := g.start(ctx, inst, node.Name); err != nil {
		tb.Fatal(err)
	}
	if err := e.waitNodeBack(ctx, node.Name); err != nil {
		tb.Fatalf("node %s after StartInstances: %v", node.Name, err)
	}
	if err := e.waitCSINodeRestarted(ctx, node.Name, t1); err != nil {
		tb.Fatalf("CSI node plugin on %s after StartInstances: %v", node.Name, err)
	}
	tb.Logf("run %d: instance %s of %s stopped -> %s Ready on %s in %v; node back in %v", run, inst, node.Name, pod,
		moved.Spec.NodeName, round(d), round(time.Since(t1)))
	return d
}

// plannedMoveSample cordons the pod's node, deletes the pod with grace 0 and times it
// until it is Ready elsewhere, then uncordons.
func (e *env) plannedMoveSample(tb testing.TB, ctx context.Context, g *nodeGuard, ns, pod, sum string, run int) time.Duration {
	tb.Helper()
	old, node := e.podAndNode(tb, ctx, ns, pod)
	if err := g.cordon(ctx, node.Name); err != nil {
		tb.Fatal(err)
	}
	t0 := time.Now()
	// The UID precondition: never the replacement, should the controller be quicker.
	err := e.kube.CoreV1().Pods(ns).Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0)),
		Preconditions: &metav1.Preconditions{UID: &old.UID}})
	if err != nil {
		tb.Fatalf("delete pod %s: %v", pod, err)
	}
	moved, err := e.waitPodReadyEvery(ctx, benchTick, ns, pod, 3*failoverLimit, movedFrom(old))
	d := time.Since(t0)
	if err != nil {
		tb.Fatalf("run %d: pod %s did not come back after its deletion from cordoned %s: %v", run, pod, node.Name, err)
	}
	if got := e.checksum(tb, ctx, ns, pod); got != sum {
		tb.Fatalf("run %d: checksum after planned move %s, want %s", run, got, sum)
	}
	if err := g.uncordon(ctx, node.Name); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("run %d: %s cordoned, %s deleted -> Ready on %s in %v", run, node.Name, pod, moved.Spec.NodeName, round(d))
	return d
}

// podAndNode returns a Ready pod and its node.
func (e *env) podAndNode(tb testing.TB, ctx context.Context, ns, name string) (*corev1.Pod, *corev1.Node) {
	tb.Helper()
	pod, err := e.waitPodReady(ctx, ns, name, 60*time.Second, nil)
	if err != nil {
		tb.Fatalf("pod %s: %v", name, err)
	}
	node, err := e.kube.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return pod, node
}

// movedFrom holds for a replacement of old on another node.
func movedFrom(old *corev1.Pod) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.UID != old.UID && p.Spec.NodeName != old.Spec.NodeName }
}

// waitCSINodeRestarted waits until the CSI node plugin on node is Ready in containers
// started at or after since. waitNodeBack sees only the kubelet; a pod placed on the
// node before the plugin is back would wait for NodeStage to stop failing.
func (e *env) waitCSINodeRestarted(ctx context.Context, node string, since time.Time) error {
	since = since.Truncate(time.Second) // startedAt has whole seconds
	return poll(ctx, time.Second, 120*time.Second, func(ctx context.Context) (bool, string, error) {
		pods, err := e.kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: csiNodeSelector,
			FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			return false, err.Error(), nil
		}
		if len(pods.Items) != 1 {
			return false, fmt.Sprintf("%d pods %s", len(pods.Items), csiNodeSelector), nil
		}
		p := &pods.Items[0]
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Running == nil || c.State.Running.StartedAt.Time.Before(since) {
				return false, fmt.Sprintf("%s: container %s not restarted yet", p.Name, c.Name), nil
			}
		}
		return podReady(p), p.Name + " not Ready", nil
	})
}

// nodeGuard remembers the instances a benchmark stopped and the nodes it cordoned, and
// puts them back at its cleanup, whatever ended the benchmark (a failure, a panic, its
// context's deadline): the cluster is shared with what runs next.
type nodeGuard struct {
	e        *env
	stopped  map[string]string // instance ID -> node name
	cordoned map[string]bool
}

func (e *env) newNodeGuard(tb testing.TB) *nodeGuard {
	g := &nodeGuard{e: e, stopped: map[string]string{}, cordoned: map[string]bool{}}
	tb.Cleanup(func() { g.restore(tb) })
	return g
}

func (g *nodeGuard) stop(ctx context.Context, inst, node string) error {
	g.stopped[inst] = node // before the call: a stop whose answer is lost still stops
	resp, err := g.e.iaas.StopInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{inst}})
	if err != nil {
		return fmt.Errorf("StopInstances %s (%s): %w", inst, node, err)
	}
	if err := g.e.waitTask(ctx, resp.TaskID); err != nil {
		return fmt.Errorf("StopInstances %s (%s): %w", inst, node, err)
	}
	return nil
}

// start starts the instance (a no-op for a running one) and waits for its task.
func (g *nodeGuard) start(ctx context.Context, inst, node string) error {
	resp, err := g.e.iaas.StartInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{inst}})
	if err != nil {
		return fmt.Errorf("StartInstances %s (%s): %w", inst, node, err)
	}
	if err := g.e.waitTask(ctx, resp.TaskID); err != nil {
		return fmt.Errorf("StartInstances %s (%s): %w", inst, node, err)
	}
	delete(g.stopped, inst)
	return nil
}

func (g *nodeGuard) cordon(ctx context.Context, node string) error {
	g.cordoned[node] = true // before the call, as in stop
	return g.setUnschedulable(ctx, node, true)
}

func (g *nodeGuard) uncordon(ctx context.Context, node string) error {
	if err := g.setUnschedulable(ctx, node, false); err != nil {
		return err
	}
	delete(g.cordoned, node)
	return nil
}

func (g *nodeGuard) setUnschedulable(ctx context.Context, node string, on bool) error {
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, on)
	if _, err := g.e.kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("set node %s unschedulable=%t: %w", node, on, err)
	}
	return nil
}

// restore uncordons and starts what is left, on its own context: the benchmark's may
// be what ended it.
func (g *nodeGuard) restore(tb testing.TB) {
	if len(g.stopped) == 0 && len(g.cordoned) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupMargin-30*time.Second)
	defer cancel()
	for node := range g.cordoned {
		tb.Logf("cleanup: uncordoning %s", node)
		if err := g.uncordon(ctx, node); err != nil && !apierrors.IsNotFound(err) {
			tb.Errorf("cleanup: %v", err)
		}
	}
	for inst, node := range g.stopped {
		tb.Logf("cleanup: starting instance %s of node %s again", inst, node)
		if err := g.start(ctx, inst, node); err != nil {
			tb.Errorf("cleanup: %v", err)
			continue
		}
		if err := g.e.waitNodeBack(ctx, node); err != nil {
			tb.Errorf("cleanup: node %s after StartInstances: %v", node, err)
		}
	}
}

// waitGone waits until get answers NotFound.
func waitGone(ctx context.Context, timeout time.Duration, get func(context.Context) error) error {
	return poll(ctx, 250*time.Millisecond, timeout, func(ctx context.Context) (bool, string, error) {
		switch err := get(ctx); {
		case apierrors.IsNotFound(err):
			return true, "", nil
		case err != nil:
			return false, err.Error(), nil
		}
		return false, "still there", nil
	})
}

// sampleCount is def, or the positive integer in the environment variable.
func sampleCount(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// benchContext bounds a benchmark by budget and in any case ends it cleanupMargin
// before go test's -timeout: that alarm kills the test binary without running any
// cleanup, and here cleanups restart stopped instances and uncordon nodes.
func benchContext(b *testing.B, budget time.Duration) context.Context {
	b.Helper()
	deadline := time.Now().Add(budget)
	if f := flag.Lookup("test.timeout"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if d, ok := g.Get().(time.Duration); ok && d > 0 {
				if alarm := processStart.Add(d - cleanupMargin); alarm.Before(deadline) {
					deadline = alarm
				}
			}
		}
	}
	if left := time.Until(deadline); left < 2*time.Minute {
		b.Fatalf("only %v left before -timeout (less %v for the cleanups): run with a larger -timeout", left.Round(time.Second), cleanupMargin)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	b.Cleanup(cancel)
	return ctx
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of samples: the
// smallest sample with at least p % of all samples at or below it; 0 without samples.
// Never interpolated, it is always a measured value: of 20 samples p50 is the 10th
// smallest and p99 the largest (as for any n < 100).
func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	// p*n/100 rather than p/100*n: exact for integral p and n (95*20/100 is 19, while
	// 0.95*20 need not be).
	rank := int(math.Ceil(p * float64(len(s)) / 100))
	return s[min(max(rank, 1), len(s))-1]
}

// reportSeconds reports d in seconds under unit, and hides ns/op: one op is the whole
// set of samples, so the time per op the framework would show means nothing.
func reportSeconds(b *testing.B, unit string, d time.Duration) {
	b.ReportMetric(d.Seconds(), unit)
	b.ReportMetric(0, "ns/op")
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// secs formats samples in seconds, in the order taken.
func secs(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
	}
	return strings.Join(s, " ")
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// TestPercentile runs without a cluster.
func TestPercentile(t *testing.T) {
	s := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Second
		}
		return out
	}
	twenty := s(20, 3, 17, 1, 9, 12, 5, 19, 7, 14, 2, 11, 16, 4, 18, 6, 13, 8, 15, 10) // 1..20, shuffled
	for _, c := range []struct {
		samples []time.Duration
		p       float64
		want    int
	}{
		{nil, 50, 0},
		{s(7), 50, 7},
		{s(7), 99, 7},
		{twenty, 50, 10},
		{twenty, 99, 20}, // nearest rank: the max for n < 100
		{twenty, 95, 19},
		{twenty, 100, 20},
		{twenty, 1, 1},
		{twenty, 0, 1}, // clamped to the smallest
		{s(5, 1, 4, 2, 3), 50, 3},
		{s(5, 1, 4, 2, 3), 100, 5},
		{s(1, 2, 3, 4), 50, 2}, // the lower middle: rank ceil(2) = 2
		{s(1, 2, 3, 4), 51, 3},
	} {
		if got := percentile(c.samples, c.p); got != time.Duration(c.want)*time.Second {
			t.Errorf("percentile(%v, %v) = %v, want %ds", c.samples, c.p, got, c.want)
		}
	}
	// The caller's slice keeps its order.
	if twenty[0] != 20*time.Second || twenty[19] != 10*time.Second {
		t.Errorf("percentile sorted its input: %v", twenty)
	}
	// 100 samples: p99 is the 99th smallest, no longer the max.
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond
	}
	if got := percentile(hundred, 99); got != 99*time.Millisecond {
		t.Errorf("p99 of 1..100 ms = %v, want 99ms", got)
	}
}
