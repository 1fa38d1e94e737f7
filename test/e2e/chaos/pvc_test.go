package chaos

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var (
	volumeSnapshots        = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}
	volumeSnapshotContents = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotcontents"}
)

// readyScript waits for the checksum file, then serves the readiness probe's port: a
// TCP probe is a connect from the kubelet, where an exec probe every second per pod
// would be a runc exec each (dozens per second on the churn's 2-core machine).
const readyScript = `until [ -s /data/sum ]; do sleep 1; done
exec socat TCP-LISTEN:9000,fork,reuseaddr SYSTEM:true`

// writerScript writes 4 MiB of random data once (fsync'd) and its checksum next to it;
// the pod is Ready once the checksum exists.
const writerScript = `set -e
if [ ! -s /data/sum ]; then
  dd if=/dev/urandom of=/data/payload bs=1M count=4 conv=fsync status=none
  sha256sum /data/payload | cut -d' ' -f1 >/data/sum.tmp
  sync /data/sum.tmp
  mv /data/sum.tmp /data/sum
  sync /data
fi
` + readyScript

// checkScript prints the stored and the recomputed checksum.
const checkScript = `cat /data/sum; sha256sum /data/payload | cut -d' ' -f1`

// chaosClass is the StorageClass of the churn: the default one, or where ext4 cannot
// grow online (no CAP_SYS_RESOURCE on the machine, see test/e2e TestPVC) the same with
// xfs. Labelled so that TestZZTeardown deletes it once the PVs are gone.
func (e *env) chaosClass(ctx context.Context) (string, error) {
	if hasSysResource() {
		return storageClass, nil
	}
	sc, err := e.kube.StorageV1().StorageClasses().Get(ctx, storageClass, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	name := "e2e-chaos-" + storageClass + "-xfs"
	x := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: name, Labels: map[string]string{e2eLabel: "chaos"}},
		Provisioner:          sc.Provisioner,
		Parameters:           map[string]string{},
		ReclaimPolicy:        sc.ReclaimPolicy,
		AllowVolumeExpansion: sc.AllowVolumeExpansion,
		VolumeBindingMode:    sc.VolumeBindingMode,
	}
	for k, v := range sc.Parameters {
		x.Parameters[k] = v
	}
	x.Parameters["csi.storage.k8s.io/fstype"] = "xfs"
	delete(x.Parameters, "fsType")
	if _, err := e.kube.StorageV1().StorageClasses().Create(ctx, x, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	return name, nil
}

// hasSysResource reports whether the machine grants CAP_SYS_RESOURCE (bit 24 of the
// bounding set), which growing a mounted ext4 needs.
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

func dataPod(name, image, claim, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command:      []string{"bash", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "vol", MountPath: "/data"}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9000)}},
					PeriodSeconds: 1,
				},
			}},
			Volumes: []corev1.Volume{{Name: "vol", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
		},
	}
}

func pvc(name, class, size string, source *corev1.TypedLocalObjectReference) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr(class),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			DataSource:       source,
		},
	}
}

