package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var volumeSnapshots = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}

// writerScript writes 16 MiB of random data once (fsync'd) and its checksum next to it
// (written, fsync'd, then renamed), then idles. A pod that finds the checksum writes
// nothing: after a move to another node it must find the data as it was.
const writerScript = `set -e
if [ ! -s /data/sum ]; then
  dd if=/dev/urandom of=/data/payload bs=1M count=16 conv=fsync status=none
  sha256sum /data/payload | cut -d' ' -f1 >/data/sum.tmp
  sync /data/sum.tmp
  mv /data/sum.tmp /data/sum
  sync /data
fi
exec sleep infinity`

// checkScript prints the stored and the recomputed checksum.
const checkScript = `cat /data/sum; sha256sum /data/payload | cut -d' ' -f1`

func dataStatefulSet(name, image, size, class string) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr(int32(1)),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(1)),
					Containers: []corev1.Container{{
						Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
						Command:      []string{"bash", "-c", writerScript},
						VolumeMounts: []corev1.VolumeMount{{Name: "vol", MountPath: "/data"}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-s", "/data/sum"}}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "vol"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: ptr(class),
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
				},
			}},
		},
	}
}

// checksum returns the stored checksum after checking that the data still has it.
func (e *env) checksum(t testing.TB, ctx context.Context, ns, pod string) string {
	t.Helper()
	out, err := e.exec(ctx, ns, pod, "app", "bash", "-c", checkScript)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) != 2 || f[0] != f[1] || len(f[0]) != 64 {
		t.Fatalf("%s/%s: stored and computed checksums differ: %q", ns, pod, out)
	}
	return f[0]
}

// hasSysResource reports whether this machine grants CAP_SYS_RESOURCE at all (bit 24
// of the bounding set). Growing a mounted ext4 filesystem (EXT4_IOC_RESIZE_FS) needs
// it; some VMs withhold it from every process, containers included. XFS grows online
// with CAP_SYS_ADMIN alone.
func hasSysResource() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err != nil || caps&(1<<24) != 0
		}
	}
	return true
}

