package iaasclient

// Action names: the last element of the URL path, POST /v1/<Action>. They are also the
// operation label of metrics, fault injection and the simulator's counters.
const (
	ActionDescribeInstances  = "DescribeInstances"
	ActionStartInstances     = "StartInstances"
	ActionStopInstances      = "StopInstances"
	ActionTerminateInstances = "TerminateInstances"

	ActionDescribeVpcs        = "DescribeVpcs"
	ActionDescribeRouteTables = "DescribeRouteTables"
	ActionCreateRoutes        = "CreateRoutes"
	ActionDeleteRoutes        = "DeleteRoutes"

	ActionCreateLoadBalancer    = "CreateLoadBalancer"
	ActionDescribeLoadBalancers = "DescribeLoadBalancers"
	ActionModifyLoadBalancer    = "ModifyLoadBalancer"
	ActionDeleteLoadBalancer    = "DeleteLoadBalancer"
	ActionCreateListeners       = "CreateListeners"
	ActionModifyListener        = "ModifyListener"
	ActionDeleteListeners       = "DeleteListeners"

	ActionCreateDisk    = "CreateDisk"
	ActionDescribeDisks = "DescribeDisks"
	ActionDeleteDisk    = "DeleteDisk"
	ActionAttachDisk    = "AttachDisk"
	ActionDetachDisk    = "DetachDisk"
	ActionResizeDisk    = "ResizeDisk"
	ActionModifyDisk    = "ModifyDisk"

	ActionCreateSnapshot    = "CreateSnapshot"
	ActionDescribeSnapshots = "DescribeSnapshots"
	ActionDeleteSnapshot    = "DeleteSnapshot"

	ActionDescribeTask   = "DescribeTask"
	ActionDescribeQuotas = "DescribeQuotas"
)

// Actions lists every API action (the metadata endpoint is not an action).
var Actions = []string{
	ActionDescribeInstances, ActionStartInstances, ActionStopInstances, ActionTerminateInstances,
	ActionDescribeVpcs, ActionDescribeRouteTables, ActionCreateRoutes, ActionDeleteRoutes,
	ActionCreateLoadBalancer, ActionDescribeLoadBalancers, ActionModifyLoadBalancer, ActionDeleteLoadBalancer,
	ActionCreateListeners, ActionModifyListener, ActionDeleteListeners,
	ActionUploadCertificate, ActionDescribeCertificates, ActionDeleteCertificate,
	ActionCreateDisk, ActionDescribeDisks, ActionDeleteDisk, ActionAttachDisk, ActionDetachDisk,
	ActionResizeDisk, ActionModifyDisk,
	ActionCreateSnapshot, ActionDescribeSnapshots, ActionDeleteSnapshot,
	ActionDescribeTask, ActionDescribeQuotas,
}

// Paths of the HTTP API.
const (
	// APIPathPrefix + Action is the path of every action.
	APIPathPrefix = "/v1/"
	// MetadataIdentityPath answers "who am I" for the caller's source IP; GET, unsigned.
	MetadataIdentityPath = "/meta/v1/identity"
)

// MaxPageSize is the largest Limit a Describe call accepts; DefaultPageSize is used when
// Limit is 0.
const (
	MaxPageSize     = 1000
	DefaultPageSize = 100
)

// MaxRequestBodyBytes is the largest request body the API accepts.
const MaxRequestBodyBytes = 1 << 20
