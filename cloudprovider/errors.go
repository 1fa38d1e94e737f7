package cloudprovider

import (
	"errors"
	"fmt"

	cloudprovider "k8s.io/cloud-provider"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// errRouteLimit is returned without calling the IaaS while the route table is known
// to be full, so a full table costs no API calls per reconcile.
var errRouteLimit = errors.New("route table is full (LimitExceeded)")

// translate is the one place where IaaS errors become what the controllers of
// k8s.io/cloud-provider branch on. Everything else is wrapped with the operation so the
// IaaS code stays visible to errors.Is.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, cloudprovider.InstanceNotFound),
		errors.Is(err, cloudprovider.NotImplemented):
		return err
	case op == opInstance && errors.Is(err, ic.ErrNotFound):
		// The node lifecycle controller deletes the Node only on this exact value.
		return cloudprovider.InstanceNotFound
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Operations named in errors and logs.
const (
	opInstance     = "instance"
	opRoutes       = "routes"
	opLoadBalancer = "load balancer"
)
