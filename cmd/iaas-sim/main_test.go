package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func TestFlagsAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := parseFlags([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if _, err := parseFlags([]string{"--data-dir", dir}); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("missing --config: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("tenants:\n- name: t\n  accessKeys: [{accessKeyId: K, secretKey: secret-1234}]\n  vpcs: [{name: v, cidrBlock: nope}]\n"), 0o600)
	err := run([]string{"--config", bad, "--data-dir", dir})
	if err == nil || !strings.Contains(err.Error(), "tenants[0].vpcs[0].cidrBlock") {
		t.Fatalf("bad config: %v", err)
	}
	if _, err := parseFlags([]string{"--config", bad, "--data-dir", dir, "--fault", "CreateDisk:errorRate=x"}); err == nil {
		t.Fatal("bad --fault accepted")
	}
	o, err := parseFlags([]string{"--config", bad, "--data-dir", dir, "--fault", "CreateDisk:errorRate=0.3,latency=20ms,throttleRate=0.1", "--fault", "*:timeoutRate=0.05"})
	if err != nil {
		t.Fatal(err)
	}
	if f := o.faults["CreateDisk"]; f.ErrorRate != 0.3 || f.Latency.Duration != 20*time.Millisecond || f.ThrottleRate != 0.1 || o.faults["*"].TimeoutRate != 0.05 {
		t.Fatalf("faults: %+v", o.faults)
	}
	if _, err := parseFlags([]string{"--config", bad, "--data-dir", dir, "--tls-cert", "x"}); err == nil {
		t.Fatal("--tls-cert without --tls-key accepted")
	}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "ca")
	srv := ca.Issue(t, "sim", x509.ExtKeyUsageServerAuth)
	cli := ca.Issue(t, "client", x509.ExtKeyUsageClientAuth)
	caPath, _ := ca.Write(t, dir, "ca")
	certPath, keyPath := srv.Write(t, dir, "server")
	ln, err := listen("127.0.0.1:0", tlsOptions{cert: certPath, key: keyPath, clientCA: caPath})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })}
	go hs.Serve(ln)
	defer hs.Close()
	roots := ca.CertPool()
	get := func(certs []tls.Certificate) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
		resp, err := c.Get("https://" + ln.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get([]tls.Certificate{cli.TLSCertificate()}); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	if err := get(nil); err == nil {
		t.Fatal("without a client certificate: served")
	}
	stranger := testutil.SelfSigned(t, "x", x509.ExtKeyUsageClientAuth)
	if err := get([]tls.Certificate{stranger.TLSCertificate()}); err == nil {
		t.Fatal("with a certificate of another CA: served")
	}
}
