package iaasclient_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "test-ca")
	caFile, _ := ca.Write(t, dir, "ca")
	srvCert := ca.Issue(t, "iaas", x509.ExtKeyUsageServerAuth)
	cliCert := ca.Issue(t, "ccm", x509.ExtKeyUsageClientAuth)
	cliCertFile, cliKeyFile := cliCert.Write(t, dir, "client")
	otherCA := testutil.NewCA(t, "other-ca")
	otherCAFile, _ := otherCA.Write(t, dir, "other-ca")

	var attempts atomic.Int32
	var peer atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		peer.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		writeJSON(w, 200, ic.DescribeQuotasResponse{})
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{srvCert.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.CertPool(),
		MinVersion:   tls.VersionTLS12,
	}
	// Handshake failures are what the subtests provoke; keep them out of the output.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	cfg := fastConfig(srv.URL)
	cfg.TLS = ic.TLSConfig{CAFile: caFile, CertFile: cliCertFile, KeyFile: cliKeyFile}
	if _, err := newClient(t, cfg).DescribeQuotas(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if got := peer.Load(); got != "ccm" {
		t.Fatalf("server saw client certificate %v", got)
	}

	t.Run("no client certificate", func(t *testing.T) {
		cfg := fastConfig(srv.URL)
		cfg.TLS = ic.TLSConfig{CAFile: caFile}
		cfg.MaxAttempts = 2
		if _, err := newClient(t, cfg).DescribeQuotas(t.Context(), nil); err == nil {
			t.Fatal("the server accepted a client without a certificate")
		}
	})
	t.Run("server not trusted is not retried", func(t *testing.T) {
		cfg := fastConfig(srv.URL)
		cfg.TLS = ic.TLSConfig{CAFile: otherCAFile, CertFile: cliCertFile, KeyFile: cliKeyFile}
		cfg.BackoffBase, cfg.BackoffCap = 10*time.Second, 10*time.Second
		start := time.Now()
		_, err := newClient(t, cfg).DescribeQuotas(t.Context(), nil)
		var ua x509.UnknownAuthorityError
		var cv *tls.CertificateVerificationError
		if err == nil || !(errors.As(err, &ua) || errors.As(err, &cv)) {
			t.Fatalf("err %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("a certificate error was retried")
		}
	})
	t.Run("bad key pair fails at New", func(t *testing.T) {
		cfg := fastConfig(srv.URL)
		cfg.TLS = ic.TLSConfig{CAFile: caFile, CertFile: cliCertFile, KeyFile: caFile}
		if _, err := ic.New(cfg); err == nil {
			t.Fatal("accepted a key file without a key")
		}
	})
}
