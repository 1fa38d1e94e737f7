package tencentcloud

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// golden is a request/response pair from the official API documentation.
type golden struct {
	Service  string          `json:"service"`
	Request  map[string]any  `json:"request"`
	Response json.RawMessage `json:"response"`
}

// serveGolden answers every request with the golden response of its action and
// checks that the request the backend sent has the documented shape: the golden
// request's fields with the same values (the SDK adds no other body fields).
func serveGolden(t *testing.T) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := r.Header.Get("X-TC-Action")
		name := action + ".json"
		if strings.HasPrefix(r.Header.Get("X-TC-Region"), "err-") {
			name = action + ".error.json"
		}
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
		if err != nil {
			t.Errorf("no golden file for %s: %v", action, err)
			http.Error(w, "no golden", 500)
			return
		}
		var g golden
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Header.Get("Authorization"), "/"+g.Service+"/tc3_request") {
			t.Errorf("%s: credential scope %q does not name service %s", action, r.Header.Get("Authorization"), g.Service)
		}
		body, _ := io.ReadAll(r.Body)
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("%s: body %s: %v", action, body, err)
		}
		if !reflect.DeepEqual(got, g.Request) {
			t.Errorf("%s request\n got  %v\n want %v", action, got, g.Request)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(g.Response)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Region: "ap-guangzhou", VpcID: "vpc-m0cnatxj", Endpoint: srv.URL, MetadataURL: srv.URL,
		Credentials: ic.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretKey: "secret"}, QPS: 100})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGoldenDescribeInstances(t *testing.T) {
	c := serveGolden(t)
	resp, err := c.DescribeInstances(context.Background(), &ic.DescribeInstancesRequest{PrivateIPs: []string{"172.16.32.78"}})
	if err != nil {
		t.Fatal(err)
	}
	want := ic.Instance{
		InstanceID: "ins-xlsyru2j", Name: "xxx", VpcID: "vpc-m0cnatxj", SubnetID: "subnet-mv4sn55k", Zone: "ap-guangzhou-2",
		Region: "ap-guangzhou", InstanceType: "S2.SMALL2", PrivateIPs: []string{"172.16.32.78"}, PublicIP: "123.207.11.190",
		State: ic.InstanceStopped, MaxDisks: DefaultMaxDisks, Tags: map[string]string{"kube-iaas.io/cluster": "prod-1"},
		CreatedAt: time.Date(2020, 9, 22, 0, 0, 0, 0, time.UTC),
	}
	if resp.TotalCount != 1 || len(resp.Instances) != 1 || !reflect.DeepEqual(resp.Instances[0], want) {
		t.Fatalf("got %+v\nwant %+v", resp.Instances, want)
	}
}

func TestGoldenDescribeRouteTables(t *testing.T) {
	c := serveGolden(t)
	resp, err := c.DescribeRouteTables(context.Background(), &ic.DescribeRouteTablesRequest{RouteTableIDs: []string{"rtb-azd4dt1c"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.RouteTables) != 1 {
		t.Fatalf("%+v", resp)
	}
	rt := resp.RouteTables[0]
	// The NETD route is the system's and is left out; the NAT route is a user's, untagged.
	if len(rt.Routes) != 2 {
		t.Fatalf("routes %+v", rt.Routes)
	}
	ours := rt.Routes[0]
	if ours.RouteID != "rti-ca4tcgtv" || ours.NextHopIP != "172.16.32.78" || ours.NextHopInstanceID != "ins-xlsyru2j" ||
		!reflect.DeepEqual(ours.Tags, map[string]string{"kube-iaas.io/cluster": "prod-1", "kube-iaas.io/node": "node-1"}) {
		t.Fatalf("ours %+v", ours)
	}
	if other := rt.Routes[1]; other.Tags != nil || other.Description != "egress" {
		t.Fatalf("someone else's route %+v", other)
	}
}

func TestGoldenErrorShape(t *testing.T) {
	c := serveGolden(t)
	c.sdk.Init("err-region")
	_, err := c.DeleteRoutes(context.Background(), &ic.DeleteRoutesRequest{RouteTableID: "rtb-nosuch", RouteIDs: []string{"rti-ca4tcgtv"}})
	var e *ic.Error
	if !errors.Is(err, ic.ErrNotFound) || !errors.As(err, &e) || e.RequestID != "b5b41468-520d-4192-b42f-595cc34b6c1c" {
		t.Fatalf("got %#v", err)
	}
}

func TestRouteDescriptionRoundTrip(t *testing.T) {
	spec := ic.RouteSpec{NextHopInstanceID: "ins-1", Tags: map[string]string{"kube-iaas.io/cluster": "c", "kube-iaas.io/node": "n-1", "x/y": "z w"}}
	d := encodeRouteDescription(spec)
	if len(d) > 100 {
		t.Errorf("description %q longer than Tencent's 100 characters", d)
	}
	tags, inst, desc := DecodeRouteDescription(d)
	if inst != "ins-1" || desc != "" || !reflect.DeepEqual(tags, spec.Tags) {
		t.Fatalf("round trip: %v %q %q", tags, inst, desc)
	}
	if tags, _, desc := DecodeRouteDescription("hand-made route"); tags != nil || desc != "hand-made route" {
		t.Fatalf("foreign description: %v %q", tags, desc)
	}
}

func TestGoldenCreateDisks(t *testing.T) {
	c := serveGolden(t)
	resp, err := c.CreateDisk(context.Background(), &ic.CreateDiskRequest{
		Name: "pvc-2b1f0c9e", Zone: "ap-guangzhou-2", SizeGiB: 50, Type: ic.DiskTypePremium,
		Tags: map[string]string{"csi.kube-iaas.io/volume-name": "pvc-2b1f0c9e"}, ClientToken: "csivol-5f0c2a1b",
	})
	if err != nil || resp.DiskID != "disk-quxmqmte" || resp.TaskID == "" {
		t.Fatalf("got %+v, %v", resp, err)
	}
}

func TestGoldenDescribeDisks(t *testing.T) {
	c := serveGolden(t)
	d, err := c.getDisk(context.Background(), "disk-quxmqmte")
	if err != nil {
		t.Fatal(err)
	}
	want := ic.Disk{
		DiskID: "disk-quxmqmte", Name: "pvc-2b1f0c9e", SizeGiB: 50, Type: ic.DiskTypePremium, Zone: "ap-guangzhou-2",
		State: ic.DiskAttached, InstanceID: "ins-xlsyru2j", DeviceSerial: "disk-quxmqmte", SnapshotID: "snap-gybrqs13",
		Tags: map[string]string{"csi.kube-iaas.io/volume-name": "pvc-2b1f0c9e"}, CreatedAt: time.Date(2020, 9, 22, 11, 29, 13, 0, time.UTC),
	}
	if !reflect.DeepEqual(*d, want) {
		t.Fatalf("got  %+v\nwant %+v", *d, want)
	}
}

// CBS's limit code for a full instance is LimitExceeded for the consumers (the CSI
// driver answers ResourceExhausted).
func TestGoldenAttachDisksLimit(t *testing.T) {
	c := serveGolden(t)
	c.sdk.Init("err-region")
	_, err := c.AttachDisk(context.Background(), &ic.AttachDiskRequest{DiskID: "disk-quxmqmte", InstanceID: "ins-xlsyru2j"})
	var e *ic.Error
	if !errors.Is(err, ic.ErrLimitExceeded) || !errors.As(err, &e) || e.RequestID != "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b" {
		t.Fatalf("got %#v", err)
	}
}
