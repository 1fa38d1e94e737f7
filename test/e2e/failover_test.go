package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

const (
	failoverGoal  = 30 * time.Second
	failoverLimit = 60 * time.Second
	// reasonFencedPodReleased is the CCM's Event on a pod it force-deleted because the
	// node's instance is STOPPED (cloudprovider.ReasonFencedPodReleased).
	reasonFencedPodReleased = "FencedPodReleased"
)

// TestFailover: the instance of the node running a StatefulSet pod is stopped through
// the IaaS. The CCM sees it STOPPED (fenced) and taints the node out-of-service, the
// taint manager evicts the pod and the CCM force-deletes it (Event FencedPodReleased)
// without waiting for the node to turn NotReady, the disk is detached from the
// stopped instance and attached to another node, and the pod runs there with its data.
// Stop -> Running must be under 60 s (goal 30 s). Started again, the node loses the
// taints, and the disk stays attached once, to the new node.
func TestFailover(t *testing.T) {
	e, ctx := setup(t)
	ns := e.namespace(t, ctx, "failover")

	if _, err := e.kube.AppsV1().StatefulSets(ns).Create(ctx, dataStatefulSet("fo", e.image, "1Gi", storageClass), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := e.waitPodReady(ctx, ns, "fo-0", 180*time.Second, nil)
	if err != nil {
		t.Fatalf("pod fo-0: %v", err)
	}
	sum := e.checksum(t, ctx, ns, "fo-0")
	oldNode, err := e.kube.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inst := instanceID(oldNode)
	if inst == "" {
		t.Fatalf("node %s has no iaas providerID: %q", oldNode.Name, oldNode.Spec.ProviderID)
	}
	pvc, err := e.kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "vol-fo-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv := pvc.Spec.VolumeName

	// Whatever happens below, the instance runs again at the end: later tests need it.
	started := false
	startInstance := func(ctx context.Context) error {
		resp, err := e.iaas.StartInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{inst}})
		if err != nil {
			return fmt.Errorf("StartInstances %s: %w", inst, err)
		}
		started = true
		return e.waitTask(ctx, resp.TaskID)
	}
	t.Cleanup(func() {
		if started {
			return
		}
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := startInstance(cctx); err != nil {
			t.Errorf("restarting %s (%s): %v", oldNode.Name, inst, err)
			return
		}
		_ = e.waitNodeBack(cctx, oldNode.Name)
	})

	t.Logf("stopping instance %s of node %s, which runs %s/fo-0 (PV %s)", inst, oldNode.Name, ns, pv)
	tStop := time.Now()
	resp, err := e.iaas.StopInstances(ctx, &ic.InstancesRequest{InstanceIDs: []string{inst}})
	if err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
	if err := e.waitTask(ctx, resp.TaskID); err != nil {
		t.Fatalf("StopInstances task: %v", err)
	}
	t.Logf("instance STOPPED after %v", time.Since(tStop).Round(time.Millisecond))
	moved, err := e.waitPodReady(ctx, ns, "fo-0", 3*failoverLimit, func(p *corev1.Pod) bool {
		return p.UID != pod.UID && p.Spec.NodeName != oldNode.Name
	})
	elapsed := time.Since(tStop)
	if err != nil {
		t.Fatalf("pod fo-0 did not come back on another node: %v", err)
	}
	t.Logf("failover: instance stop -> pod Running and Ready on %s in %v (goal %v, limit %v)", moved.Spec.NodeName, elapsed.Round(time.Millisecond), failoverGoal, failoverLimit)
	if elapsed > failoverLimit {
		t.Errorf("failover took %v, more than %v", elapsed.Round(time.Millisecond), failoverLimit)
	} else if elapsed > failoverGoal {
		t.Logf("NOTE: failover took %v, over the %v goal", elapsed.Round(time.Millisecond), failoverGoal)
	}
	if got := e.checksum(t, ctx, ns, "fo-0"); got != sum {
		t.Fatalf("checksum after failover %s, want %s", got, sum)
	}
	// The CCM released the old pod (it did not wait for the node to turn NotReady and
	// kube-controller-manager's pod GC to do it).
	e.expectPodEvent(t, ctx, ns, pod.UID, reasonFencedPodReleased)
	newNode, err := e.kube.CoreV1().Nodes().Get(ctx, moved.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.checkAttachedOnce(t, ctx, pv, newNode)

	// Back in service: the taints go, the disk stays where it is.
	t0 := time.Now()
	if err := startInstance(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.waitNodeBack(ctx, oldNode.Name); err != nil {
		t.Fatalf("node %s after StartInstances: %v", oldNode.Name, err)
	}
	t.Logf("instance started -> node %s Ready without shutdown/out-of-service taints in %v", oldNode.Name, time.Since(t0).Round(time.Millisecond))
	e.checkAttachedOnce(t, ctx, pv, newNode)
	if p, err := e.kube.CoreV1().Pods(ns).Get(ctx, "fo-0", metav1.GetOptions{}); err != nil || p.UID != moved.UID || !podReady(p) {
		t.Fatalf("pod fo-0 after the old node came back: %v (uid %v, want %v)", err, p.GetUID(), moved.UID)
	}
	if got := e.checksum(t, ctx, ns, "fo-0"); got != sum {
		t.Fatalf("checksum after the old node came back %s, want %s", got, sum)
	}
}

// waitNodeBack waits until the node is Ready and has neither the shutdown nor the
// out-of-service taint.
func (e *env) waitNodeBack(ctx context.Context, name string) error {
	return poll(ctx, time.Second, 240*time.Second, func(ctx context.Context) (bool, string, error) {
		n, err := e.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		bad := slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == taintOOS || t.Key == taintShutdown })
		return nodeReady(n) && !bad, fmt.Sprintf("ready %v, taints %v", nodeReady(n), n.Spec.Taints), nil
	})
}

