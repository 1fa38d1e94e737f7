package iaasclient_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestLoadCredentialsFile(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    ic.Credentials
		errHas  string
	}{
		{"yaml", "accessKeyId: AK1\nsecretKey: s1\n", ic.Credentials{AccessKeyID: "AK1", SecretKey: "s1"}, ""},
		{"json", `{"accessKeyId":"AK2","secretKey":"s2"}`, ic.Credentials{AccessKeyID: "AK2", SecretKey: "s2"}, ""},
		{"trailing newline in value", "accessKeyId: \"AK3\\n\"\nsecretKey: s3\n", ic.Credentials{AccessKeyID: "AK3", SecretKey: "s3"}, ""},
		{"missing secret", "accessKeyId: AK1\n", ic.Credentials{}, "secretKey"},
		{"empty access key", `{"accessKeyId":"","secretKey":"s"}`, ic.Credentials{}, "accessKeyId"},
		{"typo is an unknown field", "accessKeyId: AK1\nsecret_key: s1\n", ic.Credentials{}, "secret_key"},
		{"empty file", "  \n", ic.Credentials{}, "empty"},
		{"not yaml", "{{{", ic.Credentials{}, "credentials file"},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, string(rune('a'+i)))
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ic.LoadCredentialsFile(p)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), p) {
					t.Fatalf("err %v, want one naming %q and the file", err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
	if _, err := ic.LoadCredentialsFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}
