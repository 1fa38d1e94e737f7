package iaasclient

// Every response carries the id the server gave the request; it is also in the
// X-Request-Id header and in every error.
type ResponseMeta struct {
	RequestID string `json:"requestId"`
}

// Page selects a slice of a Describe result. Results are ordered by id.
type Page struct {
	Offset int `json:"offset,omitempty"`
	Limit  int `json:"limit,omitempty"` // 0 = DefaultPageSize; at most MaxPageSize
}

// TaskResponse is the answer of every call that starts an async task.
type TaskResponse struct {
	ResponseMeta
	TaskID string `json:"taskId"`
}

// ---- Instances ----

// DescribeInstancesRequest filters are ANDed; within one filter the values are ORed.
// Tags matches instances having every given tag.
type DescribeInstancesRequest struct {
	InstanceIDs []string          `json:"instanceIds,omitempty"`
	PrivateIPs  []string          `json:"privateIps,omitempty"`
	Names       []string          `json:"names,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Page
}

type DescribeInstancesResponse struct {
	ResponseMeta
	Instances  []Instance `json:"instances"`
	TotalCount int        `json:"totalCount"`
}

// InstancesRequest names instances for Start/Stop/Terminate; the answer is one task.
type InstancesRequest struct {
	InstanceIDs []string `json:"instanceIds"`
}

// ---- VPC and routes ----

type DescribeVpcsRequest struct {
	VpcIDs []string `json:"vpcIds,omitempty"`
	Page
}

type DescribeVpcsResponse struct {
	ResponseMeta
	Vpcs       []Vpc `json:"vpcs"`
	TotalCount int   `json:"totalCount"`
}

type DescribeRouteTablesRequest struct {
	RouteTableIDs []string `json:"routeTableIds,omitempty"`
	VpcID         string   `json:"vpcId,omitempty"`
	Page
}

type DescribeRouteTablesResponse struct {
	ResponseMeta
	RouteTables []RouteTable `json:"routeTables"`
	TotalCount  int          `json:"totalCount"`
}

// RouteSpec is a route to create. NextHopInstanceID is required; the IaaS fills
// NextHopIP with the instance's first private IP.
type RouteSpec struct {
	DestinationCidr   string            `json:"destinationCidr"`
	NextHopInstanceID string            `json:"nextHopInstanceId"`
	Description       string            `json:"description,omitempty"`
	Tags              map[string]string `json:"tags,omitempty"`
}

// CreateRoutesRequest creates routes in one table, all or nothing and synchronously.
// A destination that equals or overlaps an existing route's gives ResourceInUse; more
// routes than the table's limit gives LimitExceeded.
type CreateRoutesRequest struct {
	RouteTableID string      `json:"routeTableId"`
	Routes       []RouteSpec `json:"routes"`
	ClientToken  string      `json:"clientToken"`
}

type CreateRoutesResponse struct {
	ResponseMeta
	Routes []Route `json:"routes"`
}

// DeleteRoutesRequest deletes routes by id, synchronously; ids that do not exist are
// ignored (deleting a missing route succeeds).
type DeleteRoutesRequest struct {
	RouteTableID string   `json:"routeTableId"`
	RouteIDs     []string `json:"routeIds"`
}

type DeleteRoutesResponse struct {
	ResponseMeta
}

// ---- Load balancers ----

type CreateLoadBalancerRequest struct {
	Name     string           `json:"name"`
	Type     LoadBalancerType `json:"type"`
	VpcID    string           `json:"vpcId"`
	SubnetID string           `json:"subnetId,omitempty"`
	// VIP asks for a specific address from the pool of Type; "" lets the IaaS choose.
	VIP         string            `json:"vip,omitempty"`
	Listeners   []ListenerSpec    `json:"listeners,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	ClientToken string            `json:"clientToken"`
}

type CreateLoadBalancerResponse struct {
	ResponseMeta
	LoadBalancerID string `json:"loadBalancerId"`
	TaskID         string `json:"taskId"`
}

type DescribeLoadBalancersRequest struct {
	LoadBalancerIDs []string          `json:"loadBalancerIds,omitempty"`
	Names           []string          `json:"names,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	Page
}

type DescribeLoadBalancersResponse struct {
	ResponseMeta
	LoadBalancers []LoadBalancer `json:"loadBalancers"`
	TotalCount    int            `json:"totalCount"`
}

// ModifyLoadBalancerRequest changes attributes synchronously. Nil fields are unchanged;
// Tags, when set, replaces the whole tag set.
type ModifyLoadBalancerRequest struct {
	LoadBalancerID string            `json:"loadBalancerId"`
	Name           *string           `json:"name,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
}

type ModifyLoadBalancerResponse struct {
	ResponseMeta
}

type DeleteLoadBalancerRequest struct {
	LoadBalancerID string `json:"loadBalancerId"`
}

// CreateListenersRequest adds listeners; a protocol+port already used on the load
// balancer gives ResourceInUse. The client token makes a retry after a lost answer
// return the first answer instead of ResourceInUse for the port the first attempt took.
type CreateListenersRequest struct {
	LoadBalancerID string         `json:"loadBalancerId"`
	Listeners      []ListenerSpec `json:"listeners"`
	ClientToken    string         `json:"clientToken"`
}

