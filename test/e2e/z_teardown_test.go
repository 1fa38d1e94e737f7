package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// TestZZTeardown runs last (file and name order): once the namespaces of the tests
// are gone (their Services, PVCs and snapshots deleted with them), the IaaS holds no
// load balancer or certificate of this cluster, no disk made for a test PVC, no snapshot, and exactly
// one route per node.
func TestZZTeardown(t *testing.T) {
	e, ctx := setup(t)
	t0 := time.Now()
	err := poll(ctx, time.Second, 240*time.Second, func(ctx context.Context) (bool, string, error) {
		nss, err := e.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: e2eLabel})
		if err != nil {
			return false, err.Error(), nil
		}
		var left []string
		for _, ns := range nss.Items {
			left = append(left, ns.Name+"("+string(ns.Status.Phase)+")")
		}
		return len(left) == 0, fmt.Sprintf("namespaces left: %v", left), nil
	})
	if err != nil {
		t.Fatalf("test namespaces: %v", err)
	}
	defer func() {
		if err := e.kube.StorageV1().StorageClasses().DeleteCollection(context.Background(), metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: e2eLabel}); err != nil {
			t.Errorf("delete the tests' StorageClasses: %v", err)
		}
	}()
	nodes, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, time.Second, 120*time.Second, func(ctx context.Context) (bool, string, error) {
		lbs, err := e.iaas.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{Tags: map[string]string{tagCluster: e.clusterID}})
		if err != nil {
			return false, err.Error(), nil
		}
		if n := len(lbs.LoadBalancers); n > 0 {
			return false, fmt.Sprintf("%d load balancers left, first %s", n, lbs.LoadBalancers[0].LoadBalancerID), nil
		}
		// Ingress TLS certificates are tagged with the cluster too.
		certs, err := e.iaas.DescribeCertificates(ctx, &ic.DescribeCertificatesRequest{Tags: map[string]string{tagCluster: e.clusterID}})
		if err != nil {
			return false, err.Error(), nil
		}
		if n := len(certs.Certificates); n > 0 {
			return false, fmt.Sprintf("%d certificates left, first %s", n, certs.Certificates[0].CertificateID), nil
		}
		disks, err := e.iaas.DescribeDisks(ctx, &ic.DescribeDisksRequest{})
		if err != nil {
			return false, err.Error(), nil
		}
		var left []string
		for _, d := range disks.Disks {
			if strings.HasPrefix(d.Tags[tagPVCNs], "e2e-") {
				left = append(left, fmt.Sprintf("%s(%s, %s/%s)", d.DiskID, d.State, d.Tags[tagPVCNs], d.Tags["kubernetes.io/created-for/pvc/name"]))
			}
		}
		if len(left) > 0 {
			return false, fmt.Sprintf("disks left: %v", left), nil
		}
		// The tenant belongs to the test cluster (test/kind/e2e.sh): no snapshot at all.
		snaps, err := e.iaas.DescribeSnapshots(ctx, &ic.DescribeSnapshotsRequest{})
		if err != nil {
			return false, err.Error(), nil
		}
		if n := len(snaps.Snapshots); n > 0 {
			return false, fmt.Sprintf("%d snapshots left, first %s", n, snaps.Snapshots[0].SnapshotID), nil
		}
		return e.routesMatchNodes(ctx, nodes.Items)
	})
	if err != nil {
		t.Fatalf("IaaS after teardown: %v", err)
	}
	t.Logf("teardown: namespaces deleted and the IaaS clean in %v", time.Since(t0).Round(time.Millisecond))
}
