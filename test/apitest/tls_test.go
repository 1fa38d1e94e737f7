package apitest

import (
	"crypto/x509"
	"strings"
	"testing"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// TestMutualTLS runs the simulator with a server certificate and a required client CA,
// and the client with the CA and a client certificate.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "ca")
	caFile, _ := ca.Write(t, dir, "ca")
	srvCert, srvKey := ca.Issue(t, "server", x509.ExtKeyUsageServerAuth).Write(t, dir, "server")
	cliCert, cliKey := ca.Issue(t, "client", x509.ExtKeyUsageClientAuth).Write(t, dir, "client")
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
