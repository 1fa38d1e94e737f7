package iaassim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/tencentcloud"
)

// The tencentcloud backend (the official SDK, its TC3 signing included) against the
// simulator's Tencent Cloud front-end, over real HTTP.
func tcClient(t *testing.T, e *env, mod func(*tencentcloud.Config)) *tencentcloud.Client {
	t.Helper()
	cfg := tencentcloud.Config{
		Region: "sim-1", VpcID: "vpc-alpha", Credentials: alphaCreds, Endpoint: e.api.URL,
		MetadataURL: e.api.URL, LocalAddr: ipA1.String(), QPS: 1000,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := tencentcloud.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTencentCloudInstancesAndRoutes(t *testing.T) {
	e := newEnv(t, 0)
	c := tcClient(t, e, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := c.DescribeInstances(ctx, &iaasclient.DescribeInstancesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if all.TotalCount != 4 || len(all.Instances) != 4 {
		t.Fatalf("alpha sees %d instances (total %d), want 4", len(all.Instances), all.TotalCount)
	}
	byIP, err := c.DescribeInstances(ctx, &iaasclient.DescribeInstancesRequest{PrivateIPs: []string{"127.0.0.12"}})
	if err != nil || len(byIP.Instances) != 1 || byIP.Instances[0].Name != "a2" || byIP.Instances[0].Zone != "sim-1b" ||
		byIP.Instances[0].State != iaasclient.InstanceRunning || byIP.Instances[0].Region != "sim-1" {
		t.Fatalf("by private IP: %+v, %v", byIP, err)
	}
	a2 := byIP.Instances[0].InstanceID
	byID, err := c.DescribeInstances(ctx, &iaasclient.DescribeInstancesRequest{InstanceIDs: []string{a2, "ins-nosuch"}})
	if err != nil || len(byID.Instances) != 1 || byID.Instances[0].InstanceID != a2 {
		t.Fatalf("by id: %+v, %v", byID, err)
	}

	// Stop: the instance reads STOPPED (fenced) once the task ends.
	task, err := c.StopInstances(ctx, &iaasclient.InstancesRequest{InstanceIDs: []string{a2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitTask(ctx, task.TaskID); err != nil {
		t.Fatal(err)
	}

	tags := map[string]string{"kube-iaas.io/cluster": "c1", "kube-iaas.io/node": "node-a2", "owner": "x"}
	created, err := c.CreateRoutes(ctx, &iaasclient.CreateRoutesRequest{RouteTableID: "rtb-alpha", Routes: []iaasclient.RouteSpec{
		{DestinationCidr: "10.244.2.0/24", NextHopInstanceID: a2, Tags: tags},
	}})
	if err != nil || len(created.Routes) != 1 {
		t.Fatalf("CreateRoutes: %+v, %v", created, err)
	}
	tables, err := c.DescribeRouteTables(ctx, &iaasclient.DescribeRouteTablesRequest{RouteTableIDs: []string{"rtb-alpha"}})
	if err != nil || len(tables.RouteTables) != 1 || len(tables.RouteTables[0].Routes) != 1 {
		t.Fatalf("DescribeRouteTables: %+v, %v", tables, err)
	}
	r := tables.RouteTables[0].Routes[0]
	if r.DestinationCidr != "10.244.2.0/24" || r.NextHopInstanceID != a2 || r.NextHopIP != "127.0.0.12" ||
		len(r.Tags) != 3 || r.Tags["kube-iaas.io/node"] != "node-a2" || r.Tags["owner"] != "x" || r.RouteID != created.Routes[0].RouteID {
		t.Fatalf("route read back: %+v", r)
	}
	// The route limit of rtb-alpha is 5: the sixth route is LimitExceeded.
	var specs []iaasclient.RouteSpec
	for i := range 5 {
		specs = append(specs, iaasclient.RouteSpec{DestinationCidr: "10.250." + string(rune('0'+i)) + ".0/24", NextHopInstanceID: a2})
	}
	if _, err := c.CreateRoutes(ctx, &iaasclient.CreateRoutesRequest{RouteTableID: "rtb-alpha", Routes: specs}); !errors.Is(err, iaasclient.ErrLimitExceeded) {
		t.Fatalf("over the route limit: %v, want LimitExceeded", err)
	}
	if _, err := c.DeleteRoutes(ctx, &iaasclient.DeleteRoutesRequest{RouteTableID: "rtb-alpha", RouteIDs: []string{r.RouteID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteRoutes(ctx, &iaasclient.DeleteRoutesRequest{RouteTableID: "rtb-nosuch", RouteIDs: []string{"x"}}); !errors.Is(err, iaasclient.ErrNotFound) {
		t.Fatalf("unknown route table: %v, want NotFound", err)
	}

	id, err := c.Identity(ctx)
	if err != nil || id.InstanceID == "" || id.Zone != "sim-1a" || id.Region != "sim-1" || id.PrivateIP != ipA1.String() {
		t.Fatalf("Identity: %+v, %v", id, err)
	}
}

// Bad input at start-up: each is a clear typed error from Check, never a hang.
func TestTencentCloudStartupChecks(t *testing.T) {
	e := newEnv(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, tc := range map[string]struct {
		mod  func(*tencentcloud.Config)
		want error
	}{
		"wrong secret key":   {func(c *tencentcloud.Config) { c.Credentials.SecretKey = "wrong" }, iaasclient.ErrUnauthorized},
		"unknown secret id":  {func(c *tencentcloud.Config) { c.Credentials.AccessKeyID = "AKNOSUCH" }, iaasclient.ErrUnauthorized},
		"other tenant's key": {func(c *tencentcloud.Config) { c.Credentials = betaCreds }, iaasclient.ErrUnauthorized},
		"wrong region":       {func(c *tencentcloud.Config) { c.Region = "ap-nowhere" }, iaasclient.ErrInvalidParameter},
		"unknown VPC":        {func(c *tencentcloud.Config) { c.VpcID = "vpc-nosuch" }, iaasclient.ErrNotFound},
	} {
		err := tcClient(t, e, tc.mod).Check(ctx)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
