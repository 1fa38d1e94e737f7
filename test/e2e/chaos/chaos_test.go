package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-iaas/kube-iaas/test/iaassim/diskaudit"
)

// results are what the lifecycles report, for the end checks and the summary.
type results struct {
	mu                     sync.Mutex
	servicesDone, pvcsDone int
	kept                   []keptService
	deletedServices        []string // UIDs
	disks, snapshots       []string // IaaS ids of the PVC lifecycles' volumes and snapshots
	mismatches, restoredOK int
	warned                 int // bad-selector Services that got their Warning Event
	failures               []string
}

func (r *results) add(f func(*results)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// faultSpec is what every action of the simulator gets during the churn: 20 % of the
// requests fail (10 % InternalError, 7 % throttled, 3 % performed and never answered),
// and every request is 10 ms late.
var faultSpec = map[string]any{"*": map[string]any{
	"errorRate": 0.10, "throttleRate": 0.07, "timeoutRate": 0.03, "retryAfterSeconds": 1, "latency": "10ms",
}}

// TestChaos is the churn tier (issue 10): see the package comment and README.
func TestChaos(t *testing.T) {
	e, m := setup(t)
	tStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), m.budget)
	defer cancel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("mode %s: %d Service and %d PVC lifecycles, %d/%d at a time, at least %d kills, seed %d",
		m.name, m.services, m.pvcs, m.svcWorkers, m.pvcWorkers, m.kills, seed)
	// Whatever happens, the simulator runs again without faults when the test ends, so
	// the teardown check and down.sh find it.
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := e.sim.ensureRunning(cctx); err != nil {
			t.Errorf("simulator after the test: %v", err)
		}
	})

	ns := e.namespace(t, ctx)
	class, err := e.chaosClass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "!node-role.kubernetes.io/control-plane"})
	if err != nil {
		t.Fatal(err)
	}
	var workers []string
	for _, n := range nodes.Items {
		workers = append(workers, n.Name)
	}
	if len(workers) < 2 {
		t.Fatalf("need 2 workers, have %v", workers)
	}
	if _, err := e.kube.AppsV1().Deployments(ns).Create(ctx, webDeployment(e.image), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, time.Second, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return d.Status.ReadyReplicas == 2, fmt.Sprintf("%d ready", d.Status.ReadyReplicas), nil
	}); err != nil {
		t.Fatalf("backend: %v", err)
	}
	if err := e.componentsReady(ctx, 2*time.Minute); err != nil {
		t.Fatalf("components before the churn: %v", err)
	}
	if err := e.sim.resetCounters(ctx); err != nil {
		t.Fatal(err)
	}

	// The churn, under faults and kills.
	if err := e.sim.setFaults(ctx, faultSpec); err != nil {
		t.Fatalf("faults: %v", err)
	}
	tChurn := time.Now()
	r := &results{}
	d := newDisruptor(e, m, seed)
	churnDone := make(chan struct{})
	disruptErr := make(chan error, 1)
	go func() { disruptErr <- d.run(ctx, t, churnDone) }()
	var wg sync.WaitGroup
	work := func(n, workers int, kind string, f func(i int, rng *rand.Rand) error) {
		jobs := make(chan int)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(w)+uint64(len(kind))<<32))
				for i := range jobs {
					if err := f(i, rng); err != nil {
						r.add(func(r *results) { r.failures = append(r.failures, fmt.Sprintf("%s %d: %v", kind, i, err)) })
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(jobs)
			for i := range n {
				select {
				case jobs <- i:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	work(m.services, m.svcWorkers, "service", func(i int, rng *rand.Rand) error {
		err := e.serviceLifecycle(ctx, ns, i, workers, rng, r)
		if err == nil {
			r.add(func(r *results) { r.servicesDone++ })
		}
		return err
	})
	work(m.pvcs, m.pvcWorkers, "pvc", func(j int, _ *rand.Rand) error {
		err := e.pvcLifecycle(ctx, ns, class, j, r)
		if err == nil {
			r.add(func(r *results) { r.pvcsDone++ })
		}
		return err
	})
	wg.Wait()
	close(churnDone)
	dErr := <-disruptErr
	churnTook := time.Since(tChurn)

	// The last fault: from here the IaaS is healthy and nothing is killed.
	faults, ferr := e.sim.faultsInjected(ctx)
	if err := e.sim.setFaults(ctx, nil); err != nil {
		t.Fatalf("clearing faults: %v", err)
	}
	tLast := time.Now()
	if ferr != nil {
		t.Errorf("fault counters: %v", ferr)
	}
	if dErr != nil {
		t.Errorf("disruptor: %v", dErr)
	}
	for _, f := range r.failures {
		t.Errorf("lifecycle failed: %s", f)
	}
	if err := e.componentsReady(ctx, 3*time.Minute); err != nil {
		t.Errorf("components after the churn: %v", err)
	}

	objs := e.objects(ns, r)
	took, stuck := converge(ctx, objs, tLast, 8*time.Minute)
	for _, s := range stuck {
		t.Errorf("not converged 8 min after the last fault: %s", s)
	}
	var leaked []string
	if err := poll(ctx, 2*time.Second, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		l, err := e.leaks(ctx, ns)
		if err != nil {
			return false, err.Error(), nil
		}
		leaked = l
		return len(l) == 0, fmt.Sprintf("%d leaked", len(l)), nil
	}); err != nil {
		for _, l := range leaked {
			t.Errorf("leaked: %s", l)
		}
	}
	swept, err := e.sweeperBlind(ctx, tStart)
	if err != nil {
		t.Errorf("orphan sweeper: %v", err)
	}
	if swept > 0 {
		t.Errorf("the orphan sweeper deleted %d disks during the run: leaks it hid", swept)
	}
	audit, err := e.sim.audit(ctx)
	if err != nil {
		t.Fatalf("disk audit: %v", err)
	}
	overlaps := diskaudit.Overlaps(audit)
	for _, o := range overlaps {
		t.Errorf("double attach: %s", o)
	}
	attaches, detaches := diskaudit.Count(audit)
	// The audit covers the churn: every PVC lifecycle attached two disks.
	if attaches < 2*r.pvcsDone {
		t.Errorf("the disk audit has %d attaches, fewer than the %d the PVC lifecycles made", attaches, 2*r.pvcsDone)
	}

	kills, killLog := d.kills()
	total := 0
	for _, c := range components {
		total += kills[c]
		if kills[c] == 0 {
			t.Errorf("%s was never killed", c)
		}
	}
	if total < m.kills {
		t.Errorf("%d kills, want at least %d", total, m.kills)
	}
	for _, k := range []string{"error", "throttle", "timeout", "latency"} {
		if faults[k] == 0 {
			t.Errorf("no %s fault was injected", k)
		}
	}
	if want := (m.services + 6) / 10; r.warned != want && len(r.failures) == 0 {
		t.Errorf("%d bad-selector Services got their Warning Event, want %d", r.warned, want)
	}
	if r.servicesDone != m.services || r.pvcsDone != m.pvcs {
		t.Errorf("lifecycles done: services %d/%d, pvcs %d/%d", r.servicesDone, m.services, r.pvcsDone, m.pvcs)
	}

	var ds []time.Duration
	for _, v := range took {
		ds = append(ds, v)
	}
	slices.Sort(ds)
	p50, max := time.Duration(0), time.Duration(0)
	if len(ds) > 0 {
		p50, max = ds[len(ds)/2], ds[len(ds)-1]
	}
	warnings := e.warningsByReason(ctx, ns)
	summary := fmt.Sprintf("CHAOS SUMMARY mode=%s seed=%d lifecycles: services %d/%d, pvcs %d/%d (restored with the checksum %d) | "+
		"faults injected: error=%d throttle=%d timeout=%d latency=%d | kills: ccm=%d csi-controller=%d csi-node=%d sim=%d (total %d) | "+
		"convergence after the last fault over %d objects: p50=%v max=%v | leaked=%d (sweeper deletions %d) | double attaches=%d (audit: %d attaches, %d detaches) | "+
		"checksum mismatches=%d | Warning Events: bad-selector Services %d, by reason %s | churn %v, wall %v",
		m.name, seed, r.servicesDone, m.services, r.pvcsDone, m.pvcs, r.restoredOK,
		faults["error"], faults["throttle"], faults["timeout"], faults["latency"],
		kills[compCCM], kills[compCSICtl], kills[compCSINode], kills[compSim], total,
		len(ds), p50.Round(100*time.Millisecond), max.Round(100*time.Millisecond), len(leaked)+swept, swept, len(overlaps), attaches, detaches,
		r.mismatches, r.warned, fmtCounts(warnings), churnTook.Round(time.Second), time.Since(tStart).Round(time.Second))
	t.Log(summary)
	t.Logf("kills: %s", strings.Join(killLog, "; "))
	if dir := os.Getenv("E2E_ARTIFACTS"); dir != "" {
		_ = os.MkdirAll(dir, 0o755)
		_ = os.WriteFile(filepath.Join(dir, "chaos-summary.txt"), []byte(summary+"\n"), 0o644)
	}
}

func fmtCounts(m map[string]int32) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	b.WriteString("}")
	return b.String()
}

// namespace makes the churn's namespace, labelled so that TestZZTeardown waits for its
// deletion; it is deleted when the test ends, also on failure.
func (e *env) namespace(t *testing.T, ctx context.Context) string {
	t.Helper()
	ns, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "e2e-chaos-", Labels: map[string]string{e2eLabel: "chaos"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("namespace: %v", err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := notFoundOK(e.kube.CoreV1().Namespaces().Delete(cctx, ns.Name, metav1.DeleteOptions{})); err != nil {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}
