package iaassim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// requestTypes are the request types of every action.
var requestTypes = []any{
	iaasclient.DescribeInstancesRequest{}, iaasclient.InstancesRequest{}, iaasclient.DescribeVpcsRequest{},
	iaasclient.DescribeRouteTablesRequest{}, iaasclient.CreateRoutesRequest{}, iaasclient.DeleteRoutesRequest{},
	iaasclient.CreateLoadBalancerRequest{}, iaasclient.DescribeLoadBalancersRequest{}, iaasclient.ModifyLoadBalancerRequest{},
	iaasclient.DeleteLoadBalancerRequest{}, iaasclient.CreateListenersRequest{}, iaasclient.ModifyListenerRequest{},
	iaasclient.DeleteListenersRequest{}, iaasclient.CreateDiskRequest{}, iaasclient.DescribeDisksRequest{},
	iaasclient.DeleteDiskRequest{}, iaasclient.AttachDiskRequest{}, iaasclient.DetachDiskRequest{},
	iaasclient.ResizeDiskRequest{}, iaasclient.ModifyDiskRequest{}, iaasclient.CreateSnapshotRequest{},
	iaasclient.DescribeSnapshotsRequest{}, iaasclient.DeleteSnapshotRequest{}, iaasclient.DescribeTaskRequest{},
	iaasclient.DescribeQuotasRequest{}, Config{},
}

// FuzzDecodeRequest: decoding never panics; what it accepts, encoding/json accepts
// too; what it refuses is InvalidParameter with a message.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"routeTableId":"rtb-1","routes":[{"destinationCidr":"10.0.0.0/24","nextHopInstanceId":"ins-1"}]}`,
		`{"name":"x","type":"public","vpcId":"v","listeners":[{"protocol":"TCP","port":80,"backends":[{"ip":"1.2.3.4","port":1}],"healthCheck":{"protocol":"HTTP","path":"/"}}]}`,
		`{"sizeGiB":1e3}`, `{"tags":{"a":"b"}}`, `{"offset":-1,"limit":99999999999999999999}`, `{"name":null}`,
		`{"listener":{"sessionAffinity":"CLIENT_IP"}}`, `{} {}`, `[`, `{"a":`, `"x"`, `{"createdAt":"2020-01-01T00:00:00Z"}`,
		`{"taskDelay":"10ms","tenants":[{"name":"t"}]}`,
	} {
		for i := range requestTypes {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		typ := reflect.TypeOf(requestTypes[int(which)%len(requestTypes)])
		v := reflect.New(typ).Interface()
		err := DecodeStrict(data, v)
		if err != nil {
			if err.Code != iaasclient.CodeInvalidParameter || err.Message == "" {
				t.Fatalf("refusal %+v", err)
			}
			return
		}
		w := reflect.New(typ).Interface()
		if err := json.Unmarshal(data, w); err != nil {
			t.Fatalf("DecodeStrict accepted what encoding/json refuses: %v", err)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("decoded value does not marshal: %v", err)
		}
	})
}

func TestDecodeStrictPaths(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{`{"routes":[{"destinationCidr":"a"},{"nextHopInstanceId":true}]}`, "routes[1].nextHopInstanceId: must be a string"},
		{`{"routes":[{"tags":{"k":[]}}]}`, `routes[0].tags["k"]: must be a string`},
		{`{"routes":{}}`, "routes: must be a JSON array"},
		{`{"routeTableId":"x","Routes":[]}`, "Routes: unknown field"},
	} {
		var r iaasclient.CreateRoutesRequest
		err := DecodeStrict([]byte(tc.body), &r)
		if err == nil || !strings.Contains(err.Message, tc.want) {
			t.Errorf("%s: got %v, want %q", tc.body, err, tc.want)
		}
	}
	var d iaasclient.DescribeDisksRequest
	if err := DecodeStrict([]byte(`{"offset":3,"limit":2,"zone":"z"}`), &d); err != nil || d.Offset != 3 || d.Zone != "z" {
		t.Fatalf("embedded Page: %v %+v", err, d)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	base := "tenants:\n- name: t\n  accessKeys: [{accessKeyId: K, secretKey: secret-12345678}]\n  vpcs: [{name: v, cidrBlock: 10.0.0.0/16}]\n"
	if _, err := ParseConfig([]byte(base)); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"tenants: []", "tenants: at least one"},
		{base + "bogus: 1\n", "bogus: unknown field"},
		{base + "routeLimit: -1\n", "routeLimit"},
		{base + "taskDelay: fast\n", "taskDelay"},
		{strings.Replace(base, "10.0.0.0/16", "10.0.0.0/99", 1), "tenants[0].vpcs[0].cidrBlock"},
		{strings.Replace(base, "secret-12345678", "short", 1), "tenants[0].accessKeys[0].secretKey"},
		{base + "staticInstances: [{name: node, tenant: nobody, privateIps: [127.0.0.2]}]\n", "staticInstances[0].tenant"},
		{base + "staticInstances: [{name: node, tenant: t, privateIps: [nope]}]\n", "staticInstances[0].privateIps[0]"},
		{base + "faults: {CreateDisk: {errorRate: 1.5}}\n", `faults["CreateDisk"].errorRate`},
		{base + "faults: {Nope: {}}\n", `faults["Nope"]`},
		{"tenants: [{name: t, vpcs: [], accessKeys: [{accessKeyId: K, secretKey: secret-12345678, extra: 1}]}]\n", "tenants[0].accessKeys[0].extra"},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %q", err, tc.want)
		}
	}
}