// checkAttachedOnce: the PV has exactly one VolumeAttachment, attached, to node; and
// in the IaaS its disk is ATTACHED to that node's instance.
func (e *env) checkAttachedOnce(t *testing.T, ctx context.Context, pv string, node *corev1.Node) {
	t.Helper()
	err := poll(ctx, time.Second, 90*time.Second, func(ctx context.Context) (bool, string, error) {
		vas, err := e.kube.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		var mine []string
		ok := false
		for _, va := range vas.Items {
			if va.Spec.Source.PersistentVolumeName == nil || *va.Spec.Source.PersistentVolumeName != pv {
				continue
			}
			mine = append(mine, fmt.Sprintf("%s(attached=%v)", va.Spec.NodeName, va.Status.Attached))
			ok = va.Spec.NodeName == node.Name && va.Status.Attached
		}
		if len(mine) != 1 || !ok {
			return false, fmt.Sprintf("VolumeAttachments of %s: %v, want one attached to %s", pv, mine, node.Name), nil
		}
		p, err := e.kube.CoreV1().PersistentVolumes().Get(ctx, pv, metav1.GetOptions{})
		if err != nil || p.Spec.CSI == nil {
			return false, fmt.Sprintf("PV %s: %v", pv, err), nil
		}
		disks, err := e.iaas.DescribeDisks(ctx, &ic.DescribeDisksRequest{DiskIDs: []string{p.Spec.CSI.VolumeHandle}})
		if err != nil {
			return false, err.Error(), nil
		}
		if len(disks.Disks) != 1 {
			return false, fmt.Sprintf("disk %s: %d found", p.Spec.CSI.VolumeHandle, len(disks.Disks)), nil
		}
		d := disks.Disks[0]
		return d.State == ic.DiskAttached && d.InstanceID == instanceID(node),
			fmt.Sprintf("disk %s %s on %q, want ATTACHED on %s", d.DiskID, d.State, d.InstanceID, instanceID(node)), nil
	})
	if err != nil {
		t.Fatalf("attachments: %v", err)
	}
}

// expectPodEvent fails unless an Event with reason was recorded for the pod with uid.
func (e *env) expectPodEvent(t *testing.T, ctx context.Context, ns string, uid types.UID, reason string) {
	t.Helper()
	err := poll(ctx, 250*time.Millisecond, 10*time.Second, func(ctx context.Context) (bool, string, error) {
		evs, err := e.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(uid)})
		if err != nil {
			return false, err.Error(), nil
		}
		var seen []string
		for _, ev := range evs.Items {
			if ev.Reason == reason {
				return true, "", nil
			}
			seen = append(seen, ev.Reason)
		}
		return false, fmt.Sprintf("events of the pod: %v", seen), nil
	})
	if err != nil {
		t.Fatalf("no %s Event for pod %s: %v", reason, uid, err)
	}
}
