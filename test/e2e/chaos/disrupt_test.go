package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The components the disruptor kills.
const (
	compCCM     = "ccm"
	compCSICtl  = "csi-controller"
	compCSINode = "csi-node"
	compSim     = "sim"
)

var components = []string{compCCM, compCSICtl, compCSINode, compSim}

// podTarget is a component that runs as a pod: where to find it and how its process is
// told apart from the others on the node (the CSI driver binary runs in both modes).
type podTarget struct {
	selector, container, pattern string
	perNode                      bool // a DaemonSet: the successor of a pod runs on its node
}

var podTargets = map[string]podTarget{
	compCCM:     {"app.kubernetes.io/name=iaas-cloud-controller-manager", "ccm", "iaas-cloud-controller-manager .*--cloud-provider", false},
	compCSICtl:  {"app.kubernetes.io/name=iaas-csi-controller", "driver", "iaas-csi-driver .*--mode=controller", false},
	compCSINode: {"app.kubernetes.io/name=iaas-csi-node", "driver", "iaas-csi-driver .*--mode=node", true},
}

// disruptor kill -9s the components at random moments: the first four kills take every
// component once (in random order), the others pick at random.
type disruptor struct {
	e    *env
	m    mode
	rng  *rand.Rand
	mu   sync.Mutex
	done map[string]int
	log  []string
	// last is when the last kill's component was back (Ready, or the simulator serving).
	last time.Time
}

func newDisruptor(e *env, m mode, seed uint64) *disruptor {
	return &disruptor{e: e, m: m, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), done: map[string]int{}}
}

func (d *disruptor) order() []string {
	out := append([]string(nil), components...)
	d.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for len(out) < d.m.kills {
		out = append(out, components[d.rng.IntN(len(components))])
	}
	return out
}

// run kills on schedule until churnDone closes and at least m.kills kills happened;
// after churnDone the remaining kills come at the shortest gap, so a fast churn still
// sees them all under faults. A kill that fails is an error of the test.
func (d *disruptor) run(ctx context.Context, t *testing.T, churnDone <-chan struct{}) error {
	plan := d.order()
	for i := 0; ; i++ {
		over := false
		select {
		case <-churnDone:
			over = true
		default:
		}
		if over && i >= len(plan) {
			return nil
		}
		target := components[d.rng.IntN(len(components))]
		if i < len(plan) {
			target = plan[i]
		}
		gap := d.m.killGapMin + time.Duration(d.rng.Int64N(int64(d.m.killGapMax-d.m.killGapMin)))
		if over {
			gap = d.m.killGapMin / 2
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(gap):
		}
		t0 := time.Now()
		if err := d.kill(ctx, target); err != nil {
			return fmt.Errorf("kill %d (%s): %w", i+1, target, err)
		}
		d.mu.Lock()
		d.done[target]++
		d.last = time.Now()
		d.log = append(d.log, fmt.Sprintf("%s %s back in %v", t0.UTC().Format("15:04:05"), target, time.Since(t0).Round(100*time.Millisecond)))
		d.mu.Unlock()
		t.Logf("disruptor: kill -9 %s (%d), back in %v", target, i+1, time.Since(t0).Round(100*time.Millisecond))
	}
}

func (d *disruptor) kill(ctx context.Context, target string) error {
	if target == compSim {
		return d.e.sim.kill9(ctx)
	}
	return d.e.killPod(ctx, podTargets[target], d.rng)
}

// killPod kill -9s the component's process inside its node container (the pod's
// containers are processes of the node container), then waits until the kubelet
// restarted the container and the pod is Ready again: that the restart count grew
// proves the kill happened. A container that was already restarted twice is killed by
// deleting its pod with grace 0 instead (the kubelet SIGKILLs it): the kubelet's crash
// loop back-off (10 s doubling to 5 min) would otherwise keep the component down for
// minutes, which tests the kubelet's policy, not kube-iaas.
func (e *env) killPod(ctx context.Context, pt podTarget, rng *rand.Rand) error {
	pods, err := e.kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: pt.selector})
	if err != nil {
		return err
	}
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if podReady(&p) {
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		return fmt.Errorf("no Ready pod %s", pt.selector)
	}
	p := ready[rng.IntN(len(ready))]
	before := restarts(&p, pt.container)
	if before >= 2 {
		if err := e.kube.CoreV1().Pods("kube-system").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
			return fmt.Errorf("delete pod %s: %w", p.Name, err)
		}
		// Its successor: another pod of the selector (on the same node for a DaemonSet).
		return poll(ctx, time.Second, 6*time.Minute, func(ctx context.Context) (bool, string, error) {
			pods, err := e.kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: pt.selector})
			if err != nil {
				return false, err.Error(), nil
			}
			for _, q := range pods.Items {
				if q.UID != p.UID && podReady(&q) && (!pt.perNode || q.Spec.NodeName == p.Spec.NodeName) {
					return true, "", nil
				}
			}
			return false, "no successor of pod " + p.Name + " Ready", nil
		})
	}
	out, err := exec.CommandContext(ctx, "docker", "exec", p.Spec.NodeName, "pkill", "-9", "-f", pt.pattern).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker exec %s pkill -9 -f %q: %v: %s", p.Spec.NodeName, pt.pattern, err, strings.TrimSpace(string(out)))
	}
	return poll(ctx, time.Second, 6*time.Minute, func(ctx context.Context) (bool, string, error) {
		cur, err := e.kube.CoreV1().Pods("kube-system").Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		n := restarts(cur, pt.container)
		return n > before && podReady(cur), fmt.Sprintf("pod %s: restarts %d (before %d), ready %v", p.Name, n, before, podReady(cur)), nil
	})
}

func restarts(p *corev1.Pod, container string) int32 {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container {
			return s.RestartCount
		}
	}
	return -1
}

func (d *disruptor) kills() (map[string]int, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := map[string]int{}
	for k, v := range d.done {
		m[k] = v
	}
	return m, append([]string(nil), d.log...)
}