// expandClass is the StorageClass of TestPVC: the default one (ext4), or where ext4
// cannot grow online, the same with fsType xfs, made for the test.
func (e *env) expandClass(t *testing.T, ctx context.Context) string {
	t.Helper()
	if hasSysResource() {
		return storageClass
	}
	t.Logf("no CAP_SYS_RESOURCE on this machine: ext4 cannot grow online (resize2fs: Permission denied); expanding an xfs volume instead")
	sc, err := e.kube.StorageV1().StorageClasses().Get(ctx, storageClass, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := "e2e-" + storageClass + "-xfs"
	x := sc.DeepCopy()
	x.ObjectMeta = metav1.ObjectMeta{Name: name, Labels: map[string]string{e2eLabel: "pvc"}}
	x.Parameters = map[string]string{}
	for k, v := range sc.Parameters {
		x.Parameters[k] = v
	}
	x.Parameters["csi.storage.k8s.io/fstype"] = "xfs"
	delete(x.Parameters, "fsType")
	_ = e.kube.StorageV1().StorageClasses().Delete(ctx, name, metav1.DeleteOptions{})
	if _, err := e.kube.StorageV1().StorageClasses().Create(ctx, x, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Deleted by TestZZTeardown once the PVs are gone (the provisioner may still need it).
	return name
}

// TestPVC: a StatefulSet pod writes fsync'd data with a checksum on a dynamically
// provisioned disk; the PVC is expanded online (the filesystem grows while mounted); a
// snapshot restored into a new PVC has the same data.
func TestPVC(t *testing.T) {
	e, ctx := setup(t)
	ns := e.namespace(t, ctx, "pvc")
	class := e.expandClass(t, ctx)

	t0 := time.Now()
	if _, err := e.kube.AppsV1().StatefulSets(ns).Create(ctx, dataStatefulSet("data", e.image, "1Gi", class), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := e.waitPodReady(ctx, ns, "data-0", 180*time.Second, nil)
	if err != nil {
		t.Fatalf("pod data-0: %v", err)
	}
	t.Logf("StatefulSet created -> pod Running with its 1Gi volume written on %s in %v", pod.Spec.NodeName, time.Since(t0).Round(time.Millisecond))
	sum := e.checksum(t, ctx, ns, "data-0")

	// Online expansion to 2Gi.
	t0 = time.Now()
	pvcs := e.kube.CoreV1().PersistentVolumeClaims(ns)
	pvc, err := pvcs.Get(ctx, "vol-data-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	if _, err := pvcs.Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// kubelet grows the filesystem when it next syncs the pod: at once when something
	// about the pod changes, else at its periodic resync (syncFrequency, 1 min, plus up to
	// 50 % jitter). Both happen here (1 s and 62-79 s measured), so the limit covers the
	// resync with room to spare.
	err = poll(ctx, time.Second, 180*time.Second, func(ctx context.Context) (bool, string, error) {
		p, err := pvcs.Get(ctx, "vol-data-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		c := p.Status.Capacity[corev1.ResourceStorage]
		if c.Cmp(resource.MustParse("2Gi")) < 0 {
			return false, fmt.Sprintf("capacity %s, conditions %v", c.String(), p.Status.Conditions), nil
		}
		out, err := e.exec(ctx, ns, "data-0", "app", "df", "-B1", "--output=size", "/data")
		if err != nil {
			return false, err.Error(), nil
		}
		f := strings.Fields(out)
		size, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		return size > 3<<29, fmt.Sprintf("filesystem size %d", size), nil
	})
	if err != nil {
		t.Fatalf("online expansion: %v", err)
	}
	t.Logf("PVC 1Gi -> 2Gi, filesystem grown online in %v", time.Since(t0).Round(time.Millisecond))
	if time.Since(t0) > 10*time.Second {
		// Normally about a second; a slow pass that still passes leaves its reason here.
		e.logWarningEvents(t, ctx, ns)
	}
	if got := e.checksum(t, ctx, ns, "data-0"); got != sum {
		t.Fatalf("checksum after expansion %s, want %s", got, sum)
	}

	// Snapshot, and restore into a new PVC read by another pod.
	t0 = time.Now()
	snap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
		"metadata": map[string]any{"name": "snap"},
		"spec": map[string]any{
			"volumeSnapshotClassName": snapshotClass,
			"source":                  map[string]any{"persistentVolumeClaimName": "vol-data-0"},
		},
	}}
	if _, err := e.dyn.Resource(volumeSnapshots).Namespace(ns).Create(ctx, snap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, time.Second, 120*time.Second, func(ctx context.Context) (bool, string, error) {
		s, err := e.dyn.Resource(volumeSnapshots).Namespace(ns).Get(ctx, "snap", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		ready, _, _ := unstructured.NestedBool(s.Object, "status", "readyToUse")
		st, _, _ := unstructured.NestedMap(s.Object, "status")
		return ready, fmt.Sprintf("status %v", st), nil
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	t.Logf("VolumeSnapshot ready in %v", time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	restored := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "restored"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr(class),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
			DataSource:       &corev1.TypedLocalObjectReference{APIGroup: ptr("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: "snap"},
		},
	}
	if _, err := pvcs.Create(ctx, restored, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reader := sleeperPod("reader", e.image, corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "restored"}})
	if _, err := e.kube.CoreV1().Pods(ns).Create(ctx, reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rp, err := e.waitPodReady(ctx, ns, "reader", 180*time.Second, nil)
	if err != nil {
		t.Fatalf("pod on the restored PVC: %v", err)
	}
	if got := e.checksum(t, ctx, ns, "reader"); got != sum {
		t.Fatalf("restored checksum %s, want %s", got, sum)
	}
	t.Logf("PVC restored from the snapshot, pod Running on %s with the same checksum in %v", rp.Spec.NodeName, time.Since(t0).Round(time.Millisecond))
}

// sleeperPod is a pod that only holds vol mounted at /data, for reading it with exec.
func sleeperPod(name, image string, vol corev1.VolumeSource) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command:      []string{"sleep", "infinity"},
				VolumeMounts: []corev1.VolumeMount{{Name: "vol", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "vol", VolumeSource: vol}},
		},
	}
}

// logWarningEvents logs the namespace's Warning events and those about resizing.
func (e *env) logWarningEvents(t *testing.T, ctx context.Context, ns string) {
	t.Helper()
	evs, err := e.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("events of %s: %v", ns, err)
		return
	}
	for _, ev := range evs.Items {
		if ev.Type == corev1.EventTypeWarning || strings.Contains(ev.Reason, "Resiz") {
			t.Logf("event %s %s/%s %s (x%d): %s", ev.Type, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Reason, ev.Count, ev.Message)
		}
	}
}
