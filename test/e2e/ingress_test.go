package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const tagIngressUID = "kube-iaas.io/ingress-uid"

// l7Get sends one request for host+path to vip:port (HTTPS with SNI host when tls is
// true) and returns the status, the body and the certificate the server presented.
func l7Get(ctx context.Context, vip string, port int, useTLS bool, host, path string) (int, string, []byte, error) {
	return l7GetWith(ctx, vip, port, useTLS, host, path, nil)
}

// l7GetWith is l7Get with request headers.
func l7GetWith(ctx context.Context, vip string, port int, useTLS bool, host, path string, header http.Header) (int, string, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s://%s:%d%s", scheme, vip, port, path), nil)
	if err != nil {
		return 0, "", nil, err
	}
	req.Host = host
	for k, vs := range header {
		req.Header[k] = vs
	}
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil,
		// The test's certificate is self-signed; the check is that it is the one served.
		TLSClientConfig: &tls.Config{ServerName: host, InsecureSkipVerify: true},
		DialContext:     (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	var peer []byte
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		peer = resp.TLS.PeerCertificates[0].Raw
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), peer, err
}

func namedDeployment(image, name string, replicas int32) *appsv1.Deployment {
	d := webDeployment(image, replicas)
	d.Name = name
	d.Spec.Selector.MatchLabels = map[string]string{"app": name}
	d.Spec.Template.Labels = map[string]string{"app": name}
	return d
}

func nodePortService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
}

func ingressPath(p string, svc string) networkingv1.HTTPIngressPath {
	pt := networkingv1.PathTypePrefix
	return networkingv1.HTTPIngressPath{Path: p, PathType: &pt, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "http"}}}}
}

// TestIngress: two Services behind one Ingress of class iaas, routed by host and path
// through the IaaS L7 load balancer's VIP, a TLS host served with the Secret's
// certificate, a backend change followed, and nothing left in the IaaS after delete.
func TestIngress(t *testing.T) {
	e, ctx := setup(t)
	ns := e.namespace(t, ctx, "ing")
	cert := e.l7Backends(t, ctx, ns)

	class := "iaas"
	t0 := time.Now()
	ing, err := e.kube.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"secure.example.com"}, SecretName: "secure-tls"}},
			Rules: []networkingv1.IngressRule{
				{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{ingressPath("/", "web"), ingressPath("/api", "api")}}}},
				{Host: "secure.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{ingressPath("/", "api")}}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var vip string
	err = poll(ctx, 250*time.Millisecond, 90*time.Second, func(ctx context.Context) (bool, string, error) {
		cur, err := e.kube.NetworkingV1().Ingresses(ns).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if st := cur.Status.LoadBalancer.Ingress; len(st) == 1 && st[0].IP != "" {
			vip = st[0].IP
			return true, "", nil
		}
		return false, "no VIP in status", nil
	})
	if err != nil {
		t.Fatalf("Ingress status: %v", err)
	}
	tIP := time.Since(t0)

	want := func(port int, useTLS bool, host, path, prefix string) {
		t.Helper()
		wantL7(t, ctx, vip, cert, port, useTLS, host, path, prefix)
	}
	want(80, false, "shop.example.com", "/", "web")
	t.Logf("Ingress created -> VIP %s in status in %v -> routed HTTP in %v", vip, tIP.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	want(80, false, "shop.example.com", "/api/v1/items", "api")
	want(80, false, "shop.example.com", "/apiary", "web") // Prefix is element-wise
	want(443, true, "secure.example.com", "/", "api")
	if code, body, _, err := l7Get(ctx, vip, 80, false, "other.example.com", "/"); err != nil || code != http.StatusNotFound {
		t.Fatalf("unknown host: %d %q %v, want 404", code, body, err)
	}

	// The load balancer in the IaaS: ours, one, HTTP and HTTPS, the VIP of the status.
	e.wantOneL7LB(t, ctx, tagIngressUID, string(ing.UID), vip)

	// Backend change: shop.example.com/ moves to the api Service.
	err = poll(ctx, 200*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		cur, err := e.kube.NetworkingV1().Ingresses(ns).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		cur.Spec.Rules[0].HTTP.Paths[0] = ingressPath("/", "api")
		if _, err := e.kube.NetworkingV1().Ingresses(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	want(80, false, "shop.example.com", "/", "api")
	t.Logf("rule moved to another Service -> served by it in %v", time.Since(t1).Round(time.Millisecond))

	// Delete: the load balancer and the certificate go, the VIP stops answering.
	t1 = time.Now()
	if err := e.kube.NetworkingV1().Ingresses(ns).Delete(ctx, "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitL7Gone(t, ctx, tagIngressUID, string(ing.UID), vip, func(ctx context.Context) bool {
		_, err := e.kube.NetworkingV1().Ingresses(ns).Get(ctx, "shop", metav1.GetOptions{})
		return err == nil
	})
	t.Logf("Ingress deleted -> load balancer and certificate gone in %v", time.Since(t1).Round(time.Millisecond))
}
