package cloudprovider

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func threeNodes() []*v1.Node {
	return []*v1.Node{
		readyNode("n1", "10.0.0.1", "iaas:///zone-a/ins-1"),
		readyNode("n2", "10.0.0.2", "iaas:///zone-a/ins-2"),
		readyNode("n3", "10.0.0.3", "iaas:///zone-a/ins-3"),
	}
}

func (e *env) lb(t *testing.T, svc *v1.Service) ic.LoadBalancer {
	t.Helper()
	resp, err := e.fake.DescribeLoadBalancers(context.Background(), &ic.DescribeLoadBalancersRequest{
		Tags: map[string]string{TagServiceUID: string(svc.UID)}})
	if err != nil || len(resp.LoadBalancers) != 1 {
		t.Fatalf("want exactly one LB for %s, got %d (%v)", svc.Name, len(resp.LoadBalancers), err)
	}
	return resp.LoadBalancers[0]
}

func backendIPs(l ic.Listener) []string {
	var out []string
	for _, b := range l.Backends {
		out = append(out, fmt.Sprintf("%s:%d", b.IP, b.Port))
	}
	return out
}

func TestEnsureLoadBalancerCreate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := lbService("web",
		v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, NodePort: 30080},
		v1.ServicePort{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53, NodePort: 30053})
	e.kube.Tracker().Add(svc)
	lbs, _ := e.cloud.LoadBalancer()
	st, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes())
	if err != nil {
		t.Fatal(err)
	}
	lb := e.lb(t, svc)
	if len(st.Ingress) != 1 || st.Ingress[0].IP != lb.VIP || *st.Ingress[0].IPMode != v1.LoadBalancerIPModeVIP {
		t.Fatalf("status = %+v, LB VIP %s", st, lb.VIP)
	}
	if lb.Name != "test-default-web" || lb.Type != ic.LoadBalancerPublic || lb.Tags[TagCluster] != "test" {
		t.Errorf("LB = %+v", lb)
	}
	if len(lb.Listeners) != 2 {
		t.Fatalf("listeners = %+v", lb.Listeners)
	}
	for _, l := range lb.Listeners {
		want := []string{"10.0.0.1:30080", "10.0.0.2:30080", "10.0.0.3:30080"}
		hc := ic.HealthCheckTCP
		if l.Protocol == ic.ProtocolUDP {
			want = []string{"10.0.0.1:30053", "10.0.0.2:30053", "10.0.0.3:30053"}
			hc = ic.HealthCheckHTTP // kube-proxy's healthz: a UDP NodePort cannot be probed
		}
		if !slices.Equal(backendIPs(l), want) || l.HealthCheck == nil || l.HealthCheck.Protocol != hc {
			t.Errorf("listener %s/%d: backends %v hc %+v", l.Protocol, l.Port, backendIPs(l), l.HealthCheck)
		}
	}
	got, _ := e.kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if got.Annotations[AnnotationLoadBalancerID] != lb.LoadBalancerID {
		t.Errorf("LB id annotation = %q, want %q", got.Annotations[AnnotationLoadBalancerID], lb.LoadBalancerID)
	}

	// A second ensure with nothing changed writes nothing to the IaaS.
	before := e.fake.AllCalls()
	svc.Annotations[AnnotationLoadBalancerID] = lb.LoadBalancerID
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	if err := lbs.UpdateLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	if after := e.fake.AllCalls(); writes(after) != writes(before) {
		t.Fatalf("no-op ensure wrote: %v -> %v", before, after)
	}
	if _, exists, err := lbs.GetLoadBalancer(ctx, "k", svc); !exists || err != nil {
		t.Fatalf("GetLoadBalancer = %v, %v", exists, err)
	}
}

