package apitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// issue makes a certificate for 127.0.0.1 signed by parent (self-signed CA when nil)
// and writes it and its key as PEM files named name.crt and name.key in dir.
func issue(t *testing.T, dir, name string, parent *pki, isCA bool, usage x509.ExtKeyUsage) (*pki, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
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
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &pki{cert: cert, key: key}, certFile, keyFile
}

// TestMutualTLS runs the simulator with a server certificate and a required client CA,
// and the client with the CA and a client certificate.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caFile, _ := issue(t, dir, "ca", nil, true, 0)
	_, srvCert, srvKey := issue(t, dir, "server", ca, false, x509.ExtKeyUsageServerAuth)
	_, cliCert, cliKey := issue(t, dir, "client", ca, false, x509.ExtKeyUsageClientAuth)
	s := startSim(t, "--tls-cert="+srvCert, "--tls-key="+srvKey, "--tls-client-ca="+caFile)
	if !strings.HasPrefix(s.APIURL, "https://") {
		t.Fatalf("the simulator serves %s, not https", s.APIURL)
	}
	c := s.client(func(cfg *ic.Config) {
		cfg.TLS = ic.TLSConfig{CAFile: caFile, CertFile: cliCert, KeyFile: cliKey}
	})
	if _, err := c.DescribeQuotas(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	noCert := s.client(func(cfg *ic.Config) {
		cfg.TLS = ic.TLSConfig{CAFile: caFile}
		cfg.MaxAttempts = 2
	})
	if _, err := noCert.DescribeQuotas(t.Context(), nil); err == nil {
		t.Fatal("the simulator accepted a client without a certificate")
	}
}
