package cloudprovider

import (
	"strings"
	"testing"
)

func TestReadConfig(t *testing.T) {
	const good = `
endpoint: https://iaas.example:8443
region: r1
vpcId: vpc-1
routeTableId: rtb-1
clusterId: prod-1
credentialsFile: /etc/creds
`
	tests := []struct {
		name    string
		text    string
		wantErr string // substring; "" = success
	}{
		{"valid", good, ""},
		{"missing endpoint", strings.Replace(good, "endpoint: https://iaas.example:8443", "", 1), `"endpoint" is required`},
		{"bad endpoint", strings.Replace(good, "https://iaas.example:8443", "ftp://x", 1), `"endpoint" must be an http(s) URL`},
		{"missing region", strings.Replace(good, "region: r1", "", 1), `"region" is required`},
		{"missing vpc", strings.Replace(good, "vpcId: vpc-1", "", 1), `"vpcId" is required`},
		{"bad vpc", strings.Replace(good, "vpc-1", "net-1", 1), `"vpcId" must look like vpc-`},
		{"bad route table", strings.Replace(good, "rtb-1", "rt-1", 1), `"routeTableId"`},
		{"missing cluster", strings.Replace(good, "clusterId: prod-1", "", 1), `"clusterId" is required`},
		{"bad cluster", strings.Replace(good, "prod-1", "Prod_1", 1), `"clusterId" must be`},
		{"missing credentials", strings.Replace(good, "credentialsFile: /etc/creds", "", 1), `"credentialsFile" is required`},
		{"unknown field", good + "regoin: x\n", `unknown field "regoin"`},
		{"cert without key", good + "tls: {certFile: /a}\n", `"tls.certFile"`},
		{"tls on http", strings.Replace(good, "https:", "http:", 1) + "tls: {caFile: /a}\n", `"tls" is set but endpoint is plain http`},
		{"bad lb type", good + "loadBalancer: {defaultType: private}\n", `"loadBalancer.defaultType"`},
		{"bad ttl", good + "cacheTTL: 10m\n", `"cacheTTL"`},
		{"bad duration", good + "cacheTTL: soon\n", `bad duration`},
		{"short failover period", good + "fencedFailover: {period: 10ms}\n", `"fencedFailover.period"`},
		{"bad release pods", good + "fencedFailover: {releasePods: sometimes}\n", `releasePods`},
		{"bad local addr", good + "localAddr: here\n", `"localAddr"`},
		{"bad provider", good + "provider: aws\n", `"provider" must be sim or tencentcloud`},
		{"tencentcloud needs no endpoint nor credentials file", "provider: tencentcloud\nregion: ap-guangzhou\nvpcId: vpc-1\nclusterId: c\ntencentcloud: {accountId: \"1000\"}\n", ""},
		{"tencentcloud bad endpoint", "provider: tencentcloud\nendpoint: ftp://x\nregion: ap-guangzhou\nvpcId: vpc-1\nclusterId: c\n", `"endpoint" must be an http(s) URL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadConfig(strings.NewReader(tc.text))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.CacheTTL.Duration != DefaultCacheTTL || !c.FailoverEnabled() || !c.FailoverReleasesPods() || c.LoadBalancer.DefaultType != "public" {
					t.Errorf("defaults not applied: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestReadConfigNil(t *testing.T) {
	if _, err := ReadConfig(nil); err == nil || !strings.Contains(err.Error(), "--cloud-config") {
		t.Fatalf("nil config: error = %v", err)
	}
}

func TestFailoverDisabled(t *testing.T) {
	c, err := ReadConfig(strings.NewReader("endpoint: http://127.0.0.1:1\nregion: r\nvpcId: vpc-1\nclusterId: c\ncredentialsFile: /x\nfencedFailover: {enabled: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.FailoverEnabled() {
		t.Fatal("fencedFailover.enabled=false not honoured")
	}
}

func TestFailoverKeepsPods(t *testing.T) {
	c, err := ReadConfig(strings.NewReader("endpoint: http://127.0.0.1:1\nregion: r\nvpcId: vpc-1\nclusterId: c\ncredentialsFile: /x\nfencedFailover: {releasePods: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.FailoverEnabled() || c.FailoverReleasesPods() {
		t.Fatal("fencedFailover.releasePods=false not honoured")
	}
}

func TestParseProviderID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"iaas:///zone-a/ins-1", "ins-1", true},
		{"iaas:///ins-1", "ins-1", true},
		{"iaas://ins-1", "ins-1", true},
		{"aws:///zone-a/i-1", "", false},
		{"iaas:///zone-a/disk-1", "", false},
		{"iaas:///a/b/ins-1", "", false},
		{"iaas:///zone-a/ins-", "", false},
	}
	for _, tc := range tests {
		got, err := ParseProviderID(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseProviderID(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if got := ProviderID("zone-a", "ins-1"); got != "iaas:///zone-a/ins-1" {
		t.Errorf("ProviderID = %q", got)
	}
}