func TestLoadBalancerUpdates(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(svc *v1.Service, nodes []*v1.Node) []*v1.Node
		check  func(t *testing.T, lb ic.LoadBalancer, st *v1.LoadBalancerStatus)
		// maxWrites bounds the IaaS writes of the update: only what changed.
		maxWrites int
	}{
		{"node removed", func(s *v1.Service, n []*v1.Node) []*v1.Node { return n[:2] },
			func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
				if len(lb.Listeners[0].Backends) != 2 {
					t.Errorf("backends = %v", backendIPs(lb.Listeners[0]))
				}
			}, 1},
		{"excluded label, not ready, deleting, shutdown taint", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			n[0].Labels[v1.LabelNodeExcludeBalancers] = "true"
			n[1].Status.Conditions[0].Status = v1.ConditionFalse
			extra := readyNode("n4", "10.0.0.4", "")
			extra.DeletionTimestamp = ptr.To(metav1.Now())
			extra2 := readyNode("n5", "10.0.0.5", "")
			extra2.Spec.Taints = []v1.Taint{{Key: taintShutdown, Effect: v1.TaintEffectNoSchedule}}
			return append(n, extra, extra2)
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			if got := backendIPs(lb.Listeners[0]); !slices.Equal(got, []string{"10.0.0.3:30080"}) {
				t.Errorf("backends = %v", got)
			}
		}, 1},
		{"node selector annotation", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Annotations[AnnotationNodeSelector] = "pool=edge"
			n[2].Labels["pool"] = "edge"
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			if got := backendIPs(lb.Listeners[0]); !slices.Equal(got, []string{"10.0.0.3:30080"}) {
				t.Errorf("backends = %v", got)
			}
		}, 1},
		{"port changed", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Spec.Ports[0].Port = 8080
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			if len(lb.Listeners) != 1 || lb.Listeners[0].Port != 8080 {
				t.Errorf("listeners = %+v", lb.Listeners)
			}
		}, 2},
		{"port added", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: "q", Protocol: v1.ProtocolUDP, Port: 80, NodePort: 30081})
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			if len(lb.Listeners) != 2 {
				t.Errorf("listeners = %+v", lb.Listeners)
			}
		}, 1},
		{"source ranges", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Spec.LoadBalancerSourceRanges = []string{"192.0.2.0/24", "198.51.100.7/32"}
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			if got := lb.Listeners[0].SourceRanges; !slices.Equal(got, []string{"192.0.2.0/24", "198.51.100.7/32"}) {
				t.Errorf("source ranges = %v", got)
			}
		}, 1},
		{"source ranges annotation", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Annotations[AnnotationSourceRanges] = "192.0.2.0/24"
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			if got := lb.Listeners[0].SourceRanges; !slices.Equal(got, []string{"192.0.2.0/24"}) {
				t.Errorf("source ranges = %v", got)
			}
		}, 1},
		{"externalTrafficPolicy Local", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.HealthCheckNodePort = 32000
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			hc := lb.Listeners[0].HealthCheck
			if hc == nil || hc.Protocol != ic.HealthCheckHTTP || hc.Port != 32000 || hc.Path != "/healthz" {
				t.Errorf("health check = %+v", hc)
			}
		}, 1},
		{"session affinity", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](600)}}
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			if l := lb.Listeners[0]; l.SessionAffinity != ic.SessionAffinityClientIP || l.SessionAffinityTimeoutSeconds != 600 {
				t.Errorf("affinity = %s %d", l.SessionAffinity, l.SessionAffinityTimeoutSeconds)
			}
		}, 1},
		{"proxy protocol", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Annotations[AnnotationProxyProtocol] = "v2"
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, st *v1.LoadBalancerStatus) {
			if lb.Listeners[0].ProxyProtocol != ic.ProxyProtocolV2 || *st.Ingress[0].IPMode != v1.LoadBalancerIPModeProxy {
				t.Errorf("proxy protocol = %q, ipMode %v", lb.Listeners[0].ProxyProtocol, *st.Ingress[0].IPMode)
			}
		}, 1},
		{"health check tuning", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Annotations[AnnotationHCInterval] = "10"
			s.Annotations[AnnotationHCUnhealthyThreshold] = "5"
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			if hc := lb.Listeners[0].HealthCheck; hc.IntervalSeconds != 10 || hc.UnhealthyThreshold != 5 || hc.TimeoutSeconds != 2 {
				t.Errorf("health check = %+v", hc)
			}
		}, 1},
		{"type change is not applied", func(s *v1.Service, n []*v1.Node) []*v1.Node {
			s.Annotations[AnnotationType] = "internal"
			return n
		}, func(t *testing.T, lb ic.LoadBalancer, _ *v1.LoadBalancerStatus) {
			if lb.Type != ic.LoadBalancerPublic {
				t.Errorf("type = %s", lb.Type)
			}
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			svc := lbService("web")
			lbs, _ := e.cloud.LoadBalancer()
			if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
				t.Fatal(err)
			}
			id := e.lb(t, svc).LoadBalancerID
			nodes := tc.change(svc, threeNodes())
			before := writes(e.fake.AllCalls())
			st, err := lbs.EnsureLoadBalancer(ctx, "k", svc, nodes)
			if err != nil {
				t.Fatal(err)
			}
			lb := e.lb(t, svc)
			if lb.LoadBalancerID != id {
				t.Fatal("LB was recreated")
			}
			tc.check(t, lb, st)
			if w := writes(e.fake.AllCalls()) - before; w > tc.maxWrites {
				t.Errorf("update wrote %d times, want at most %d: %v", w, tc.maxWrites, e.fake.AllCalls())
			}
		})
	}
}

