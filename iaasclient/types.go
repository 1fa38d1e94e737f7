package iaasclient

import "time"

// InstanceState is the lifecycle state of an instance.
type InstanceState string

const (
	InstancePending    InstanceState = "PENDING"
	InstanceRunning    InstanceState = "RUNNING"
	InstanceStopped    InstanceState = "STOPPED"
	InstanceTerminated InstanceState = "TERMINATED"
)

// Instance is a virtual machine (or, in the simulator, a container or network namespace).
type Instance struct {
	InstanceID   string            `json:"instanceId"`
	Name         string            `json:"name"`
	VpcID        string            `json:"vpcId"`
	SubnetID     string            `json:"subnetId,omitempty"`
	Zone         string            `json:"zone"`
	Region       string            `json:"region"`
	InstanceType string            `json:"instanceType"`
	PrivateIPs   []string          `json:"privateIps"`
	PublicIP     string            `json:"publicIp,omitempty"`
	State        InstanceState     `json:"state"`
	MaxDisks     int               `json:"maxDisks"`
	Tags         map[string]string `json:"tags,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
}

// Vpc is a virtual private network.
type Vpc struct {
	VpcID     string            `json:"vpcId"`
	Name      string            `json:"name"`
	CidrBlock string            `json:"cidrBlock"`
	Region    string            `json:"region"`
	Tags      map[string]string `json:"tags,omitempty"`
}

// RouteTable is a VPC route table. RouteLimit is the most routes it may hold.
type RouteTable struct {
	RouteTableID string            `json:"routeTableId"`
	VpcID        string            `json:"vpcId"`
	Name         string            `json:"name"`
	Routes       []Route           `json:"routes"`
	RouteLimit   int               `json:"routeLimit"`
	Tags         map[string]string `json:"tags,omitempty"`
}

// Route sends DestinationCidr to an instance of the VPC.
type Route struct {
	RouteID           string            `json:"routeId"`
	DestinationCidr   string            `json:"destinationCidr"`
	NextHopInstanceID string            `json:"nextHopInstanceId"`
	NextHopIP         string            `json:"nextHopIp"`
	Description       string            `json:"description,omitempty"`
	Tags              map[string]string `json:"tags,omitempty"`
	CreatedAt         time.Time         `json:"createdAt"`
}

// LoadBalancerType says where the VIP comes from.
type LoadBalancerType string

const (
	LoadBalancerPublic   LoadBalancerType = "public"
	LoadBalancerInternal LoadBalancerType = "internal"
)

// LoadBalancerState is the provisioning state of a load balancer. A load balancer is
// UPDATING while any of its tasks runs; tasks on one load balancer run in order.
type LoadBalancerState string

const (
	LoadBalancerCreating LoadBalancerState = "CREATING"
	LoadBalancerActive   LoadBalancerState = "ACTIVE"
	LoadBalancerUpdating LoadBalancerState = "UPDATING"
	LoadBalancerDeleting LoadBalancerState = "DELETING"
	LoadBalancerError    LoadBalancerState = "ERROR"
)

// Protocol of a listener.
type Protocol string

const (
	ProtocolTCP Protocol = "TCP"
	ProtocolUDP Protocol = "UDP"
)

// SessionAffinity of a listener.
type SessionAffinity string

const (
	SessionAffinityNone     SessionAffinity = "NONE"
	SessionAffinityClientIP SessionAffinity = "CLIENT_IP"
)

// ProxyProtocol version prepended to TCP connections sent to backends ("" = off).
type ProxyProtocol string

const (
	ProxyProtocolNone ProxyProtocol = ""
	ProxyProtocolV2   ProxyProtocol = "v2"
)

// HealthCheckProtocol of an active health check.
type HealthCheckProtocol string

const (
	HealthCheckTCP  HealthCheckProtocol = "TCP"
	HealthCheckHTTP HealthCheckProtocol = "HTTP"
)

// LoadBalancer is a layer-4 load balancer with a VIP and listeners.
type LoadBalancer struct {
	LoadBalancerID string            `json:"loadBalancerId"`
	Name           string            `json:"name"`
	Type           LoadBalancerType  `json:"type"`
	VpcID          string            `json:"vpcId"`
	SubnetID       string            `json:"subnetId,omitempty"`
	VIP            string            `json:"vip"`
	State          LoadBalancerState `json:"state"`
	Listeners      []Listener        `json:"listeners"`
	Tags           map[string]string `json:"tags,omitempty"`
	CreatedAt      time.Time         `json:"createdAt"`
}

// ListenerSpec is what a caller sets on a listener.
type ListenerSpec struct {
	Name     string    `json:"name,omitempty"`
	Protocol Protocol  `json:"protocol"`
	Port     int       `json:"port"`
	Backends []Backend `json:"backends"`
	// HealthCheck nil means a TCP connect check on each backend's port with defaults for
	// a TCP listener; a UDP listener without one is not probed (a TCP connect to a UDP
	// port tells nothing), so its backends count as healthy.
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// SessionAffinity "" means NONE.
	SessionAffinity SessionAffinity `json:"sessionAffinity,omitempty"`
	// SessionAffinityTimeoutSeconds applies to CLIENT_IP; 0 means 10800.
	SessionAffinityTimeoutSeconds int `json:"sessionAffinityTimeoutSeconds,omitempty"`
	// SourceRanges are the client CIDRs allowed; empty allows every client.
	SourceRanges  []string      `json:"sourceRanges,omitempty"`
	ProxyProtocol ProxyProtocol `json:"proxyProtocol,omitempty"`
	// Rules and CertificateID are for HTTP/HTTPS listeners (types_l7.go); Backends
	// is then the default group, for requests no rule matches.
	Rules         []L7Rule `json:"rules,omitempty"`
	CertificateID string   `json:"certificateId,omitempty"`
}

// Listener is a listener as the IaaS reports it.
type Listener struct {
	ListenerID string `json:"listenerId"`
	ListenerSpec
	// BackendStatus is the result of the active health checks, one entry per backend.
	BackendStatus []BackendStatus `json:"backendStatus,omitempty"`
}

// Backend is one target of a listener, typically a node's IP and NodePort.
type Backend struct {
	IP     string `json:"ip"`
	Port   int    `json:"port"`
	Weight int    `json:"weight,omitempty"` // 0 means 10
}

// HealthCheck is an active health check of the backends of one listener.
type HealthCheck struct {
	Protocol HealthCheckProtocol `json:"protocol"`
	// Port 0 means each backend's own port.
	Port               int    `json:"port,omitempty"`
	Path               string `json:"path,omitempty"` // HTTP only
	IntervalSeconds    int    `json:"intervalSeconds,omitempty"`
	TimeoutSeconds     int    `json:"timeoutSeconds,omitempty"`
	HealthyThreshold   int    `json:"healthyThreshold,omitempty"`
	UnhealthyThreshold int    `json:"unhealthyThreshold,omitempty"`
}

// BackendStatus is the health of one backend.
type BackendStatus struct {
	IP      string `json:"ip"`
	Port    int    `json:"port"`
	Healthy bool   `json:"healthy"`
}

// DiskState is the state of a disk.
type DiskState string

const (
	DiskCreating  DiskState = "CREATING"
	DiskAvailable DiskState = "AVAILABLE"
	DiskAttaching DiskState = "ATTACHING"
	DiskAttached  DiskState = "ATTACHED"
	DiskDetaching DiskState = "DETACHING"
	DiskError     DiskState = "ERROR"
)

// DiskType is the performance class of a disk.
type DiskType string

const (
	DiskTypeBasic   DiskType = "CLOUD_BASIC"
	DiskTypeSSD     DiskType = "CLOUD_SSD"
	DiskTypePremium DiskType = "CLOUD_PREMIUM"
)

// DiskTypeLimits are the size rules of a disk type, in GiB.
type DiskTypeLimits struct {
	MinGiB, MaxGiB, StepGiB int
}

// DiskTypes lists every disk type with its size rules. Sizes are whole multiples of
// StepGiB between MinGiB and MaxGiB; the IaaS rejects anything else.
var DiskTypes = map[DiskType]DiskTypeLimits{
	DiskTypeBasic:   {MinGiB: 1, MaxGiB: 16384, StepGiB: 1},
	DiskTypeSSD:     {MinGiB: 1, MaxGiB: 32768, StepGiB: 1},
	DiskTypePremium: {MinGiB: 1, MaxGiB: 32768, StepGiB: 1},
}

// DefaultDiskType is used when a CreateDisk request names none.
const DefaultDiskType = DiskTypeSSD

// Disk is a network block device.
type Disk struct {
	DiskID    string    `json:"diskId"`
	Name      string    `json:"name"`
	SizeGiB   int       `json:"sizeGiB"`
	Type      DiskType  `json:"type"`
	Zone      string    `json:"zone"`
	State     DiskState `json:"state"`
	Encrypted bool      `json:"encrypted"`
	// InstanceID is the instance the disk is attached to (or attaching to / detaching from).
	InstanceID string `json:"instanceId,omitempty"`
	// DeviceSerial identifies the disk inside the instance:
	// /dev/disk/by-id/iaas-<DeviceSerial>. It equals DiskID.
	DeviceSerial string            `json:"deviceSerial"`
	SnapshotID   string            `json:"snapshotId,omitempty"`
	SourceDiskID string            `json:"sourceDiskId,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
}

