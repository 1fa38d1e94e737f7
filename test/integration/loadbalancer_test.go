package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

func createService(t testing.TB, name string, ann map[string]string, ports ...v1.ServicePort) *v1.Service {
	t.Helper()
	for i := range ports {
		ports[i].TargetPort = intstr.FromInt32(8080)
	}
	svc, err := env.kube.Client.CoreV1().Services("default").Create(context.Background(), &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
		Spec:       v1.ServiceSpec{Type: v1.ServiceTypeLoadBalancer, Ports: ports, Selector: map[string]string{"app": name}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.CoreV1().Services("default").Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return svc
}

func updateService(t *testing.T, name string, f func(*v1.Service)) *v1.Service {
	t.Helper()
	var out *v1.Service
	err := framework.Eventually(10*time.Second, func() error {
		svc, err := env.kube.Client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		f(svc)
		out, err = env.kube.Client.CoreV1().Services("default").Update(context.Background(), svc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func getService(t *testing.T, name string) *v1.Service {
	t.Helper()
	svc, err := env.kube.Client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// wantBackends checks every listener of lb against the node IPs and each listener's
// NodePort.
func wantBackends(svc *v1.Service, ips ...string) func(ic.LoadBalancer) error {
	return func(lb ic.LoadBalancer) error {
		if len(lb.Listeners) != len(svc.Spec.Ports) {
			return fmt.Errorf("%d listeners, want %d", len(lb.Listeners), len(svc.Spec.Ports))
		}
		for _, p := range svc.Spec.Ports {
			i := slices.IndexFunc(lb.Listeners, func(l ic.Listener) bool {
				return l.Port == int(p.Port) && string(l.Protocol) == string(p.Protocol)
			})
			if i < 0 {
				return fmt.Errorf("no listener %s/%d", p.Protocol, p.Port)
			}
			var want []string
			for _, ip := range ips {
				want = append(want, fmt.Sprintf("%s:%d", ip, p.NodePort))
			}
			slices.Sort(want)
			if got := backends(lb.Listeners[i]); !slices.Equal(got, want) {
				return fmt.Errorf("listener %s/%d backends %v, want %v", p.Protocol, p.Port, got, want)
			}
		}
		return nil
	}
}

func TestLoadBalancerLifecycle(t *testing.T) {
	ctx := context.Background()
	var ips []string
	for i := range 3 {
		n, _ := initializedNode(t, fmt.Sprintf("lb-%d", i), "sim-1a", "")
		ips = append(ips, n.Status.Addresses[0].Address)
	}
	// Other tests' nodes are in the cluster too: backends are every Ready node.
	all := func() []string {
		nodes, _ := env.kube.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		var out []string
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue && n.DeletionTimestamp == nil {
					for _, a := range n.Status.Addresses {
						if a.Type == v1.NodeInternalIP {
							out = append(out, a.Address)
						}
					}
				}
			}
		}
		return out
	}

	svc := createService(t, "web", nil, v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80})
	lb := waitLB(t, svc, "created", wantBackends(svc, all()...))
	err := framework.Eventually(waitTimeout, func() error {
		s := getService(t, "web")
		if len(s.Status.LoadBalancer.Ingress) != 1 || s.Status.LoadBalancer.Ingress[0].IP != lb.VIP {
			return fmt.Errorf("status %+v, VIP %s", s.Status.LoadBalancer, lb.VIP)
		}
		if s.Annotations[iaas.AnnotationLoadBalancerID] != lb.LoadBalancerID {
			return fmt.Errorf("annotation %q", s.Annotations[iaas.AnnotationLoadBalancerID])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if lb.Name != "itest-default-web" || lb.Tags[iaas.TagCluster] != "itest" {
		t.Errorf("LB name %q tags %v", lb.Name, lb.Tags)
	}

	t.Run("port change and mixed protocols", func(t *testing.T) {
		svc = updateService(t, "web", func(s *v1.Service) {
			s.Spec.Ports[0].Port = 8080
			s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)})
		})
		got := waitLB(t, svc, "ports changed", wantBackends(svc, all()...))
		if got.LoadBalancerID != lb.LoadBalancerID {
			t.Fatal("LB recreated")
		}
	})
	t.Run("node churn", func(t *testing.T) {
		initializedNode(t, "lb-new", "sim-1b", "")
		waitLB(t, svc, "node added", wantBackends(svc, all()...))
		if err := env.kube.Client.CoreV1().Nodes().Delete(ctx, "lb-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitLB(t, svc, "node removed", func(lb ic.LoadBalancer) error {
			if slices.Contains(backends(lb.Listeners[0]), fmt.Sprintf("%s:%d", ips[0], svc.Spec.Ports[0].NodePort)) {
				return fmt.Errorf("deleted node still a backend")
			}
			return wantBackends(svc, all()...)(lb)
		})
		n, _ := env.kube.Client.CoreV1().Nodes().Get(ctx, "lb-1", metav1.GetOptions{})
		n.Labels[v1.LabelNodeExcludeBalancers] = "true"
		if _, err := env.kube.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitLB(t, svc, "excluded node removed", func(lb ic.LoadBalancer) error {
			if slices.Contains(backends(lb.Listeners[0]), fmt.Sprintf("%s:%d", ips[1], svc.Spec.Ports[0].NodePort)) {
				return fmt.Errorf("excluded node still a backend")
			}
			return nil
		})
	})
	t.Run("source ranges", func(t *testing.T) {
		svc = updateService(t, "web", func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"192.0.2.0/24"} })
		if framework.Backend() == framework.BackendTencentCloud {
			// CLB filters clients with security groups, which the tencentcloud backend
			// does not manage: the Service gets a Warning that says so, and the LB keeps
			// its listeners as they were (nothing half-applied).
			ev := waitEvent(t, "default", "Service", "web", "SyncLoadBalancerFailed")
			if ev.Type != v1.EventTypeWarning || !strings.Contains(ev.Message, "source ranges need CLB security groups") {
				t.Fatalf("event %s: %s", ev.Type, ev.Message)
			}
			waitLB(t, svc, "listeners unchanged", func(lb ic.LoadBalancer) error {
				if len(lb.Listeners) != 2 {
					return fmt.Errorf("%d listeners", len(lb.Listeners))
				}
				for _, l := range lb.Listeners {
					if len(l.SourceRanges) != 0 || len(l.Backends) == 0 {
						return fmt.Errorf("listener %d: source ranges %v, %d backends", l.Port, l.SourceRanges, len(l.Backends))
					}
				}
				return nil
			})
			return
		}
		waitLB(t, svc, "source ranges", func(lb ic.LoadBalancer) error {
			for _, l := range lb.Listeners {
				if !slices.Equal(l.SourceRanges, []string{"192.0.2.0/24"}) {
					return fmt.Errorf("listener %d source ranges %v", l.Port, l.SourceRanges)
				}
			}
			return nil
		})
	})
	t.Run("delete", func(t *testing.T) {
		if err := env.kube.Client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err := framework.Eventually(waitTimeout, func() error {
			if n := len(lbsOf(t, svc)); n != 0 {
				return fmt.Errorf("%d LBs left", n)
			}
			if _, err := env.kube.Client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("Service still there (finalizer): %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestLoadBalancerBadAnnotations(t *testing.T) {
	initializedNode(t, "bad-0", "sim-1a", "")
	svc := createService(t, "bad", map[string]string{iaas.AnnotationType: "private", iaas.AnnotationHCInterval: "often"},
		v1.ServicePort{Protocol: v1.ProtocolTCP, Port: 80})
	ev := waitEvent(t, "default", "Service", "bad", iaas.ReasonInvalidSettings)
	if ev.Type != v1.EventTypeWarning {
		t.Errorf("event type %s", ev.Type)
	}
	time.Sleep(2 * time.Second)
	if n := len(lbsOf(t, svc)); n != 0 {
		t.Fatalf("%d LBs created for a Service with bad annotations", n)
	}
	if err := env.ccm.Healthy(); err != nil || env.ccm.Exited() {
		t.Fatalf("CCM unhealthy after bad annotations: %v", err)
	}
	// Fixing the annotations makes the LB.
	svc = updateService(t, "bad", func(s *v1.Service) {
		s.Annotations[iaas.AnnotationType] = "internal"
		delete(s.Annotations, iaas.AnnotationHCInterval)
	})
	lb := waitLB(t, svc, "created after the fix", func(ic.LoadBalancer) error { return nil })
	if lb.Type != ic.LoadBalancerInternal {
		t.Errorf("type %s", lb.Type)
	}
}
