package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// httpServerScript answers every connection with an HTTP/1.0 200 whose body names the
// pod and its node, after reading the request (so the close is clean).
const httpServerScript = `cat >/tmp/h.sh <<'EOF'
while IFS= read -r l; do l=${l%$'\r'}; [ -z "$l" ] && break; done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%s %s\n' "$POD_NAME" "$NODE_NAME"
EOF
exec socat TCP-LISTEN:8080,fork,reuseaddr EXEC:"bash /tmp/h.sh"`

func webDeployment(image string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(1)),
					Containers: []corev1.Container{{
						Name: "http", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{"bash", "-c", httpServerScript},
						Env: []corev1.EnvVar{
							{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
							{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
						},
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
}

// TestLoadBalancer: a Service of type LoadBalancer gets an IaaS load balancer whose VIP
// reaches the pods from the host; scaling, adding and removing ports keep it working;
// externalTrafficPolicy=Local sends only to nodes with endpoints; deleting the Service
// deletes the load balancer.
func TestLoadBalancer(t *testing.T) {
	e, ctx := setup(t)
	ns := e.namespace(t, ctx, "lb")
	deps := e.kube.AppsV1().Deployments(ns)
	svcs := e.kube.CoreV1().Services(ns)

	if _, err := deps.Create(ctx, webDeployment(e.image, 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitDeploymentReady(t, ctx, ns, "web", 2)

	t0 := time.Now()
	svc, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vip := e.waitIngressIP(t, ctx, ns, "web")
	tIP := time.Since(t0)
	e.waitHTTP(t, ctx, fmt.Sprintf("http://%s:80/", vip), 90*time.Second)
	t.Logf("Service created -> external IP %s in %v -> first good HTTP response through the VIP in %v", vip, tIP.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))

	// Exactly one load balancer in the IaaS, ours, with that VIP.
	lb := e.serviceLB(t, ctx, svc)
	if lb == nil {
		t.Fatalf("no load balancer tagged %s=%s in the IaaS", tagServiceUID, svc.UID)
	}
	if lb.VIP != vip || lb.Tags[tagCluster] != e.clusterID {
		t.Fatalf("load balancer %s: vip %s (Service says %s), cluster tag %q (want %q)", lb.LoadBalancerID, lb.VIP, vip, lb.Tags[tagCluster], e.clusterID)
	}

	// Scale: the new pods get traffic too.
	e.scale(t, ctx, ns, "web", 4)
	e.waitDeploymentReady(t, ctx, ns, "web", 4)
	err = poll(ctx, time.Second, 60*time.Second, func(ctx context.Context) (bool, string, error) {
		seen := map[string]bool{}
		for range 24 {
			body, err := httpGet(ctx, fmt.Sprintf("http://%s:80/", vip))
			if err != nil {
				return false, err.Error(), nil
			}
			seen[strings.Fields(body)[0]] = true
		}
		return len(seen) >= 3, fmt.Sprintf("24 requests reached %d pods", len(seen)), nil
	})
	if err != nil {
		t.Fatalf("after scaling to 4: %v", err)
	}

	// Add a port, then remove the first one.
	e.updateService(t, ctx, ns, "web", func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "alt", Port: 8081, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP})
	})
	e.waitHTTP(t, ctx, fmt.Sprintf("http://%s:8081/", vip), 60*time.Second)
	e.waitListenerPorts(t, ctx, svc, []int{80, 8081})
	e.updateService(t, ctx, ns, "web", func(s *corev1.Service) {
		s.Spec.Ports = slices.DeleteFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 80 })
	})
	e.waitListenerPorts(t, ctx, svc, []int{8081})
	err = poll(ctx, time.Second, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		_, err := httpGet(ctx, fmt.Sprintf("http://%s:80/", vip))
		return err != nil, "port 80 still answers", nil
	})
	if err != nil {
		t.Fatalf("after removing port 80: %v", err)
	}
	for range 5 {
		if _, err := httpGet(ctx, fmt.Sprintf("http://%s:8081/", vip)); err != nil {
			t.Fatalf("port 8081 after removing 80: %v", err)
		}
	}

	// externalTrafficPolicy=Local with one pod: only its node passes the health check
	// (kube-proxy's healthCheckNodePort), and every request through the VIP succeeds.
	e.scale(t, ctx, ns, "web", 1)
	pods := e.waitDeploymentReady(t, ctx, ns, "web", 1)
	podNode, err := e.kube.CoreV1().Nodes().Get(ctx, pods[0].Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.updateService(t, ctx, ns, "web", func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	want := internalIP(podNode)
	err = poll(ctx, time.Second, 90*time.Second, func(ctx context.Context) (bool, string, error) {
		lb := e.serviceLB(t, ctx, svc)
		if lb == nil || len(lb.Listeners) != 1 {
			return false, "no load balancer with one listener", nil
		}
		var healthy, all []string
		for _, b := range lb.Listeners[0].BackendStatus {
			all = append(all, b.IP)
			if b.Healthy {
				healthy = append(healthy, b.IP)
			}
		}
		if hc := lb.Listeners[0].HealthCheck; hc == nil || hc.Protocol != ic.HealthCheckHTTP {
			return false, fmt.Sprintf("health check %+v, want HTTP on the healthCheckNodePort", hc), nil
		}
		return len(healthy) == 1 && healthy[0] == want, fmt.Sprintf("healthy %v of %v, want only %s", healthy, all, want), nil
	})
	if err != nil {
		t.Fatalf("externalTrafficPolicy=Local: %v", err)
	}
	for i := range 10 {
		body, err := httpGet(ctx, fmt.Sprintf("http://%s:8081/", vip))
		if err != nil {
			t.Fatalf("externalTrafficPolicy=Local, request %d: %v", i, err)
		}
		if !strings.HasPrefix(body, pods[0].Name+" ") {
			t.Fatalf("externalTrafficPolicy=Local, request %d answered by %q, want %s", i, body, pods[0].Name)
		}
	}

	// Delete: the load balancer goes away in the IaaS.
	t0 = time.Now()
	if err := svcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, time.Second, 90*time.Second, func(ctx context.Context) (bool, string, error) {
		if lb := e.serviceLB(t, ctx, svc); lb != nil {
			return false, "load balancer " + lb.LoadBalancerID + " still exists", nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("after deleting the Service: %v", err)
	}
	t.Logf("Service deleted -> load balancer gone from the IaaS in %v", time.Since(t0).Round(time.Millisecond))
}

// scale sets a Deployment's replicas through its scale subresource.
func (e *env) scale(t *testing.T, ctx context.Context, ns, name string, n int32) {
	t.Helper()
	sc, err := e.kube.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Spec.Replicas = n
	if _, err := e.kube.AppsV1().Deployments(ns).UpdateScale(ctx, name, sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitDeploymentReady waits until exactly n pods of the Deployment exist, all Ready and
// none terminating, and returns them.
func (e *env) waitDeploymentReady(t testing.TB, ctx context.Context, ns, name string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := poll(ctx, 500*time.Millisecond, 120*time.Second, func(ctx context.Context) (bool, string, error) {
		d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		sel := metav1.FormatLabelSelector(d.Spec.Selector)
		list, err := e.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err.Error(), nil
		}
		pods = list.Items
		ready := 0
		for i := range pods {
			if pods[i].DeletionTimestamp == nil && podReady(&pods[i]) {
				ready++
			}
		}
		return len(pods) == n && ready == n, fmt.Sprintf("%d pods, %d ready, want %d", len(pods), ready, n), nil
	})
	if err != nil {
		t.Fatalf("deployment %s/%s: %v", ns, name, err)
	}
	return pods
}

func (e *env) waitIngressIP(t *testing.T, ctx context.Context, ns, name string) string {
	t.Helper()
	var ip string
	err := poll(ctx, 250*time.Millisecond, 90*time.Second, func(ctx context.Context) (bool, string, error) {
		s, err := e.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if len(s.Status.LoadBalancer.Ingress) == 0 {
			return false, "no ingress", nil
		}
		ip = s.Status.LoadBalancer.Ingress[0].IP
		return ip != "", "ingress without IP", nil
	})
	if err != nil {
		t.Fatalf("service %s/%s: external IP: %v", ns, name, err)
	}
	return ip
}

func (e *env) waitHTTP(t *testing.T, ctx context.Context, url string, timeout time.Duration) {
	t.Helper()
	err := poll(ctx, 250*time.Millisecond, timeout, func(ctx context.Context) (bool, string, error) {
		_, err := httpGet(ctx, url)
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func (e *env) updateService(t *testing.T, ctx context.Context, ns, name string, mutate func(*corev1.Service)) {
	t.Helper()
	err := poll(ctx, 200*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		s, err := e.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		mutate(s)
		if _, err := e.kube.CoreV1().Services(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("update service %s/%s: %v", ns, name, err)
	}
}

// serviceLB is the IaaS load balancer tagged with the Service's UID, or nil.
func (e *env) serviceLB(t *testing.T, ctx context.Context, svc *corev1.Service) *ic.LoadBalancer {
	t.Helper()
	resp, err := e.iaas.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{Tags: map[string]string{tagServiceUID: string(svc.UID)}})
	if err != nil {
		t.Fatalf("DescribeLoadBalancers: %v", err)
	}
	switch len(resp.LoadBalancers) {
	case 0:
		return nil
	case 1:
		return &resp.LoadBalancers[0]
	}
	t.Fatalf("%d load balancers for service %s/%s, want 1", len(resp.LoadBalancers), svc.Namespace, svc.Name)
	return nil
}

func (e *env) waitListenerPorts(t *testing.T, ctx context.Context, svc *corev1.Service, want []int) {
	t.Helper()
	err := poll(ctx, 500*time.Millisecond, 60*time.Second, func(ctx context.Context) (bool, string, error) {
		lb := e.serviceLB(t, ctx, svc)
		if lb == nil {
			return false, "no load balancer", nil
		}
		var got []int
		for _, l := range lb.Listeners {
			got = append(got, l.Port)
		}
		sort.Ints(got)
		return slices.Equal(got, want), fmt.Sprintf("listener ports %v, want %v", got, want), nil
	})
	if err != nil {
		t.Fatalf("load balancer listeners: %v", err)
	}
}
