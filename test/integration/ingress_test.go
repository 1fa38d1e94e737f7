package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/integration/framework"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func ensureIngressClass(t *testing.T) {
	t.Helper()
	_, err := env.kube.Client.NetworkingV1().IngressClasses().Create(context.Background(), &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "iaas"}, Spec: networkingv1.IngressClassSpec{Controller: iaas.IngressControllerName},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func nodePortSvc(t *testing.T, name string, ports ...v1.ServicePort) *v1.Service {
	t.Helper()
	for i := range ports {
		ports[i].TargetPort = intstr.FromInt32(8080)
		ports[i].Protocol = v1.ProtocolTCP
	}
	svc, err := env.kube.Client.CoreV1().Services("default").Create(context.Background(), &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1.ServiceSpec{Type: v1.ServiceTypeNodePort, Ports: ports, Selector: map[string]string{"app": name}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.CoreV1().Services("default").Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return svc
}

func tlsSecret(t *testing.T, name, host string) *v1.Secret {
	t.Helper()
	crt, key := testutil.SelfSigned(t, host).PEM(t)
	return &v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Type: v1.SecretTypeTLS,
		Data: map[string][]byte{v1.TLSCertKey: crt, v1.TLSPrivateKeyKey: key}}
}

func backendTo(svc string, port any) networkingv1.IngressBackend {
	b := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc}}
	if n, ok := port.(int); ok {
		b.Service.Port.Number = int32(n)
	} else {
		b.Service.Port.Name = port.(string)
	}
	return b
}

func hostRule(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
}

func path(p string, pt networkingv1.PathType, b networkingv1.IngressBackend) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: &pt, Backend: b}
}

// ingressLB waits until the Ingress has exactly one LB, ACTIVE, satisfying cond.
func ingressLB(t *testing.T, ing *networkingv1.Ingress, what string, cond func(ic.LoadBalancer) error) ic.LoadBalancer {
	t.Helper()
	var lb ic.LoadBalancer
	err := framework.Eventually(waitTimeout, func() error {
		all, err := env.sim.LoadBalancers(context.Background())
		if err != nil {
			return err
		}
		all = slices.DeleteFunc(all, func(lb ic.LoadBalancer) bool { return lb.Tags[iaas.TagIngressUID] != string(ing.UID) })
		if len(all) != 1 {
			return fmt.Errorf("%d LBs for Ingress %s", len(all), ing.Name)
		}
		lb = all[0]
		if lb.State != ic.LoadBalancerActive {
			return fmt.Errorf("LB %s is %s", lb.LoadBalancerID, lb.State)
		}
		return cond(lb)
	})
	if err != nil {
		t.Fatalf("%s: %v (LB %+v)", what, err, lb)
	}
	return lb
}

