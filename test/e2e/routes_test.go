package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// TestRoutes: the route table holds one route per node (its pod CIDR -> its
// instance); pods on two nodes reach each other by pod IP, which works only through
// those routes (the CNI config adds none); a route deleted in the IaaS is put back by
// the CCM's route controller.
func TestRoutes(t *testing.T) {
	e, ctx := setup(t)
	ns := e.namespace(t, ctx, "routes")

	nodes, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, time.Second, 60*time.Second, func(ctx context.Context) (bool, string, error) {
		return e.routesMatchNodes(ctx, nodes.Items)
	})
	if err != nil {
		t.Fatalf("route table %s: %v", e.routeTable, err)
	}

	// A server pod on each of two workers; the one on the first asks the other.
	workers := e.workers(t, ctx)
	a, b := workers[0], workers[1]
	for _, n := range []corev1.Node{a, b} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "srv-" + n.Name, Labels: map[string]string{"app": "routes"}},
			Spec: corev1.PodSpec{
				NodeName:                      n.Name,
				TerminationGracePeriodSeconds: ptr(int64(1)),
				Containers: []corev1.Container{{
					Name: "http", Image: e.image, ImagePullPolicy: corev1.PullIfNotPresent,
					Command: []string{"bash", "-c", httpServerScript},
					Env: []corev1.EnvVar{
						{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
					},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
						PeriodSeconds: 1,
					},
				}},
			},
		}
		if _, err := e.kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	podA, err := e.waitPodReady(ctx, ns, "srv-"+a.Name, 120*time.Second, nil)
	if err != nil {
		t.Fatalf("pod on %s: %v", a.Name, err)
	}
	podB, err := e.waitPodReady(ctx, ns, "srv-"+b.Name, 120*time.Second, nil)
	if err != nil {
		t.Fatalf("pod on %s: %v", b.Name, err)
	}
	ask := func(ctx context.Context, from *corev1.Pod, ip string) (string, error) {
		return e.exec(ctx, ns, from.Name, "http", "bash", "-c",
			fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | timeout 3 socat - TCP:%s:8080`, ip))
	}
	reach := func(timeout time.Duration) {
		t.Helper()
		for _, pair := range [][2]*corev1.Pod{{podA, podB}, {podB, podA}} {
			err := poll(ctx, 500*time.Millisecond, timeout, func(ctx context.Context) (bool, string, error) {
				out, err := ask(ctx, pair[0], pair[1].Status.PodIP)
				if err != nil {
					return false, err.Error(), nil
				}
				return strings.Contains(out, pair[1].Name+" "), fmt.Sprintf("answer %q", out), nil
			})
			if err != nil {
				t.Fatalf("pod %s (%s) -> pod %s (%s, %s): %v", pair[0].Name, pair[0].Spec.NodeName, pair[1].Name, pair[1].Spec.NodeName, pair[1].Status.PodIP, err)
			}
		}
	}
	reach(30 * time.Second)

	// Delete b's route in the IaaS: the CCM puts it back, and traffic flows again.
	route := e.routeFor(t, ctx, b.Spec.PodCIDR)
	if route == nil {
		t.Fatalf("no route for %s (%s)", b.Name, b.Spec.PodCIDR)
	}
	t0 := time.Now()
	if _, err := e.iaas.DeleteRoutes(ctx, &ic.DeleteRoutesRequest{RouteTableID: e.routeTable, RouteIDs: []string{route.RouteID}}); err != nil {
		t.Fatalf("DeleteRoutes: %v", err)
	}
	err = poll(ctx, 250*time.Millisecond, 90*time.Second, func(ctx context.Context) (bool, string, error) {
		r := e.routeFor(t, ctx, b.Spec.PodCIDR)
		if r == nil || r.RouteID == route.RouteID {
			return false, "route not re-created", nil
		}
		return r.NextHopInstanceID == instanceID(&b), fmt.Sprintf("re-created with next hop %s", r.NextHopInstanceID), nil
	})
	if err != nil {
		t.Fatalf("after deleting the route of %s in the IaaS: %v", b.Name, err)
	}
	t.Logf("route of %s deleted in the IaaS -> re-created by the CCM in %v", b.Name, time.Since(t0).Round(time.Millisecond))
	reach(30 * time.Second)
	if ok, why, err := e.routesMatchNodes(ctx, nodes.Items); err != nil || !ok {
		t.Fatalf("route table after the repair: %s %v", why, err)
	}
}

// routesMatchNodes: the cluster's routes are exactly one per node with a pod CIDR,
// that CIDR -> that node's instance.
func (e *env) routesMatchNodes(ctx context.Context, nodes []corev1.Node) (bool, string, error) {
	routes, err := e.clusterRoutes(ctx)
	if err != nil {
		return false, err.Error(), nil
	}
	want := 0
	for i := range nodes {
		n := &nodes[i]
		if n.Spec.PodCIDR == "" {
			continue
		}
		want++
		var found []ic.Route
		for _, r := range routes {
			if r.DestinationCidr == n.Spec.PodCIDR {
				found = append(found, r)
			}
		}
		if len(found) != 1 || found[0].NextHopInstanceID != instanceID(n) {
			return false, fmt.Sprintf("node %s (%s, %s): routes %+v", n.Name, n.Spec.PodCIDR, instanceID(n), found), nil
		}
	}
	return len(routes) == want, fmt.Sprintf("%d routes of cluster %s, %d nodes with a pod CIDR", len(routes), e.clusterID, want), nil
}

// clusterRoutes are the routes of the route table tagged with our cluster id.
func (e *env) clusterRoutes(ctx context.Context) ([]ic.Route, error) {
	resp, err := e.iaas.DescribeRouteTables(ctx, &ic.DescribeRouteTablesRequest{RouteTableIDs: []string{e.routeTable}})
	if err != nil {
		return nil, err
	}
	if len(resp.RouteTables) != 1 {
		return nil, fmt.Errorf("route table %s: %d found", e.routeTable, len(resp.RouteTables))
	}
	var out []ic.Route
	for _, r := range resp.RouteTables[0].Routes {
		if r.Tags[tagCluster] == e.clusterID {
			out = append(out, r)
		}
	}
	return out, nil
}

func (e *env) routeFor(t *testing.T, ctx context.Context, cidr string) *ic.Route {
	t.Helper()
	routes, err := e.clusterRoutes(ctx)
	if err != nil {
		t.Fatalf("DescribeRouteTables: %v", err)
	}
	for _, r := range routes {
		if r.DestinationCidr == cidr {
			return &r
		}
	}
	return nil
}
