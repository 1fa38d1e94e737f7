package cloudprovider

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

type ingEnv struct {
	*env
	ctl *IngressController
	ctx context.Context
}

// newIngEnv runs the controller's informers on a fake clientset holding objs; tests
// call sync themselves, so every step is deterministic.
func newIngEnv(t *testing.T, objs ...runtime.Object) *ingEnv {
	t.Helper()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, o := range objs {
		if err := e.kube.Tracker().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	f := informers.NewSharedInformerFactory(e.kube, 0)
	ctl := e.cloud.NewIngressController(e.kube, f)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return &ingEnv{env: e, ctl: ctl, ctx: ctx}
}

func ingressClass(name, controller string, isDefault bool) *networkingv1.IngressClass {
	c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{}},
		Spec: networkingv1.IngressClassSpec{Controller: controller}}
	if isDefault {
		c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] = "true"
	}
	return c
}

func tlsSecret(t *testing.T, name, cn string) *v1.Secret {
	crt, key := testutil.SelfSigned(t, cn).PEM(t)
	return &v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Type: v1.SecretTypeTLS,
		Data: map[string][]byte{v1.TLSCertKey: crt, v1.TLSPrivateKeyKey: key}}
}

func testIngress(name string, class *string, tlsSecret string) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("ing-uid-" + name)},
		Spec: networkingv1.IngressSpec{
			IngressClassName: class,
			Rules: []networkingv1.IngressRule{
				ingRule("a.example.com", ingPath("/", networkingv1.PathTypePrefix, svcBackend("web", 80))),
				ingRule("b.example.com", ingPath("/api", networkingv1.PathTypePrefix, svcBackend("api", "http"))),
			},
		},
	}
	if tlsSecret != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: tlsSecret}}
	}
	return ing
}

func strPtr(s string) *string { return &s }

// eventually retries f until it holds: the informer caches follow the fake clientset
// asynchronously.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

func (e *ingEnv) sync(t *testing.T, name string) {
	t.Helper()
	if after, err := e.ctl.sync(e.ctx, "default/"+name); err != nil || after != 0 {
		t.Fatalf("sync %s: after %v, %v", name, after, err)
	}
}