func ingressCerts(t *testing.T, ing *networkingv1.Ingress) []ic.Certificate {
	t.Helper()
	resp, err := env.sim.API.DescribeCertificates(context.Background(), &ic.DescribeCertificatesRequest{
		Tags: map[string]string{iaas.TagIngressUID: string(ing.UID)}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Certificates
}

func l7Listener(lb ic.LoadBalancer, p ic.Protocol) *ic.Listener {
	for i := range lb.Listeners {
		if lb.Listeners[i].Protocol == p {
			return &lb.Listeners[i]
		}
	}
	return nil
}

// wantRule checks the backends of the rule for host and path: every ready node at port.
func wantRule(l *ic.Listener, host, p string, port int32, ips []string) error {
	i := slices.IndexFunc(l.Rules, func(r ic.L7Rule) bool { return r.Host == host && r.Path == p })
	if i < 0 {
		return fmt.Errorf("%s listener: no rule %s%s in %+v", l.Protocol, host, p, l.Rules)
	}
	var got, want []string
	for _, b := range l.Rules[i].Backends {
		got = append(got, fmt.Sprintf("%s:%d", b.IP, b.Port))
	}
	for _, ip := range ips {
		want = append(want, fmt.Sprintf("%s:%d", ip, port))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s listener rule %s%s: backends %v, want %v", l.Protocol, host, p, got, want)
	}
	return nil
}

// readyIPs are the InternalIPs of every Ready node (other tests' nodes too).
func readyIPs(t *testing.T) []string {
	t.Helper()
	nodes, err := env.kube.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
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

// TestIngress: an Ingress of class iaas gets one IaaS L7 load balancer whose HTTP and
// HTTPS listeners carry its host/path rules to the NodePorts of its Services on the
// ready nodes, with the TLS Secret uploaded as a certificate; the VIP is in its status;
// bad rules are Events; Service, node, rule and Secret changes follow; deleting it
// leaves nothing in the IaaS.
func TestIngress(t *testing.T) {
	needsLayer7(t)
	ctx := context.Background()
	ensureIngressClass(t)
	for i := range 2 {
		initializedNode(t, fmt.Sprintf("ing-%d", i), "sim-1a", "")
	}
	web := nodePortSvc(t, "ing-web", v1.ServicePort{Name: "http", Port: 80})
	api := nodePortSvc(t, "ing-api", v1.ServicePort{Name: "http", Port: 8080}, v1.ServicePort{Name: "admin", Port: 9000})
	if _, err := env.kube.Client.CoreV1().Secrets("default").Create(ctx, tlsSecret(t, "ing-tls", "a.example.com"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.CoreV1().Secrets("default").Delete(context.Background(), "ing-tls", metav1.DeleteOptions{})
	})

	class := "iaas"
	ing, err := env.kube.Client.NetworkingV1().Ingresses("default").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: "ing-tls"}},
			Rules: []networkingv1.IngressRule{
				hostRule("a.example.com", path("/", networkingv1.PathTypePrefix, backendTo("ing-web", 80))),
				hostRule("b.example.com",
					path("/api", networkingv1.PathTypePrefix, backendTo("ing-api", "http")),
					path("/admin", networkingv1.PathTypeExact, backendTo("ing-api", 9000)),
					path("/gone", networkingv1.PathTypePrefix, backendTo("ing-missing", 80)),
					path("/typo", networkingv1.PathTypePrefix, backendTo("ing-api", "htp"))),
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = env.kube.Client.NetworkingV1().Ingresses("default").Delete(context.Background(), "shop", metav1.DeleteOptions{})
		}
	})

	ips := readyIPs(t)
	lb := ingressLB(t, ing, "created", func(lb ic.LoadBalancer) error {
		http, https := l7Listener(lb, ic.ProtocolHTTP), l7Listener(lb, ic.ProtocolHTTPS)
		if len(lb.Listeners) != 2 || http == nil || https == nil || http.Port != 80 || https.Port != 443 {
			return fmt.Errorf("listeners %+v", lb.Listeners)
		}
		for _, l := range []*ic.Listener{http, https} {
			if len(l.Rules) != 5 {
				return fmt.Errorf("%s: %d rules", l.Protocol, len(l.Rules))
			}
			for _, err := range []error{
				wantRule(l, "a.example.com", "/", web.Spec.Ports[0].NodePort, ips),
				wantRule(l, "b.example.com", "/api", api.Spec.Ports[0].NodePort, ips),
				wantRule(l, "b.example.com", "/admin", api.Spec.Ports[1].NodePort, ips),
				wantRule(l, "b.example.com", "/gone", 0, nil), // no backends: 503
				wantRule(l, "b.example.com", "/typo", 0, nil),
			} {
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if lb.Tags[iaas.TagCluster] != "itest" || lb.Tags[iaas.TagIngress] != "default.shop" || lb.Type != ic.LoadBalancerPublic {
		t.Fatalf("LB %+v", lb)
	}
	certs := ingressCerts(t, ing)
	if len(certs) != 1 || l7Listener(lb, ic.ProtocolHTTPS).CertificateID != certs[0].CertificateID ||
		certs[0].Tags[iaas.TagTLSSecret] != "default.ing-tls" {
		t.Fatalf("certificates %+v", certs)
	}
	err = framework.Eventually(waitTimeout, func() error {
		cur, err := env.kube.Client.NetworkingV1().Ingresses("default").Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !slices.Contains(cur.Finalizers, iaas.IngressFinalizer) {
			return fmt.Errorf("finalizers %v", cur.Finalizers)
		}
		if st := cur.Status.LoadBalancer.Ingress; len(st) != 1 || st[0].IP != lb.VIP {
			return fmt.Errorf("status %+v, VIP %s", st, lb.VIP)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, "default", "Ingress", "shop", iaas.ReasonIngressServiceNotFound); ev.Type != v1.EventTypeWarning {
		t.Fatalf("event %+v", ev)
	}
	waitEvent(t, "default", "Ingress", "shop", iaas.ReasonIngressPortNotFound)

	// The missing Service appears: its rule gets backends, without an Ingress change.
	gone := nodePortSvc(t, "ing-missing", v1.ServicePort{Name: "http", Port: 80})
	// A rule moves to another Service, and a node joins.
	err = framework.Eventually(waitTimeout, func() error {
		cur, err := env.kube.Client.NetworkingV1().Ingresses("default").Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Rules[0].HTTP.Paths[0].Backend = backendTo("ing-api", "http")
		_, err = env.kube.Client.NetworkingV1().Ingresses("default").Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	initializedNode(t, "ing-2", "sim-1a", "")
	ips = readyIPs(t)
	ingressLB(t, ing, "backends follow the Service, the rule and the node", func(lb ic.LoadBalancer) error {
		for _, l := range lb.Listeners {
			for _, err := range []error{
				wantRule(&l, "a.example.com", "/", api.Spec.Ports[0].NodePort, ips),
				wantRule(&l, "b.example.com", "/gone", gone.Spec.Ports[0].NodePort, ips),
			} {
				if err != nil {
					return err
				}
			}
		}
		return nil
	})

	// A new certificate in the Secret: a new IaaS certificate, the old one deleted.
	old := certs[0].CertificateID
	if _, err := env.kube.Client.CoreV1().Secrets("default").Update(ctx, tlsSecret(t, "ing-tls", "a.example.com"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	lb = ingressLB(t, ing, "certificate rotated", func(lb ic.LoadBalancer) error {
		id := l7Listener(lb, ic.ProtocolHTTPS).CertificateID
		if id == old {
			return fmt.Errorf("still on %s", old)
		}
		if c := ingressCerts(t, ing); len(c) != 1 || c[0].CertificateID != id {
			return fmt.Errorf("certificates %+v, listener on %s", c, id)
		}
		return nil
	})

	// Delete: the finalizer holds the Ingress until the LB and certificate are gone.
	if err := env.kube.Client.NetworkingV1().Ingresses("default").Delete(ctx, "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted = true
	err = framework.Eventually(waitTimeout, func() error {
		_, err := env.kube.Client.NetworkingV1().Ingresses("default").Get(ctx, "shop", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("Ingress still there (%v)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := env.sim.LoadBalancers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		if l.LoadBalancerID == lb.LoadBalancerID || l.Tags[iaas.TagIngressUID] == string(ing.UID) {
			t.Fatalf("LB left after delete: %+v", l)
		}
	}
	if c := ingressCerts(t, ing); len(c) != 0 {
		t.Fatalf("certificates left after delete: %+v", c)
	}
}

// TestIngressBadTLSSecret: a missing or broken TLS Secret is a Warning Event, the HTTP
// listener serves meanwhile, and fixing the Secret brings HTTPS up.
func TestIngressBadTLSSecret(t *testing.T) {
	needsLayer7(t)
	ctx := context.Background()
	ensureIngressClass(t)
	initializedNode(t, "ing-tls-0", "sim-1a", "")
	nodePortSvc(t, "ing-tls-web", v1.ServicePort{Name: "http", Port: 80})
	bad := tlsSecret(t, "ing-bad-tls", "c.example.com")
	bad.Data[v1.TLSPrivateKeyKey] = []byte("not a key")
	if _, err := env.kube.Client.CoreV1().Secrets("default").Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.CoreV1().Secrets("default").Delete(context.Background(), "ing-bad-tls", metav1.DeleteOptions{})
	})
	class := "iaas"
	ing, err := env.kube.Client.NetworkingV1().Ingresses("default").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "tls-broken"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"c.example.com"}, SecretName: "ing-bad-tls"}},
			DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "ing-tls-web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Client.NetworkingV1().Ingresses("default").Delete(context.Background(), "tls-broken", metav1.DeleteOptions{})
	})
	ev := waitEvent(t, "default", "Ingress", "tls-broken", iaas.ReasonIngressTLSInvalid)
	t.Logf("event: %s", ev.Message)
	ingressLB(t, ing, "HTTP only", func(lb ic.LoadBalancer) error {
		if len(lb.Listeners) != 1 || lb.Listeners[0].Protocol != ic.ProtocolHTTP || len(lb.Listeners[0].Backends) == 0 {
			return fmt.Errorf("listeners %+v", lb.Listeners)
		}
		return nil
	})
	if _, err := env.kube.Client.CoreV1().Secrets("default").Update(ctx, tlsSecret(t, "ing-bad-tls", "c.example.com"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ingressLB(t, ing, "HTTPS after the fix", func(lb ic.LoadBalancer) error {
		if l := l7Listener(lb, ic.ProtocolHTTPS); l == nil || l.CertificateID == "" {
			return fmt.Errorf("listeners %+v", lb.Listeners)
		}
		return nil
	})
	if c := ingressCerts(t, ing); len(c) != 1 {
		t.Fatalf("certificates %+v", c)
	}
}
