package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBlockPVC: a pod with a raw block PVC starts, writes to the device, and a second
// pod on the same claim reads the same bytes. kubelet holds every block volume of a pod
// open through a loop device (`losetup -f`); the upstream storage suite found that no
// such pod could start on kind nodes made without --privileged (no /dev/loop*, fixed in
// test/kind/node-entrypoint.sh).
func TestBlockPVC(t *testing.T) {
	e, ctx := setup(t)
	ns := e.namespace(t, ctx, "block")
	block := corev1.PersistentVolumeBlock
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "raw"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeMode:  &block,
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := e.kube.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr(int64(1)),
				Containers: []corev1.Container{{
					Name: "app", Image: e.image, ImagePullPolicy: corev1.PullIfNotPresent,
					Command:       []string{"sleep", "infinity"},
					VolumeDevices: []corev1.VolumeDevice{{Name: "vol", DevicePath: "/dev/xvda"}},
				}},
				Volumes: []corev1.Volume{{Name: "vol", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "raw"}}}},
			},
		}
	}
	pods := e.kube.CoreV1().Pods(ns)
	t0 := time.Now()
	if _, err := pods.Create(ctx, pod("writer"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.waitPodReady(ctx, ns, "writer", 180*time.Second, nil); err != nil {
		e.logWarningEvents(t, ctx, ns)
		t.Fatalf("pod with a block PVC: %v", err)
	}
	t.Logf("pod with a 1Gi block PVC Running in %v", time.Since(t0).Round(time.Millisecond))
	const write = `set -e
dd if=/dev/urandom of=/tmp/p bs=1M count=4 status=none
dd if=/tmp/p of=/dev/xvda bs=1M conv=fsync status=none
sha256sum /tmp/p | cut -d' ' -f1`
	const read = `dd if=/dev/xvda bs=1M count=4 status=none | sha256sum | cut -d' ' -f1`
	want, err := e.exec(ctx, ns, "writer", "app", "bash", "-c", write)
	if err != nil {
		t.Fatal(err)
	}
	want = strings.TrimSpace(want)
	if got, err := e.exec(ctx, ns, "writer", "app", "bash", "-c", read); err != nil || strings.TrimSpace(got) != want {
		t.Fatalf("read back from the device: %q, %v; want %s", got, err, want)
	}

	if err := pods.Delete(ctx, "writer", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, time.Second, 120*time.Second, func(ctx context.Context) (bool, string, error) {
		_, err := pods.Get(ctx, "writer", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprintf("writer still there (%v)", err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, pod("reader"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.waitPodReady(ctx, ns, "reader", 180*time.Second, nil); err != nil {
		e.logWarningEvents(t, ctx, ns)
		t.Fatalf("second pod with the block PVC: %v", err)
	}
	if got, err := e.exec(ctx, ns, "reader", "app", "bash", "-c", read); err != nil || strings.TrimSpace(got) != want {
		t.Fatalf("second pod read %q, %v; want %s", got, err, want)
	}
}