func TestLoadBalancerInternalAndVIP(t *testing.T) {
	e := newEnv(t)
	svc := lbService("in")
	svc.Annotations[AnnotationType] = "internal"
	lbs, _ := e.cloud.LoadBalancer()
	if _, err := lbs.EnsureLoadBalancer(context.Background(), "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	lb := e.lb(t, svc)
	if lb.Type != ic.LoadBalancerInternal {
		t.Fatalf("type = %s", lb.Type)
	}
	// spec.loadBalancerIP: ask for the next free address of the same pool.
	svc2 := lbService("fixed")
	svc2.Annotations[AnnotationType] = "internal"
	parts := strings.Split(lb.VIP, ".")
	parts[3] = fmt.Sprint(atoi(parts[3]) - 1)
	svc2.Spec.LoadBalancerIP = strings.Join(parts, ".")
	st, err := lbs.EnsureLoadBalancer(context.Background(), "k", svc2, threeNodes())
	if err != nil {
		t.Fatal(err)
	}
	if st.Ingress[0].IP != svc2.Spec.LoadBalancerIP {
		t.Fatalf("VIP = %s, want %s", st.Ingress[0].IP, svc2.Spec.LoadBalancerIP)
	}
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

func TestLoadBalancerDelete(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := lbService("web")
	lbs, _ := e.cloud.LoadBalancer()
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	for range 2 { // deleting twice is fine
		if err := lbs.EnsureLoadBalancerDeleted(ctx, "k", svc); err != nil {
			t.Fatal(err)
		}
	}
	resp, _ := e.fake.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{})
	if len(resp.LoadBalancers) != 0 {
		t.Fatalf("LBs left: %+v", resp.LoadBalancers)
	}
	if _, exists, _ := lbs.GetLoadBalancer(ctx, "k", svc); exists {
		t.Fatal("GetLoadBalancer says it exists after delete")
	}
}

// An existing LB named by annotation is used for the Service's listeners only, and
// survives the Service.
func TestLoadBalancerExisting(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	resp, err := e.fake.CreateLoadBalancer(ctx, &ic.CreateLoadBalancerRequest{Name: "shared", Type: ic.LoadBalancerPublic,
		VpcID: "vpc-default", ClientToken: "t",
		Listeners: []ic.ListenerSpec{{Name: "admin", Protocol: ic.ProtocolTCP, Port: 22, Backends: []ic.Backend{{IP: "10.0.0.9", Port: 22}}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.fake.CompleteTasks()
	svc := lbService("web")
	svc.Annotations[AnnotationExistingID] = resp.LoadBalancerID
	lbs, _ := e.cloud.LoadBalancer()
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	lb, _ := e.fake.LoadBalancer(resp.LoadBalancerID)
	if len(lb.Listeners) != 2 {
		t.Fatalf("listeners = %+v; want admin + the Service's", lb.Listeners)
	}
	all, _ := e.fake.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{})
	if len(all.LoadBalancers) != 1 {
		t.Fatalf("a new LB was created")
	}
	if err := lbs.EnsureLoadBalancerDeleted(ctx, "k", svc); err != nil {
		t.Fatal(err)
	}
	lb, ok := e.fake.LoadBalancer(resp.LoadBalancerID)
	if !ok || len(lb.Listeners) != 1 || lb.Listeners[0].Name != "admin" {
		t.Fatalf("after delete: exists=%v listeners=%+v; want the LB with its admin listener", ok, lb.Listeners)
	}
	// A missing existing LB is a Warning, not a new LB.
	svc2 := lbService("web2")
	svc2.Annotations[AnnotationExistingID] = "lb-nothere"
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc2, threeNodes()); err == nil || !hasEvent(e.events(), ReasonExistingLBNotFound) {
		t.Fatalf("missing existing LB: err %v", err)
	}
}

func TestLoadBalancerBadAnnotationsChangeNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := lbService("web")
	lbs, _ := e.cloud.LoadBalancer()
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	before := e.fake.AllCalls()
	svc.Annotations[AnnotationHCInterval] = "often"
	svc.Annotations[AnnotationType] = "private"
	svc.Spec.Ports[0].Port = 8080
	_, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()[:1])
	if err == nil || !strings.Contains(err.Error(), AnnotationHCInterval) || !strings.Contains(err.Error(), AnnotationType) {
		t.Fatalf("err = %v; want both bad annotations named", err)
	}
	if !hasEvent(e.events(), "Warning "+ReasonInvalidSettings) {
		t.Fatal("no Warning event")
	}
	if after := e.fake.AllCalls(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("bad settings called the IaaS: %v -> %v", before, after)
	}
	// Unknown annotations (typos) warn but do not block.
	svc = lbService("typo")
	svc.Annotations[AnnotationPrefix+"helth-check-interval"] = "5"
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	if !hasEvent(e.events(), ReasonUnknownAnnotation) {
		t.Fatal("no event for an unknown annotation")
	}
}

// A CCM killed after CreateLoadBalancer and restarted (a fresh provider, same IaaS)
// finds the LB by its tags instead of creating another.
func TestLoadBalancerRestartNoLeak(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := lbService("web")
	lbs, _ := e.cloud.LoadBalancer()
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	restarted := New(testConfig(), e.fake)
	lbs2, _ := restarted.LoadBalancer()
	if _, err := lbs2.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	all, _ := e.fake.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{})
	if len(all.LoadBalancers) != 1 || e.fake.Calls(ic.ActionCreateLoadBalancer) != 1 {
		t.Fatalf("%d LBs, %d creates after restart; want 1 and 1", len(all.LoadBalancers), e.fake.Calls(ic.ActionCreateLoadBalancer))
	}
}

// A Service that stops being a LoadBalancer loses its LB and the annotation that
// pointed at it.
func TestLoadBalancerDeleteClearsAnnotation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := lbService("web")
	if err := e.kube.Tracker().Add(svc); err != nil {
		t.Fatal(err)
	}
	lbs, _ := e.cloud.LoadBalancer()
	if _, err := lbs.EnsureLoadBalancer(ctx, "k", svc, threeNodes()); err != nil {
		t.Fatal(err)
	}
	got, _ := e.kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if got.Annotations[AnnotationLoadBalancerID] == "" {
		t.Fatal("no LB id annotation")
	}
	if err := lbs.EnsureLoadBalancerDeleted(ctx, "k", got); err != nil {
		t.Fatal(err)
	}
	got, _ = e.kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if v, ok := got.Annotations[AnnotationLoadBalancerID]; ok {
		t.Fatalf("annotation left: %q", v)
	}
}
