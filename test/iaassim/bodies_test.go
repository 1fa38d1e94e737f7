package iaassim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
)

// Issue 15: empty names, invalid UTF-8 and keys given twice are refused with
// InvalidParameter naming the field, for both tenants over real HTTP from their
// instances' loopback addresses, and nothing is created by a refused body.
func TestBodiesWithBadNamesAndKeys(t *testing.T) {
	e := newEnv(t, 0)
	for _, tn := range []struct {
		name string
		c    *simproc.RawClient
		vpc  string
	}{{"alpha", e.alpha(), "vpc-alpha"}, {"beta", e.beta(), "vpc-beta"}} {
		t.Run(tn.name, func(t *testing.T) {
			c := tn.c
			disk := createDisk(t, c, "sim-1a", 1)
			lb := must[iaasclient.CreateLoadBalancerResponse](t, c, "CreateLoadBalancer", iaasclient.CreateLoadBalancerRequest{Name: "lb", Type: "public", VpcID: tn.vpc})
			waitOK(t, c, lb.TaskID)
			before := string(must2(t, c, "DescribeDisks")) + string(must2(t, c, "DescribeLoadBalancers")) + string(must2(t, c, "DescribeSnapshots"))
			lbBody := func(listener string) string {
				return fmt.Sprintf(`{"name":"x","type":"public","vpcId":%q,"listeners":[%s]}`, tn.vpc, listener)
			}
			for _, tc := range []struct {
				name, action, body, msg string
			}{
				{"name twice", "CreateDisk", `{"name":"a","zone":"sim-1a","sizeGiB":1,"name":"b"}`, "name: given twice"},
				{"nested key twice", "CreateLoadBalancer", lbBody(`{"protocol":"TCP","port":80,"port":81,"backends":[]}`), "listeners[0].port: given twice"},
				{"tag key twice", "CreateDisk", `{"zone":"sim-1a","sizeGiB":1,"tags":{"k":"1","k":"2"}}`, `tags["k"]: given twice`},
				{"invalid UTF-8 in a name", "CreateDisk", "{\"name\":\"a\xffb\",\"zone\":\"sim-1a\",\"sizeGiB\":1}", "name: must be valid UTF-8"},
				{"lone low surrogate", "CreateDisk", `{"name":"a\udc00","zone":"sim-1a","sizeGiB":1}`, "name: must be valid UTF-8"},
				{"high surrogate without its pair", "CreateSnapshot", fmt.Sprintf(`{"diskId":%q,"name":"\ud800x"}`, disk), "name: must be valid UTF-8"},
				{"invalid UTF-8 in a nested name", "CreateLoadBalancer", lbBody("{\"name\":\"\xc3\",\"protocol\":\"TCP\",\"port\":80,\"backends\":[]}"), "listeners[0].name: must be valid UTF-8"},
				{"invalid UTF-8 in a tag key", "CreateDisk", "{\"zone\":\"sim-1a\",\"sizeGiB\":1,\"tags\":{\"\xff\":\"v\"}}", "tags: a key is not valid UTF-8"},
				{"empty disk name", "CreateDisk", `{"name":"","zone":"sim-1a","sizeGiB":1}`, "name: must not be empty"},
				{"empty snapshot name", "CreateSnapshot", fmt.Sprintf(`{"diskId":%q,"name":""}`, disk), "name: must not be empty"},
				{"empty certificate name", "UploadCertificate", `{"name":"","certificatePem":"x","privateKeyPem":"y"}`, "name: must not be empty"},
				{"empty load balancer name", "CreateLoadBalancer", fmt.Sprintf(`{"name":"","type":"public","vpcId":%q}`, tn.vpc), "name: is required"},
				{"empty listener name", "CreateLoadBalancer", lbBody(`{"name":"","protocol":"TCP","port":80,"backends":[]}`), "listeners[0].name: must not be empty"},
				{"disk renamed to empty", "ModifyDisk", fmt.Sprintf(`{"diskId":%q,"name":""}`, disk), "name: must not be empty"},
				{"load balancer renamed to empty", "ModifyLoadBalancer", fmt.Sprintf(`{"loadBalancerId":%q,"name":""}`, lb.LoadBalancerID), "name: must not be empty"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r, err := c.Do(context.Background(), tc.action, []byte(tc.body))
					if err != nil {
						t.Fatal(err)
					}
					if e := r.Err(); e == nil || e.Code != iaasclient.CodeInvalidParameter || !strings.Contains(e.Message, tc.msg) {
						t.Fatalf("got %d %+v, want InvalidParameter naming %q", r.Status, e, tc.msg)
					}
				})
			}
			after := string(must2(t, c, "DescribeDisks")) + string(must2(t, c, "DescribeLoadBalancers")) + string(must2(t, c, "DescribeSnapshots"))
			if strip(after) != strip(before) {
				t.Fatalf("refused bodies changed resources:\n%s\n%s", before, after)
			}
			// What is valid stays valid: a surrogate pair, a real U+FFFD, no name at all.
			for _, name := range []string{`\ud83d\ude00`, "\uFFFD", ""} {
				body := `{"zone":"sim-1a","sizeGiB":1}`
				if name != "" {
					body = fmt.Sprintf(`{"name":"%s","zone":"sim-1a","sizeGiB":1}`, name)
				}
				r, err := c.Do(context.Background(), "CreateDisk", []byte(body))
				if err != nil || r.Err() != nil {
					t.Fatalf("%s: %v %+v", body, err, r.Err())
				}
				var cr iaasclient.CreateDiskResponse
				_ = json.Unmarshal(r.Body, &cr)
				waitOK(t, c, cr.TaskID)
				var want string
				_ = json.Unmarshal([]byte(`"`+name+`"`), &want)
				if got := describeDisk(t, c, cr.DiskID).Name; got != want {
					t.Fatalf("stored name %q, want %q", got, want)
				}
			}
		})
	}
}

// strip drops request ids so two Describe answers compare.
func strip(s string) string {
	var out []string
	for _, part := range strings.Split(s, `"requestId":"`) {
		if i := strings.IndexByte(part, '"'); i >= 0 && len(out) > 0 {
			part = part[i:]
		}
		out = append(out, part)
	}
	return strings.Join(out, "")
}

func TestConfigRefusesKeysTwiceAndBadNames(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"YAML key twice", "tenants:\n- name: t\n  name: u\n  accessKeys: [{accessKeyId: K, secretKey: secret-12345678}]\n  vpcs: [{name: v, cidrBlock: 10.0.0.0/16}]\n", `key "name" already set`},
		{"JSON key twice", `{"tenants":[{"name":"t","accessKeys":[{"accessKeyId":"K","secretKey":"secret-12345678"}],"vpcs":[{"name":"v","cidrBlock":"10.0.0.0/16","cidrBlock":"10.1.0.0/16"}]}]}`, `key "cidrBlock" already set`},
		{"invalid UTF-8", "tenants:\n- name: \"t\xff\"\n  accessKeys: [{accessKeyId: K, secretKey: secret-12345678}]\n  vpcs: [{name: v, cidrBlock: 10.0.0.0/16}]\n", "UTF-8"},
		{"empty tenant name", "tenants:\n- name: \"\"\n  accessKeys: [{accessKeyId: K, secretKey: secret-12345678}]\n  vpcs: [{name: v, cidrBlock: 10.0.0.0/16}]\n", "tenants[0].name: is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iaassim.ParseConfig([]byte(tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
