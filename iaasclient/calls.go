package iaasclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// NewClientToken returns a random client token. The client calls it for every create
// whose caller left ClientToken empty; callers that must survive their own restart
// derive tokens from stable names instead.
func NewClientToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "ct-" + hex.EncodeToString(b[:])
}

// withToken returns a copy of the token field's owner with a token set once, before
// the first attempt, so every retry of the call carries the same token and a retry of
// a create that did succeed cannot create a second resource.
func withToken[T any](req *T, token func(*T) *string) *T {
	r := new(T)
	if req != nil {
		*r = *req
	}
	if t := token(r); *t == "" {
		*t = NewClientToken()
	}
	return r
}

func (c *Client) DescribeInstances(ctx context.Context, req *DescribeInstancesRequest) (*DescribeInstancesResponse, error) {
	return action[DescribeInstancesRequest, DescribeInstancesResponse](ctx, c, ActionDescribeInstances, req)
}

func (c *Client) StartInstances(ctx context.Context, req *InstancesRequest) (*TaskResponse, error) {
	return action[InstancesRequest, TaskResponse](ctx, c, ActionStartInstances, req)
}

func (c *Client) StopInstances(ctx context.Context, req *InstancesRequest) (*TaskResponse, error) {
	return action[InstancesRequest, TaskResponse](ctx, c, ActionStopInstances, req)
}

func (c *Client) TerminateInstances(ctx context.Context, req *InstancesRequest) (*TaskResponse, error) {
	return action[InstancesRequest, TaskResponse](ctx, c, ActionTerminateInstances, req)
}

func (c *Client) DescribeVpcs(ctx context.Context, req *DescribeVpcsRequest) (*DescribeVpcsResponse, error) {
	return action[DescribeVpcsRequest, DescribeVpcsResponse](ctx, c, ActionDescribeVpcs, req)
}

func (c *Client) DescribeRouteTables(ctx context.Context, req *DescribeRouteTablesRequest) (*DescribeRouteTablesResponse, error) {
	return action[DescribeRouteTablesRequest, DescribeRouteTablesResponse](ctx, c, ActionDescribeRouteTables, req)
}

// CreateRoutes sets a client token when req has none.
func (c *Client) CreateRoutes(ctx context.Context, req *CreateRoutesRequest) (*CreateRoutesResponse, error) {
	r := withToken(req, func(r *CreateRoutesRequest) *string { return &r.ClientToken })
	return action[CreateRoutesRequest, CreateRoutesResponse](ctx, c, ActionCreateRoutes, r)
}

func (c *Client) DeleteRoutes(ctx context.Context, req *DeleteRoutesRequest) (*DeleteRoutesResponse, error) {
	return action[DeleteRoutesRequest, DeleteRoutesResponse](ctx, c, ActionDeleteRoutes, req)
}

// CreateLoadBalancer sets a client token when req has none.
func (c *Client) CreateLoadBalancer(ctx context.Context, req *CreateLoadBalancerRequest) (*CreateLoadBalancerResponse, error) {
	r := withToken(req, func(r *CreateLoadBalancerRequest) *string { return &r.ClientToken })
	return action[CreateLoadBalancerRequest, CreateLoadBalancerResponse](ctx, c, ActionCreateLoadBalancer, r)
}

func (c *Client) DescribeLoadBalancers(ctx context.Context, req *DescribeLoadBalancersRequest) (*DescribeLoadBalancersResponse, error) {
	return action[DescribeLoadBalancersRequest, DescribeLoadBalancersResponse](ctx, c, ActionDescribeLoadBalancers, req)
}

func (c *Client) ModifyLoadBalancer(ctx context.Context, req *ModifyLoadBalancerRequest) (*ModifyLoadBalancerResponse, error) {
	return action[ModifyLoadBalancerRequest, ModifyLoadBalancerResponse](ctx, c, ActionModifyLoadBalancer, req)
}

func (c *Client) DeleteLoadBalancer(ctx context.Context, req *DeleteLoadBalancerRequest) (*TaskResponse, error) {
	return action[DeleteLoadBalancerRequest, TaskResponse](ctx, c, ActionDeleteLoadBalancer, req)
}

