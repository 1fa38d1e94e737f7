package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// writer keeps the CNI configuration file of one node equal to what its pod CIDRs call
// for.
type writer struct {
	client   kubernetes.Interface
	nodeName string
	path     string // the .conflist file
	opts     confOptions
	// resync re-reads the node and re-checks the file this often (a file deleted by
	// hand comes back); 0: only on changes of the node.
	resync time.Duration
	// written is called after each write (tests).
	written func(podCIDRs []netip.Prefix)
}

// podCIDRs of a node: spec.podCIDRs, or spec.podCIDR on an old API server.
func podCIDRs(n *corev1.Node) ([]netip.Prefix, error) {
	s := n.Spec.PodCIDRs
	if len(s) == 0 && n.Spec.PodCIDR != "" {
		s = []string{n.Spec.PodCIDR}
	}
	out := make([]netip.Prefix, 0, len(s))
	for _, c := range s {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("node %s: pod CIDR %q: %w", n.Name, c, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// run watches the node until ctx ends; every change of its pod CIDRs (and every resync)
// makes sure the file holds the matching configuration. The file is kept at exit: pods
// keep working while this program is upgraded.
func (w *writer) run(ctx context.Context) error {
	sel := fields.OneTermEqualSelector("metadata.name", w.nodeName).String()
	factory := informers.NewSharedInformerFactoryWithOptions(w.client, w.resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = sel }))
	informer := factory.Core().V1().Nodes().Informer()
	logger := klog.FromContext(ctx)
	onNode := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok || n.Name != w.nodeName {
			return
		}
		if err := w.sync(ctx, n); err != nil {
			logger.Error(err, "Cannot write the CNI configuration", "node", n.Name, "path", w.path)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onNode,
		UpdateFunc: func(_, obj any) { onNode(obj) },
		DeleteFunc: func(obj any) {
			logger.Info("Node deleted; the CNI configuration stays", "node", w.nodeName)
		},
	}); err != nil {
		return err
	}
	logger.Info("Watching the node for its pod CIDRs", "node", w.nodeName, "path", w.path)
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil // stopped before the first list
	}
	if _, ok, _ := informer.GetStore().GetByKey(w.nodeName); !ok {
		logger.Info("Node not found yet; waiting for it", "node", w.nodeName)
	}
	<-ctx.Done()
	return nil
}

// sync writes the configuration for node n when the file differs from it.
func (w *writer) sync(ctx context.Context, n *corev1.Node) error {
	logger := klog.FromContext(ctx)
	cidrs, err := podCIDRs(n)
	if err != nil {
		return err
	}
	if len(cidrs) == 0 {
		logger.Info("Node has no pod CIDR yet; waiting", "node", n.Name)
		return nil
	}
	want, err := conflist(cidrs, w.opts)
	if err != nil {
		return err
	}
	have, err := os.ReadFile(w.path)
	existed := err == nil
	if existed && bytes.Equal(have, want) {
		logger.V(4).Info("CNI configuration is current", "path", w.path)
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		logger.Error(err, "Cannot read the CNI configuration; rewriting it", "path", w.path)
	}
	if err := writeAtomic(w.path, want, 0o644); err != nil {
		return err
	}
	logger.Info("Wrote the CNI configuration", "node", n.Name, "path", w.path, "podCIDRs", joinPrefixes(cidrs),
		"plugin", cmp.Or(w.opts.Plugin, pluginPTP), "masquerade", len(w.opts.ClusterCIDRs) > 0, "replaced", existed)
	w.warnShadowed(logger)
	if w.written != nil {
		w.written(cidrs)
	}
	return nil
}

// warnShadowed logs the configuration files that sort before ours: the container
// runtime uses the first one, so ours would be ignored.
func (w *writer) warnShadowed(logger klog.Logger) {
	entries, err := os.ReadDir(filepath.Dir(w.path))
	if err != nil {
		return
	}
	var names []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if !e.IsDir() && (ext == ".conf" || ext == ".conflist" || ext == ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if i := slices.Index(names, filepath.Base(w.path)); i > 0 {
		logger.Info("Warning: other CNI configurations sort first and take precedence over ours",
			"dir", filepath.Dir(w.path), "files", strings.Join(names[:i], ","))
	}
}

// writeAtomic replaces path by data: a temporary file in the same directory (with a
// name the container runtime does not load), fsync, rename, fsync of the directory.
// A reader sees the old file or the new one, never a part.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