// pvcLifecycle: a PVC and a pod that writes a checksummed file on it; online expansion
// 1Gi -> 2Gi; a VolumeSnapshot; a new PVC restored from it, read by another pod, which
// must find the same checksum; then everything deleted (without waiting: the end checks
// find what did not go away).
func (e *env) pvcLifecycle(ctx context.Context, ns, class string, j int, r *results) (err error) {
	pvcs, pods := e.kube.CoreV1().PersistentVolumeClaims(ns), e.kube.CoreV1().Pods(ns)
	snaps := e.dyn.Resource(volumeSnapshots).Namespace(ns)
	vol, writer := fmt.Sprintf("vol-%03d", j), fmt.Sprintf("writer-%03d", j)
	snap, restored, reader := fmt.Sprintf("snap-%03d", j), fmt.Sprintf("restored-%03d", j), fmt.Sprintf("reader-%03d", j)
	// Whatever happens, the objects go: a failed lifecycle must not keep its disks.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, p := range []string{writer, reader} {
			if derr := pods.Delete(dctx, p, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) && err == nil {
				err = derr
			}
		}
		if derr := snaps.Delete(dctx, snap, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) && err == nil {
			err = derr
		}
		for _, c := range []string{vol, restored} {
			if derr := pvcs.Delete(dctx, c, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) && err == nil {
				err = derr
			}
		}
	}()
	if _, err := pvcs.Create(ctx, pvc(vol, class, "1Gi", nil), metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := pods.Create(ctx, dataPod(writer, e.image, vol, writerScript), metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := e.waitPodReady(ctx, ns, writer, 6*time.Minute); err != nil {
		return fmt.Errorf("writer pod: %w", err)
	}
	sum, err := e.checksum(ctx, ns, writer)
	if err != nil {
		return err
	}
	if err := e.recordVolume(ctx, ns, vol, r); err != nil {
		return err
	}

	// Online expansion. kubelet grows the filesystem when it next syncs the pod, at once
	// when the pod changes: an annotation saves waiting for its periodic resync (1 min+).
	p, err := pvcs.Get(ctx, vol, metav1.GetOptions{})
	if err != nil {
		return err
	}
	p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	if _, err := pvcs.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("expand: %w", err)
	}
	nudged := 0
	err = poll(ctx, time.Second, 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		p, err := pvcs.Get(ctx, vol, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		c := p.Status.Capacity[corev1.ResourceStorage]
		if c.Cmp(resource.MustParse("2Gi")) >= 0 {
			return true, "", nil
		}
		nudged++
		if nudged%5 == 1 {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{"chaos.kube-iaas.io/nudge":"%d"}}}`, nudged)
			_, _ = pods.Patch(ctx, writer, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		}
		return false, fmt.Sprintf("capacity %s, conditions %v", c.String(), p.Status.Conditions), nil
	})
	if err != nil {
		return fmt.Errorf("expand: %w", err)
	}
	if got, err := e.checksum(ctx, ns, writer); err != nil {
		return fmt.Errorf("after expansion: %w", err)
	} else if got != sum {
		r.add(func(r *results) { r.mismatches++ })
		return fmt.Errorf("checksum after expansion %s, want %s", got, sum)
	}

	if _, err := snaps.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
		"metadata": map[string]any{"name": snap},
		"spec": map[string]any{
			"volumeSnapshotClassName": snapshotClass,
			"source":                  map[string]any{"persistentVolumeClaimName": vol},
		},
	}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	var content string
	err = poll(ctx, time.Second, 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		s, err := snaps.Get(ctx, snap, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		ready, _, _ := unstructured.NestedBool(s.Object, "status", "readyToUse")
		content, _, _ = unstructured.NestedString(s.Object, "status", "boundVolumeSnapshotContentName")
		st, _, _ := unstructured.NestedMap(s.Object, "status")
		return ready && content != "", fmt.Sprintf("status %v", st), nil
	})
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	vsc, err := e.dyn.Resource(volumeSnapshotContents).Get(ctx, content, metav1.GetOptions{})
	if err != nil {
		return err
	}
	handle, _, _ := unstructured.NestedString(vsc.Object, "status", "snapshotHandle")
	if handle == "" {
		return fmt.Errorf("snapshot content %s has no handle", content)
	}
	r.add(func(r *results) { r.snapshots = append(r.snapshots, handle) })

	src := &corev1.TypedLocalObjectReference{APIGroup: ptr("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: snap}
	if _, err := pvcs.Create(ctx, pvc(restored, class, "2Gi", src), metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := pods.Create(ctx, dataPod(reader, e.image, restored, readyScript), metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := e.waitPodReady(ctx, ns, reader, 6*time.Minute); err != nil {
		return fmt.Errorf("reader pod: %w", err)
	}
	if err := e.recordVolume(ctx, ns, restored, r); err != nil {
		return err
	}
	got, err := e.checksum(ctx, ns, reader)
	if err != nil {
		return fmt.Errorf("restored: %w", err)
	}
	if got != sum {
		r.add(func(r *results) { r.mismatches++ })
		return fmt.Errorf("restored checksum %s, want %s", got, sum)
	}
	r.add(func(r *results) { r.restoredOK++ })
	return nil
}

// checksum returns the stored checksum after checking that the data still has it.
func (e *env) checksum(ctx context.Context, ns, pod string) (string, error) {
	out, err := e.exec(ctx, ns, pod, "app", "bash", "-c", checkScript)
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	if len(f) != 2 || f[0] != f[1] || len(f[0]) != 64 {
		return "", fmt.Errorf("%s/%s: stored and computed checksums differ: %q", ns, pod, out)
	}
	return f[0], nil
}

// recordVolume remembers the disk of a bound PVC (the PV's volume handle).
func (e *env) recordVolume(ctx context.Context, ns, claim string, r *results) error {
	p, err := e.kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pv, err := e.kube.CoreV1().PersistentVolumes().Get(ctx, p.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != driverName {
		return fmt.Errorf("PV %s is not of %s", pv.Name, driverName)
	}
	r.add(func(r *results) { r.disks = append(r.disks, pv.Spec.CSI.VolumeHandle) })
	return nil
}