// CreateListeners sets a client token when req has none.
func (c *Client) CreateListeners(ctx context.Context, req *CreateListenersRequest) (*CreateListenersResponse, error) {
	r := withToken(req, func(r *CreateListenersRequest) *string { return &r.ClientToken })
	return action[CreateListenersRequest, CreateListenersResponse](ctx, c, ActionCreateListeners, r)
}

func (c *Client) ModifyListener(ctx context.Context, req *ModifyListenerRequest) (*TaskResponse, error) {
	return action[ModifyListenerRequest, TaskResponse](ctx, c, ActionModifyListener, req)
}

func (c *Client) DeleteListeners(ctx context.Context, req *DeleteListenersRequest) (*TaskResponse, error) {
	return action[DeleteListenersRequest, TaskResponse](ctx, c, ActionDeleteListeners, req)
}

// CreateDisk sets a client token when req has none.
func (c *Client) CreateDisk(ctx context.Context, req *CreateDiskRequest) (*CreateDiskResponse, error) {
	r := withToken(req, func(r *CreateDiskRequest) *string { return &r.ClientToken })
	return action[CreateDiskRequest, CreateDiskResponse](ctx, c, ActionCreateDisk, r)
}

func (c *Client) DescribeDisks(ctx context.Context, req *DescribeDisksRequest) (*DescribeDisksResponse, error) {
	return action[DescribeDisksRequest, DescribeDisksResponse](ctx, c, ActionDescribeDisks, req)
}

func (c *Client) DeleteDisk(ctx context.Context, req *DeleteDiskRequest) (*DeleteDiskResponse, error) {
	return action[DeleteDiskRequest, DeleteDiskResponse](ctx, c, ActionDeleteDisk, req)
}

func (c *Client) AttachDisk(ctx context.Context, req *AttachDiskRequest) (*TaskResponse, error) {
	return action[AttachDiskRequest, TaskResponse](ctx, c, ActionAttachDisk, req)
}

func (c *Client) DetachDisk(ctx context.Context, req *DetachDiskRequest) (*TaskResponse, error) {
	return action[DetachDiskRequest, TaskResponse](ctx, c, ActionDetachDisk, req)
}

func (c *Client) ResizeDisk(ctx context.Context, req *ResizeDiskRequest) (*TaskResponse, error) {
	return action[ResizeDiskRequest, TaskResponse](ctx, c, ActionResizeDisk, req)
}

func (c *Client) ModifyDisk(ctx context.Context, req *ModifyDiskRequest) (*ModifyDiskResponse, error) {
	return action[ModifyDiskRequest, ModifyDiskResponse](ctx, c, ActionModifyDisk, req)
}

// CreateSnapshot sets a client token when req has none.
func (c *Client) CreateSnapshot(ctx context.Context, req *CreateSnapshotRequest) (*CreateSnapshotResponse, error) {
	r := withToken(req, func(r *CreateSnapshotRequest) *string { return &r.ClientToken })
	return action[CreateSnapshotRequest, CreateSnapshotResponse](ctx, c, ActionCreateSnapshot, r)
}

func (c *Client) DescribeSnapshots(ctx context.Context, req *DescribeSnapshotsRequest) (*DescribeSnapshotsResponse, error) {
	return action[DescribeSnapshotsRequest, DescribeSnapshotsResponse](ctx, c, ActionDescribeSnapshots, req)
}

func (c *Client) DeleteSnapshot(ctx context.Context, req *DeleteSnapshotRequest) (*DeleteSnapshotResponse, error) {
	return action[DeleteSnapshotRequest, DeleteSnapshotResponse](ctx, c, ActionDeleteSnapshot, req)
}

func (c *Client) DescribeTask(ctx context.Context, req *DescribeTaskRequest) (*DescribeTaskResponse, error) {
	return action[DescribeTaskRequest, DescribeTaskResponse](ctx, c, ActionDescribeTask, req)
}

func (c *Client) DescribeQuotas(ctx context.Context, req *DescribeQuotasRequest) (*DescribeQuotasResponse, error) {
	return action[DescribeQuotasRequest, DescribeQuotasResponse](ctx, c, ActionDescribeQuotas, req)
}
