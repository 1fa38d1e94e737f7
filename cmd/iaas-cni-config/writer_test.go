package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
)

func node(name string, cidrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR = cidrs[0]
		n.Spec.PodCIDRs = cidrs
	}
	return n
}

// startWriter runs a writer for node "n1" over client until the test ends; every
// write is sent on the returned channel.
func startWriter(t *testing.T, client *fake.Clientset, opts confOptions, resync time.Duration) (string, <-chan []netip.Prefix) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "net.d", "10-kube-iaas.conflist")
	writes := make(chan []netip.Prefix, 10)
	w := &writer{client: client, nodeName: "n1", path: path, opts: opts, resync: resync,
		written: func(p []netip.Prefix) { writes <- p }}
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return path, writes
}

func waitWrite(t *testing.T, writes <-chan []netip.Prefix, want string) {
	t.Helper()
	select {
	case got := <-writes:
		if joinPrefixes(got) != want {
			t.Fatalf("wrote for %s, want %s", joinPrefixes(got), want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no write for %s", want)
	}
}

func noWrite(t *testing.T, writes <-chan []netip.Prefix, d time.Duration) {
	t.Helper()
	select {
	case got := <-writes:
		t.Fatalf("unexpected write for %s", joinPrefixes(got))
	case <-time.After(d):
	}
}

func fileMatches(t *testing.T, path, pod string, opts confOptions) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := conflist(mustPrefixes(t, pod), opts)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("file\n%s\nwant\n%s", got, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	// Only the configuration: no temporary file left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries", len(entries))
	}
}

func TestWriterWaitsForPodCIDRThenFollowsIt(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(node("n1"), node("n2", "10.245.9.0/24"))
	opts := confOptions{PortMap: true, ClusterCIDRs: mustPrefixes(t, "10.245.0.0/16")}
	path, writes := startWriter(t, client, opts, 0)

	// No pod CIDR yet (and another node's does not count): no file.
	noWrite(t, writes, 300*time.Millisecond)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("file exists before the node has a pod CIDR: %v", err)
	}

	// The node IPAM controller sets it.
	n, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.245.1.0/24", []string{"10.245.1.0/24"}
	if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitWrite(t, writes, "10.245.1.0/24")
	fileMatches(t, path, "10.245.1.0/24", opts)

	// An update that leaves the pod CIDR alone does not rewrite the file.
	n.Labels = map[string]string{"x": "y"}
	if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	noWrite(t, writes, 300*time.Millisecond)

	// A changed pod CIDR rewrites it.
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.245.7.0/24", []string{"10.245.7.0/24"}
	if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitWrite(t, writes, "10.245.7.0/24")
	fileMatches(t, path, "10.245.7.0/24", opts)

	// Other nodes' changes are ignored.
	n2, _ := client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
	n2.Spec.PodCIDR, n2.Spec.PodCIDRs = "10.245.8.0/24", []string{"10.245.8.0/24"}
	if _, err := client.CoreV1().Nodes().Update(ctx, n2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	noWrite(t, writes, 300*time.Millisecond)
	fileMatches(t, path, "10.245.7.0/24", opts)
}

func TestWriterRestoresAFileChangedBehindItsBack(t *testing.T) {
	client := fake.NewClientset(node("n1", "10.245.3.0/24"))
	opts := confOptions{}
	// The informer's shortest resync is one second.
	path, writes := startWriter(t, client, opts, time.Second)
	waitWrite(t, writes, "10.245.3.0/24")
	fileMatches(t, path, "10.245.3.0/24", opts)

	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitWrite(t, writes, "10.245.3.0/24")
	fileMatches(t, path, "10.245.3.0/24", opts)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitWrite(t, writes, "10.245.3.0/24")
	fileMatches(t, path, "10.245.3.0/24", opts)
}

func TestWriterStartsOnAnExistingCurrentFile(t *testing.T) {
	// A restarted writer finds its own file current and leaves it alone.
	client := fake.NewClientset(node("n1", "10.245.4.0/24"))
	path, writes := startWriter(t, client, confOptions{}, 0)
	waitWrite(t, writes, "10.245.4.0/24")
	st1, _ := os.Stat(path)

	w := &writer{client: client, nodeName: "n1", path: path, written: func([]netip.Prefix) { t.Error("rewrote a current file") }}
	_, ctx := ktesting.NewTestContext(t)
	n, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err := w.sync(ctx, n); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(path)
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("file touched")
	}
}

func TestWriterRejectsBadPodCIDR(t *testing.T) {
	w := &writer{nodeName: "n1", path: filepath.Join(t.TempDir(), "x.conflist")}
	_, ctx := ktesting.NewTestContext(t)
	if err := w.sync(ctx, node("n1", "not-a-cidr")); err == nil {
		t.Fatal("accepted a bad pod CIDR")
	}
	// A pod CIDR outside the cluster CIDRs is refused, nothing is written.
	w.opts = confOptions{ClusterCIDRs: mustPrefixes(t, "10.0.0.0/16")}
	if err := w.sync(ctx, node("n1", "10.9.0.0/24")); err == nil {
		t.Fatal("accepted a pod CIDR outside the cluster CIDRs")
	}
	if _, err := os.Stat(w.path); !os.IsNotExist(err) {
		t.Fatalf("file written: %v", err)
	}
}

func TestCheckPlugins(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"ptp", "host-local", "loopback"} {
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkPlugins(dir, confOptions{Plugin: pluginPTP}); err != nil {
		t.Fatal(err)
	}
	if err := checkPlugins(dir, confOptions{Plugin: pluginPTP, PortMap: true}); err == nil {
		t.Fatal("portmap is missing but the check passed")
	}
}
