package iaasclient_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

type certKey struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func makeCert(t *testing.T, cn string, parent *certKey, isCA bool, usage x509.ExtKeyUsage) *certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certKey{cert: cert, key: key, der: der}
}

func (c *certKey) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	kb, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := makeCert(t, "test-ca", nil, true, 0)
	caFile, _ := ca.write(t, dir, "ca")
	srvCert := makeCert(t, "iaas", ca, false, x509.ExtKeyUsageServerAuth)
	cliCert := makeCert(t, "ccm", ca, false, x509.ExtKeyUsageClientAuth)
	cliCertFile, cliKeyFile := cliCert.write(t, dir, "client")
	otherCA := makeCert(t, "other-ca", nil, true, 0)
	otherCAFile, _ := otherCA.write(t, dir, "other-ca")

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	var attempts atomic.Int32
	var peer atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		peer.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		writeJSON(w, 200, ic.DescribeQuotasResponse{})
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.der}, PrivateKey: srvCert.key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
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