type CreateListenersResponse struct {
	ResponseMeta
	ListenerIDs []string `json:"listenerIds"`
	TaskID      string   `json:"taskId"`
}

// ModifyListenerRequest replaces a listener's whole spec (protocol and port included).
type ModifyListenerRequest struct {
	LoadBalancerID string       `json:"loadBalancerId"`
	ListenerID     string       `json:"listenerId"`
	Listener       ListenerSpec `json:"listener"`
}

// DeleteListenersRequest removes listeners; ids that do not exist are ignored.
type DeleteListenersRequest struct {
	LoadBalancerID string   `json:"loadBalancerId"`
	ListenerIDs    []string `json:"listenerIds"`
}

// ---- Disks ----

// CreateDiskRequest creates a disk, empty or from SnapshotID or SourceDiskID (at most
// one). SizeGiB 0 means the source's size; it may not be smaller than the source.
type CreateDiskRequest struct {
	// Name is optional; a name that is given is not empty ("name": "" is refused).
	Name         string            `json:"name,omitempty"`
	Zone         string            `json:"zone"`
	SizeGiB      int               `json:"sizeGiB"`
	Type         DiskType          `json:"type,omitempty"`
	Encrypted    bool              `json:"encrypted,omitempty"`
	SnapshotID   string            `json:"snapshotId,omitempty"`
	SourceDiskID string            `json:"sourceDiskId,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	ClientToken  string            `json:"clientToken"`
}

type CreateDiskResponse struct {
	ResponseMeta
	DiskID string `json:"diskId"`
	TaskID string `json:"taskId"`
}

type DescribeDisksRequest struct {
	DiskIDs     []string          `json:"diskIds,omitempty"`
	Names       []string          `json:"names,omitempty"`
	Zone        string            `json:"zone,omitempty"`
	InstanceIDs []string          `json:"instanceIds,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Page
}

type DescribeDisksResponse struct {
	ResponseMeta
	Disks      []Disk `json:"disks"`
	TotalCount int    `json:"totalCount"`
}

// DeleteDiskRequest deletes a disk synchronously; an attached disk gives ResourceInUse.
type DeleteDiskRequest struct {
	DiskID string `json:"diskId"`
}

type DeleteDiskResponse struct {
	ResponseMeta
}

// AttachDiskRequest attaches a disk to an instance of the same zone. Attaching to the
// instance it is already attached to succeeds; attached to another instance (running or
// not) gives ResourceInUse; more disks than the instance's MaxDisks gives LimitExceeded.
type AttachDiskRequest struct {
	DiskID     string `json:"diskId"`
	InstanceID string `json:"instanceId"`
}

// DetachDiskRequest detaches a disk from the named instance. A disk that is attached to
// no instance succeeds at once; attached to another instance gives ResourceInUse (so a
// caller can never mistake "attached elsewhere" for "detached"). Detaching from a
// STOPPED instance is allowed: a stopped instance is fenced.
type DetachDiskRequest struct {
	DiskID     string `json:"diskId"`
	InstanceID string `json:"instanceId"`
}

// ResizeDiskRequest grows a disk, also while attached; shrinking is InvalidParameter.
type ResizeDiskRequest struct {
	DiskID  string `json:"diskId"`
	SizeGiB int    `json:"sizeGiB"`
}

// ModifyDiskRequest changes attributes synchronously; Tags, when set, replaces the set.
type ModifyDiskRequest struct {
	DiskID string            `json:"diskId"`
	Name   *string           `json:"name,omitempty"`
	Tags   map[string]string `json:"tags,omitempty"`
}

type ModifyDiskResponse struct {
	ResponseMeta
}

// ---- Snapshots ----

type CreateSnapshotRequest struct {
	DiskID string `json:"diskId"`
	// Name is optional; a name that is given is not empty ("name": "" is refused).
	Name        string            `json:"name,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	ClientToken string            `json:"clientToken"`
}

type CreateSnapshotResponse struct {
	ResponseMeta
	SnapshotID string `json:"snapshotId"`
	TaskID     string `json:"taskId"`
}

type DescribeSnapshotsRequest struct {
	SnapshotIDs []string          `json:"snapshotIds,omitempty"`
	DiskIDs     []string          `json:"diskIds,omitempty"`
	Names       []string          `json:"names,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Page
}

type DescribeSnapshotsResponse struct {
	ResponseMeta
	Snapshots  []Snapshot `json:"snapshots"`
	TotalCount int        `json:"totalCount"`
}

// DeleteSnapshotRequest deletes a snapshot synchronously.
type DeleteSnapshotRequest struct {
	SnapshotID string `json:"snapshotId"`
}

type DeleteSnapshotResponse struct {
	ResponseMeta
}

// ---- Tasks and quotas ----

type DescribeTaskRequest struct {
	TaskID string `json:"taskId"`
}

type DescribeTaskResponse struct {
	ResponseMeta
	Task Task `json:"task"`
}

type DescribeQuotasRequest struct{}

// Quota is a tenant's limit of one resource and how much of it is used.
type Quota struct {
	Resource string `json:"resource"` // "disks", "diskGiB", "snapshots", "loadBalancers", "listenersPerLoadBalancer", "routesPerTable"
	Limit    int    `json:"limit"`
	Used     int    `json:"used"`
}

type DescribeQuotasResponse struct {
	ResponseMeta
	Quotas []Quota `json:"quotas"`
}
