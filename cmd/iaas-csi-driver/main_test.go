package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/csi"
)

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds")
	if err := os.WriteFile(creds, []byte("accessKeyId: AK\nsecretKey: SK\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The CCM's cloud config, with fields the driver does not read.
	cc := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(cc, []byte("endpoint: https://iaas.example:8443\nregion: r\nvpcId: vpc-1\nclusterId: c\ncredentialsFile: "+creds+"\ntls:\n  caFile: /ca.crt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		o        options
		endpoint string
		wantErr  string
	}{
		{"cloud config", options{mode: csi.ModeAll, cloudConfig: cc}, "https://iaas.example:8443", ""},
		{"flags override", options{mode: csi.ModeAll, cloudConfig: cc, iaasEndpoint: "http://127.0.0.1:1"}, "http://127.0.0.1:1", ""},
		{"flags only", options{mode: csi.ModeController, iaasEndpoint: "http://127.0.0.1:1", credsFile: creds}, "http://127.0.0.1:1", ""},
		{"no endpoint", options{mode: csi.ModeAll, credsFile: creds}, "", "no IaaS endpoint"},
		{"controller needs credentials", options{mode: csi.ModeController, iaasEndpoint: "http://127.0.0.1:1"}, "", "no credentials"},
		{"node needs none", options{mode: csi.ModeNode, iaasEndpoint: "http://127.0.0.1:1"}, "http://127.0.0.1:1", ""},
		{"fake mounter needs them", options{mode: csi.ModeNode, iaasEndpoint: "http://127.0.0.1:1", fakeMounter: true}, "", "no credentials"},
		{"bad credentials file", options{mode: csi.ModeAll, iaasEndpoint: "http://127.0.0.1:1", credsFile: cc}, "", "credentials file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := clientConfig(tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Endpoint != tc.endpoint {
				t.Errorf("endpoint = %q, want %q", cfg.Endpoint, tc.endpoint)
			}
			if tc.o.mode != csi.ModeNode && cfg.Credentials.AccessKeyID != "AK" {
				t.Errorf("credentials = %+v", cfg.Credentials)
			}
		})
	}
}
