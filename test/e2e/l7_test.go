package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// The Ingress and Gateway tests share their backends, their HTTP checks through the VIP
// and their "nothing left in the IaaS" check; only the Kubernetes objects differ.

// l7Backends makes the Deployments web and api (2 pods each), web behind a NodePort
// Service (the LB reaches its NodePort on every node) and api behind a ClusterIP Service
// (the LB reaches its pods directly over the flat pod network), and the TLS Secret
// secure-tls for secure.example.com in ns, and waits for the pods.
func (e *env) l7Backends(t *testing.T, ctx context.Context, ns string) *testutil.Cert {
	t.Helper()
	for _, name := range []string{"web", "api"} {
		if _, err := e.kube.AppsV1().Deployments(ns).Create(ctx, namedDeployment(e.image, name, 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc := nodePortService(name)
		if name == "api" {
			svc.Spec.Type = corev1.ServiceTypeClusterIP
		}
		if _, err := e.kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cert := testutil.SelfSigned(t, "secure.example.com")
	crt, key := cert.PEM(t)
	if _, err := e.kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "secure-tls"},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitDeploymentReady(t, ctx, ns, "web", 2)
	e.waitDeploymentReady(t, ctx, ns, "api", 2)
	return cert
}

// wantL7 polls until host+path at vip:port answers from a pod of the Deployment prefix
// (the body is "<pod> <node>"; over TLS with cert's certificate), then checks 10 more
// requests in a row.
func wantL7(t *testing.T, ctx context.Context, vip string, cert *testutil.Cert, port int, useTLS bool, host, path, prefix string) {
	t.Helper()
	check := func() error {
		code, body, peer, err := l7Get(ctx, vip, port, useTLS, host, path)
		switch {
		case err != nil:
			return err
		case code != http.StatusOK || !strings.HasPrefix(body, prefix+"-"):
			return fmt.Errorf("%d %q, want 200 from a %s pod", code, body, prefix)
		case useTLS && !bytes.Equal(peer, cert.DER):
			return fmt.Errorf("the VIP served another certificate than the Secret's")
		}
		return nil
	}
	err := poll(ctx, 250*time.Millisecond, 90*time.Second, func(context.Context) (bool, string, error) {
		if err := check(); err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("%s:%d %s%s: %v", vip, port, host, path, err)
	}
	for i := range 10 {
		if err := check(); err != nil {
			t.Fatalf("%s:%d %s%s, request %d: %v", vip, port, host, path, i, err)
		}
	}
}

// wantOneL7LB checks the IaaS side: one load balancer with the owner's tag, of this
// cluster, with the VIP of the status and an HTTP and an HTTPS listener.
func (e *env) wantOneL7LB(t *testing.T, ctx context.Context, tag, uid, vip string) {
	t.Helper()
	lbs, err := e.iaas.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{Tags: map[string]string{tag: uid}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lbs.LoadBalancers) != 1 || lbs.LoadBalancers[0].VIP != vip || lbs.LoadBalancers[0].Tags[tagCluster] != e.clusterID || len(lbs.LoadBalancers[0].Listeners) != 2 {
		t.Fatalf("load balancers tagged %s=%s: %+v", tag, uid, lbs.LoadBalancers)
	}
}

// waitL7Gone waits, after the owner's delete, until no load balancer or certificate
// carries the owner's tag, the owner object is gone (ownerExists) and the VIP no longer
// answers.
func (e *env) waitL7Gone(t *testing.T, ctx context.Context, tag, uid, vip string, ownerExists func(context.Context) bool) {
	t.Helper()
	err := poll(ctx, time.Second, 90*time.Second, func(ctx context.Context) (bool, string, error) {
		lbs, err := e.iaas.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{Tags: map[string]string{tag: uid}})
		if err != nil {
			return false, err.Error(), nil
		}
		certs, err := e.iaas.DescribeCertificates(ctx, &ic.DescribeCertificatesRequest{Tags: map[string]string{tag: uid}})
		if err != nil {
			return false, err.Error(), nil
		}
		if len(lbs.LoadBalancers)+len(certs.Certificates) > 0 {
			return false, fmt.Sprintf("%d load balancers and %d certificates left", len(lbs.LoadBalancers), len(certs.Certificates)), nil
		}
		if ownerExists(ctx) {
			return false, "the owner object is still there", nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("after the delete: %v", err)
	}
	err = poll(ctx, 250*time.Millisecond, 10*time.Second, func(ctx context.Context) (bool, string, error) {
		_, _, _, err := l7Get(ctx, vip, 80, false, "shop.example.com", "/")
		return err != nil, "the VIP still answers", nil
	})
	if err != nil {
		t.Fatalf("after the delete: %v", err)
	}
}