// SnapshotState is the state of a snapshot.
type SnapshotState string

const (
	SnapshotCreating  SnapshotState = "CREATING"
	SnapshotAvailable SnapshotState = "AVAILABLE"
	SnapshotError     SnapshotState = "ERROR"
)

// Snapshot is a point-in-time copy of a disk.
type Snapshot struct {
	SnapshotID string            `json:"snapshotId"`
	Name       string            `json:"name"`
	DiskID     string            `json:"diskId"`
	SizeGiB    int               `json:"sizeGiB"`
	Zone       string            `json:"zone"`
	State      SnapshotState     `json:"state"`
	Tags       map[string]string `json:"tags,omitempty"`
	CreatedAt  time.Time         `json:"createdAt"`
}

// TaskState is the state of an async task.
type TaskState string

const (
	TaskRunning   TaskState = "RUNNING"
	TaskSucceeded TaskState = "SUCCEEDED"
	TaskFailed    TaskState = "FAILED"
)

// Task is an asynchronous operation. Mutating calls that a real cloud runs in the
// background return a task id; DescribeTask (or Client.WaitTask) follows it.
type Task struct {
	TaskID     string    `json:"taskId"`
	Action     string    `json:"action"`
	ResourceID string    `json:"resourceId"`
	State      TaskState `json:"state"`
	// Error is set when State is FAILED.
	Error      *Error     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Identity is the metadata endpoint's answer to "who am I", found by source IP.
type Identity struct {
	InstanceID   string `json:"instanceId"`
	Name         string `json:"name"`
	Zone         string `json:"zone"`
	Region       string `json:"region"`
	VpcID        string `json:"vpcId"`
	InstanceType string `json:"instanceType"`
	PrivateIP    string `json:"privateIp"`
	MaxDisks     int    `json:"maxDisks"`
}
