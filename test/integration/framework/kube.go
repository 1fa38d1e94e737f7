package framework

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Kube is a control plane of etcd and kube-apiserver, without a kubelet: tests create
// Node objects themselves.
type Kube struct {
	Etcd, APIServer *Proc
	URL             string
	Token           string
	Kubeconfig      string
	Config          *rest.Config
	Client          kubernetes.Interface
}

// StartKube starts etcd and kube-apiserver from binDir in dir.
func StartKube(t TB, binDir, dir string) *Kube {
	t.Helper()
	etcdPort, peerPort := FreePort(), FreePort()
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	etcd := Start(t, dir, "etcd", filepath.Join(binDir, "etcd"),
		"--data-dir", filepath.Join(dir, "etcd-data"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peerPort),
		"--log-level", "warn", "--unsafe-no-fsync")

	token := randHex(16)
	writeFile(t, filepath.Join(dir, "tokens.csv"), fmt.Sprintf("%s,admin,admin,system:masters\n", token))
	saKey := filepath.Join(dir, "sa.key")
	writeRSAKey(t, saKey)
	port := FreePort()
	api := Start(t, dir, "kube-apiserver", filepath.Join(binDir, "kube-apiserver"),
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(port), "--cert-dir", filepath.Join(dir, "apiserver-certs"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saKey, "--service-account-signing-key-file", saKey,
		"--disable-admission-plugins", "ServiceAccount",
		// The default reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type", "none",
		"--v", "1")
	k := &Kube{Etcd: etcd, APIServer: api, URL: fmt.Sprintf("https://127.0.0.1:%d", port), Token: token}
	k.Config = &rest.Config{Host: k.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
	var err error
	if k.Client, err = kubernetes.NewForConfig(k.Config); err != nil {
		t.Fatalf("client: %v", err)
	}
	k.Kubeconfig = filepath.Join(dir, "kubeconfig")
	writeFile(t, k.Kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: itest, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: itest, context: {cluster: itest, user: admin}}]
current-context: itest
`, k.URL, token))

	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	err = Eventually(90*time.Second, func() error {
		if api.Exited() {
			return Permanent(fmt.Errorf("kube-apiserver exited:\n%s", api.Tail(3000)))
		}
		req, _ := http.NewRequestWithContext(context.Background(), "GET", k.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("kube-apiserver not ready: %v\n%s", err, api.Tail(3000))
	}
	return k
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeFile(t TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
}

func writeRSAKey(t TB, path string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("%v", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	writeFile(t, path, string(b))
}