// cached waits until the controller's lister sees the Ingress satisfy f.
func (e *ingEnv) cached(t *testing.T, name string, f func(*networkingv1.Ingress) bool) {
	t.Helper()
	eventually(t, "ingress cache", func() error {
		ing, err := e.ctl.ingresses.Ingresses("default").Get(name)
		if err != nil {
			return err
		}
		if !f(ing) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

func (e *ingEnv) ingressLB(t *testing.T, uid types.UID) *ic.LoadBalancer {
	t.Helper()
	resp, err := e.fake.DescribeLoadBalancers(e.ctx, &ic.DescribeLoadBalancersRequest{Tags: map[string]string{TagIngressUID: string(uid)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.LoadBalancers) > 1 {
		t.Fatalf("%d LBs for one Ingress", len(resp.LoadBalancers))
	}
	if len(resp.LoadBalancers) == 0 {
		return nil
	}
	return &resp.LoadBalancers[0]
}

func (e *ingEnv) certs(t *testing.T) []ic.Certificate {
	t.Helper()
	resp, err := e.fake.DescribeCertificates(e.ctx, &ic.DescribeCertificatesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Certificates
}

func listener(lb *ic.LoadBalancer, p ic.Protocol) *ic.Listener {
	for i := range lb.Listeners {
		if lb.Listeners[i].Protocol == p {
			return &lb.Listeners[i]
		}
	}
	return nil
}

func ruleBackends(l *ic.Listener, host string) []string {
	for _, r := range l.Rules {
		if r.Host == host {
			var out []string
			for _, b := range r.Backends {
				out = append(out, fmt.Sprintf("%s:%d", b.IP, b.Port))
			}
			slices.Sort(out)
			return out
		}
	}
	return nil
}

func TestIngressLifecycle(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Name: "http", Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	api := nodePortService("api", v1.ServiceTypeLoadBalancer, v1.ServicePort{Name: "http", Port: 8080, NodePort: 30808, Protocol: v1.ProtocolTCP})
	ing := testIngress("shop", strPtr("iaas"), "shop-tls")
	e := newIngEnv(t, ingressClass("iaas", IngressControllerName, false), web, api, tlsSecret(t, "shop-tls", "a.example.com"),
		readyNode("n1", "10.0.0.1", ""), readyNode("n2", "10.0.0.2", ""), ing)

	e.sync(t, "shop")
	lb := e.ingressLB(t, ing.UID)
	if lb == nil {
		t.Fatal("no LB")
	}
	if lb.Tags[TagCluster] != "test" || lb.Tags[TagIngress] != "default.shop" || lb.Tags[TagServiceUID] != "" {
		t.Fatalf("tags %v", lb.Tags)
	}
	http, https := listener(lb, ic.ProtocolHTTP), listener(lb, ic.ProtocolHTTPS)
	if http == nil || https == nil || http.Port != 80 || https.Port != 443 {
		t.Fatalf("listeners %+v", lb.Listeners)
	}
	if got := ruleBackends(https, "b.example.com"); !slices.Equal(got, []string{"10.0.0.1:30808", "10.0.0.2:30808"}) {
		t.Fatalf("b.example.com backends %v", got)
	}
	certs := e.certs(t)
	if len(certs) != 1 || https.CertificateID != certs[0].CertificateID || certs[0].Tags[TagTLSSecret] != "default.shop-tls" {
		t.Fatalf("certificates %+v, listener uses %s", certs, https.CertificateID)
	}
	cur, _ := e.kube.NetworkingV1().Ingresses("default").Get(e.ctx, "shop", metav1.GetOptions{})
	if !slices.Contains(cur.Finalizers, IngressFinalizer) {
		t.Fatalf("finalizers %v", cur.Finalizers)
	}
	if len(cur.Status.LoadBalancer.Ingress) != 1 || cur.Status.LoadBalancer.Ingress[0].IP != lb.VIP {
		t.Fatalf("status %+v, VIP %s", cur.Status.LoadBalancer, lb.VIP)
	}

	// Nothing changed: the next sync writes nothing to the IaaS.
	e.cached(t, "shop", func(i *networkingv1.Ingress) bool { return len(i.Status.LoadBalancer.Ingress) == 1 })
	e.fake.ResetCalls()
	e.sync(t, "shop")
	if w := writes(e.fake.AllCalls()); w != 0 || e.fake.Calls(ic.ActionDescribeCertificates) != 1 {
		t.Fatalf("%d writes on a steady sync, want 0 and one DescribeCertificates: %v", w, e.fake.AllCalls())
	}

	// A new node joins every rule; the Service's NodePort changes one rule.
	if _, err := e.kube.CoreV1().Nodes().Create(e.ctx, readyNode("n3", "10.0.0.3", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	api.Spec.Ports[0].NodePort = 31000
	if _, err := e.kube.CoreV1().Services("default").Update(e.ctx, api, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "backends follow nodes and NodePorts", func() error {
		if _, err := e.ctl.sync(e.ctx, "default/shop"); err != nil {
			return err
		}
		lb = e.ingressLB(t, ing.UID)
		want := []string{"10.0.0.1:31000", "10.0.0.2:31000", "10.0.0.3:31000"}
		if got := ruleBackends(listener(lb, ic.ProtocolHTTPS), "b.example.com"); !slices.Equal(got, want) {
			return fmt.Errorf("b.example.com backends %v", got)
		}
		return nil
	})

	// A new Secret content: a new certificate on the listener, the old one deleted.
	old := listener(lb, ic.ProtocolHTTPS).CertificateID
	if _, err := e.kube.CoreV1().Secrets("default").Update(e.ctx, tlsSecret(t, "shop-tls", "a.example.com"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "certificate rotated", func() error {
		if _, err := e.ctl.sync(e.ctx, "default/shop"); err != nil {
			return err
		}
		lb = e.ingressLB(t, ing.UID)
		certs := e.certs(t)
		if id := listener(lb, ic.ProtocolHTTPS).CertificateID; id == old || len(certs) != 1 || certs[0].CertificateID != id {
			return fmt.Errorf("listener on %s (old %s), certificates %+v", id, old, certs)
		}
		return nil
	})

	// TLS removed from the Ingress: the HTTPS listener goes, then its certificate.
	cur, _ = e.kube.NetworkingV1().Ingresses("default").Get(e.ctx, "shop", metav1.GetOptions{})
	cur.Spec.TLS = nil
	if _, err := e.kube.NetworkingV1().Ingresses("default").Update(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.cached(t, "shop", func(i *networkingv1.Ingress) bool { return len(i.Spec.TLS) == 0 })
	e.sync(t, "shop")
	if lb = e.ingressLB(t, ing.UID); listener(lb, ic.ProtocolHTTPS) != nil || len(e.certs(t)) != 0 {
		t.Fatalf("after TLS removal: listeners %+v, certificates %+v", lb.Listeners, e.certs(t))
	}
	e.fake.ResetCalls()
	e.sync(t, "shop")
	if n := e.fake.Calls(ic.ActionDescribeCertificates); n != 0 {
		t.Fatalf("%d DescribeCertificates on a steady sync without TLS", n)
	}

	// Delete: the finalizer path deletes the LB and the certificates, then lets go.
	cur, _ = e.kube.NetworkingV1().Ingresses("default").Get(e.ctx, "shop", metav1.GetOptions{})
	now := metav1.Now()
	cur.DeletionTimestamp = &now
	if _, err := e.kube.NetworkingV1().Ingresses("default").Update(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.cached(t, "shop", func(i *networkingv1.Ingress) bool { return i.DeletionTimestamp != nil })
	e.sync(t, "shop")
	if lb := e.ingressLB(t, ing.UID); lb != nil {
		t.Fatalf("LB left: %+v", lb)
	}
	if c := e.certs(t); len(c) != 0 {
		t.Fatalf("certificates left: %+v", c)
	}
	cur, _ = e.kube.NetworkingV1().Ingresses("default").Get(e.ctx, "shop", metav1.GetOptions{})
	if slices.Contains(cur.Finalizers, IngressFinalizer) {
		t.Fatalf("finalizer kept: %v", cur.Finalizers)
	}
	// Deleting again (a retry after a lost answer) is success.
	if err := e.ctl.cleanup(e.ctx, cur); err != nil {
		t.Fatal(err)
	}
}

func TestIngressBadInputWarnsAndKeepsServing(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Name: "http", Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	ci := nodePortService("api", v1.ServiceTypeClusterIP, v1.ServicePort{Name: "http", Port: 8080, Protocol: v1.ProtocolTCP})
	ing := testIngress("bad", nil, "missing-tls") // no class name: the default class
	e := newIngEnv(t, ingressClass("iaas", IngressControllerName, true), web, ci, readyNode("n1", "10.0.0.1", ""), ing)

	e.sync(t, "bad")
	evs := e.events()
	for _, want := range []string{
		"Warning " + ReasonIngressNoEndpoints + ` rules[1].paths[0] (host "b.example.com", path "/api"): Service default/api port "http" has no ready endpoints`,
		"Warning " + ReasonIngressTLSInvalid + " Secret default/missing-tls: not found; no HTTPS listener",
	} {
		if !hasEvent(evs, want) {
			t.Errorf("no event %q in %v", want, evs)
		}
	}
	lb := e.ingressLB(t, ing.UID)
	if lb == nil || listener(lb, ic.ProtocolHTTPS) != nil || listener(lb, ic.ProtocolHTTP) == nil {
		t.Fatalf("want HTTP only: %+v", lb)
	}
	// The good rule serves, the bad one has no backends (503, never another Service).
	http := listener(lb, ic.ProtocolHTTP)
	if got := ruleBackends(http, "a.example.com"); !slices.Equal(got, []string{"10.0.0.1:30080"}) {
		t.Fatalf("good rule %v", got)
	}
	if i := slices.IndexFunc(http.Rules, func(r ic.L7Rule) bool { return r.Host == "b.example.com" }); i < 0 || len(http.Rules[i].Backends) != 0 {
		t.Fatalf("bad rule %+v", http.Rules)
	}

	// The Secret appears: HTTPS comes up.
	if _, err := e.kube.CoreV1().Secrets("default").Create(e.ctx, tlsSecret(t, "missing-tls", "a.example.com"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var good string
	eventually(t, "HTTPS listener", func() error {
		if _, err := e.ctl.sync(e.ctx, "default/bad"); err != nil {
			return err
		}
		if l := listener(e.ingressLB(t, ing.UID), ic.ProtocolHTTPS); l != nil {
			good = l.CertificateID
			return nil
		}
		return fmt.Errorf("no HTTPS listener")
	})

	// A broken Secret content keeps the working certificate and says so.
	broken := tlsSecret(t, "missing-tls", "a.example.com")
	broken.Data[v1.TLSPrivateKeyKey] = []byte("junk")
	if _, err := e.kube.CoreV1().Secrets("default").Update(e.ctx, broken, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.events()
	eventually(t, "warning on a broken Secret", func() error {
		if _, err := e.ctl.sync(e.ctx, "default/bad"); err != nil {
			return err
		}
		if !hasEvent(e.events(), ReasonIngressTLSInvalid+" Secret default/missing-tls: tls.crt and tls.key are not a matching PEM certificate and key") {
			return fmt.Errorf("no event yet")
		}
		return nil
	})
	if l := listener(e.ingressLB(t, ing.UID), ic.ProtocolHTTPS); l == nil || l.CertificateID != good {
		t.Fatalf("HTTPS listener lost its certificate: %+v", l)
	}
	if c := e.certs(t); len(c) != 1 {
		t.Fatalf("certificates %+v", c)
	}
}

func TestIngressOfOtherClassesIsLeftAlone(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Name: "http", Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	other := testIngress("other", strPtr("nginx"), "")
	legacy := testIngress("legacy", nil, "")
	legacy.Annotations = map[string]string{legacyClassAnnotation: "iaas"}
	e := newIngEnv(t, ingressClass("iaas", IngressControllerName, false), ingressClass("nginx", "k8s.io/ingress-nginx", true),
		web, readyNode("n1", "10.0.0.1", ""), other, legacy, testIngress("nameless", nil, ""))

	for _, n := range []string{"other", "nameless"} {
		e.sync(t, n)
		if lb := e.ingressLB(t, types.UID("ing-uid-"+n)); lb != nil {
			t.Fatalf("%s: LB for another class", n)
		}
	}
	e.sync(t, "legacy")
	if e.ingressLB(t, legacy.UID) == nil {
		t.Fatal("legacy annotation not honoured")
	}
	// The class moves away: our LB goes, and so does our finalizer.
	e.cached(t, "legacy", func(i *networkingv1.Ingress) bool { return len(i.Finalizers) == 1 })
	cur, _ := e.kube.NetworkingV1().Ingresses("default").Get(e.ctx, "legacy", metav1.GetOptions{})
	cur.Annotations[legacyClassAnnotation] = "nginx"
	if _, err := e.kube.NetworkingV1().Ingresses("default").Update(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.cached(t, "legacy", func(i *networkingv1.Ingress) bool { return i.Annotations[legacyClassAnnotation] == "nginx" })
	e.sync(t, "legacy")
	if e.ingressLB(t, legacy.UID) != nil {
		t.Fatal("LB kept after the class changed")
	}
	cur, _ = e.kube.NetworkingV1().Ingresses("default").Get(e.ctx, "legacy", metav1.GetOptions{})
	if len(cur.Finalizers) != 0 || len(cur.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("finalizers %v, status %+v", cur.Finalizers, cur.Status)
	}
}

func TestIngressIaaSFailureIsRetriedWithAnEvent(t *testing.T) {
	web := nodePortService("web", v1.ServiceTypeNodePort, v1.ServicePort{Name: "http", Port: 80, NodePort: 30080, Protocol: v1.ProtocolTCP})
	ing := testIngress("flaky", strPtr("iaas"), "")
	e := newIngEnv(t, ingressClass("iaas", IngressControllerName, false), web, readyNode("n1", "10.0.0.1", ""), ing)
	e.fake.InjectError(ic.ActionCreateLoadBalancer, ic.Errorf(ic.CodeLimitExceeded, "too many load balancers"), 1)
	if _, err := e.ctl.sync(e.ctx, "default/flaky"); err == nil {
		t.Fatal("want an error to retry")
	}
	if evs := e.events(); !hasEvent(evs, "Warning "+ReasonIngressSyncFailed) || !hasEvent(evs, "too many load balancers") {
		t.Fatalf("events %v", evs)
	}
	e.sync(t, "flaky")
	if e.ingressLB(t, ing.UID) == nil {
		t.Fatal("no LB after the retry")
	}
}

func TestSweeperDeletesOrphanedIngressLBsAndCertificates(t *testing.T) {
	e := newIngEnv(t)
	live := testIngress("live", strPtr("iaas"), "")
	if _, err := e.kube.NetworkingV1().Ingresses("default").Create(e.ctx, live, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kept := plantLB(t, e.env, "kept", map[string]string{TagCluster: "test", TagIngressUID: string(live.UID)})
	orphan := plantLB(t, e.env, "orphan", map[string]string{TagCluster: "test", TagIngressUID: "gone"})
	crt, key := testutil.SelfSigned(t, "x").PEM(t)
	up := func(uid string) string {
		r, err := e.fake.UploadCertificate(e.ctx, &ic.UploadCertificateRequest{Name: "c", CertificatePEM: string(crt), PrivateKeyPEM: string(key),
			Tags: map[string]string{TagCluster: "test", TagIngressUID: uid}})
		if err != nil {
			t.Fatal(err)
		}
		return r.CertificateID
	}
	keptCert, orphanCert := up(string(live.UID)), up("gone")

	s := newLBSweeper(e.cloud.lbs, e.cloud.lbs.store.(*iaasLBs), e.ctl.services, func() bool { return true }, time.Minute)
	s.ingresses = e.ctl.ingresses
	s.ingSynced = func() bool { return false }
	s.certs = &ingressCerts{api: e.fake, cluster: "test"}
	now := time.Now()
	s.now = func() time.Time { return now }
	e.cached(t, "live", func(*networkingv1.Ingress) bool { return true })
	if n, err := s.sweep(e.ctx); n != 0 || err != nil { // Ingress informer not synced: no Ingress LB is touched
		t.Fatal(n, err)
	}
	now = now.Add(2 * time.Minute)
	if n, err := s.sweep(e.ctx); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	s.ingSynced = func() bool { return true }
	if n, err := s.sweep(e.ctx); n != 0 || err != nil { // grace starts now
		t.Fatal(n, err)
	}
	now = now.Add(2 * time.Minute)
	if n, err := s.sweep(e.ctx); n != 2 || err != nil {
		t.Fatal(n, err)
	}
	if _, ok := e.fake.LoadBalancer(orphan); ok {
		t.Fatal("orphan LB kept")
	}
	if _, ok := e.fake.LoadBalancer(kept); !ok {
		t.Fatal("live Ingress's LB deleted")
	}
	if _, _, ok := e.fake.Certificate(orphanCert); ok {
		t.Fatal("orphan certificate kept")
	}
	if _, _, ok := e.fake.Certificate(keptCert); !ok {
		t.Fatal("live Ingress's certificate deleted")
	}
}
