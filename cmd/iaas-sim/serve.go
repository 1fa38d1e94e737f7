package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

type tlsOptions struct {
	cert, key, clientCA string
}

func (t tlsOptions) enabled() bool { return t.cert != "" }

// listen opens the API listener, with TLS (and client certificates) when configured.
func listen(addr string, t tlsOptions) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if !t.enabled() {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(t.cert, t.key)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.clientCA != "" {
		pem, err := os.ReadFile(t.clientCA)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			ln.Close()
			return nil, fmt.Errorf("--tls-client-ca: no PEM certificate in %s", t.clientCA)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tls.NewListener(ln, conf), nil
}

// readyInfo is what --ready-file receives once the listeners serve.
type readyInfo struct {
	API      string `json:"api"`
	APIURL   string `json:"apiURL"`
	Admin    string `json:"admin"`
	AdminURL string `json:"adminURL"`
	// AdminTokenFile holds the admin API's bearer token ("" when none is needed).
	AdminTokenFile string `json:"adminTokenFile,omitempty"`
	PID            int    `json:"pid"`
}

func writeReadyFile(path string, r readyInfo) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
