package transport

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func writeSelfSigned(t *testing.T, certFile, keyFile, cn string, mtime time.Time) {
	t.Helper()
	testutil.SelfSigned(t, cn).WriteFiles(t, certFile, keyFile)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientCertificateRotation(t *testing.T) {
	old := statEvery
	statEvery = 0
	t.Cleanup(func() { statEvery = old })
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	now := time.Now()
	writeSelfSigned(t, certFile, keyFile, "first", now.Add(-time.Minute))
	cfg, err := ClientTLSConfig(TLSOptions{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		t.Helper()
		c, err := cfg.GetClientCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := x509.ParseCertificate(c.Certificate[0])
		return x.Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatalf("certificate %q", got)
	}
	writeSelfSigned(t, certFile, keyFile, "second", now)
	if got := cn(); got != "second" {
		t.Fatalf("after rotation: certificate %q", got)
	}
	// A half-written rotation keeps the certificate that worked.
	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "second" {
		t.Fatalf("after a broken rotation: certificate %q", got)
	}
}

func TestNewBindsLocalAddr(t *testing.T) {
	if _, err := New(Options{LocalAddr: "not-an-ip"}); err == nil {
		t.Fatal("accepted a bad local address")
	}
	tr, err := New(Options{LocalAddr: "127.0.0.5"})
	if err != nil || tr.Proxy != nil {
		t.Fatalf("transport %v, %v (a proxy would hide the source address)", tr, err)
	}
}
