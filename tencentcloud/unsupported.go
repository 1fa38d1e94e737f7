package tencentcloud

import (
	"context"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// The CLB mapping is not in this version of the backend (see README
// "Running on Tencent Cloud"): these calls fail with a clear InvalidParameter, which
// the CCM turns into an Event on the Service and the CSI driver into a gRPC error,
// instead of doing something half right.
func unsupported(action string) error {
	return ic.Errorf(ic.CodeInvalidParameter, "%s is not supported by the tencentcloud backend yet (the CLB mapping is pending)", action)
}

func (c *Client) CreateLoadBalancer(context.Context, *ic.CreateLoadBalancerRequest) (*ic.CreateLoadBalancerResponse, error) {
	return nil, unsupported("CreateLoadBalancer")
}

// DescribeLoadBalancers answers "none": there are none this backend made, and the CCM's
// LB sweep must not fail on it.
func (c *Client) DescribeLoadBalancers(context.Context, *ic.DescribeLoadBalancersRequest) (*ic.DescribeLoadBalancersResponse, error) {
	return &ic.DescribeLoadBalancersResponse{LoadBalancers: []ic.LoadBalancer{}}, nil
}

func (c *Client) ModifyLoadBalancer(context.Context, *ic.ModifyLoadBalancerRequest) (*ic.ModifyLoadBalancerResponse, error) {
	return nil, unsupported("ModifyLoadBalancer")
}

func (c *Client) DeleteLoadBalancer(context.Context, *ic.DeleteLoadBalancerRequest) (*ic.TaskResponse, error) {
	return nil, ic.Errorf(ic.CodeResourceNotFound, "no load balancers on the tencentcloud backend yet")
}

func (c *Client) CreateListeners(context.Context, *ic.CreateListenersRequest) (*ic.CreateListenersResponse, error) {
	return nil, unsupported("CreateListeners")
}

func (c *Client) ModifyListener(context.Context, *ic.ModifyListenerRequest) (*ic.TaskResponse, error) {
	return nil, unsupported("ModifyListener")
}

func (c *Client) DeleteListeners(context.Context, *ic.DeleteListenersRequest) (*ic.TaskResponse, error) {
	return nil, unsupported("DeleteListeners")
}

func (c *Client) UploadCertificate(context.Context, *ic.UploadCertificateRequest) (*ic.UploadCertificateResponse, error) {
	return nil, unsupported("UploadCertificate")
}

// DescribeCertificates answers "none", like DescribeLoadBalancers, so that the Ingress
// controller's cleanup and sweep do not fail on this backend.
func (c *Client) DescribeCertificates(context.Context, *ic.DescribeCertificatesRequest) (*ic.DescribeCertificatesResponse, error) {
	return &ic.DescribeCertificatesResponse{Certificates: []ic.Certificate{}}, nil
}

func (c *Client) DeleteCertificate(context.Context, *ic.DeleteCertificateRequest) (*ic.DeleteCertificateResponse, error) {
	return nil, ic.Errorf(ic.CodeResourceNotFound, "no certificates on the tencentcloud backend yet")
}

// DescribeQuotas: Tencent's quotas are per product and not needed by the consumers'
// decisions; none are reported.
func (c *Client) DescribeQuotas(context.Context, *ic.DescribeQuotasRequest) (*ic.DescribeQuotasResponse, error) {
	return &ic.DescribeQuotasResponse{Quotas: []ic.Quota{}}, nil
}
