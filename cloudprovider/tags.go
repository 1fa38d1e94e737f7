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
	// TagIngressUID is the UID of the Ingress an L7 LB or a certificate serves.
	TagIngressUID = "kube-iaas.io/ingress-uid"
	// TagIngress is namespace.name of that Ingress, for people reading the console.
	TagIngress = "kube-iaas.io/ingress"
	// TagGatewayUID is the UID of the Gateway (Gateway API) an L7 LB or a certificate
	// serves.
	TagGatewayUID = "kube-iaas.io/gateway-uid"
	// TagGateway is namespace.name of that Gateway, for people reading the console.
	TagGateway = "kube-iaas.io/gateway"
	// TagTLSSecret is namespace.name of the Secret a certificate was uploaded from.
	TagTLSSecret = "kube-iaas.io/tls-secret"
	// TagCertHash identifies the Secret content a certificate holds, so a changed
	// Secret gets a new upload and an unchanged one none.
	TagCertHash = "kube-iaas.io/cert-sha256"
)
