// Package transport builds the HTTP transport of the IaaS client: TLS with an optional
// CA and client certificate, and a dialer bound to a chosen source address.
package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSOptions name the PEM files of a TLS client. All are optional; CertFile and
// KeyFile go together.
type TLSOptions struct {
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
}

// ClientTLSConfig returns the TLS configuration of a client: TLS 1.2 or newer, the CA
// of CAFile (system roots without it) and, with CertFile and KeyFile, a client
// certificate that is re-read whenever either file changes, so certificate rotation
// needs no restart. The files are read once here, so that a wrong path fails at start.
func ClientTLSConfig(o TLSOptions) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls caFile %s: no PEM certificate in it", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, fmt.Errorf("tls: certFile and keyFile must both be set or both be empty")
	}
	if o.CertFile != "" {
		kp := &keyPair{certFile: o.CertFile, keyFile: o.KeyFile}
		if _, err := kp.get(); err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return cfg, nil
}

// keyPair caches a certificate and reloads it when a file's modification time changes.
type keyPair struct {
	certFile, keyFile string

	mu       sync.Mutex
	cert     *tls.Certificate
	certMod  time.Time
	keyMod   time.Time
	lastStat time.Time
}

// statEvery limits how often the files are checked: handshakes can be frequent. A
// variable so that tests need not wait.
var statEvery = 5 * time.Second

func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if k.cert != nil && now.Sub(k.lastStat) < statEvery {
		return k.cert, nil
	}
	k.lastStat = now
	cs, err1 := os.Stat(k.certFile)
	ks, err2 := os.Stat(k.keyFile)
	if err1 == nil && err2 == nil && k.cert != nil && cs.ModTime().Equal(k.certMod) && ks.ModTime().Equal(k.keyMod) {
		return k.cert, nil
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			// A rotation caught half-written: keep the certificate that worked.
			return k.cert, nil
		}
		return nil, fmt.Errorf("tls client certificate (certFile %s, keyFile %s): %w", k.certFile, k.keyFile, err)
	}
	k.cert = &c
	if err1 == nil && err2 == nil {
		k.certMod, k.keyMod = cs.ModTime(), ks.ModTime()
	}
	return k.cert, nil
}
