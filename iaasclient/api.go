package iaasclient

import "context"

// InstancesAPI is the instance part of the IaaS API.
type InstancesAPI interface {
	DescribeInstances(ctx context.Context, req *DescribeInstancesRequest) (*DescribeInstancesResponse, error)
	StartInstances(ctx context.Context, req *InstancesRequest) (*TaskResponse, error)
	StopInstances(ctx context.Context, req *InstancesRequest) (*TaskResponse, error)
	TerminateInstances(ctx context.Context, req *InstancesRequest) (*TaskResponse, error)
}

// VPCAPI is the VPC and route table part of the IaaS API.
type VPCAPI interface {
	DescribeVpcs(ctx context.Context, req *DescribeVpcsRequest) (*DescribeVpcsResponse, error)
	DescribeRouteTables(ctx context.Context, req *DescribeRouteTablesRequest) (*DescribeRouteTablesResponse, error)
	CreateRoutes(ctx context.Context, req *CreateRoutesRequest) (*CreateRoutesResponse, error)
	DeleteRoutes(ctx context.Context, req *DeleteRoutesRequest) (*DeleteRoutesResponse, error)
}

// LoadBalancerAPI is the load balancer part of the IaaS API.
type LoadBalancerAPI interface {
	CreateLoadBalancer(ctx context.Context, req *CreateLoadBalancerRequest) (*CreateLoadBalancerResponse, error)
	DescribeLoadBalancers(ctx context.Context, req *DescribeLoadBalancersRequest) (*DescribeLoadBalancersResponse, error)
	ModifyLoadBalancer(ctx context.Context, req *ModifyLoadBalancerRequest) (*ModifyLoadBalancerResponse, error)
	DeleteLoadBalancer(ctx context.Context, req *DeleteLoadBalancerRequest) (*TaskResponse, error)
	CreateListeners(ctx context.Context, req *CreateListenersRequest) (*CreateListenersResponse, error)
	ModifyListener(ctx context.Context, req *ModifyListenerRequest) (*TaskResponse, error)
	DeleteListeners(ctx context.Context, req *DeleteListenersRequest) (*TaskResponse, error)
}

// DiskAPI is the disk and snapshot part of the IaaS API.
type DiskAPI interface {
	CreateDisk(ctx context.Context, req *CreateDiskRequest) (*CreateDiskResponse, error)
	DescribeDisks(ctx context.Context, req *DescribeDisksRequest) (*DescribeDisksResponse, error)
	DeleteDisk(ctx context.Context, req *DeleteDiskRequest) (*DeleteDiskResponse, error)
	AttachDisk(ctx context.Context, req *AttachDiskRequest) (*TaskResponse, error)
	DetachDisk(ctx context.Context, req *DetachDiskRequest) (*TaskResponse, error)
	ResizeDisk(ctx context.Context, req *ResizeDiskRequest) (*TaskResponse, error)
	ModifyDisk(ctx context.Context, req *ModifyDiskRequest) (*ModifyDiskResponse, error)
	CreateSnapshot(ctx context.Context, req *CreateSnapshotRequest) (*CreateSnapshotResponse, error)
	DescribeSnapshots(ctx context.Context, req *DescribeSnapshotsRequest) (*DescribeSnapshotsResponse, error)
	DeleteSnapshot(ctx context.Context, req *DeleteSnapshotRequest) (*DeleteSnapshotResponse, error)
}

// CertificateAPI holds the TLS certificates of HTTPS listeners (certificates.go).
type CertificateAPI interface {
	UploadCertificate(ctx context.Context, req *UploadCertificateRequest) (*UploadCertificateResponse, error)
	DescribeCertificates(ctx context.Context, req *DescribeCertificatesRequest) (*DescribeCertificatesResponse, error)
	DeleteCertificate(ctx context.Context, req *DeleteCertificateRequest) (*DeleteCertificateResponse, error)
}

// TaskAPI follows async tasks.
type TaskAPI interface {
	DescribeTask(ctx context.Context, req *DescribeTaskRequest) (*DescribeTaskResponse, error)
	// WaitTask polls DescribeTask until the task ends or ctx is done. A FAILED task
	// returns its *Error (so errors.Is works on it).
	WaitTask(ctx context.Context, taskID string) (*Task, error)
}

// MetadataAPI is the instance metadata endpoint.
type MetadataAPI interface {
	// Identity answers "who am I" for the caller's source address.
	Identity(ctx context.Context) (*Identity, error)
}

// API is the whole IaaS API. *Client (HTTP) and fake.Cloud (memory) implement it.
type API interface {
	InstancesAPI
	VPCAPI
	LoadBalancerAPI
	CertificateAPI
	DiskAPI
	TaskAPI
	MetadataAPI
	DescribeQuotas(ctx context.Context, req *DescribeQuotasRequest) (*DescribeQuotasResponse, error)
}
