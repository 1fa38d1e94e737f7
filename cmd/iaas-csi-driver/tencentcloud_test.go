package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/csi"
)

// A controller with a key Tencent Cloud refuses exits at once with the reason, before
// it serves anything.
func TestTencentCloudControllerStartupCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"Response":{"Error":{"Code":"AuthFailure.SecretIdNotFound","Message":"The SecretId is not found"},"RequestId":"r-1"}}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	cc := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(cc, []byte("provider: tencentcloud\nendpoint: "+srv.URL+"\nregion: ap-guangzhou\nvpcId: vpc-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TENCENTCLOUD_SECRET_ID", "AKIDbad")
	t.Setenv("TENCENTCLOUD_SECRET_KEY", "bad")
	err := run(options{mode: csi.ModeController, cloudConfig: cc, endpoint: "unix://" + filepath.Join(dir, "csi.sock")})
	if err == nil || !strings.Contains(err.Error(), "start-up check") || !strings.Contains(err.Error(), "AuthFailure.SecretIdNotFound") {
		t.Fatalf("run: %v, want the start-up check's AuthFailure", err)
	}
	t.Setenv("TENCENTCLOUD_SECRET_ID", "")
	err = run(options{mode: csi.ModeController, cloudConfig: cc, endpoint: "unix://" + filepath.Join(dir, "csi.sock")})
	if err == nil || !strings.Contains(err.Error(), "TENCENTCLOUD_SECRET_ID") {
		t.Fatalf("no key: %v", err)
	}
}
