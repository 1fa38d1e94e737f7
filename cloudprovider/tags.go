package cloudprovider

// Tags the CCM puts on the IaaS objects it owns. Ownership is decided by tags only,
// never by names, so renaming a Service or a node cannot orphan or steal an object.
const (
	// TagCluster holds the clusterId of the cloud config on every owned route and LB.
	TagCluster = "kube-iaas.io/cluster"
	// TagNode is the Node a route sends its pod CIDR to.
	TagNode = "kube-iaas.io/node"
	// TagServiceUID is the UID of the Service an LB serves; UIDs are never reused, so a
	// Service deleted and created again under the same name gets a new LB.
	TagServiceUID = "kube-iaas.io/service-uid"
	// TagService is namespace/name, for people reading the IaaS console.
	TagService = "kube-iaas.io/service"
)
